//! Unit tests of the receiver's protocol side, fed bytes in arbitrary pieces.

use super::*;

fn receiver(tag: &str, reject_after: Option<u64>) -> Receiver {
    let dir = std::env::temp_dir().join(format!("ipsyn-recv-unit-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    Receiver::new(RecvOptions {
        listen: String::new(),
        dir,
        port_file: None,
        reject_after,
        idle: Duration::from_secs(1),
    })
}

/// Feed `input` in pieces of `step` bytes; return everything answered.
fn feed(rx: &mut Receiver, input: &[u8], step: usize) -> (String, bool) {
    let mut s = Session::new();
    for piece in input.chunks(step) {
        s.inbuf.extend_from_slice(piece);
        rx.process(&mut s);
    }
    (String::from_utf8(s.out).unwrap(), s.closing)
}

const SESSION: &[u8] = b"IPSYN 1 POP\nFILE 5 a b\nhelloFILE 0 empty\nFILE 3 c\n\r\nxQUIT\n";

#[test]
fn whole_session_in_any_chunking() {
    for step in [1, 2, 3, 7, 64, SESSION.len()] {
        let mut rx = receiver(&format!("chunk{step}"), None);
        let (out, closing) = feed(&mut rx, SESSION, step);
        assert_eq!(
            out, "OK IPSYN 1\nOK a b\nOK empty\nOK c\nBYE\n",
            "step {step}"
        );
        assert!(closing);
        let dir = &rx.opts.dir;
        assert_eq!(fs::read(dir.join("a b")).unwrap(), b"hello");
        assert_eq!(fs::read(dir.join("empty")).unwrap(), b"");
        assert_eq!(
            fs::read(dir.join("c")).unwrap(),
            b"\r\nx",
            "body bytes are not lines"
        );
        assert!(!has_temp_files(dir));
        assert_eq!(rx.stored, 3);
        fs::remove_dir_all(dir).unwrap();
    }
}

#[test]
fn refusals_keep_the_framing() {
    let mut rx = receiver("refuse", Some(1));
    let (out, _) = feed(
        &mut rx,
        b"IPSYN 1 X\nFILE 1 .x\n1FILE 1 ok\n2FILE 1 late\n3QUIT\n",
        4,
    );
    assert_eq!(
        out,
        "OK IPSYN 1\nERR .x name starts with a dot\nOK ok\n\
         ERR late refusing more files (--reject-after)\nBYE\n"
    );
    let dir = rx.opts.dir.clone();
    assert!(dir.join("ok").exists() && !dir.join("late").exists());
    assert!(!has_temp_files(&dir));
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn protocol_errors_close() {
    let mut rx = receiver("proto", None);
    assert_eq!(
        feed(&mut rx, b"HELLO\nFILE 1 x\nx", 100),
        ("ERR not an IPSYN greeting\n".to_string(), true)
    );
    assert_eq!(
        feed(&mut rx, b"IPSYN 1 X\nFILE many x\n", 100),
        ("OK IPSYN 1\nERR - bad size \"many\"\n".to_string(), true)
    );
    let long = vec![b'A'; MAX_LINE + 10];
    let (out, closing) = feed(&mut rx, &long, 100);
    assert_eq!(out, "ERR - line too long\n");
    assert!(closing);
    // The same when the long line and its newline arrive in one read.
    let mut long = b"IPSYN 1 X\nFILE 1 ".to_vec();
    long.extend(vec![b'n'; MAX_LINE]);
    long.extend_from_slice(b"\nx");
    for step in [long.len(), 10] {
        let (out, closing) = feed(&mut rx, &long, step);
        assert_eq!(out, "OK IPSYN 1\nERR - line too long\n", "step {step}");
        assert!(closing);
    }
    fs::remove_dir_all(&rx.opts.dir).unwrap();
}

#[test]
fn unfinished_body_leaves_no_file() {
    let mut rx = receiver("cut", None);
    let mut s = Session::new();
    s.inbuf.extend_from_slice(b"IPSYN 1 X\nFILE 10 cut\n12345");
    rx.process(&mut s);
    assert!(has_temp_files(&rx.opts.dir));
    drop(s); // the connection goes away mid-file
    assert!(!has_temp_files(&rx.opts.dir));
    assert!(!rx.opts.dir.join("cut").exists());
    fs::remove_dir_all(&rx.opts.dir).unwrap();
}
