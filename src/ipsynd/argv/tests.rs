//! Unit tests of argv building, its display form and the attempt log name.

use super::*;
use crate::fip::tables::parse_client;
use chrono::TimeZone;

/// The manual's JUKEBOX file, with settled detail 8 (`A1:` was a slip for `C2:`).
const JUKEBOX: &str = ";\tJUKEBOX\nROUTE:funnycomms\nC1:234765403299\nALT:funnycomms\n\
                       C2:234765400319\nL1:SECRET\nL2:BINGCROSBY\n\
                       script:/fip/local/funnies -1 C1 -2 C2 -y L1 -z L2\n";

/// The words JUKEBOX's `script:` line expands to (positional style).
const JUKEBOX_WORDS: [&str; 9] = [
    "/fip/local/funnies",
    "-1",
    "234765403299",
    "-2",
    "234765400319",
    "-y",
    "SECRET",
    "-z",
    "BINGCROSBY",
];

fn jukebox() -> ClientParams {
    let (c, p) = parse_client("JUKEBOX", JUKEBOX, Path::new("JUKEBOX"));
    assert!(p.is_empty());
    c
}

fn vars() -> SysVars {
    SysVars {
        seq: 123,
        now: Local.with_ymd_and_hms(1997, 1, 10, 14, 10, 0).unwrap(),
    }
}

/// The paths of the manual's example (its control path lacks `spool/`, as printed).
fn manual_paths() -> AttemptPaths {
    AttemptPaths {
        queue: "jukebox".into(),
        log: "/fip/log/syn/JUKEBOX.10Jan97.14.10".into(),
        inuse: "/fip/x/SYN|123|JUKEBOX".into(),
        ctrl: "/fip/syn/control/JUKEBOX".into(),
    }
}

fn ipsyn() -> &'static Path {
    Path::new("/fip/bin/ipsyn")
}

/// [`build_argv`] with [`ipsyn`] as the default program and the example's [`vars`].
fn argv_of(
    c: &ClientParams,
    port: Option<&PhysPort>,
    style: ArgStyle,
    defhost: &str,
    paths: &AttemptPaths,
) -> Vec<String> {
    build_argv(c, ipsyn(), port, style, defhost, paths, &vars())
}

/// The manual's JUKEBOX argv (positional style, default host `spider3`, its paths).
fn jukebox_argv(port: Option<&PhysPort>) -> Vec<String> {
    argv_of(
        &jukebox(),
        port,
        ArgStyle::Positional,
        "spider3",
        &manual_paths(),
    )
}

/// The manual's display of the JUKEBOX command, character for character (its two printed
/// lines joined by a space), with `host_port` (`host port`) in its place.
fn manual_display(host_port: &str) -> String {
    format!(
        "/fip/local/funnies -1 234765403299 -2 234765400319 -y SECRET -z BINGCROSBY \
         JUKEBOX jukebox {host_port} \"/fip/log/syn/JUKEBOX.10Jan97.14.10\" \
         \"/fip/x/SYN|123|JUKEBOX\" \"/fip/syn/control/JUKEBOX\""
    )
}

/// Short attempt paths for `queue`: log `/l`, in-use `/r`, control `/z`.
fn short_paths(queue: &str) -> AttemptPaths {
    AttemptPaths {
        queue: queue.into(),
        log: "/l".into(),
        inuse: "/r".into(),
        ctrl: "/z".into(),
    }
}

#[test]
fn manual_jukebox_without_ports_entry() {
    let argv = jukebox_argv(None);
    let block = [
        "JUKEBOX",
        "jukebox",
        "spider3",
        "0",
        "/fip/log/syn/JUKEBOX.10Jan97.14.10",
        "/fip/x/SYN|123|JUKEBOX",
        "/fip/syn/control/JUKEBOX",
    ];
    assert_eq!(argv, [&JUKEBOX_WORDS[..], &block[..]].concat());
    // The manual's display, character for character (its two printed lines joined by a space).
    assert_eq!(display_command(&argv), manual_display("spider3 0"));
}

#[test]
fn manual_jukebox_with_ports_entry() {
    let port = PhysPort {
        host: "obnoxiousnoise".into(),
        port: 9191,
    };
    let argv = jukebox_argv(Some(&port));
    assert_eq!(
        display_command(&argv),
        manual_display("obnoxiousnoise 9191")
    );
}

#[test]
fn backslash_form_gives_the_same_words_in_both_styles() {
    let text = JUKEBOX.replace("-1 C1 -2 C2 -y L1 -z L2", "-1 \\C1 -2 \\C2 -y \\L1 -z \\L2");
    let (c, _) = parse_client("JUKEBOX", &text, Path::new("JUKEBOX"));
    assert_eq!(script_words(&c, ArgStyle::Switches, &vars()), JUKEBOX_WORDS);
    assert_eq!(
        script_words(&c, ArgStyle::Positional, &vars()),
        JUKEBOX_WORDS
    );
    // Bare codes are substituted only in positional style.
    assert_eq!(
        script_words(&jukebox(), ArgStyle::Switches, &vars())[2],
        "C1"
    );
}

#[test]
fn switch_style_with_and_without_port() {
    let (c, _) = parse_client("pop", "route:r\n", Path::new("POP"));
    let paths = AttemptPaths {
        queue: "pop".into(),
        log: "/fip/log/syn/POP.10Jan97.14.10".into(),
        inuse: "/fip/x/SYN|007|POP".into(),
        ctrl: "/fip/spool/syn/control/POP".into(),
    };
    let port = PhysPort {
        host: "svr3".into(),
        port: 1103,
    };
    let with = argv_of(&c, Some(&port), ArgStyle::Switches, "h", &paths);
    assert_eq!(
        with,
        [
            "/fip/bin/ipsyn",
            "-c",
            "POP",
            "-q",
            "pop",
            "-s",
            "svr3",
            "-p",
            "1103",
            "-l",
            "/fip/log/syn/POP.10Jan97.14.10",
            "-r",
            "/fip/x/SYN|007|POP",
            "-z",
            "/fip/spool/syn/control/POP"
        ]
    );
    assert_eq!(
        display_command(&with),
        "/fip/bin/ipsyn -c POP -q pop -s svr3 -p 1103 -l \"/fip/log/syn/POP.10Jan97.14.10\" \
         -r \"/fip/x/SYN|007|POP\" -z \"/fip/spool/syn/control/POP\""
    );
    let without = argv_of(&c, None, ArgStyle::Switches, "h", &paths);
    assert_eq!(without.len(), 11);
    assert!(!without.contains(&"-s".to_string()) && !without.contains(&"-p".to_string()));
    // No argument ever carries a quote character.
    assert!(with.iter().chain(&without).all(|a| !a.contains('"')));
}

#[test]
fn script_words_come_first_then_the_block() {
    let (c, _) = parse_client(
        "red",
        "script:/fip/local/bigcommie \"red\" \"under Bed\" \\$S\n",
        Path::new("RED"),
    );
    let paths = short_paths("red");
    let argv = argv_of(&c, None, ArgStyle::Switches, "h", &paths);
    assert_eq!(
        argv,
        [
            "/fip/local/bigcommie",
            "red",
            "under Bed",
            "123",
            "-c",
            "RED",
            "-q",
            "red",
            "-l",
            "/l",
            "-r",
            "/r",
            "-z",
            "/z"
        ]
    );
    assert_eq!(
        display_command(&argv),
        "/fip/local/bigcommie red \"under Bed\" 123 -c RED -q red -l \"/l\" -r \"/r\" -z \"/z\""
    );
}

#[test]
fn script_expanding_to_nothing_falls_back_to_ipsyn() {
    let (c, _) = parse_client("e", "script:\\ZZ\n", Path::new("E"));
    let paths = short_paths("e");
    let argv = argv_of(&c, None, ArgStyle::Positional, "spider3", &paths);
    assert_eq!(
        argv,
        ["/fip/bin/ipsyn", "E", "e", "spider3", "0", "/l", "/r", "/z"]
    );
    assert_eq!(
        display_command(&argv),
        "/fip/bin/ipsyn E e spider3 0 \"/l\" \"/r\" \"/z\""
    );
}

#[test]
fn style_choice() {
    let (mut c, _) = parse_client("a", "", Path::new("A"));
    assert_eq!(effective_style(&c, ArgStyle::Switches), ArgStyle::Switches);
    assert_eq!(
        effective_style(&c, ArgStyle::Positional),
        ArgStyle::Positional
    );
    c.argstyle = Some(ArgStyle::Positional);
    assert_eq!(
        effective_style(&c, ArgStyle::Switches),
        ArgStyle::Positional
    );
}

#[test]
fn log_name() {
    let t = Local.with_ymd_and_hms(1997, 1, 10, 14, 10, 59).unwrap();
    assert_eq!(attempt_log_name("JUKEBOX", &t), "JUKEBOX.10Jan97.14.10");
    assert_eq!(attempt_log_name("jukebox", &t), "JUKEBOX.10Jan97.14.10");
    let t = Local.with_ymd_and_hms(2026, 3, 4, 5, 6, 7).unwrap();
    assert_eq!(attempt_log_name("POP", &t), "POP.04Mar26.05.06");
}
