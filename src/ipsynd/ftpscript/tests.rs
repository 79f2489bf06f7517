//! Unit tests of the FTP command file and of judging real `ftp -v` transcripts.
//!
//! The transcripts in `testdata/` were captured from the Debian `ftp` client (package
//! `ftp`, run as `ftp -dinv` / `ftp -inv` with a command file on stdin) against a pyftpdlib
//! server on 127.0.0.1; nothing in them was edited.

use super::*;

fn files(names: &[(&str, &str)]) -> Vec<(PathBuf, String)> {
    names
        .iter()
        .map(|(p, n)| (PathBuf::from(p), n.to_string()))
        .collect()
}

#[test]
fn command_file_layout() {
    let lines: Vec<String> = [
        "user logon,passwd",
        "cd /remote/path",
        "binary",
        "proxy open myfirewall",
        "proxy user spy,hole",
        "open clientbox",
        "USER anonymous,charles@highgrove.not.so.com,extra",
        "site x,y",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let f = files(&[
        ("/fip/spool/syn/pop/a.txt", "a.txt"),
        ("/fip/spool/syn/pop/b c", "b c"),
    ]);
    assert_eq!(
        command_file(&lines, &f),
        "user logon passwd\ncd /remote/path\nbinary\nproxy open myfirewall\nproxy user spy hole\n\
         open clientbox\nUSER anonymous charles@highgrove.not.so.com,extra\nsite x,y\n\
         put /fip/spool/syn/pop/a.txt a.txt\nput \"/fip/spool/syn/pop/b c\" \"b c\"\nquit\n"
    );
    assert_eq!(command_file(&[], &[]), "quit\n");
    // "username" is not the user command.
    assert_eq!(
        command_file(&["username a,b".into()], &[]),
        "username a,b\nquit\n"
    );
}

const DINV_MIXED: &str = include_str!("testdata/dinv_two_sent_one_missing.txt");
const DINV_DENIED: &str = include_str!("testdata/dinv_550_denied.txt");
const INV_SENT: &str = include_str!("testdata/inv_two_sent.txt");
const DINV_LOGIN_FAILED: &str = include_str!("testdata/dinv_login_failed.txt");
const DINV_SPACE: &str = include_str!("testdata/dinv_space_in_name.txt");

#[test]
fn real_transcript_two_sent_one_missing() {
    let f = files(&[
        ("/tmp/ftpcap/q/one.txt", "one.txt"),
        ("/tmp/ftpcap/q/two.bin", "two.bin"),
        ("/tmp/ftpcap/q/missing.txt", "missing.txt"),
    ]);
    assert_eq!(judge(DINV_MIXED, &f), [true, true, false]);
    // The 250 reply of the earlier `cd` is not credited to any file.
    assert!(DINV_MIXED.contains("250 \"/\" is the current directory."));
}

#[test]
fn real_transcript_permission_denied() {
    let f = files(&[
        ("/tmp/ftpcap/q/one.txt", "one.txt"),
        ("/tmp/ftpcap/q/three", "three"),
    ]);
    assert_eq!(judge(DINV_DENIED, &f), [false, false]);
}

#[test]
fn real_transcript_without_debug() {
    let f = files(&[
        ("/tmp/ftpcap/q/one.txt", "one.txt"),
        ("/tmp/ftpcap/q/three", "three"),
    ]);
    assert_eq!(judge(INV_SENT, &f), [true, true]);
}

#[test]
fn real_transcript_login_failed() {
    let f = files(&[("/tmp/ftpcap/q/one.txt", "one.txt")]);
    assert_eq!(judge(DINV_LOGIN_FAILED, &f), [false]);
}

#[test]
fn real_transcript_space_in_name() {
    let f = files(&[
        ("/tmp/ftpcap/q/c c", "c c"),
        ("/tmp/ftpcap/q/one.txt", "one.txt"),
    ]);
    assert_eq!(judge(DINV_SPACE, &f), [true, true]);
}

#[test]
fn files_not_in_output_are_not_sent() {
    let f = files(&[("/q/a", "a")]);
    assert_eq!(judge("", &f), [false]);
    assert_eq!(
        judge("Connected to x.\n421 Service not available\n", &f),
        [false]
    );
    assert!(judge(INV_SENT, &[]).is_empty());
}

#[test]
fn order_of_sections_matches_names_not_positions() {
    // Output for b then a; files listed a then b; a failed.
    let out = "local: /q/b remote: b\n150 ok\n226 Transfer complete.\n\
               local: /q/a remote: a\n150 ok\n451 Local error.\n221 Goodbye.\n";
    let f = files(&[("/q/a", "a"), ("/q/b", "b")]);
    assert_eq!(judge(out, &f), [false, true]);
    // 250 counts as completion too; 2260 or 22 do not.
    let out = "local: /q/a remote: a\n250 Stored.\nlocal: /q/b remote: b\n2260 no\n22\n";
    assert_eq!(judge(out, &f), [true, false]);
}

#[test]
fn a_name_holding_remote_is_not_taken_for_its_tail() {
    // `x remote: y` was stored, `y` was refused: `y` must not be credited (and deleted).
    let f = files(&[("/q/y", "y"), ("/q/x remote: y", "x remote: y")]);
    let out = "local: /q/x remote: y remote: x remote: y\n150 ok\n226 Transfer complete.\n\
               local: /q/y remote: y\n150 ok\n550 Denied.\n221 Goodbye.\n";
    assert_eq!(judge(out, &f), [false, true]);
    // Without the path (ftp globbed it, say), the longest name that fits wins.
    let out = "local: /elsewhere/x remote: y remote: x remote: y\n226 Transfer complete.\n\
               local: /elsewhere/y remote: y\n550 Denied.\n";
    assert_eq!(judge(out, &f), [false, true]);
}

#[test]
fn names_that_could_smuggle_commands_are_left_out() {
    let f = files(&[
        ("/q/evil\n!touch x", "evil\n!touch x"),
        ("/q/quo\"te", "quo\"te"),
        ("/q/ok", "ok"),
        ("/q/tab\there", "tab\there"),
    ]);
    assert_eq!(command_file(&[], &f), "put /q/ok ok\nquit\n");
    assert!(ftp_safe("b c") && ftp_safe("ümlaut"));
    assert!(!ftp_safe("a\rb") && !ftp_safe("\u{7f}"));
}
