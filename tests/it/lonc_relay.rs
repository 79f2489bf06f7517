//! Relay through the real lonc: order with many clients, encryption both ways, arbitrary bytes,
//! empty answers, the line limit, clients that leave early, close_connection_exit.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use crate::lonc_common::*;

#[test]
fn relays_plain_requests_to_the_right_peer() {
    let s = Setup::new("plain", &[peer("h1"), peer("h2"), peer(LOCAL_ID)]);
    let _l = s.start();
    for id in ["h1", "h2", LOCAL_ID] {
        assert!(s.wait_online(id), "{id} not online:\n{}", s.log());
    }
    assert_eq!(ask(&s.sock("h1"), "ping"), "h1");
    assert_eq!(ask(&s.sock("h2"), "ping"), "h2");
    assert_eq!(
        ask(&s.sock(LOCAL_ID), "ping"),
        LOCAL_ID,
        "the local host gets a child too"
    );
    assert_eq!(ask(&s.sock("h1"), "echo:hello world"), "hello world");
    assert_eq!(ask(&s.sock("h1"), "nonsense"), "unknown_cmd");
    let log = s.log();
    assert!(log.contains("Secure connection initialized: h1"), "{log}");
    // The status field says what the child was doing, as 1.29's status() calls did.
    assert!(
        log.contains(": Initialize cipher: h1]: Secure connection initialized: h1"),
        "{log}"
    );
    assert!(log.contains(": Opening socket h1]: h1 online"), "{log}");
    assert!(log.contains("Pong reply for h1: >h1:loc1<"), "{log}");
    assert!(log.contains("h1 online"), "{log}");
    let mode = std::fs::metadata(s.sock("h1"))
        .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777)
        .unwrap();
    assert_eq!(mode, 0o600);
}

#[test]
fn many_clients_each_get_their_own_answer_in_order() {
    let s = Setup::new("many", &[peer("h1")]);
    let _l = s.start();
    assert!(s.wait_online("h1"));
    // 40 clients connect first, then all send; answers must match their own requests.
    let mut clients: Vec<UnixStream> = (0..40)
        .map(|_| UnixStream::connect(s.sock("h1")).unwrap())
        .collect();
    for (i, c) in clients.iter_mut().enumerate() {
        c.set_read_timeout(Some(WAIT)).unwrap();
        // Two requests on one connection: answers come back in the same order.
        c.write_all(format!("sleep:{}:first {i}\necho:second {i}\n", i % 3).as_bytes())
            .unwrap();
    }
    for (i, c) in clients.iter_mut().enumerate() {
        assert_eq!(read_line(c).unwrap(), format!("first {i}").into_bytes());
        assert_eq!(read_line(c).unwrap(), format!("second {i}").into_bytes());
    }
    // lond saw one request at a time, each client's two lines in order.
    let got = s.standin("h1").received();
    let got: Vec<String> = got
        .iter()
        .map(|r| String::from_utf8_lossy(r).into_owned())
        .collect();
    for i in 0..40 {
        let a = got
            .iter()
            .position(|r| r == &format!("sleep:{}:first {i}", i % 3))
            .unwrap();
        let b = got
            .iter()
            .position(|r| r == &format!("echo:second {i}"))
            .unwrap();
        assert!(a < b);
    }
}

#[test]
fn encrypt_requests_go_out_encrypted_and_enc_answers_come_back_plain() {
    let s = Setup::new("enc", &[peer("h1")]);
    let _l = s.start();
    assert!(s.wait_online("h1"));
    // encecho: the stand-in decrypts the request and answers with an encrypted line.
    assert_eq!(
        ask(&s.sock("h1"), "encrypt:encecho:secret words"),
        "secret words"
    );
    assert_eq!(ask(&s.sock("h1"), "encrypt:ping"), "h1");
    let raw = s.standin("h1").received_raw();
    let raw: Vec<String> = raw
        .iter()
        .map(|r| String::from_utf8_lossy(r).into_owned())
        .collect();
    assert!(raw.iter().any(|r| r.starts_with("enc:20:")), "{raw:?}");
    assert!(
        !raw.iter().any(|r| r.contains("secret")),
        "plaintext on the wire: {raw:?}"
    );
    let dec = s.standin("h1").received();
    assert!(dec.iter().any(|r| r == b"encecho:secret words"));
    // A broken enc answer is relayed unchanged, with a log line; the child lives on.
    assert_eq!(ask(&s.sock("h1"), "garbage_enc"), "enc:5:zz");
    assert!(s.wait_log("WARNING: Bad encrypted answer from h1"));
    assert_eq!(ask(&s.sock("h1"), "ping"), "h1");
}

#[test]
fn every_byte_but_newline_passes_unchanged_and_empty_answers_stay_empty() {
    let s = Setup::new("bytes", &[peer("h1")]);
    let _l = s.start();
    assert!(s.wait_online("h1"));
    let mut text: Vec<u8> = (1u8..=255).filter(|&b| b != b'\n').collect();
    text.extend_from_slice(b"\r");
    let mut req = b"echo:".to_vec();
    req.extend_from_slice(&text);
    assert_eq!(request(&s.sock("h1"), &req).unwrap(), text);
    // An empty answer is one empty line, not con_lost (spec §7.2).
    assert_eq!(request(&s.sock("h1"), b"empty").unwrap(), b"");
    assert_eq!(ask(&s.sock("h1"), "ping"), "h1");
    assert_eq!(s.log_count("CRITICAL: Closing connection"), 0);
}

#[test]
fn a_line_over_the_limit_is_refused_and_the_next_client_is_served() {
    let mut s = Setup::new("limit", &[peer("h1")]);
    s.set("loncMaxLine", "100");
    let _l = s.start();
    assert!(s.wait_online("h1"));
    // Exactly 100 bytes is fine.
    let ok = format!("echo:{}", "a".repeat(95));
    assert_eq!(ask(&s.sock("h1"), &ok), "a".repeat(95));
    let long = format!("echo:{}", "b".repeat(96));
    assert_eq!(ask(&s.sock("h1"), &long), "refused");
    assert!(s.wait_log("is over loncMaxLine (100), refused"));
    // A huge line without any newline is cut off early, not buffered forever.
    let mut c = UnixStream::connect(s.sock("h1")).unwrap();
    c.set_read_timeout(Some(WAIT)).unwrap();
    let _ = c.write_all(&vec![b'x'; 100_000]);
    assert_eq!(read_line(&mut c).unwrap(), b"refused");
    assert_eq!(read_line(&mut c), None, "closed after refused");
    assert_eq!(ask(&s.sock("h1"), "ping"), "h1");
    assert!(!s
        .standin("h1")
        .received()
        .iter()
        .any(|r| r.starts_with(b"echo:bbb")));
}

#[test]
fn a_client_leaving_before_its_answer_does_not_hurt_the_child() {
    let s = Setup::new("leave", &[peer("h1")]);
    let l = s.start();
    assert!(s.wait_online("h1"));
    let kids = l.children();
    for _ in 0..5 {
        let mut c = UnixStream::connect(s.sock("h1")).unwrap();
        c.write_all(b"sleep:100:too late\n").unwrap();
        drop(c);
    }
    assert!(wait_got(s.standin("h1"), b"sleep:100:too late", 5));
    // Answers went nowhere; the same child still serves.
    assert_eq!(ask(&s.sock("h1"), "ping"), "h1");
    assert_eq!(l.children(), kids, "child replaced:\n{}", s.log());
    assert_eq!(s.log_count("died"), 0, "{}", s.log());
    // 1.29's line for an answer that could not be written (the rest is dropped quietly).
    assert!(
        s.wait_log_n("Dropping data with Broken pipe: 9, 0", 5),
        "{}",
        s.log()
    );
}

#[test]
fn close_connection_exit_ends_the_child_and_the_parent_restarts_it() {
    let s = Setup::new("closeexit", &[peer("h1")]);
    let _l = s.start();
    assert!(s.wait_online("h1"));
    assert_eq!(
        request(&s.sock("h1"), b"close_connection_exit"),
        None,
        "no answer, just EOF"
    );
    assert!(s.wait_log("CRITICAL: Request Close Connection h1"));
    assert!(
        s.wait_log("INFO: Trying to reconnect for h1 (1 of 5 attempts)"),
        "{}",
        s.log()
    );
    assert!(s.wait_online("h1"));
    assert_eq!(ask(&s.sock("h1"), "ping"), "h1");
    assert!(s.standin("h1").wait_connections(2, Duration::from_secs(1)));
    assert!(!s
        .standin("h1")
        .received()
        .iter()
        .any(|r| r == b"close_connection_exit"));
}

fn rss_kib(pid: i32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = s.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn idle_clients_cost_little_memory() {
    let s = Setup::new("idle", &[peer("h1")]);
    let l = s.start();
    assert!(s.wait_online("h1"));
    assert_eq!(ask(&s.sock("h1"), "ping"), "h1");
    let kid = l.children()[0];
    let before = rss_kib(kid);
    let clients: Vec<UnixStream> = (0..500)
        .map(|_| UnixStream::connect(s.sock("h1")).unwrap())
        .collect();
    // The child has accepted them all once a request behind them is answered.
    assert_eq!(ask(&s.sock("h1"), "ping"), "h1");
    let after = rss_kib(kid);
    // Measured ~0.2-0.3 KiB each; allow 4 KiB per idle client.
    assert!(
        after.saturating_sub(before) < 2000,
        "500 idle clients: {before} -> {after} KiB"
    );
    drop(clients);
}

#[test]
fn a_client_that_half_closes_still_gets_its_answers() {
    let s = Setup::new("halfclose", &[peer("h1")]);
    let _l = s.start();
    assert!(s.wait_online("h1"));
    let mut c = UnixStream::connect(s.sock("h1")).unwrap();
    c.set_read_timeout(Some(WAIT)).unwrap();
    c.write_all(b"sleep:50:one\necho:two\n").unwrap();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(read_line(&mut c).unwrap(), b"one");
    assert_eq!(read_line(&mut c).unwrap(), b"two");
    assert_eq!(
        read_line(&mut c),
        None,
        "closed once everything was answered"
    );
}

#[test]
fn pipelined_requests_on_one_connection_are_answered_in_order() {
    let s = Setup::new("pipeline", &[peer("h1")]);
    let _l = s.start();
    assert!(s.wait_online("h1"));
    let mut c = UnixStream::connect(s.sock("h1")).unwrap();
    c.set_read_timeout(Some(WAIT)).unwrap();
    // 300 requests in one write, some slow, some empty answers, some encrypted.
    let mut batch = Vec::new();
    let mut want = Vec::new();
    for i in 0..300 {
        match i % 5 {
            0 => {
                batch.extend_from_slice(format!("echo:n{i}\n").as_bytes());
                want.push(format!("n{i}"));
            }
            1 => {
                batch.extend_from_slice(format!("sleep:1:s{i}\n").as_bytes());
                want.push(format!("s{i}"));
            }
            2 => {
                batch.extend_from_slice(b"empty\n");
                want.push(String::new());
            }
            3 => {
                batch.extend_from_slice(format!("encrypt:encecho:e{i}\n").as_bytes());
                want.push(format!("e{i}"));
            }
            _ => {
                batch.extend_from_slice(b"ping\n");
                want.push("h1".into());
            }
        }
    }
    c.write_all(&batch).unwrap();
    for (i, w) in want.iter().enumerate() {
        let got = read_line(&mut c).unwrap_or_else(|| panic!("no answer {i}"));
        assert_eq!(String::from_utf8(got).unwrap(), *w, "answer {i}");
    }
}

#[test]
fn many_concurrent_clients_across_several_hosts() {
    let ids = ["h1", "h2", "h3"];
    let s = Setup::new("concurrent", &[peer("h1"), peer("h2"), peer("h3")]);
    let _l = s.start();
    for id in ids {
        assert!(s.wait_online(id));
    }
    let socks: Vec<std::path::PathBuf> = ids.iter().map(|id| s.sock(id)).collect();
    let threads: Vec<_> = (0..12)
        .map(|t| {
            let socks = socks.clone();
            std::thread::spawn(move || {
                let mut kept = UnixStream::connect(&socks[t % 3]).unwrap();
                kept.set_read_timeout(Some(WAIT)).unwrap();
                for i in 0..25 {
                    // Even: a fresh connection per request (lonnet); odd: the kept one.
                    let host = if i % 2 == 0 { (t + i) % 3 } else { t % 3 };
                    let text = format!("t{t} r{i} to {host}");
                    let got = if i % 2 == 0 {
                        request(&socks[host], format!("echo:{text}").as_bytes())
                    } else {
                        kept.write_all(format!("echo:{text}\n").as_bytes()).unwrap();
                        read_line(&mut kept)
                    };
                    assert_eq!(
                        got.map(|g| String::from_utf8(g).unwrap()),
                        Some(text),
                        "thread {t} request {i}"
                    );
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // Every request reached the host it was meant for.
    for (n, id) in ids.iter().enumerate() {
        let got = s.standin(id).received();
        for t in 0..12 {
            for i in 0..25 {
                let host = if i % 2 == 0 { (t + i) % 3 } else { t % 3 };
                let line = format!("echo:t{t} r{i} to {host}");
                let here = got.iter().any(|r| r == line.as_bytes());
                assert_eq!(here, host == n, "{line} at {id}");
            }
        }
    }
    assert_eq!(
        s.log_count("CRITICAL"),
        1,
        "only the Starting line:\n{}",
        s.log()
    );
}

#[test]
fn encrypt_with_an_empty_command_goes_out_as_one_block() {
    let s = Setup::new("encempty", &[peer("h1")]);
    let _l = s.start();
    assert!(s.wait_online("h1"));
    // lond decrypts it to an empty command and answers unknown_cmd.
    assert_eq!(ask(&s.sock("h1"), "encrypt:"), "unknown_cmd");
    let raw = s.standin("h1").received_raw();
    let sent = raw
        .iter()
        .find(|r| r.starts_with(b"enc:0:"))
        .unwrap_or_else(|| panic!("{raw:?}"));
    // floor(0/8)+1 = one block of eight spaces: 16 lower-case hex digits.
    let hex = &sent[b"enc:0:".len()..];
    assert_eq!(hex.len(), 16, "{}", String::from_utf8_lossy(sent));
    assert!(hex
        .iter()
        .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c)));
    assert!(s.standin("h1").received().iter().any(|r| r.is_empty()));
    assert_eq!(ask(&s.sock("h1"), "ping"), "h1");
}

#[test]
fn garbage_enc_answers_are_relayed_unchanged_with_a_warning() {
    use loncsyn::lonc::cipher::{derive_key, LineCipher};
    use loncsyn::lonc::standin::DEFAULT_BUILDKEY;
    let s = Setup::new("encgarbage", &[peer("h1")]);
    let _l = s.start();
    assert!(s.wait_online("h1"));
    // lonc's own key for this link: a well-formed answer that decrypts to two lines would
    // split one answer in two and shift every later answer of a pipelining client.
    let bk = format!("{DEFAULT_BUILDKEY}\n");
    let lonc_key = LineCipher::new(derive_key("h1", LOCAL_ID, bk.as_bytes()));
    let two_lines = String::from_utf8(lonc_key.encrypt_reply(b"two\nlines")).unwrap();
    let fine = String::from_utf8(lonc_key.encrypt_reply(b"fine")).unwrap();
    let mut c = UnixStream::connect(s.sock("h1")).unwrap();
    c.set_read_timeout(Some(WAIT)).unwrap();
    let answers = [
        "enc",
        "encyclopedia",
        "enc:",
        "enc:5",
        "enc:x:0011223344556677",
        "enc:99999999999999999999999:0011223344556677",
        "enc:9:0011223344556677",
        "enc:3:00112233445566",
        "enc:3:0011223344556677:extra",
        two_lines.as_str(),
    ];
    for a in answers {
        c.write_all(format!("echo:{a}\n").as_bytes()).unwrap();
    }
    c.write_all(format!("echo:{fine}\n").as_bytes()).unwrap();
    c.write_all(b"truncated_enc\nping\n").unwrap();
    for a in answers {
        assert_eq!(read_line(&mut c).unwrap(), a.as_bytes(), "{a}");
    }
    assert_eq!(read_line(&mut c).unwrap(), b"fine", "a good enc answer");
    assert!(read_line(&mut c).unwrap().starts_with(b"enc:"));
    assert_eq!(read_line(&mut c).unwrap(), b"h1");
    assert_eq!(
        s.log_count("WARNING: Bad encrypted answer from h1"),
        answers.len() + 1,
        "{}",
        s.log()
    );
    assert_eq!(s.log_count("CRITICAL: Closing connection"), 0);
}

#[test]
fn a_partial_line_from_a_client_that_leaves_is_never_sent() {
    let s = Setup::new("partial", &[peer("h1")]);
    let l = s.start();
    assert!(s.wait_online("h1"));
    let kids = l.children();
    for _ in 0..3 {
        let mut c = UnixStream::connect(s.sock("h1")).unwrap();
        c.write_all(b"echo:done\necho:half a req").unwrap();
        c.set_read_timeout(Some(WAIT)).unwrap();
        assert_eq!(read_line(&mut c).unwrap(), b"done");
        drop(c);
    }
    // The next client is served, and lond never saw the half line.
    assert_eq!(ask(&s.sock("h1"), "echo:after"), "after");
    assert!(!s
        .standin("h1")
        .received()
        .iter()
        .any(|r| r.starts_with(b"echo:half")));
    assert_eq!(l.children(), kids);
}

#[test]
fn a_very_long_answer_is_relayed_whole() {
    let s = Setup::new("longanswer", &[peer("h1")]);
    let _l = s.start();
    assert!(s.wait_online("h1"));
    // 6 MiB each way (under the 16 MiB default line limit), all byte values but newline.
    let text: Vec<u8> = (0..6 * 1024 * 1024)
        .map(|i| match (i % 251) as u8 + 1 {
            b'\n' => b'.',
            b => b,
        })
        .collect();
    let mut req = b"echo:".to_vec();
    req.extend_from_slice(&text);
    let c = UnixStream::connect(s.sock("h1")).unwrap();
    c.set_read_timeout(Some(WAIT)).unwrap();
    c.set_write_timeout(Some(WAIT)).unwrap();
    req.push(b'\n');
    req.extend_from_slice(b"ping\n");
    // Write from a thread: lonc may answer while the test is still writing.
    let mut w = c.try_clone().unwrap();
    let writer = std::thread::spawn(move || w.write_all(&req));
    let mut got = Vec::new();
    let mut r = std::io::BufReader::new(c);
    use std::io::BufRead;
    r.read_until(b'\n', &mut got).unwrap();
    assert_eq!(got.len(), text.len() + 1);
    assert!(got[..text.len()] == text[..], "answer differs");
    let mut next = Vec::new();
    r.read_until(b'\n', &mut next).unwrap();
    assert_eq!(next, b"h1\n");
    writer.join().unwrap().unwrap();
    assert_eq!(ask(&s.sock("h1"), "ping"), "h1");
}

#[test]
fn a_client_flooding_requests_does_not_starve_others_or_fill_memory() {
    let s = Setup::new("flood", &[peer("h1")]);
    let l = s.start();
    assert!(s.wait_online("h1"));
    assert_eq!(ask(&s.sock("h1"), "ping"), "h1");
    let kid = l.children()[0];
    let before = rss_kib(kid);
    // A client that writes 20 MB of requests and never reads its answers.
    let flooder = UnixStream::connect(s.sock("h1")).unwrap();
    flooder.set_write_timeout(Some(WAIT)).unwrap();
    let mut w = flooder.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        let chunk = b"ping\n".repeat(20_000);
        for _ in 0..200 {
            if w.write_all(&chunk).is_err() {
                break;
            }
        }
    });
    assert!(wait_got(s.standin("h1"), b"ping", 200));
    // Another client is served at once, not after millions of queued pings.
    let t0 = std::time::Instant::now();
    assert_eq!(ask(&s.sock("h1"), "echo:still served"), "still served");
    let took = t0.elapsed();
    let after = rss_kib(kid);
    flooder.shutdown(std::net::Shutdown::Both).unwrap();
    writer.join().unwrap();
    assert!(took < Duration::from_secs(5), "waited {took:?}");
    assert!(
        after.saturating_sub(before) < 8 * 1024,
        "child grew {before} -> {after} KiB"
    );
    // The child notices the flooder is gone (its unread answers cannot be written) and
    // drops it, rather than polling a hung-up socket forever.
    drop(flooder);
    let path = s.sock("h1");
    assert!(
        wait_for(WAIT, || accepted_clients(&path) == 0),
        "{} clients still held",
        accepted_clients(&path)
    );
    assert_eq!(ask(&s.sock("h1"), "ping"), "h1");
}

/// Connections a Unix listener at `path` has accepted and still holds open (the accepted
/// sockets carry the listener's path in /proc/net/unix; state 03 = connected).
fn accepted_clients(path: &std::path::Path) -> usize {
    let p = path.to_string_lossy();
    std::fs::read_to_string("/proc/net/unix")
        .unwrap_or_default()
        .lines()
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() == 8 && f[7] == p && f[5] == "03"
        })
        .count()
}
