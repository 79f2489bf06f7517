//! Unit tests of FipSeq expansion and word splitting.

use super::*;
use chrono::TimeZone;

fn vars() -> SysVars {
    SysVars {
        seq: 123,
        now: Local.with_ymd_and_hms(1997, 1, 10, 14, 10, 5).unwrap(),
    }
}

fn fields() -> BTreeMap<String, String> {
    [
        ("C1", "234765403299"),
        ("C2", "234765400319"),
        ("L1", "SECRET"),
        ("RN", "rn-field"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn x(s: &str) -> String {
    expand(s, &fields(), &vars())
}

#[test]
fn fields_and_undefined_fields() {
    assert_eq!(
        x("-1 \\C1 -2 \\C2 -y \\L1"),
        "-1 234765403299 -2 234765400319 -y SECRET"
    );
    // Undefined: empty.
    assert_eq!(x("a\\ZZb"), "ab");
    assert_eq!(x("\\Q9"), "");
    // Lowercase codes name the same field.
    assert_eq!(x("\\c1"), "234765403299");
    // Bare codes are not touched by expansion.
    assert_eq!(x("C1 L1"), "C1 L1");
    // Adjacent.
    assert_eq!(x("\\L1\\L1"), "SECRETSECRET");
}

#[test]
fn system_variables() {
    assert_eq!(x("\\$S"), "123");
    assert_eq!(x("\\$Y"), "97");
    assert_eq!(x("\\$E"), "19");
    assert_eq!(x("\\$I"), "01");
    assert_eq!(x("\\$M"), "Jan");
    assert_eq!(x("\\$D"), "10");
    assert_eq!(x("\\$H"), "14");
    assert_eq!(x("\\$N"), "10");
    assert_eq!(x("\\$B"), "05");
    assert_eq!(x("\\$J"), "010");
    assert_eq!(x("\\$Z"), "0123");
    assert_eq!(x("\\$h:\\$n \\$d-\\$m-\\$y"), "14:10 10-Jan-97");
    assert_eq!(x("\\$D\\$M\\$Y.\\$H.\\$N"), "10Jan97.14.10");
    let late = SysVars {
        seq: 4007,
        now: Local.with_ymd_and_hms(2024, 12, 31, 23, 59, 58).unwrap(),
    };
    assert_eq!(
        expand("\\$S \\$E\\$Y \\$J \\$I", &BTreeMap::new(), &late),
        "007 2024 366 12"
    );
}

#[test]
fn escapes() {
    assert_eq!(x("a\\\\b"), "a\\b");
    assert_eq!(x("\\r\\n\\t"), "\r\n\t");
    // C escapes are lowercase: \RN is the field RN.
    assert_eq!(x("\\RN"), "rn-field");
    // \\C1 is a backslash then a literal C1.
    assert_eq!(x("\\\\C1"), "\\C1");
}

#[test]
fn unknown_escapes_kept_literally() {
    assert_eq!(x("\\$Q"), "\\$Q");
    assert_eq!(x("\\$"), "\\$");
    assert_eq!(x("end\\"), "end\\");
    assert_eq!(x("\\-x"), "\\-x");
    assert_eq!(x("\\C"), "\\C");
    assert_eq!(x("\\C-"), "\\C-");
    assert_eq!(x("plain text, no escapes"), "plain text, no escapes");
    assert_eq!(x("ünï\\C1ödé"), "ünï234765403299ödé");
}

#[test]
fn splitting() {
    assert_eq!(
        split_words("/fip/local/bigcommie \"red\" \"underBed\""),
        ["/fip/local/bigcommie", "red", "underBed"]
    );
    assert_eq!(split_words("  a\t b \n c  "), ["a", "b", "c"]);
    assert_eq!(split_words("x \"two words\" y"), ["x", "two words", "y"]);
    assert_eq!(split_words("a \"\" b"), ["a", "", "b"]);
    assert_eq!(split_words("x\"y z\"w"), ["xy zw"]);
    assert_eq!(split_words("\"unclosed quote"), ["unclosed quote"]);
    assert!(split_words("   ").is_empty());
    assert!(split_words("").is_empty());
    // No quote character survives.
    for w in split_words("\"/fip/x/SYN|123|JUKEBOX\" \"a\"\"b\"") {
        assert!(!w.contains('"'), "{w}");
    }
}

#[test]
fn expansion_then_splitting() {
    let words = split_words(&x("/fip/local/funnies -1 \\C1 \"\\L1 \\C2\" \\ZZ end"));
    assert_eq!(
        words,
        [
            "/fip/local/funnies",
            "-1",
            "234765403299",
            "SECRET 234765400319",
            "end"
        ]
    );
}
