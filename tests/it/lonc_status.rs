//! The status files tell a live lonc from a stale page (state, pid, start and write times,
//! `stopped` on the way out), and the parent's `[status]` in its log lines reads what 1.29's
//! did at the same points.

use std::fs;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::lonc_common::*;

fn json(s: &Setup) -> serde_json::Value {
    serde_json::from_str(&fs::read_to_string(s.status_json()).unwrap_or_default())
        .unwrap_or_default()
}

/// The `[status]` of the first log line of process `pid` that contains `msg`.
fn status_of(s: &Setup, pid: i32, msg: &str) -> String {
    let log = s.log();
    let line = log
        .lines()
        .find(|l| l.contains(&format!(" ({pid}) [")) && l.contains(msg))
        .unwrap_or_else(|| panic!("no line {msg:?} from {pid}:\n{log}"));
    let st = line.split_once(") [").unwrap().1;
    let st = st.split_once("]: ").unwrap().0;
    // `<localtime>: <what>`
    st.get(26..).unwrap_or(st).to_string()
}

fn now_epoch() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn on_stop_both_status_files_say_stopped_with_pid_and_times() {
    let s = Setup::new("stopped", &[peer("h1"), peer("h2")]);
    let mut l = s.start();
    assert!(s.wait_online("h1") && s.wait_online("h2"));
    let before = now_epoch();
    assert!(wait_for(WAIT, || json(&s)["hosts"]
        .as_array()
        .is_some_and(|h| h.iter().all(|h| h["state"] == "running"))));
    let j = json(&s);
    assert_eq!(j["state"], "running");
    assert_eq!(j["parent_pid"], l.pid);
    let started = j["started_epoch"].as_i64().unwrap();
    assert!(started <= before && before - started < 120, "{j}");
    l.signal(Signal::SIGTERM);
    assert_eq!(l.wait_exit(WAIT), Some(Some(0)));
    let j = json(&s);
    assert_eq!(j["state"], "stopped", "{j}");
    assert_eq!(j["parent_pid"], l.pid);
    assert_eq!(j["started_epoch"], started);
    assert!(j["written_epoch"].as_i64().unwrap() >= before, "{j}");
    assert!(j["next_recheck"].is_null());
    for h in j["hosts"].as_array().unwrap() {
        assert_eq!(h["state"], "stopped", "{h}");
        assert!(h["pid"].is_null(), "{h}");
    }
    assert!(j["parent_last_log"]
        .as_str()
        .unwrap()
        .ends_with(": CRITICAL: Shutting down"));
    let t = fs::read_to_string(s.status_txt()).unwrap();
    let head = t.lines().next().unwrap();
    assert!(
        head.starts_with("LONC status ")
            && head.contains(&format!(" - parent {} (started ", l.pid))
            && head.ends_with(") stopped"),
        "{t}"
    );
    assert!(
        t.lines()
            .nth(2)
            .is_some_and(|p| p.starts_with(&format!("{}\t", l.pid))
                && p.ends_with(": CRITICAL: Shutting down")),
        "{t}"
    );
    assert_eq!(t.lines().count(), 3, "no host lines: {t}");
}

#[test]
fn the_parents_status_reads_what_1_29_said_at_each_point() {
    let s = Setup::new("points", &[peer("h1")]);
    let mut l = s.start();
    assert!(s.wait_online("h1"));
    let me = l.pid;
    let ip = s.peer("h1").ip;
    assert_eq!(
        status_of(&s, me, "---------- Starting ----------"),
        "Write PID"
    );
    assert_eq!(
        status_of(&s, me, "Done starting initial servers"),
        format!("Pinging {ip}")
    );
    // A child dies: the parent's line is written in its sleep, the restart after a ping.
    let kid = l.children()[0];
    kill(Pid::from_raw(kid), Signal::SIGKILL).unwrap();
    assert!(s.wait_log("INFO: Trying to reconnect for h1 (1 of 5 attempts)"));
    assert_eq!(
        status_of(&s, me, &format!("Child {kid} for server h1 died (0)")),
        "Sleeping"
    );
    assert_eq!(
        status_of(&s, me, "Trying to reconnect for h1 (1 of 5 attempts)"),
        format!("Pinging {ip}")
    );
    assert!(s.wait_online("h1"));
    // USR1: the page's parent line says Sleeping, as 1.29's (its handler ran in sleep()).
    l.signal(Signal::SIGUSR1);
    assert!(s.wait_log("Going to check on the children"));
    assert_eq!(
        status_of(&s, me, "USR1: Trying to establish connections again"),
        "Sleeping"
    );
    assert!(wait_for(WAIT, || json(&s)["usr1_served"] == 1));
    let page = fs::read_to_string(s.status_txt()).unwrap();
    let parent = page.lines().nth(2).unwrap();
    let f: Vec<&str> = parent.split('\t').collect();
    assert!(f[1].ends_with(": Sleeping"), "{parent:?}");
    // HUP and TERM: Closing, then Kill PID for the last child.
    let kid = l.children()[0];
    l.signal(Signal::SIGHUP);
    assert!(s.wait_log("CRITICAL: Restarting"));
    assert_eq!(
        status_of(&s, me, &format!("Closing h1: TERM to child {kid}")),
        "Closing h1"
    );
    assert_eq!(
        status_of(&s, me, "CRITICAL: Restarting"),
        format!("Kill PID {kid} for h1")
    );
    assert!(s.wait_log_n("Done starting initial servers", 2));
    assert!(wait_for(WAIT, || l.children().len() == 1));
    let kid = l.children()[0];
    l.signal(Signal::SIGTERM);
    assert_eq!(l.wait_exit(WAIT), Some(Some(0)));
    assert_eq!(
        status_of(&s, me, "CRITICAL: Shutting down"),
        format!("Kill PID {kid} for h1")
    );
}

/// The parent's voluntary context switches so far: each is a sleep it woke from.
fn wakeups(pid: i32) -> u64 {
    let st = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    st.lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap()
}

#[test]
fn after_usr1_the_parent_sleeps_until_the_children_have_written_not_on_a_timer() {
    let s = Setup::new("usr1wait", &[peer("h1"), peer("h2")]);
    let l = s.start();
    assert!(s.wait_online("h1") && s.wait_online("h2"));
    assert!(wait_for(WAIT, || json(&s)["hosts"]
        .as_array()
        .is_some_and(|h| h.iter().all(|h| h["pid"].is_i64()))));
    let j = json(&s);
    let (h1, h2) = (
        j["hosts"][0]["pid"].as_i64().unwrap() as i32,
        j["hosts"][1]["pid"].as_i64().unwrap() as i32,
    );
    // h1's child never answers USR1: the parent waits for it until the collection gives up
    // (2 s). Polling the page every 50 ms, as before, is some 40 wake-ups in that time;
    // woken by the writes it is a handful (the signal, h2's append, the deadline).
    kill(Pid::from_raw(h1), Signal::SIGSTOP).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let before = wakeups(l.pid);
    l.signal(Signal::SIGUSR1);
    assert!(
        wait_for(WAIT, || json(&s)["usr1_served"] == 1),
        "{}",
        s.log()
    );
    let woke = wakeups(l.pid) - before;
    // The report is complete for the child that answered and says nothing for the other.
    let page = fs::read_to_string(s.status_txt()).unwrap();
    let j = json(&s);
    kill(Pid::from_raw(h1), Signal::SIGCONT).unwrap();
    assert!(woke <= 12, "the parent woke {woke} times while it waited");
    assert!(
        page.lines().any(|p| p.starts_with(&format!("{h2}\t"))),
        "{page}"
    );
    assert!(
        !page.lines().any(|p| p.starts_with(&format!("{h1}\t"))),
        "{page}"
    );
    assert!(j["hosts"][1]["last_log"]
        .as_str()
        .is_some_and(|x| x.ends_with(": h2 online")));
    assert!(j["hosts"][0]["last_log"].is_null(), "{j}");
    // Once it answers, the next USR1 is served by the writes alone, without waiting 2 s.
    l.signal(Signal::SIGUSR1);
    assert!(
        wait_for(WAIT, || json(&s)["usr1_served"] == 2),
        "{}",
        s.log()
    );
    assert!(json(&s)["hosts"][0]["last_log"].is_string());
}
