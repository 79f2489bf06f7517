//! `loncLinks` (spec §8.6): several TCP links to one peer, each with its own handshake; the
//! first persistent and the only one that replays delayed messages, the others opened on
//! demand and closed after `loncLinkIdle`; each client's answers in the order of its lines; a
//! failing extra link a WARNING, not the child's end; TERM and HUP with several links; and
//! `loncLinks 1` (the default) exactly 1.29's one link.
//!
//! Every assertion is on a fact (who was answered while what was still in flight, which
//! connections the stand-in saw), never on how long something took.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::lonc_common::*;

fn json(s: &Setup) -> serde_json::Value {
    serde_json::from_str(&fs::read_to_string(s.status_json()).unwrap_or_default())
        .unwrap_or_default()
}

/// A client that sent `line` and waits for its answer.
pub(crate) fn send(s: &Setup, id: &str, line: &str) -> UnixStream {
    let mut c = UnixStream::connect(s.sock(id)).unwrap();
    c.write_all(format!("{line}\n").as_bytes()).unwrap();
    c
}

/// The next answer line, waiting at most `WAIT`.
pub(crate) fn answer(c: &mut UnixStream) -> String {
    c.set_read_timeout(Some(WAIT)).unwrap();
    let l = read_line(c).expect("an answer");
    String::from_utf8_lossy(&l)
        .trim_end_matches('\n')
        .to_string()
}

/// Whether an answer is already there (without waiting for one).
pub(crate) fn answered_yet(c: &mut UnixStream) -> bool {
    c.set_nonblocking(true).unwrap();
    let mut b = [0u8; 1];
    // SAFETY: recv with MSG_PEEK into a valid one-byte buffer on an open socket.
    let n = unsafe {
        libc::recv(
            std::os::fd::AsRawFd::as_raw_fd(c),
            b.as_mut_ptr().cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    c.set_nonblocking(false).unwrap();
    n > 0
}

pub(crate) fn links_setup(name: &str, links: usize) -> Setup {
    let mut s = Setup::new(name, &[peer("h1")]);
    s.set("loncLinks", &links.to_string());
    s
}

/// [`links_setup`] with a short retry time after a failed link (0.3 to 0.4 s).
pub(crate) fn backoff_links_setup(name: &str, links: usize) -> Setup {
    let mut s = links_setup(name, links);
    s.set("loncBackoffMin", "0.3");
    s.set("loncBackoffMax", "0.4");
    s
}

/// With `l` started from a [`backoff_links_setup`]: h1 online, then the peer fails every new
/// handshake, `busy` is in flight on link 1 (the stand-in has it) and `queued` is sent, so link
/// 2 is tried, fails, and its WARNING with the retry time is logged. Gives the child's pid and
/// the two clients.
pub(crate) fn fail_extra_link(
    s: &Setup,
    l: &Lonc,
    busy: &str,
    queued: &str,
) -> (i32, UnixStream, UnixStream) {
    assert!(s.wait_online("h1"));
    let kid = l.children()[0];
    let st = s.standin("h1");
    st.fail_handshakes(Some(Duration::from_millis(5)));
    let a = send(s, "h1", busy);
    assert!(wait_got(st, busy.as_bytes(), 1));
    let b = send(s, "h1", queued);
    assert!(
        s.wait_log("WARNING: Couldn't open link 2 to h1: init failed; next try in 0.3 secs"),
        "{}",
        s.log()
    );
    (kid, a, b)
}

#[test]
fn one_link_by_default_and_the_status_line_as_before() {
    let s = Setup::new("links1", &[peer("h1")]);
    let l = s.start();
    assert!(s.wait_online("h1"));
    // Eight clients at once, each with a request that takes a while: one link serves them
    // all, one at a time (1.29).
    let mut cs: Vec<UnixStream> = (0..8)
        .map(|i| send(&s, "h1", &format!("sleep:30:c{i}")))
        .collect();
    for (i, c) in cs.iter_mut().enumerate() {
        assert_eq!(answer(c), format!("c{i}"));
    }
    let st = s.standin("h1");
    assert_eq!(st.accepted(), 1, "one TCP connection only");
    assert!(!s.log().contains("Link 2"), "{}", s.log());
    l.signal(Signal::SIGUSR1);
    assert!(wait_for(WAIT, || json(&s)["usr1_served"] == 1));
    let page = fs::read_to_string(s.status_txt()).unwrap();
    let kid = l.children()[0];
    let line = page
        .lines()
        .find(|x| x.starts_with(&format!("{kid}\t")))
        .unwrap_or_else(|| panic!("{page}"));
    assert!(!line.contains("[links"), "1.29's line: {line}");
    assert_eq!(line.matches('\t').count(), 2, "{line}");
    let v = json(&s);
    assert_eq!(v["hosts"][0]["links_max"], 1);
    assert!(v["hosts"][0]["links"].is_null(), "{v}");
}

#[test]
fn each_clients_answers_keep_the_order_of_its_lines_over_several_links() {
    let s = links_setup("order", 4);
    let _l = s.start();
    assert!(s.wait_online("h1"));
    // Four clients, each writes twelve requests at once; the delays vary so that, were
    // requests of one client spread over links, later ones would overtake earlier ones.
    let mut cs: Vec<UnixStream> = (0..4)
        .map(|c| {
            let mut k = UnixStream::connect(s.sock("h1")).unwrap();
            let mut batch = String::new();
            for i in 0..12 {
                let ms = [40, 1, 15, 0][(i + c) % 4];
                batch.push_str(&format!("sleep:{ms}:c{c}-{i}\n"));
            }
            k.write_all(batch.as_bytes()).unwrap();
            k
        })
        .collect();
    for (c, k) in cs.iter_mut().enumerate() {
        for i in 0..12 {
            assert_eq!(answer(k), format!("c{c}-{i}"), "client {c}, line {i}");
        }
    }
    let st = s.standin("h1");
    assert!(
        st.accepted() >= 2,
        "several links were used: {}",
        st.accepted()
    );
    assert!(
        st.accepted() <= 4,
        "no more than loncLinks: {}",
        st.accepted()
    );
    assert!(s.log().contains("INFO: Link 2 to h1 up"), "{}", s.log());
}

#[test]
fn a_slow_request_does_not_stall_the_other_clients() {
    let s = links_setup("hol", 3);
    let l = s.start();
    assert!(s.wait_online("h1"));
    let kid = l.children()[0];
    // The first link takes a request that is never answered.
    let mut slow = send(&s, "h1", "hang");
    assert!(wait_got(s.standin("h1"), b"hang", 1));
    // The others are answered over extra links while it is still in flight.
    for i in 0..5 {
        let mut c = send(&s, "h1", &format!("echo:other{i}"));
        assert_eq!(answer(&mut c), format!("other{i}"));
    }
    let mut two = [send(&s, "h1", "sleep:50:x"), send(&s, "h1", "echo:y")];
    assert_eq!(answer(&mut two[0]), "x");
    assert_eq!(answer(&mut two[1]), "y");
    assert!(!answered_yet(&mut slow), "the slow one is still in flight");
    assert_eq!(l.children(), vec![kid]);
    assert!(s.standin("h1").accepted() >= 2);
}

#[test]
fn a_failing_extra_link_is_a_warning_and_link_one_serves_on() {
    let s = backoff_links_setup("extrafail", 3);
    let l = s.start();
    // From now on the peer fails every new handshake: only link 1 is up.
    let (kid, mut a, mut b) = fail_extra_link(&s, &l, "sleep:800:a", "echo:b");
    let st = s.standin("h1");
    // b waits for link 1 and is served there; nobody got con_lost, the child lives on.
    assert_eq!(answer(&mut a), "a");
    assert_eq!(answer(&mut b), "b");
    assert_eq!(l.children(), vec![kid]);
    assert!(!s.log().contains("Backing off"), "{}", s.log());
    assert!(!s.log().contains("Init failed h1"), "{}", s.log());
    assert_eq!(ask(&s.sock("h1"), "ping"), "h1");
    // The peer takes handshakes again: the next demand opens the extra link (a later retry).
    st.fail_handshakes(None);
    let mut c = send(&s, "h1", "sleep:500:c");
    assert!(wait_got(st, b"sleep:500:c", 1));
    let mut d = send(&s, "h1", "echo:d");
    assert!(s.wait_log("INFO: Link 2 to h1 up"), "{}", s.log());
    assert_eq!(answer(&mut d), "d");
    assert_eq!(answer(&mut c), "c");
    assert_eq!(l.children(), vec![kid]);
}

#[test]
fn extra_links_close_after_link_idle_and_link_one_stays() {
    let mut s = links_setup("idle", 3);
    s.set("loncLinkIdle", "0.5");
    let _l = s.start();
    assert!(s.wait_online("h1"));
    let st = s.standin("h1");
    // Held until released, whatever the load: all three are in flight at once, so each needs
    // its own link (a request answered early would free link 1 for the next).
    let mut cs: Vec<UnixStream> = (0..3)
        .map(|i| send(&s, "h1", &format!("hold:i{i}")))
        .collect();
    for i in 0..3 {
        assert!(wait_got(st, format!("hold:i{i}").as_bytes(), 1));
    }
    assert_eq!(st.accepted(), 3, "three links for three waiting clients");
    for (i, c) in cs.iter_mut().enumerate() {
        st.release(format!("i{i}").as_bytes());
        assert_eq!(answer(c), format!("i{i}"));
    }
    assert!(
        s.wait_log_n("INFO: Link", 4)
            && s.wait_log("INFO: Link 2 to h1 closed after 0.5 secs unused")
            && s.wait_log("INFO: Link 3 to h1 closed after 0.5 secs unused"),
        "{}",
        s.log()
    );
    assert!(wait_for(WAIT, || st.open_connections() == 1));
    assert!(!s.log().contains("Link 1 to h1 closed"));
    // Link 1 still serves.
    assert_eq!(ask(&s.sock("h1"), "ping"), "h1");
    assert_eq!(st.accepted(), 3);
}

#[test]
fn delayed_messages_go_once_over_link_one_with_several_links() {
    let s = links_setup("delayed", 4);
    let d = s.delayed_dir();
    for i in 0..5 {
        fs::write(
            d.join(format!("100{i}.echo.h1")),
            format!("echo:delayed{i}\n"),
        )
        .unwrap();
    }
    let _l = s.start();
    assert!(s.wait_online("h1"));
    let st = s.standin("h1");
    // The listener opens after the replay: all five went before any client was served.
    for i in 0..5 {
        assert!(!d.join(format!("100{i}.echo.h1")).exists());
    }
    assert_eq!(st.accepted(), 1, "replayed over the first link alone");
    let mut cs: Vec<UnixStream> = (0..4)
        .map(|i| send(&s, "h1", &format!("sleep:100:n{i}")))
        .collect();
    for (i, c) in cs.iter_mut().enumerate() {
        assert_eq!(answer(c), format!("n{i}"));
    }
    assert!(st.accepted() >= 2);
    // The peer drops every link; the first reconnects and replays the new message once.
    fs::write(d.join("2000.echo.h1"), "echo:later\n").unwrap();
    st.disconnect_all();
    assert!(
        s.wait_log("Delayed echo:later to h1: >later<"),
        "{}",
        s.log()
    );
    assert!(!d.join("2000.echo.h1").exists());
    let got = st.received();
    for i in 0..5 {
        let n = got
            .iter()
            .filter(|r| *r == format!("echo:delayed{i}").as_bytes())
            .count();
        assert_eq!(n, 1, "delayed{i} sent once: {got:?}");
    }
    assert_eq!(got.iter().filter(|r| *r == b"echo:later").count(), 1);
    let sending = format!("]: Sending {}", d.display());
    assert_eq!(s.log_count(&sending), 6, "{}", s.log());
    let perm = fs::read_to_string(s.perm_path()).unwrap();
    assert_eq!(perm.matches(":S:h1:echo:").count(), 6, "{perm}");
}

#[test]
fn term_lets_the_exchanges_in_flight_on_every_link_finish() {
    let s = links_setup("term", 3);
    let mut l = s.start();
    assert!(s.wait_online("h1"));
    let st = s.standin("h1");
    let mut a = send(&s, "h1", "sleep:700:a");
    let mut b = send(&s, "h1", "sleep:700:b");
    assert!(wait_got(st, b"sleep:700:a", 1) && wait_got(st, b"sleep:700:b", 1));
    assert_eq!(st.accepted(), 2, "on two links");
    l.signal(Signal::SIGTERM);
    assert_eq!(answer(&mut a), "a");
    assert_eq!(answer(&mut b), "b");
    assert_eq!(l.wait_exit(WAIT), Some(Some(0)));
    assert!(!s.sock("h1").exists(), "socket unlinked");
    assert!(s.log().contains("CRITICAL: Shutting down"), "{}", s.log());
}

#[test]
fn hup_replaces_the_child_and_all_its_links() {
    let s = links_setup("hup", 3);
    let l = s.start();
    assert!(s.wait_online("h1"));
    let old = l.children()[0];
    let st = s.standin("h1");
    let mut cs: Vec<UnixStream> = (0..3)
        .map(|i| send(&s, "h1", &format!("sleep:200:h{i}")))
        .collect();
    for (i, c) in cs.iter_mut().enumerate() {
        assert_eq!(answer(c), format!("h{i}"));
    }
    assert_eq!(st.open_connections(), 3);
    l.signal(Signal::SIGHUP);
    assert!(s.wait_log("CRITICAL: Restarting"), "{}", s.log());
    assert!(wait_for(WAIT, || {
        let k = l.children();
        k.len() == 1 && k[0] != old
    }));
    assert!(wait_for(WAIT, || !alive(old)));
    assert!(s.wait_online("h1"));
    // The old child's three links are closed; the new child has its first link only.
    assert!(wait_for(WAIT, || st.open_connections() == 1));
    let mut two = [send(&s, "h1", "sleep:300:p"), send(&s, "h1", "echo:q")];
    assert_eq!(answer(&mut two[1]), "q");
    assert_eq!(answer(&mut two[0]), "p");
    assert!(
        st.open_connections() >= 2,
        "the new child opens extra links too"
    );
}

#[test]
fn the_status_page_and_json_show_the_links() {
    let s = links_setup("status", 4);
    let l = s.start();
    assert!(s.wait_online("h1"));
    let kid = l.children()[0];
    let mut slow = send(&s, "h1", "hang");
    assert!(wait_got(s.standin("h1"), b"hang", 1));
    let mut c = send(&s, "h1", "echo:z");
    assert_eq!(answer(&mut c), "z");
    // The status follows the requests, not the extra link's handshake.
    let log = s.log();
    let up = log
        .lines()
        .find(|x| x.contains("INFO: Link 2 to h1 up"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(
        up.contains(": Accept new connection: h1]: ") && !up.contains("Initialize cipher"),
        "{up}"
    );
    l.signal(Signal::SIGUSR1);
    assert!(wait_for(WAIT, || json(&s)["usr1_served"] == 1));
    let page = fs::read_to_string(s.status_txt()).unwrap();
    let line = page
        .lines()
        .find(|x| x.starts_with(&format!("{kid}\t")))
        .unwrap_or_else(|| panic!("{page}"));
    assert!(line.contains(" [links 2/4, 1 busy]\t"), "{line}");
    let v = json(&s);
    let h = &v["hosts"][0];
    assert_eq!(h["links_max"], 4, "{v}");
    assert_eq!(h["links"]["open"], 2, "{v}");
    assert_eq!(h["links"]["max"], 4, "{v}");
    assert_eq!(h["links"]["busy"], 1, "{v}");
    // `lonc -s` (another USR1) shows them in its LINKS column.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_lonc"))
        .args(["-c", s.config.to_str().unwrap(), "-s"])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{table}");
    let head = table.lines().find(|x| x.starts_with("ID ")).unwrap_or("");
    let row = table.lines().find(|x| x.starts_with("h1 ")).unwrap_or("");
    assert!(head.contains(" ATTEMPTS  LINKS "), "{table}");
    assert!(row.contains(" 2/4, 1 busy "), "{table}");
    assert!(!answered_yet(&mut slow));
    let mut b = [0u8; 1];
    slow.set_nonblocking(true).unwrap();
    assert!(slow.read(&mut b).is_err());
}
