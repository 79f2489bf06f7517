//! What the child owes its clients when things go wrong with several links or while it stops:
//! each client's answers still in the order of its lines when link 1 is lost or TERM comes
//! (its `con_lost`s after the answer still in flight, spec §7.1, §7.7, §8.6), and no busy
//! loop once an extra link has failed to open.
//!
//! Requests stay in flight exactly as long as a test needs (`hold:<text>`, released by the
//! test): every assertion is on a fact, never on how long something took.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use loncsyn::bench::procfs;
use nix::sys::signal::Signal;

use crate::lonc_common::*;
use crate::lonc_links::{
    answer, answered_yet, backoff_links_setup, fail_extra_link, links_setup, send,
};

#[test]
fn a_failed_extra_link_leaves_no_busy_loop_behind() {
    let s = backoff_links_setup("nospin", 2);
    let l = s.start();
    // Link 2 fails to open while link 1 is busy: a retry time is set.
    let (kid, mut x, mut y) = fail_extra_link(&s, &l, "hold:x", "echo:y");
    let st = s.standin("h1");
    st.release(b"x");
    assert_eq!(answer(&mut x), "x");
    assert_eq!(answer(&mut y), "y");
    // A client that pipelines: c1 is in flight on link 1 and c2 waits for its answer, so no
    // link can take anything while the retry time runs out and passes.
    let mut c = UnixStream::connect(s.sock("h1")).unwrap();
    c.write_all(b"hold:c1\necho:c2\n").unwrap();
    assert!(wait_got(st, b"hold:c1", 1));
    let pid = kid as u32;
    let before = procfs::cpu_ns(pid).expect("the child's CPU time");
    let mut running = 0;
    for _ in 0..30 {
        std::thread::sleep(Duration::from_millis(50));
        if procfs::state(pid) == Some('R') {
            running += 1;
        }
    }
    let used_ms = (procfs::cpu_ns(pid).expect("the child's CPU time") - before) / 1_000_000;
    st.release(b"c1");
    assert_eq!(answer(&mut c), "c1");
    assert_eq!(answer(&mut c), "c2");
    // Asleep in poll with nothing to do: a busy loop is runnable at every look and takes
    // most of the 1.5 s, even on a loaded machine; 0.3 s is 30 ticks at 100 Hz.
    assert!(
        running <= 10 && used_ms <= 300,
        "the child was runnable at {running} of 30 looks and used {used_ms} ms of CPU in 1.5 s"
    );
    assert_eq!(l.children(), vec![kid]);
}

#[test]
fn losing_link_one_keeps_each_clients_answers_in_order() {
    let s = links_setup("lostorder", 2);
    let l = s.start();
    assert!(s.wait_online("h1"));
    let kid = l.children()[0];
    let st = s.standin("h1");
    let mut x = send(&s, "h1", "hold:x");
    assert!(wait_got(st, b"hold:x", 1));
    // Client A pipelines: a1 goes on link 2 (link 1 is busy), a2 waits for its answer.
    let mut a = UnixStream::connect(s.sock("h1")).unwrap();
    a.write_all(b"hold:a1\necho:a2\n").unwrap();
    assert!(wait_got(st, b"hold:a1", 1));
    assert_eq!(st.accepted(), 2, "a1 is on link 2");
    st.release(b"x");
    assert_eq!(answer(&mut x), "x");
    // Link 1 is free again: the next request is lost with it.
    let mut y = send(&s, "h1", "close");
    assert_eq!(answer(&mut y), "con_lost");
    assert!(
        s.wait_log("Attempting to open new connection"),
        "{}",
        s.log()
    );
    assert!(
        !answered_yet(&mut a),
        "a2's con_lost waits for the answer to a1"
    );
    st.release(b"a1");
    assert_eq!(answer(&mut a), "a1");
    assert_eq!(answer(&mut a), "con_lost", "a2, after a1");
    // The child serves on over its new link 1.
    assert!(wait_for(WAIT, || st.connections() >= 3));
    assert_eq!(ask(&s.sock("h1"), "ping"), "h1");
    assert_eq!(l.children(), vec![kid]);
}

#[test]
fn term_answers_a_pipelining_client_in_the_order_of_its_lines() {
    // loncLinks 1 (the default): 1.29's one link.
    let s = Setup::new("termorder", &[peer("h1")]);
    let mut l = s.start();
    assert!(s.wait_online("h1"));
    let st = s.standin("h1");
    let mut a = UnixStream::connect(s.sock("h1")).unwrap();
    a.write_all(b"hold:a1\necho:a2\n").unwrap();
    assert!(wait_got(st, b"hold:a1", 1));
    l.signal(Signal::SIGTERM);
    // The child stops taking clients (its socket goes) and waits for a1's answer.
    assert!(wait_for(WAIT, || !s.sock("h1").exists()));
    // A line sent while the child stops: con_lost too, after the others.
    a.write_all(b"echo:a3\n").unwrap();
    assert!(!answered_yet(&mut a), "nothing before the answer to a1");
    st.release(b"a1");
    assert_eq!(answer(&mut a), "a1");
    assert_eq!(answer(&mut a), "con_lost", "a2");
    assert_eq!(answer(&mut a), "con_lost", "a3");
    assert_eq!(l.wait_exit(WAIT), Some(Some(0)));
    assert_eq!(
        st.received()
            .iter()
            .filter(|r| r.starts_with(b"echo:a"))
            .count(),
        0,
        "nothing was sent after TERM"
    );
}
