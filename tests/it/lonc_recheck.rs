//! `loncRecheck`: hosts that were unreachable at start or abandoned after their attempts are
//! probed again on that period and restarted when they answer, without any USR1; their
//! delayed messages are then replayed.

use std::fs;
use std::net::{IpAddr, SocketAddr};

use loncsyn::lonc::standin::{Standin, StandinOptions};

use crate::lonc_common::*;

fn json(s: &Setup) -> serde_json::Value {
    serde_json::from_str(&fs::read_to_string(s.status_json()).unwrap_or_default())
        .unwrap_or_default()
}

fn host_state(s: &Setup, id: &str) -> String {
    json(s)["hosts"]
        .as_array()
        .and_then(|h| h.iter().find(|h| h["id"] == id).cloned())
        .map(|h| h["state"].as_str().unwrap_or("").to_string())
        .unwrap_or_default()
}

#[test]
fn a_host_down_at_start_is_rechecked_and_gets_a_child_and_its_delayed_messages() {
    let mut s = Setup::new("recheck-down", &[peer("h1"), peer("h2")]);
    let bh = s.blackhole(&["h2"], "0.5");
    s.set("loncRecheck", "1");
    fs::write(
        s.delayed_dir().join("1000.echo.h2"),
        "echo:kept while down\n",
    )
    .unwrap();
    let l = s.start();
    assert!(s.wait_online("h1"));
    assert!(s
        .log()
        .contains("WARNING: h2 is not reachable (probe timed out), no child started"));
    // While it stays down it is probed on every period, its attempts untouched.
    assert!(
        s.wait_log_n("INFO: Recheck after 1 s: probing h2", 2),
        "{}",
        s.log()
    );
    assert!(
        s.wait_log("INFO: Skipping h2 (0 of 5 attempts)"),
        "{}",
        s.log()
    );
    assert!(wait_for(WAIT, || json(&s)["next_recheck_epoch"].is_i64()));
    assert_eq!(l.children().len(), 1);
    // It comes back: the next recheck finds it and starts its child, which replays.
    drop(bh);
    assert!(
        s.wait_log("INFO: Trying to reconnect for h2 (1 of 5 attempts)"),
        "{}",
        s.log()
    );
    assert!(s.wait_online("h2"), "{}", s.log());
    assert!(
        s.wait_log("Delayed echo:kept while down to h2: >kept while down<"),
        "{}",
        s.log()
    );
    assert!(!s.delayed_dir().join("1000.echo.h2").exists());
    assert_eq!(ask(&s.sock("h2"), "ping"), "h2");
    assert!(wait_for(WAIT, || host_state(&s, "h2") == "running"));
    assert!(wait_for(WAIT, || json(&s)["next_recheck"].is_null()));
    assert!(!s.log().contains("USR1"), "no USR1 was needed");
}

#[test]
fn an_abandoned_host_comes_back_by_recheck() {
    let mut s = Setup::new("recheck-abandoned", &[peer("h1"), peer("h2")]);
    s.set("loncMaxAttempts", "1");
    s.set("loncRecheck", "1");
    let _l = s.start();
    assert!(s.wait_online("h1") && s.wait_online("h2"));
    // lond on h1 goes away: the child's reconnects fail until the host is abandoned.
    s.stop_standin("h1");
    assert!(
        s.wait_log("INFO: Skipping h1 (1 of 1 attempts)"),
        "{}",
        s.log()
    );
    assert!(wait_for(WAIT, || host_state(&s, "h1") == "abandoned"));
    // lond returns on the same address; the recheck resets the attempts and restarts.
    let ip = s.peer("h1").ip;
    let back = Standin::start(
        SocketAddr::new(IpAddr::V4(ip), s.port),
        StandinOptions::new("h1", LOCAL_ID),
    )
    .unwrap();
    assert!(
        s.wait_log_n("INFO: Trying to reconnect for h1 (1 of 1 attempts)", 2),
        "{}",
        s.log()
    );
    assert!(s.log().contains("INFO: Recheck after 1 s: probing h1"));
    assert!(s.wait_online("h1"), "{}", s.log());
    assert_eq!(ask(&s.sock("h1"), "ping"), "h1");
    assert!(back.connections() >= 1);
    assert!(wait_for(WAIT, || host_state(&s, "h1") == "running"));
    assert_eq!(ask(&s.sock("h2"), "ping"), "h2");
}
