//! Signals: USR1 status page (text and JSON), HUP any number of times (same pid, fresh
//! config, broken config kept out), TERM/INT clean-up, the exchange in flight finishing,
//! children ignoring HUP, and children exiting when the parent dies.

use std::io::Write;
use std::os::unix::net::UnixStream;

use crate::lonc_common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

fn status_txt(s: &Setup) -> String {
    std::fs::read_to_string(s.status_txt()).unwrap_or_default()
}

#[test]
fn usr1_writes_status_text_and_json() {
    let mut s = Setup::new("usr1", &[peer("h1"), peer("h2"), peer("h3")]);
    let _bh = s.blackhole(&["h3"], "0.5");
    s.set("loncRecheck", "0");
    let l = s.start();
    assert!(s.wait_online("h1") && s.wait_online("h2"));
    let kids = l.children();
    assert_eq!(kids.len(), 2);
    l.signal(Signal::SIGUSR1);
    assert!(
        wait_for(WAIT, || {
            let t = status_txt(&s);
            kids.iter().all(|k| t.contains(&format!("\n{k}\t")))
        }),
        "{}",
        status_txt(&s)
    );
    let t = status_txt(&s);
    let mut lines = t.lines();
    let head = lines.next().unwrap();
    assert!(
        head.starts_with("LONC status ")
            && head.contains(&format!(" - parent {} (started ", l.pid))
            && head.ends_with(')'),
        "{t}"
    );
    assert_eq!(lines.next(), Some(""));
    assert!(
        lines.next().unwrap().starts_with(&format!("{}\t", l.pid)),
        "parent line first: {t}"
    );
    assert!(t.contains("-\tunreachable\th3 (0 of 5 attempts)\n"), "{t}");
    for k in &kids {
        let line = t
            .lines()
            .find(|x| x.starts_with(&format!("{k}\t")))
            .unwrap();
        assert_eq!(line.split('\t').count(), 3, "{line}");
        assert!(
            line.contains(" online") || line.contains("Secure connection"),
            "{line}"
        );
    }
    assert!(s
        .log()
        .contains("USR1: Trying to establish connections again"));
    assert!(s.log().contains("Going to check on the children"));
    // The JSON gets the children's last log lines once they have answered.
    assert!(wait_for(WAIT, || {
        let j: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(s.status_json()).unwrap_or_default())
                .unwrap_or_default();
        j["hosts"]
            .as_array()
            .is_some_and(|h| h.iter().filter(|x| x["last_log"].is_string()).count() == 2)
    }));
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(s.status_json()).unwrap()).unwrap();
    assert_eq!(j["parent_pid"], l.pid);
    let hosts = j["hosts"].as_array().unwrap();
    let h3 = hosts.iter().find(|h| h["id"] == "h3").unwrap();
    assert!(
        h3["state"] == "unreachable" || h3["state"] == "starting",
        "{h3}"
    );
    let h1 = hosts.iter().find(|h| h["id"] == "h1").unwrap();
    assert_eq!(h1["state"], "running");
    assert!(kids.contains(&(h1["pid"].as_i64().unwrap() as i32)));
}

#[test]
fn hup_restarts_children_any_number_of_times_in_the_same_process() {
    let mut s = Setup::new("hup", &[peer("h1"), peer("h2")]);
    let l = s.start();
    assert!(s.wait_online("h1") && s.wait_online("h2"));
    let mut before = l.children();
    for round in 1..=3 {
        l.signal(Signal::SIGHUP);
        assert!(s.wait_log_n("CRITICAL: Restarting", round), "{}", s.log());
        assert!(s.wait_log_n("Done starting initial servers", round + 1));
        assert!(
            wait_for(WAIT, || {
                let now = l.children();
                now.len() == 2 && now.iter().all(|p| !before.contains(p))
            }),
            "round {round}: {:?} vs {before:?}",
            l.children()
        );
        assert!(s.wait_online("h1"));
        assert_eq!(ask(&s.sock("h1"), "ping"), "h1");
        assert_eq!(s.log_count("Closing h1: "), round, "{}", s.log());
        assert_eq!(s.log_count("Closing h2: "), round, "{}", s.log());
        assert_eq!(s.log_count("CRITICAL: Child"), 0, "{}", s.log());
        before = l.children();
    }
    assert!(alive(l.pid));
    assert_eq!(
        std::fs::read_to_string(s.pid_path()).unwrap().trim(),
        l.pid.to_string()
    );
    // A new host in hosts.tab is picked up by the next HUP.
    s.peers.retain(|p| p.id != "h2");
    s.write_hosts();
    l.signal(Signal::SIGHUP);
    assert!(s.wait_log_n("CRITICAL: Restarting", 4));
    assert!(
        wait_for(WAIT, || l.children().len() == 1),
        "{:?}",
        l.children()
    );
    // A broken config keeps the old one, and the children: nothing was stopped.
    assert!(s.wait_online("h1"));
    let kids = l.children();
    std::fs::write(&s.config, "PerlSetVar londPort notaport\n").unwrap();
    l.signal(Signal::SIGHUP);
    assert!(
        s.wait_log("Cannot use the new configuration, keeping the old one"),
        "{}",
        s.log()
    );
    assert_eq!(s.log_count("CRITICAL: Restarting"), 4, "{}", s.log());
    assert_eq!(l.children(), kids);
    assert_eq!(ask(&s.sock("h1"), "ping"), "h1");
    // Mended, the next HUP restarts.
    s.write_config();
    l.signal(Signal::SIGHUP);
    assert!(s.wait_log_n("CRITICAL: Restarting", 5));
    assert!(s.wait_online("h1"));
    assert_eq!(ask(&s.sock("h1"), "ping"), "h1");
}

#[test]
fn term_cleans_up_pid_file_sockets_and_children() {
    let s = Setup::new("term", &[peer("h1"), peer("h2")]);
    let mut l = s.start_daemon();
    assert!(s.wait_online("h1") && s.wait_online("h2"));
    let kids = l.children();
    assert_eq!(kids.len(), 2);
    l.signal(Signal::SIGTERM);
    assert!(l.wait_exit(WAIT).is_some());
    assert!(!s.pid_path().exists());
    assert!(!s.sock("h1").exists() && !s.sock("h2").exists());
    assert!(wait_for(WAIT, || kids.iter().all(|k| !alive(*k))));
    let log = s.log();
    assert!(log.contains("CRITICAL: Shutting down"));
    // 1.29's hangup(): one Closing line per child; children stopped on purpose did not "die".
    for id in ["h1", "h2"] {
        assert_eq!(
            s.log_count(&format!("Closing {id}: TERM to child ")),
            1,
            "{log}"
        );
    }
    for kid in &kids {
        let stopped = format!("Child {kid} for server ");
        assert!(
            log.lines()
                .any(|l| l.contains(&stopped) && l.ends_with(" stopped")),
            "{log}"
        );
    }
    assert_eq!(s.log_count("CRITICAL: Child"), 0, "{log}");
    assert_eq!(s.log_count(" died "), 0, "{log}");
}

#[test]
fn a_child_that_does_not_stop_is_killed_with_a_warning() {
    let s = Setup::new("stuck", &[peer("h1")]);
    let mut l = s.start();
    assert!(s.wait_online("h1"));
    let kid = l.children()[0];
    // A stopped process cannot act on TERM: the parent must KILL it after its grace period.
    kill(Pid::from_raw(kid), Signal::SIGSTOP).unwrap();
    l.signal(Signal::SIGTERM);
    assert_eq!(l.wait_exit(WAIT), Some(Some(0)), "{}", s.log());
    let log = s.log();
    assert!(log.contains("Closing h1: "), "{log}");
    assert!(
        log.contains(&format!(
            "WARNING: Child {kid} for server h1 did not stop within 5 s; killed"
        )),
        "{log}"
    );
    assert_eq!(s.log_count("CRITICAL: Child"), 0, "{log}");
    assert!(log.contains("CRITICAL: Shutting down"));
    assert!(!s.sock("h1").exists());
    assert!(wait_for(WAIT, || !alive(kid)));
}

#[test]
fn int_lets_the_exchange_in_flight_finish_and_exits_0() {
    let s = Setup::new("int", &[peer("h1")]);
    let mut l = s.start();
    assert!(s.wait_online("h1"));
    let mut c = UnixStream::connect(s.sock("h1")).unwrap();
    c.set_read_timeout(Some(WAIT)).unwrap();
    c.write_all(b"sleep:400:made it\n").unwrap();
    assert!(wait_got(s.standin("h1"), b"sleep:400:made it", 1));
    l.signal(Signal::SIGINT);
    assert_eq!(read_line(&mut c).unwrap(), b"made it");
    assert_eq!(l.wait_exit(WAIT), Some(Some(0)));
    assert!(!s.pid_path().exists());
    assert!(!s.sock("h1").exists());
}

#[test]
fn children_ignore_hup_and_exit_when_the_parent_dies() {
    let s = Setup::new("orphan", &[peer("h1"), peer("h2")]);
    let mut l = s.start();
    assert!(s.wait_online("h1") && s.wait_online("h2"));
    let kids = l.children();
    for k in &kids {
        kill(Pid::from_raw(*k), Signal::SIGHUP).unwrap();
    }
    assert_eq!(ask(&s.sock("h1"), "ping"), "h1");
    assert_eq!(l.children(), kids, "a child died of HUP");
    l.signal(Signal::SIGKILL);
    assert!(l.wait_exit(WAIT).is_some());
    assert!(
        wait_for(WAIT, || kids.iter().all(|k| !alive(*k))),
        "orphans left: {kids:?}"
    );
    assert!(!s.sock("h1").exists() && !s.sock("h2").exists());
}

#[test]
fn hup_and_usr1_during_start_up_are_handled_once_it_is_done() {
    let mut s = Setup::new("early", &[peer("h1"), peer("h2")]);
    // h2's probe hangs for 1.5 s, so start-up takes that long.
    let _bh = s.blackhole(&["h2"], "1.5");
    let l = s.spawn();
    assert!(s.wait_log("CRITICAL: ---------- Starting ----------"));
    l.signal(Signal::SIGHUP);
    l.signal(Signal::SIGUSR1);
    assert!(s.wait_log("CRITICAL: Restarting"), "{}", s.log());
    assert!(s.wait_log_n("Done starting initial servers", 2));
    assert!(
        s.wait_log("USR1: Trying to establish connections again"),
        "{}",
        s.log()
    );
    let log = s.log();
    assert!(
        log.find("CRITICAL: Restarting").unwrap()
            > log.find("Done starting initial servers").unwrap()
    );
    assert!(s.wait_online("h1"));
    assert_eq!(ask(&s.sock("h1"), "ping"), "h1");
}

/// Perl's scalar localtime: `Wed Nov 25 08:13:00 2026`, the day padded with a space.
fn is_perl_localtime(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() == 24
        && ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"].contains(&&t[..3])
        && b[3] == b' '
        && [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ]
        .contains(&&t[4..7])
        && b[7] == b' '
        && (b[8] == b' ' || (b'1'..=b'3').contains(&b[8]))
        && b[9].is_ascii_digit()
        && b[10] == b' '
        && t[11..19].bytes().enumerate().all(|(i, c)| {
            if i % 3 == 2 {
                c == b':'
            } else {
                c.is_ascii_digit()
            }
        })
        && b[19] == b' '
        && t[20..].bytes().all(|c| c.is_ascii_digit())
}

/// `<localtime>: <text>` with a non-empty text.
fn is_stamped(f: &str) -> bool {
    f.len() > 26 && is_perl_localtime(&f[..24]) && &f[24..26] == ": "
}

#[test]
fn status_page_and_json_have_exactly_the_settled_format() {
    let mut s = Setup::new(
        "statusfmt",
        &[
            peer("h1"),
            PeerSpec {
                id: "h2",
                standin: true,
                refuse: true,
            },
            peer("h3"),
        ],
    );
    s.set("loncMaxAttempts", "1");
    let _bh = s.blackhole(&["h3"], "0.5");
    let l = s.start();
    assert!(s.wait_online("h1"));
    assert!(
        s.wait_log("INFO: Skipping h2 (1 of 1 attempts)"),
        "{}",
        s.log()
    );
    let kid = l.children()[0];
    l.signal(Signal::SIGUSR1);
    assert!(
        wait_for(WAIT, || status_txt(&s).contains(&format!("\n{kid}\t"))),
        "{}",
        status_txt(&s)
    );
    let t = status_txt(&s);
    let lines: Vec<&str> = t.split('\n').collect();
    assert_eq!(lines.len(), 7, "six lines and a final newline: {t:?}");
    assert_eq!(lines[6], "");
    // 1.29's header, then when this lonc started.
    let (head, started) = lines[0]
        .strip_prefix("LONC status ")
        .and_then(|h| h.strip_suffix(')'))
        .and_then(|h| h.split_once(&format!(" - parent {} (started ", l.pid)))
        .unwrap_or_else(|| panic!("header: {t}"));
    assert!(is_perl_localtime(head), "{head:?}");
    assert!(is_perl_localtime(started), "{started:?}");
    assert_eq!(lines[1], "");
    for (line, pid) in [(lines[2], l.pid), (lines[5], kid)] {
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f.len(), 3, "{line:?}");
        assert_eq!(f[0], pid.to_string());
        assert!(is_stamped(f[1]) && is_stamped(f[2]), "{line:?}");
    }
    // loncRecheck (default 600 s) has a recheck planned for both: its time is on the line.
    for (line, want) in [
        (lines[3], "-\tabandoned\th2 (1 of 1 attempts, next recheck "),
        (
            lines[4],
            "-\tunreachable\th3 (0 of 1 attempts, next recheck ",
        ),
    ] {
        let t = line
            .strip_prefix(want)
            .and_then(|r| r.strip_suffix(')'))
            .unwrap_or_else(|| panic!("{line:?}"));
        assert!(is_perl_localtime(t), "{line:?}");
    }
    assert!(lines[2].ends_with(": USR1: Trying to establish connections again"));
    assert!(lines[5].ends_with(": h1 online"), "{}", lines[5]);

    // The JSON: every host in hosts.tab order, every field, the parent and the time.
    let json = || -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(s.status_json()).unwrap_or_default())
            .unwrap_or_default()
    };
    // usr1_served counts the reports whose children's lines are all in.
    assert!(wait_for(WAIT, || json()["usr1_served"] == 1));
    let j = json();
    assert!(j["hosts"][0]["last_log"].is_string(), "{j}");
    let obj = j.as_object().unwrap();
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "hosts",
            "next_recheck",
            "next_recheck_epoch",
            "parent_last_log",
            "parent_pid",
            "parent_status",
            "started",
            "started_epoch",
            "state",
            "usr1_served",
            "written",
            "written_epoch"
        ]
    );
    assert_eq!(j["state"], "running");
    assert!(is_perl_localtime(j["started"].as_str().unwrap()));
    assert!(j["started_epoch"].as_i64().unwrap() <= j["written_epoch"].as_i64().unwrap());
    assert!(is_stamped(j["parent_status"].as_str().unwrap()));
    assert!(is_stamped(j["parent_last_log"].as_str().unwrap()));
    assert_eq!(j["usr1_served"], 1);
    // USR1 probes the childless hosts again, so a recheck may or may not be planned now.
    if let Some(t) = j["next_recheck"].as_str() {
        assert!(is_perl_localtime(t), "{t}");
        let in_secs =
            j["next_recheck_epoch"].as_i64().unwrap() - j["written_epoch"].as_i64().unwrap();
        assert!((0..=600).contains(&in_secs), "{in_secs}");
    } else {
        assert!(j["next_recheck_epoch"].is_null());
    }
    assert_eq!(j["parent_pid"], l.pid);
    assert!(is_perl_localtime(j["written"].as_str().unwrap()));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now - j["written_epoch"].as_i64().unwrap()).abs() < 120);
    let hosts = j["hosts"].as_array().unwrap();
    let ids: Vec<&str> = hosts.iter().map(|h| h["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["h1", "h2", "h3"]);
    for h in hosts {
        let mut keys: Vec<&str> = h.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "attempts",
                "id",
                "last_log",
                "links",
                "links_max",
                "max_attempts",
                "pid",
                "since",
                "since_epoch",
                "state"
            ],
            "{h}"
        );
        assert_eq!(h["max_attempts"], 1);
        assert!(h["attempts"].is_u64());
        // loncLinks 1 (the default): the child reports no links, the page line is 1.29's.
        assert_eq!(h["links_max"], 1);
        assert!(h["links"].is_null());
    }
    assert_eq!(hosts[0]["state"], "running");
    assert_eq!(hosts[0]["pid"], kid);
    assert!(is_stamped(hosts[0]["last_log"].as_str().unwrap()));
    assert!(hosts[0]["last_log"]
        .as_str()
        .unwrap()
        .ends_with(": h1 online"));
}

#[test]
fn quit_logs_abnormal_exit_as_1_29_did() {
    let s = Setup::new("quit", &[peer("h1")]);
    let mut l = s.start();
    assert!(s.wait_online("h1"));
    let kid = l.children()[0];
    // A child: the line names its server; the parent restarts it.
    kill(Pid::from_raw(kid), Signal::SIGQUIT).unwrap();
    assert!(
        s.wait_log(&format!(
            "CRITICAL: ABNORMAL EXIT. Child {kid} for server [h1] died through \"QUIT\" with parameter []"
        )),
        "{}",
        s.log()
    );
    assert!(s.wait_log(&format!("CRITICAL: Child {kid} for server h1 died (0)")));
    assert!(s.wait_log("INFO: Trying to reconnect for h1 (1 of 5 attempts)"));
    assert!(s.wait_online("h1"));
    assert_eq!(ask(&s.sock("h1"), "ping"), "h1");
    // The parent: logs, removes its pid file and exits; its children follow.
    let kids = l.children();
    l.signal(Signal::SIGQUIT);
    assert_eq!(l.wait_exit(WAIT), Some(Some(1)));
    assert!(s.log().contains(&format!(
        "CRITICAL: ABNORMAL EXIT. Child {} for server [] died through \"QUIT\" with parameter []",
        l.pid
    )));
    assert!(!s.pid_path().exists());
    assert!(wait_for(WAIT, || kids.iter().all(|k| !alive(*k))));
    assert!(wait_for(WAIT, || !s.sock("h1").exists()));
}
