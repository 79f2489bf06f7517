//! Faults: a peer that closes, resets or hangs (con_lost, then one reconnect), a refused
//! handshake (back-off exit, restart counting, abandoned), an unreachable peer, a peer that
//! stays down after a loss.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use crate::lonc_common::*;
use nix::sys::signal::Signal;

#[test]
fn peer_close_gives_con_lost_once_then_reconnects() {
    let s = Setup::new("close", &[peer("h1")]);
    let l = s.start();
    assert!(s.wait_online("h1"));
    let kid = l.children();
    assert_eq!(ask(&s.sock("h1"), "close"), "con_lost");
    assert!(s.wait_log("CRITICAL: Closing connection h1"));
    assert!(s.wait_log("Attempting to open new connection"));
    assert!(s.standin("h1").wait_connections(2, WAIT), "{}", s.log());
    assert_eq!(ask(&s.sock("h1"), "ping"), "h1");
    // One reconnect, not a loop; the same child did it.
    assert_eq!(s.standin("h1").connections(), 2);
    assert_eq!(s.log_count("Attempting to open new connection"), 1);
    assert_eq!(l.children(), kid);
}

#[test]
fn peer_reset_gives_con_lost_then_reconnects() {
    let s = Setup::new("reset", &[peer("h1")]);
    let _l = s.start();
    assert!(s.wait_online("h1"));
    assert_eq!(ask(&s.sock("h1"), "reset"), "con_lost");
    assert!(s.standin("h1").wait_connections(2, WAIT));
    assert_eq!(ask(&s.sock("h1"), "echo:after reset"), "after reset");
}

#[test]
fn hung_peer_hits_the_reply_timeout_and_every_waiting_client_gets_con_lost() {
    let mut s = Setup::new("hang", &[peer("h1")]);
    s.set("loncReplyTimeout", "0.5");
    let _l = s.start();
    assert!(s.wait_online("h1"));
    let mut a = UnixStream::connect(s.sock("h1")).unwrap();
    a.set_read_timeout(Some(WAIT)).unwrap();
    a.write_all(b"hang\n").unwrap();
    assert!(wait_got(s.standin("h1"), b"hang", 1));
    // B is queued behind the hung request.
    let mut b = UnixStream::connect(s.sock("h1")).unwrap();
    b.set_read_timeout(Some(WAIT)).unwrap();
    b.write_all(b"ping\n").unwrap();
    assert_eq!(read_line(&mut a).unwrap(), b"con_lost");
    assert_eq!(read_line(&mut b).unwrap(), b"con_lost");
    assert!(s.wait_log("CRITICAL: Timeout h1: hang"));
    assert!(s.standin("h1").wait_connections(2, WAIT));
    assert_eq!(ask(&s.sock("h1"), "ping"), "h1");
}

#[test]
fn peer_closing_an_idle_link_is_noticed_and_reopened() {
    let s = Setup::new("idleclose", &[peer("h1")]);
    let _l = s.start();
    assert!(s.wait_online("h1"));
    s.standin("h1").disconnect_all();
    assert!(s.standin("h1").wait_connections(2, WAIT), "{}", s.log());
    assert_eq!(ask(&s.sock("h1"), "ping"), "h1");
}

#[test]
fn refused_handshake_backs_off_counts_restarts_and_is_abandoned_until_usr1() {
    let mut s = Setup::new(
        "refused",
        &[
            PeerSpec {
                id: "h1",
                standin: true,
                refuse: true,
            },
            peer("h2"),
        ],
    );
    s.set("loncMaxAttempts", "2");
    // 1.29's behaviour: nothing but USR1 brings an abandoned host back.
    s.set("loncRecheck", "0");
    let l = s.start();
    assert!(s.wait_log("Init reply for h1: >refused<"), "{}", s.log());
    assert!(s.wait_log("WARNING: Init failed h1 ("));
    assert!(s.wait_log("INFO: Trying to reconnect for h1 (1 of 2 attempts)"));
    assert!(s.wait_log("INFO: Trying to reconnect for h1 (2 of 2 attempts)"));
    assert!(
        s.wait_log("INFO: Skipping h1 (2 of 2 attempts)"),
        "{}",
        s.log()
    );
    assert!(s.wait_log("CRITICAL: Child "));
    assert!(s.log().contains("for server h1 died ("));
    // The healthy host is unaffected, and the failed one never had a socket.
    assert_eq!(ask(&s.sock("h2"), "ping"), "h2");
    assert!(!s.sock("h1").exists());
    // No restarts beyond the cap.
    let tries = s.log_count("INFO: Trying to reconnect for h1");
    assert_eq!(tries, 2);
    l.signal(Signal::SIGUSR1);
    assert!(wait_for(WAIT, || std::fs::read_to_string(s.status_txt())
        .unwrap_or_default()
        .contains("-\tabandoned\th1 (2 of 2 attempts)")));
    // USR1 resets the counters and tries again.
    assert!(
        s.wait_log_n("INFO: Trying to reconnect for h1 (1 of 2 attempts)", 2),
        "{}",
        s.log()
    );
}

#[test]
fn unreachable_peers_get_no_child_and_probes_run_concurrently() {
    let mut s = Setup::new("unreach", &[peer("h1"), peer("h2"), peer("h3"), peer("h4")]);
    let _bh = s.blackhole(&["h2", "h3", "h4"], "1.5");
    s.set("loncRecheck", "0");
    let t0 = Instant::now();
    let l = s.start();
    let took = t0.elapsed();
    // Three probes of 1.5 s each, run at the same time: well under the 4.5 s a serial run takes.
    assert!(took < Duration::from_millis(4000), "start-up took {took:?}");
    for id in ["h2", "h3", "h4"] {
        assert!(
            s.log().contains(&format!(
                "WARNING: {id} is not reachable (probe timed out), no child started"
            )),
            "{}",
            s.log()
        );
        assert!(!s.sock(id).exists());
    }
    assert!(s.wait_online("h1"));
    assert_eq!(l.children().len(), 1);
    l.signal(Signal::SIGUSR1);
    assert!(wait_for(WAIT, || std::fs::read_to_string(s.status_txt())
        .unwrap_or_default()
        .contains("-\tunreachable\th3 (0 of 5 attempts)")));
    // USR1 probes them again; still unreachable, so they are skipped.
    assert!(
        s.wait_log_n("WARNING: h3 is not reachable (probe timed out)", 2)
            && s.wait_log("INFO: Skipping h3 (0 of 5 attempts)"),
        "{}",
        s.log()
    );
}

#[test]
fn reconnect_failure_after_a_loss_backs_off_and_the_parent_counts_restarts() {
    let mut s = Setup::new("downafter", &[peer("h1")]);
    s.set("loncMaxAttempts", "1");
    let _l = s.start();
    assert!(s.wait_online("h1"));
    let mut c = UnixStream::connect(s.sock("h1")).unwrap();
    c.set_read_timeout(Some(WAIT)).unwrap();
    c.write_all(b"hang\n").unwrap();
    assert!(wait_got(s.standin("h1"), b"hang", 1));
    s.stop_standin("h1");
    assert_eq!(read_line(&mut c), Some(b"con_lost".to_vec()), "{}", s.log());
    assert!(s.wait_log("Attempting to open new connection"));
    assert!(s.wait_log("WARNING: Couldn't connect h1 ("), "{}", s.log());
    assert!(
        s.wait_log("INFO: Trying to reconnect for h1 (1 of 1 attempts)"),
        "{}",
        s.log()
    );
    assert!(
        s.wait_log("INFO: Skipping h1 (1 of 1 attempts)"),
        "{}",
        s.log()
    );
    assert!(!s.sock("h1").exists(), "socket left behind");
}

#[test]
fn silent_peer_times_out_in_init_and_refused_connect_backs_off() {
    let mut s = Setup::new(
        "silent",
        &[
            peer("h1"),
            PeerSpec {
                id: "h2",
                standin: false,
                refuse: false,
            },
            PeerSpec {
                id: "h3",
                standin: false,
                refuse: false,
            },
        ],
    );
    s.set("loncInitTimeout", "0.5");
    s.set("loncMaxAttempts", "1");
    // h2: something accepts on lond's port but never says a word.
    let mute = std::net::TcpListener::bind((s.peer("h2").ip, s.port)).unwrap();
    // h3: nothing listens on lond's port (the probe still says reachable: refused).
    let _l = s.start();
    assert!(s.wait_log("Timed out during init: h2"), "{}", s.log());
    assert!(s.wait_log("WARNING: Init failed h2 ("));
    assert!(s.wait_log("WARNING: Couldn't connect h3 ("), "{}", s.log());
    assert!(s.log().contains("Connection refused"), "{}", s.log());
    assert!(
        s.wait_log("INFO: Skipping h2 (1 of 1 attempts)"),
        "{}",
        s.log()
    );
    assert!(
        s.wait_log("INFO: Skipping h3 (1 of 1 attempts)"),
        "{}",
        s.log()
    );
    assert!(!s.sock("h2").exists() && !s.sock("h3").exists());
    assert_eq!(ask(&s.sock("h1"), "ping"), "h1");
    drop(mute);
}

#[test]
fn an_endless_answer_line_is_cut_at_loncmaxanswer_and_the_link_reopened() {
    let mut s = Setup::new("flood", &[peer("h1")]);
    s.set("loncMaxAnswer", "100000");
    let l = s.start();
    assert!(s.wait_online("h1"));
    let kid = l.children();
    // Ten times the bound, with no newline: without the bound the child would keep buffering
    // until the reply timeout (300 s by default).
    assert_eq!(ask(&s.sock("h1"), "flood:1000000"), "con_lost");
    assert!(
        s.wait_log("WARNING: Answer from h1 to flood:1000000 is over loncMaxAnswer (100000)"),
        "{}",
        s.log()
    );
    assert!(s.wait_log("CRITICAL: Closing connection h1"));
    assert!(s.standin("h1").wait_connections(2, WAIT), "{}", s.log());
    assert_eq!(ask(&s.sock("h1"), "ping"), "h1");
    assert_eq!(s.log_count("Attempting to open new connection"), 1);
    assert_eq!(l.children(), kid, "the same child reconnected");
}
