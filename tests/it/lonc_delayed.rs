//! Delayed messages: replayed in name order after the handshake (encrypted ones too, one
//! newline each), perm-log records, empty and unreadable entries left in place, replay after a
//! reconnect.

use std::fs;

use crate::lonc_common::*;

#[test]
fn delayed_messages_are_replayed_in_order_and_logged_permanently() {
    let s = Setup::new("delayed", &[peer("h1"), peer("h2")]);
    let d = s.delayed_dir();
    fs::write(d.join("1000.echo.h1"), "echo:first\n").unwrap();
    fs::write(d.join("2000.encecho.h1"), "encrypt:encecho:second\n").unwrap();
    fs::write(d.join("1500.echo.h2"), "echo:for h2\n").unwrap();
    fs::write(d.join("3000.empty.h1"), "").unwrap();
    fs::write(d.join("0500.echo.xh1"), "echo:not mine\n").unwrap();
    let _l = s.start();
    assert!(s.wait_online("h1") && s.wait_online("h2"));
    assert!(
        s.wait_log("Delayed echo:first to h1: >first<"),
        "{}",
        s.log()
    );
    // 1.29 logged the enc: lines as sent and received; their hex is as good as the text
    // (spec §8.1), so the log shows a marker in their place.
    assert!(s.wait_log("Delayed enc:… to h1: >enc:…<"), "{}", s.log());
    assert!(
        !s.log().contains("enc:14:") && !s.log().contains("second"),
        "{}",
        s.log()
    );
    assert!(s.wait_log("Delayed echo:for h2 to h2: >for h2<"));
    assert!(s
        .log()
        .contains(&format!("Sending {}", d.join("1000.echo.h1").display())));
    assert!(s.log().contains(&format!(
        "WARNING: Delayed message {} is empty, left in place",
        d.join("3000.empty.h1").display()
    )));
    // Delivered files are gone; the empty one and the other host's look-alike stay.
    assert!(!d.join("1000.echo.h1").exists() && !d.join("2000.encecho.h1").exists());
    assert!(d.join("3000.empty.h1").exists() && d.join("0500.echo.xh1").exists());
    // Name order, and the encrypted one arrived encrypted and decrypts at lond.
    let got = s.standin("h1").received();
    let a = got.iter().position(|r| r == b"echo:first").unwrap();
    let b = got.iter().position(|r| r == b"encecho:second").unwrap();
    assert!(a < b);
    assert!(!got.iter().any(|r| r == b"echo:not mine"));
    // One newline after the encrypted line: the next answer is not shifted (1.29's bug).
    assert_eq!(ask(&s.sock("h1"), "ping"), "h1");
    assert!(
        !got.iter().any(|r| r.is_empty()),
        "an empty line reached lond: {got:?}"
    );
    let perm = fs::read_to_string(s.perm_path()).unwrap();
    assert!(perm.contains(":S:h1:echo:first:"), "{perm}");
    assert!(
        perm.contains(":S:h1:encrypt:encecho:second:"),
        "the perm log keeps the plain command: {perm}"
    );
    assert!(perm.contains(":S:h2:echo:for h2:"), "{perm}");
}

#[test]
fn delayed_messages_are_replayed_after_a_reconnect_too() {
    let s = Setup::new("delayed2", &[peer("h1")]);
    let _l = s.start();
    assert!(s.wait_online("h1"));
    let f = s.delayed_dir().join("5000.echo.h1");
    fs::write(&f, "echo:while you were away\n").unwrap();
    s.standin("h1").disconnect_all();
    assert!(
        s.wait_log("Delayed echo:while you were away to h1: >while you were away<"),
        "{}",
        s.log()
    );
    assert!(!f.exists());
    assert!(fs::read_to_string(s.perm_path())
        .unwrap()
        .contains(":S:h1:echo:while you were away:"));
    assert_eq!(ask(&s.sock("h1"), "ping"), "h1");
}

#[test]
fn term_during_replay_finishes_the_message_in_flight_and_sends_no_more() {
    let s = Setup::new("delayedterm", &[peer("h1")]);
    let d = s.delayed_dir();
    fs::write(d.join("1.slow.h1"), "sleep:400:slow one\n").unwrap();
    fs::write(d.join("2.next.h1"), "echo:next one\n").unwrap();
    let mut l = s.start();
    assert!(wait_got(s.standin("h1"), b"sleep:400:slow one", 1));
    l.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(l.wait_exit(WAIT), Some(Some(0)));
    assert!(
        s.log()
            .contains("Delayed sleep:400:slow one to h1: >slow one<"),
        "{}",
        s.log()
    );
    assert!(!d.join("1.slow.h1").exists());
    assert!(
        d.join("2.next.h1").exists(),
        "nothing new is sent while stopping"
    );
    assert!(!s
        .standin("h1")
        .received()
        .iter()
        .any(|r| r == b"echo:next one"));
}

#[test]
fn unreadable_delayed_entries_are_logged_left_in_place_and_never_block() {
    let s = Setup::new("delayedodd", &[peer("h1")]);
    let d = s.delayed_dir();
    // Tests run as root, who can read any regular file: a directory and a FIFO with no writer
    // are what even root cannot take a line from (opening the FIFO plainly would block).
    let dir = d.join("0001.dir.h1");
    fs::create_dir(&dir).unwrap();
    let fifo = d.join("0002.fifo.h1");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    fs::write(d.join("0003.echo.h1"), "echo:after the odd ones\n").unwrap();
    let _l = s.start();
    assert!(
        s.wait_log("Delayed echo:after the odd ones to h1: >after the odd ones<"),
        "{}",
        s.log()
    );
    for p in [&dir, &fifo] {
        assert!(
            s.log().contains(&format!(
                "WARNING: Cannot read delayed message {}: not a regular file; left in place",
                p.display()
            )),
            "{}",
            s.log()
        );
    }
    assert!(dir.is_dir() && fifo.exists(), "both are left in place");
    assert!(!d.join("0003.echo.h1").exists());
    assert!(s.wait_online("h1"));
    assert_eq!(ask(&s.sock("h1"), "ping"), "h1");
}

#[test]
fn a_delayed_message_over_loncmaxline_is_left_in_place_unread() {
    let mut s = Setup::new("delayedbig", &[peer("h1")]);
    s.set("loncMaxLine", "100");
    let d = s.delayed_dir();
    // Without a bound on the read, a huge file without a newline would be read whole.
    let big = d.join("0001.big.h1");
    fs::write(&big, format!("echo:{}", "y".repeat(5000))).unwrap();
    fs::write(d.join("0002.echo.h1"), "echo:small\n").unwrap();
    let _l = s.start();
    assert!(
        s.wait_log("Delayed echo:small to h1: >small<"),
        "{}",
        s.log()
    );
    assert!(
        s.log().contains(&format!(
            "WARNING: Cannot read delayed message {}: first line is over loncMaxLine (100); left in place",
            big.display()
        )),
        "{}",
        s.log()
    );
    assert!(big.exists());
    assert!(!s
        .standin("h1")
        .received()
        .iter()
        .any(|r| r.starts_with(b"echo:yyy")));
}
