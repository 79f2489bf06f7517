//! The scheduling rules of spec §§2-10, one test each, driven through events as the shell
//! feeds them. `Site` is a FIP site in miniature: its PORTS, its client files, and a clock
//! that only moves when a test says so.

use super::*;
use std::path::Path;

const PORTS: &str = "route:one host:h port:1\n\
                     route:multi host:m port:2 multi:2\n\
                     route:alt host:a port:3\n\
                     route:shared host:h port:1\n";

struct Site {
    core: Core,
    now: Now,
    ino: u64,
    pid: i32,
    /// Everything logged so far.
    log: Vec<String>,
}

fn base() -> Now {
    Now {
        mono: Instant::now(),
        wall: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    }
}

impl Site {
    fn new() -> Site {
        Site::with(PORTS, false)
    }

    fn with(ports: &str, unlockstale: bool) -> Site {
        let mut s = Site {
            core: Core::new(Config {
                control: "/fip/spool/syn/control".into(),
                x: "/fip/x".into(),
            }),
            now: base(),
            ino: 0,
            pid: 1000,
            log: Vec::new(),
        };
        let ports = PortsTable::parse(ports, Path::new("PORTS")).0;
        s.feed(Event::Tables {
            ports,
            unlockstale,
            grace: Duration::from_secs(5),
        });
        s
    }

    /// Feed one event and dispatch; logs are collected, the other actions returned.
    fn feed(&mut self, ev: Event) -> Vec<Action> {
        let acts = self.core.handle(ev, self.now);
        self.keep(acts)
    }

    fn keep(&mut self, acts: Vec<Action>) -> Vec<Action> {
        let mut rest = Vec::new();
        for a in acts {
            match a {
                Action::Log { client, msg } => self.log.push(format!("{client} {msg}")),
                a => rest.push(a),
            }
        }
        rest
    }

    fn client(&mut self, name: &str, text: &str) -> Vec<Action> {
        let cp = crate::fip::tables::parse_client(name, text, Path::new(name)).0;
        self.feed(Event::Client {
            name: name.into(),
            lookup: Lookup::Found(Rc::new(cp)),
        })
    }

    /// A new control record (each one a second younger than the last).
    fn record(&mut self, name: &str) -> Vec<Action> {
        self.ino += 1;
        let mtime = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + self.ino);
        self.feed(Event::RecordSeen {
            name: name.into(),
            kind: EntryKind::Regular {
                id: RecordId {
                    ino: self.ino,
                    born: 0,
                },
                mtime,
            },
        })
    }

    fn id(&self, name: &str) -> (RecordId, SystemTime) {
        let r = &self.core.records[name];
        (r.id, r.mtime)
    }

    /// Answer every Start with a running child; returns (record, pid) in order.
    fn run(&mut self, acts: Vec<Action>) -> Vec<(String, i32)> {
        let mut out = Vec::new();
        let mut queue = acts;
        while !queue.is_empty() {
            let mut next = Vec::new();
            for a in queue {
                if let Action::Start(p) = a {
                    self.pid += 1;
                    let flag = format!("SYN|{:03}|{}", self.pid % 1000, p.client.name);
                    out.push((p.record.clone(), self.pid));
                    let id = self.core.records[p.record.as_str()].id;
                    next.extend(self.feed(Event::Started {
                        record: p.record,
                        pid: self.pid,
                        flag,
                        maxkill: p.client.maxkill.as_ref().map(|m| vec![m.to_string()]),
                        display: "cmd".into(),
                        id,
                    }));
                }
            }
            queue = next;
        }
        out
    }

    /// A new record, its start answered.
    fn go(&mut self, name: &str) -> Vec<(String, i32)> {
        let acts = self.record(name);
        self.run(acts)
    }

    /// A transmitter ends; what starts next is answered.
    fn go_after(&mut self, pid: i32, done: bool, code: i32) -> Vec<(String, i32)> {
        let acts = self.exit(pid, done, code);
        self.run(acts)
    }

    fn flag_of(&self, pid: i32) -> String {
        self.core.jobs[&pid].flag.clone()
    }

    /// The transmitter `pid` ended: `done` = it deleted its record (success). It deletes
    /// its flag first, as ipsyn does.
    fn exit(&mut self, pid: i32, done: bool, code: i32) -> Vec<Action> {
        let record = self.core.jobs[&pid].record.to_string();
        let record_now = (!done).then(|| self.id(&record));
        let flag = self.flag_of(pid);
        let mut acts = self.feed(Event::FlagGone { name: flag });
        acts.extend(self.feed(Event::ChildExited {
            pid,
            how: ExitKind::Code(code),
            flag_left: false,
            record_now,
            group_alive: false,
        }));
        acts
    }

    fn state(&self, name: &str) -> RecordState {
        self.core.records[name].state
    }

    fn later(&mut self, secs: u64) -> Vec<Action> {
        self.now = self.now.after(Duration::from_secs(secs));
        let acts = self.core.dispatch(self.now);
        self.keep(acts)
    }

    fn logged(&self, part: &str) -> usize {
        self.log.iter().filter(|l| l.contains(part)).count()
    }
}

fn starts(acts: &[Action]) -> Vec<(String, u32, Option<String>, Option<PhysPort>)> {
    acts.iter()
        .filter_map(|a| match a {
            Action::Start(p) => {
                Some((p.record.clone(), p.attempt, p.route.clone(), p.port.clone()))
            }
            _ => None,
        })
        .collect()
}

fn port(h: &str, p: u16) -> Option<PhysPort> {
    Some(PhysPort {
        host: h.into(),
        port: p,
    })
}

#[test]
fn a_new_record_starts_at_once_on_a_port_of_its_route() {
    let mut s = Site::new();
    s.client("A", "route:one\n");
    let acts = s.record("SYN_A");
    assert_eq!(
        starts(&acts),
        [("SYN_A".into(), 1, Some("ONE".into()), port("h", 1))]
    );
    let ran = s.run(acts);
    assert_eq!(s.state("SYN_A"), RecordState::Running);
    assert_eq!(s.logged("attempt 1/11 started route ONE port h:1 pid"), 1);
    // Success = the record is gone when the transmitter ends (§6.2).
    s.exit(ran[0].1, true, 0);
    assert!(s.core.records.is_empty());
    assert_eq!(
        s.logged("attempt 1 done (exit status 0, 0s): transmission complete"),
        1
    );
}

#[test]
fn a_busy_client_waits_for_its_own_transmission_to_end() {
    let mut s = Site::new();
    s.client("A", "route:multi\n");
    let first = s.go("1|A");
    assert_eq!(first.len(), 1);
    // The port has room, the client does not: one transmission per client.
    assert!(starts(&s.record("2|A")).is_empty());
    assert_eq!(s.state("2|A"), RecordState::BusyElsewhere);
    let acts = s.exit(first[0].1, true, 0);
    assert_eq!(starts(&acts)[0].0, "2|A");
}

#[test]
fn a_port_takes_multi_transmissions_and_the_rest_wait_without_an_attempt() {
    let mut s = Site::new();
    for c in ["A", "B", "C"] {
        s.client(c, "route:multi\n");
    }
    let a = s.go("A");
    let b = s.go("B");
    assert_eq!((a.len(), b.len()), (1, 1));
    assert!(starts(&s.record("C")).is_empty());
    assert_eq!(s.state("C"), RecordState::WaitingPort);
    assert_eq!(
        s.core.records["C"].attempts, 0,
        "no free port is not an attempt (§6.6)"
    );
    // The port is free when the flag goes, before the child is even reaped.
    let flag = s.flag_of(a[0].1);
    let acts = s.feed(Event::FlagGone { name: flag });
    assert_eq!(starts(&acts)[0].0, "C");
}

#[test]
fn routes_sharing_a_physical_port_share_its_capacity() {
    let mut s = Site::new();
    s.client("A", "route:one\n");
    s.client("B", "route:shared\n");
    s.go("A");
    assert!(starts(&s.record("B")).is_empty());
    assert_eq!(s.state("B"), RecordState::WaitingPort);
}

#[test]
fn waiting_records_go_by_priority_then_age_then_name() {
    let mut s = Site::new();
    s.client("HOLD", "route:one\n");
    s.client("LOW", "route:one\nprior:90\n");
    s.client("HIGH", "route:one\nprior:10\n");
    s.client("MID", "route:one\n");
    let hold = s.go("HOLD");
    for r in ["LOW", "MID", "HIGH"] {
        s.record(r);
    }
    let mut order = Vec::new();
    let mut pid = hold[0].1;
    for _ in 0..3 {
        let acts = s.exit(pid, true, 0);
        let ran = s.run(acts);
        order.push(ran[0].0.clone());
        pid = ran[0].1;
    }
    assert_eq!(order, ["HIGH", "MID", "LOW"]);
}

#[test]
fn equal_priority_and_age_go_by_name() {
    let mut s = Site::new();
    s.client("HOLD", "route:one\n");
    s.client("X", "route:one\n");
    s.client("Y", "route:one\n");
    let hold = s.go("HOLD");
    let mtime = SystemTime::UNIX_EPOCH + Duration::from_secs(5);
    for (n, ino) in [("Y", 50), ("X", 51)] {
        s.feed(Event::RecordSeen {
            name: n.into(),
            kind: EntryKind::Regular {
                id: RecordId { ino, born: 0 },
                mtime,
            },
        });
    }
    let ran = s.go_after(hold[0].1, true, 0);
    assert_eq!(ran[0].0, "X");
}

#[test]
fn a_failed_attempt_is_retried_after_timeout_and_switches_to_alt_every_tryalt_plus_one() {
    let mut s = Site::new();
    s.client("A", "route:one\nalt:alt\ntryalt:2\ntimeout:30\nretry:4\n");
    let mut routes = Vec::new();
    let mut acts = s.record("A");
    for attempt in 1..=3u32 {
        let st = starts(&acts);
        assert_eq!(st.len(), 1, "attempt {attempt}");
        assert_eq!(st[0].1, attempt);
        routes.push(st[0].2.clone().unwrap());
        let ran = s.run(acts);
        s.exit(ran[0].1, false, 1);
        assert_eq!(s.state("A"), RecordState::RetryWait);
        assert_eq!(
            s.logged(&format!("attempt {attempt}/4 failed (exit status 1, control record still there); next attempt in 30s")),
            1
        );
        // Not before its time.
        assert!(starts(&s.later(29)).is_empty());
        acts = s.later(1);
    }
    assert_eq!(routes, ["ONE", "ONE", "ALT"]);
}

#[test]
fn after_retry_failed_attempts_the_record_is_deleted() {
    let mut s = Site::new();
    s.client("A", "route:one\nretry:2\ntimeout:0\n");
    let ran = s.go("A");
    let again = s.exit(ran[0].1, false, 1);
    let ran = s.run(again);
    assert_eq!(ran.len(), 1, "timeout:0: the next attempt at once");
    let acts = s.exit(ran[0].1, false, 1);
    assert!(acts.iter().any(|a| matches!(a,
        Action::GiveUp { record, attempts: 2, .. } if record == "A")));
    assert!(s.core.records.is_empty());
}

#[test]
fn a_failed_fork_or_fd_exhaustion_is_not_an_attempt_and_waits_timeout() {
    let mut s = Site::new();
    s.client("A", "route:one\ntimeout:20\n");
    s.client("B", "route:one\n");
    let acts = s.record("A");
    assert_eq!(starts(&acts).len(), 1);
    let acts = s.feed(Event::StartFailed {
        record: "A".into(),
        why: StartFailure::Deferred,
    });
    assert!(starts(&acts).is_empty(), "not again at once");
    assert_eq!(s.core.records["A"].attempts, 0);
    assert_eq!(s.state("A"), RecordState::RetryWait);
    // The port claimed for it is free again: another record takes it.
    assert_eq!(starts(&s.record("B")).len(), 1);
    assert_eq!(s.later(20).len(), 0, "B holds the port now");
    assert_eq!(s.state("A"), RecordState::WaitingPort);
}

#[test]
fn a_deferred_start_with_timeout_zero_waits_a_second() {
    let mut s = Site::new();
    s.client("A", "route:one\ntimeout:0\n");
    s.record("A");
    s.feed(Event::StartFailed {
        record: "A".into(),
        why: StartFailure::Deferred,
    });
    assert_eq!(
        s.core.next_deadline(),
        Some(s.now.mono + Duration::from_secs(1))
    );
}

#[test]
fn an_exec_error_is_a_failed_attempt() {
    let mut s = Site::new();
    s.client("A", "route:one\nscript:/nonexistent\n");
    s.record("A");
    s.feed(Event::StartFailed {
        record: "A".into(),
        why: StartFailure::Failed("could not start".into()),
    });
    assert_eq!(s.core.records["A"].attempts, 1);
    assert_eq!(
        s.logged("attempt 1/11 failed (could not start); next attempt in 90s"),
        1
    );
}

#[test]
fn an_exec_error_reported_after_the_start_is_a_failed_attempt_and_frees_flag_and_port() {
    // The spawn tells an exec error after `Started`: the attempt counts once, fails as a
    // `StartFailed` exec error does, its flag is removed and the next record gets the port.
    let mut s = Site::new();
    s.client("A", "route:one\n");
    s.client("B", "route:one\n");
    let pid = s.go("A")[0].1;
    let flag = s.flag_of(pid);
    s.record("B");
    assert!(
        s.core.records["B"].running.is_none(),
        "one port, A holds it"
    );
    let acts = s.feed(Event::ExecFailed { pid });
    assert!(acts
        .iter()
        .any(|a| matches!(a, Action::RemoveFlag { pid: p, flag: f } if *p == pid && *f == flag)));
    assert!(s.core.flag(&flag).is_none());
    assert!(s.core.job(pid).is_none());
    assert_eq!(s.core.records["A"].attempts, 1);
    assert_eq!(s.state("A"), RecordState::RetryWait);
    assert_eq!(
        s.logged("attempt 1/11 failed (could not start); next attempt in 90s"),
        1
    );
    assert_eq!(starts(&acts)[0].0, "B", "the port is free again");
    // Its exit, should it still be fed, changes nothing.
    let before = s.log.len();
    s.feed(Event::ChildExited {
        pid,
        how: ExitKind::Code(127),
        flag_left: false,
        record_now: Some(s.id("A")),
        group_alive: false,
    });
    assert_eq!(s.log.len(), before);
    assert_eq!(s.core.records["A"].attempts, 1);
}

#[test]
fn a_record_gone_before_its_start_is_forgotten_and_frees_the_port() {
    let mut s = Site::new();
    s.client("A", "route:one\n");
    s.client("B", "route:one\n");
    s.record("A");
    s.record("B");
    let acts = s.feed(Event::StartFailed {
        record: "A".into(),
        why: StartFailure::Gone,
    });
    assert!(!s.core.records.contains_key("A"));
    assert_eq!(starts(&acts)[0].0, "B");
}

#[test]
fn an_ftp_attempt_with_nothing_to_send_removes_the_record() {
    let mut s = Site::new();
    s.client("A", "route:one\nuseftp:\n");
    s.record("A");
    s.feed(Event::StartFailed {
        record: "A".into(),
        why: StartFailure::NothingToSend,
    });
    assert!(s.core.records.is_empty());
}

#[test]
fn past_maxtime_the_group_gets_term_then_kill_after_the_grace_and_the_attempt_fails() {
    let mut s = Site::new();
    s.client("A", "route:one\nmaxtime:10\n");
    let ran = s.go("A");
    let pid = ran[0].1;
    assert_eq!(
        s.core.next_deadline(),
        Some(s.now.mono + Duration::from_secs(10))
    );
    let acts = s.later(10);
    assert!(acts
        .iter()
        .any(|a| matches!(a, Action::Signal { pgid, sig: Sig::Term } if *pgid == pid)));
    assert_eq!(
        s.logged(&format!("pid {pid} over maxtime (10s): SIGTERM sent")),
        1
    );
    let acts = s.later(5);
    assert!(acts.iter().any(|a| matches!(a,
        Action::KillIfAlive { pgid, target: KillTarget::Transmitter, .. } if *pgid == pid)));
    // Reaped: ipsynd removes the flag of an attempt it killed; the attempt counts.
    let record_now = Some(s.id("A"));
    let acts = s.feed(Event::ChildExited {
        pid,
        how: ExitKind::Signal(15),
        flag_left: true,
        record_now,
        group_alive: false,
    });
    assert!(acts
        .iter()
        .any(|a| matches!(a, Action::RemoveFlag { pid: p, .. } if *p == pid)));
    assert_eq!(s.core.records["A"].attempts, 1);
    assert_eq!(s.logged("failed (killed after maxtime, signal 15)"), 1);
    assert_eq!(s.logged("ended without deleting its flag"), 0);
}

#[test]
fn maxkill_runs_with_the_pid_appended_and_both_groups_are_bounded_by_the_grace() {
    let mut s = Site::new();
    s.client("A", "route:one\nmaxtime:1\nmaxkill:/bin/stop\n");
    let ran = s.go("A");
    let pid = ran[0].1;
    let acts = s.later(1);
    let words = acts.iter().find_map(|a| match a {
        Action::RunMaxkill { pid: p, words } if *p == pid => Some(words.clone()),
        _ => None,
    });
    assert_eq!(words, Some(vec!["/bin/stop".to_string(), pid.to_string()]));
    s.feed(Event::MaxkillStarted { pid, kpid: 77 });
    assert!(s.core.is_maxkill(77));
    let acts = s.later(5);
    let mut targets: Vec<(i32, KillTarget)> = acts
        .iter()
        .filter_map(|a| match a {
            Action::KillIfAlive { pgid, target, .. } => Some((*pgid, *target)),
            _ => None,
        })
        .collect();
    targets.sort_by_key(|t| t.0);
    assert_eq!(
        targets,
        [(77, KillTarget::Maxkill), (pid, KillTarget::Transmitter)]
    );
}

#[test]
fn a_maxkill_that_cannot_start_means_sigkill_at_once() {
    let mut s = Site::new();
    s.client("A", "route:one\nmaxtime:1\nmaxkill:/nonexistent\n");
    let pid = s.go("A")[0].1;
    s.later(1);
    let acts = s.feed(Event::MaxkillFailed {
        pid,
        error: "No such file".into(),
    });
    assert!(acts
        .iter()
        .any(|a| matches!(a, Action::Signal { sig: Sig::Kill, .. })));
    assert_eq!(
        s.logged("maxkill could not start (No such file); SIGKILL sent"),
        1
    );
}

#[test]
fn a_maxkill_ended_with_its_group_is_not_killed_later() {
    let mut s = Site::new();
    s.client("A", "route:one\nmaxtime:1\nmaxkill:/bin/stop\n");
    let pid = s.go("A")[0].1;
    s.later(1);
    s.feed(Event::MaxkillStarted { pid, kpid: 77 });
    s.feed(Event::ChildExited {
        pid: 77,
        how: ExitKind::Code(0),
        flag_left: false,
        record_now: None,
        group_alive: false,
    });
    assert_eq!(s.logged("maxkill command ended (exit status 0)"), 1);
    let acts = s.later(5);
    let pgids: Vec<i32> = acts
        .iter()
        .filter_map(|a| match a {
            Action::KillIfAlive { pgid, .. } => Some(*pgid),
            _ => None,
        })
        .collect();
    assert_eq!(pgids, [pid]);
}

#[test]
fn a_record_recreated_under_the_same_name_while_running_is_a_success_plus_a_new_request() {
    let mut s = Site::new();
    s.client("A", "route:one\n");
    let pid = s.go("A")[0].1;
    // Deleted and created again while the transmitter ran: another file (another id).
    let new_id = RecordId { ino: 999, born: 0 };
    let mtime = SystemTime::UNIX_EPOCH + Duration::from_secs(1_750_000_000);
    let flag = s.flag_of(pid);
    s.feed(Event::FlagGone { name: flag });
    let acts = s.feed(Event::ChildExited {
        pid,
        how: ExitKind::Code(0),
        flag_left: false,
        record_now: Some((new_id, mtime)),
        group_alive: false,
    });
    assert_eq!(s.logged("transmission complete"), 1);
    assert_eq!(
        starts(&acts),
        [("A".into(), 1, Some("ONE".into()), port("h", 1))]
    );
}

#[test]
fn a_record_still_there_under_the_same_id_is_a_failure() {
    let mut s = Site::new();
    s.client("A", "route:one\n");
    let pid = s.go("A")[0].1;
    s.exit(pid, false, 0);
    assert_eq!(
        s.logged("attempt 1/11 failed (exit status 0, control record still there)"),
        1
    );
}

#[test]
fn a_due_record_waiting_for_a_port_arms_no_deadline() {
    // The busy-loop guard: nothing wakes the loop for a record only an event can free.
    let mut s = Site::new();
    s.client("A", "route:one\n");
    s.client("B", "route:one\n");
    s.go("A");
    s.record("B");
    assert_eq!(s.state("B"), RecordState::WaitingPort);
    s.core.status_written(s.now.mono);
    assert_eq!(s.core.next_deadline(), None);
}

#[test]
fn a_live_flag_of_another_transmitter_holds_its_port_and_its_client() {
    let mut s = Site::new();
    s.client("A", "route:one\n");
    s.client("B", "route:one\n");
    s.feed(Event::FlagSeen(FlagSeen {
        name: "SYN|005|A".into(),
        client: "A".into(),
        port: port("h", 1),
        pid: 42,
        start: 1,
        stale: false,
    }));
    assert!(starts(&s.record("A")).is_empty());
    assert_eq!(s.state("A"), RecordState::BusyElsewhere);
    let acts = s.feed(Event::FlagGone {
        name: "SYN|005|A".into(),
    });
    assert_eq!(starts(&acts)[0].0, "A");
}

#[test]
fn a_stale_flag_keeps_its_port_locked_and_is_reported_once() {
    let mut s = Site::new();
    s.client("B", "route:one\n");
    let stale = FlagSeen {
        name: "SYN|005|A".into(),
        client: "A".into(),
        port: port("h", 1),
        pid: 42,
        start: 1,
        stale: true,
    };
    s.feed(Event::FlagSeen(stale.clone()));
    s.feed(Event::FlagSeen(stale.clone()));
    assert_eq!(
        s.logged("stale flag /fip/x/SYN|005|A (pid 42 not running); port h:1 stays locked until it is removed"),
        1
    );
    assert!(starts(&s.record("B")).is_empty());
    let acts = s.feed(Event::FlagGone {
        name: "SYN|005|A".into(),
    });
    assert_eq!(starts(&acts).len(), 1);
    // Gone and back: reported again.
    s.feed(Event::FlagSeen(stale));
    assert_eq!(s.logged("stale flag"), 2);
}

#[test]
fn unlockstale_frees_the_port_of_a_stale_flag() {
    let mut s = Site::with(PORTS, true);
    s.client("B", "route:one\n");
    s.feed(Event::FlagSeen(FlagSeen {
        name: "SYN|005|A".into(),
        client: "A".into(),
        port: port("h", 1),
        pid: 42,
        start: 1,
        stale: true,
    }));
    assert_eq!(s.logged("stays locked"), 0);
    assert_eq!(starts(&s.record("B")).len(), 1);
}

#[test]
fn a_flag_the_transmitter_left_behind_becomes_stale_and_keeps_the_port() {
    let mut s = Site::new();
    s.client("A", "route:one\n");
    s.client("B", "route:one\n");
    let pid = s.go("A")[0].1;
    s.feed(Event::ChildExited {
        pid,
        how: ExitKind::Code(0),
        flag_left: true,
        record_now: None,
        group_alive: false,
    });
    assert_eq!(
        s.logged(&format!(
            "transmitter pid {pid} ended without deleting its flag"
        )),
        1
    );
    assert_eq!(s.logged("stale flag"), 1);
    assert!(starts(&s.record("B")).is_empty());
    let stale: Vec<&str> = s
        .core
        .flags()
        .filter(|(_, f)| f.stale)
        .map(|(n, _)| n)
        .collect();
    assert_eq!(stale.len(), 1);
}

#[test]
fn a_record_whose_client_file_is_missing_waits_and_starts_when_it_appears() {
    let mut s = Site::new();
    s.feed(Event::Client {
        name: "A".into(),
        lookup: Lookup::Missing("client file /fip/tables/syn/client/A: No such file".into()),
    });
    assert!(starts(&s.record("A")).is_empty());
    s.record("2|A");
    assert_eq!(s.state("A"), RecordState::NoClient);
    assert_eq!(s.logged("record A kept, waiting"), 1);
    let acts = s.core.dispatch(s.now);
    s.keep(acts);
    assert_eq!(
        s.logged("kept, waiting"),
        2,
        "once per record, not every turn"
    );
    let acts = s.client("A", "route:one\n");
    assert_eq!(starts(&acts).len(), 1);
}

#[test]
fn a_new_client_is_read_before_its_record_is_placed() {
    let mut s = Site::new();
    assert!(starts(&s.record("NEW")).is_empty());
    assert_eq!(s.core.wanted_clients(), ["NEW"]);
    let acts = s.client("NEW", "route:one\n");
    assert_eq!(starts(&acts).len(), 1);
    assert!(s.core.wanted_clients().is_empty());
}

#[test]
fn a_table_read_looks_every_client_up_again() {
    let mut s = Site::new();
    s.client("A", "route:one\n");
    s.client("B", "route:one\n");
    s.go("A");
    s.record("B");
    s.feed(Event::Tables {
        ports: PortsTable::parse("route:one host:h port:1 multi:2\n", Path::new("PORTS")).0,
        unlockstale: false,
        grace: Duration::from_secs(5),
    });
    assert_eq!(s.core.wanted_clients(), ["B"]);
    // With the new capacity B fits beside A.
    assert_eq!(starts(&s.client("B", "route:one\n")).len(), 1);
}

#[test]
fn a_route_without_a_ports_entry_runs_without_a_port_lock_warned_once() {
    let mut s = Site::new();
    s.client("A", "route:nowhere\n");
    s.client("B", "route:nowhere\n");
    let a = starts(&s.record("A"));
    let b = starts(&s.record("B"));
    assert_eq!(a[0].3, None);
    assert_eq!(b[0].3, None);
    assert_eq!(
        s.logged("route NOWHERE has no entry in PORTS; running without a port lock"),
        1
    );
}

#[test]
fn a_record_for_an_unusable_client_name_is_kept_and_never_run() {
    let mut s = Site::new();
    assert!(starts(&s.record("SYN_CONTROL")).is_empty());
    assert_eq!(s.state("SYN_CONTROL"), RecordState::Blocked);
    assert_eq!(s.logged("not run, record kept"), 1);
}

#[test]
fn a_control_entry_that_is_no_regular_file_is_reported_once_while_it_stays() {
    let mut s = Site::new();
    for _ in 0..2 {
        s.feed(Event::RecordSeen {
            name: "DIR".into(),
            kind: EntryKind::Other,
        });
    }
    assert_eq!(
        s.logged("control record DIR is not a regular file; ignored"),
        1
    );
    s.feed(Event::RecordGone { name: "DIR".into() });
    s.feed(Event::RecordSeen {
        name: "DIR".into(),
        kind: EntryKind::Other,
    });
    assert_eq!(s.logged("is not a regular file"), 2);
}

#[test]
fn a_dot_file_is_no_record() {
    let mut s = Site::new();
    s.record(".tmp");
    assert!(s.core.records.is_empty());
}

#[test]
fn a_record_deleted_while_running_stays_until_reaped() {
    let mut s = Site::new();
    s.client("A", "route:one\n");
    let pid = s.go("A")[0].1;
    s.feed(Event::RecordGone { name: "A".into() });
    assert_eq!(s.state("A"), RecordState::Running);
    s.exit(pid, true, 0);
    assert!(s.core.records.is_empty());
}

#[test]
fn a_touched_record_gets_its_new_age() {
    let mut s = Site::new();
    s.client("HOLD", "route:one\n");
    s.client("A", "route:one\n");
    s.client("B", "route:one\n");
    let hold = s.go("HOLD");
    s.record("A");
    s.record("B");
    // A touched: younger than B now.
    let (id, _) = s.id("A");
    s.feed(Event::RecordSeen {
        name: "A".into(),
        kind: EntryKind::Regular {
            id,
            mtime: SystemTime::UNIX_EPOCH + Duration::from_secs(1_900_000_000),
        },
    });
    let ran = s.go_after(hold[0].1, true, 0);
    assert_eq!(ran[0].0, "B");
}

#[test]
fn status_writes_are_coalesced_to_one_a_second_unless_forced() {
    let mut s = Site::new();
    let t0 = s.now.mono;
    assert!(
        s.core.status_now(t0, false),
        "the first change is written at once"
    );
    s.core.status_written(t0);
    assert!(!s.core.status_now(t0, false), "nothing changed");
    s.client("A", "route:one\n");
    s.record("A");
    assert!(!s.core.status_now(t0 + Duration::from_millis(300), false));
    assert_eq!(s.core.next_deadline(), Some(t0 + STATUS_EVERY));
    assert!(
        s.core.status_now(t0 + Duration::from_millis(300), true),
        "USR1 at once"
    );
    assert!(s.core.status_now(t0 + STATUS_EVERY, false));
}

#[test]
fn stopping_kills_only_the_attempts_being_killed_and_leaves_the_rest_running() {
    let mut s = Site::new();
    s.client("A", "route:one\nmaxtime:1\n");
    s.client("B", "route:multi\n");
    let a = s.go("A")[0].1;
    s.go("B");
    s.later(1);
    let acts = s.feed(Event::Stop { signal: "SIGTERM" });
    assert!(acts
        .iter()
        .any(|x| matches!(x, Action::Signal { pgid, sig: Sig::Kill } if *pgid == a)));
    assert!(acts
        .iter()
        .any(|x| matches!(x, Action::RemoveFlag { pid, .. } if *pid == a)));
    assert_eq!(
        s.logged("stopping on SIGTERM; 1 transmission(s) left running"),
        1
    );
    assert!(starts(&s.record("C")).is_empty(), "nothing new after TERM");
}

#[test]
fn force_makes_a_waiting_record_due_now_and_reads_its_client_again() {
    let mut s = Site::new();
    s.client("A", "route:one\ntimeout:600\n");
    let pid = s.go("A")[0].1;
    s.exit(pid, false, 1);
    let (reply, clients) = s.core.force(Some("A"), s.now);
    assert_eq!(reply, Reply::Done("1 record(s) due now: A".into()));
    assert_eq!(clients, ["A"]);
    let acts = s.client("A", "route:one\n");
    assert_eq!(starts(&acts)[0].1, 2, "the attempts used stay counted");
    assert_eq!(
        s.core.force(Some("B"), s.now).0,
        Reply::Refused("no record for B in the queue".into())
    );
}

#[test]
fn kill_request_ends_our_attempt_and_refuses_a_foreign_one() {
    let mut s = Site::new();
    s.client("A", "route:one\n");
    let pid = s.go("A")[0].1;
    let (reply, acts) = s.core.kill_request("A", s.now);
    assert_eq!(
        reply,
        Reply::Done(format!(
            "A: attempt 1 pid {pid} being ended as maxtime would"
        ))
    );
    assert!(acts
        .iter()
        .any(|a| matches!(a, Action::Signal { sig: Sig::Term, .. })));
    assert!(
        matches!(s.core.kill_request("A", s.now).0, Reply::Refused(m) if m.contains("being ended already"))
    );
    s.feed(Event::FlagSeen(FlagSeen {
        name: "SYN|001|F".into(),
        client: "F".into(),
        port: None,
        pid: 4242,
        start: 1,
        stale: false,
    }));
    assert!(
        matches!(s.core.kill_request("F", s.now).0, Reply::Refused(m) if m.contains("pid 4242 was not started by this ipsynd"))
    );
    assert!(
        matches!(s.core.kill_request("Z", s.now).0, Reply::Refused(m) if m.contains("has no running attempt"))
    );
}

#[test]
fn many_waiting_records_cost_nothing_when_another_port_frees() {
    // The indexes: 5,000 records wait for port one; a transmitter on another port ends
    // without touching them.
    let mut s = Site::new();
    s.client("HOLD", "route:one\n");
    s.client("R", "route:multi\n");
    s.go("HOLD");
    for i in 0..5000 {
        let c = format!("W{i}");
        s.client(&c, "route:one\n");
        s.record(&c);
    }
    let pid = s.go("R")[0].1;
    let ready_before = s.core.route_wait.values().map(|w| w.len()).sum::<usize>();
    assert_eq!(ready_before, 5000);
    let moved = s.core.moved;
    let acts = s.exit(pid, true, 0);
    assert!(starts(&acts).is_empty());
    assert_eq!(s.core.counts(), (1, 5000));
    assert_eq!(s.core.moved - moved, 0, "no waiting record is touched");
}

fn client_waiting(s: &Site, c: &str) -> usize {
    let id = s.core.client_ids[c];
    s.core.clients[id.0 as usize]
        .wait
        .as_ref()
        .map_or(0, |w| w.len())
}

#[test]
fn a_reaped_transmitter_wakes_one_record_of_its_client_not_its_backlog() {
    // One client, 5,000 records waiting for it (§6.5: one attempt per client): its
    // transmitter ends, the oldest starts, the other 4,999 are not touched.
    let mut s = Site::new();
    s.client(
        "A",
        "route:multi
",
    );
    let pid = s.go("0|A")[0].1;
    for i in 1..=5000 {
        s.record(&format!("{i}|A"));
    }
    assert_eq!(client_waiting(&s, "A"), 5000);
    let moved = s.core.moved;
    let acts = s.exit(pid, true, 0);
    assert_eq!(
        starts(&acts),
        [("1|A".into(), 1, Some("MULTI".into()), port("m", 2))]
    );
    assert_eq!(s.core.moved - moved, 1, "exactly one record moved to ready");
    assert_eq!(client_waiting(&s, "A"), 4999);
    assert!(s.core.ready.is_empty());
}

#[test]
fn a_woken_record_that_waits_for_a_port_lets_the_next_of_its_client_wait_for_it_too() {
    // A's transmitter ends while a foreign flag holds port one: its oldest record waits
    // for the port, and so does the next (in order), none is left waiting for the client.
    let mut s = Site::new();
    s.client(
        "A",
        "route:one
",
    );
    let pid = s.go("0|A")[0].1;
    s.record("1|A");
    s.record("2|A");
    s.feed(Event::FlagSeen(FlagSeen {
        name: "SYN|001|F".into(),
        client: "F".into(),
        port: port("h", 1),
        pid: 4242,
        start: 1,
        stale: false,
    }));
    assert!(starts(&s.exit(pid, true, 0)).is_empty());
    assert_eq!(s.state("1|A"), RecordState::WaitingPort);
    assert_eq!(s.state("2|A"), RecordState::WaitingPort);
    assert_eq!(client_waiting(&s, "A"), 0);
    let acts = s.feed(Event::FlagGone {
        name: "SYN|001|F".into(),
    });
    assert_eq!(
        starts(&acts),
        [("1|A".into(), 1, Some("ONE".into()), port("h", 1))]
    );
}

#[test]
fn a_woken_record_deleted_before_its_turn_hands_the_turn_to_the_next() {
    let mut s = Site::new();
    s.client(
        "A",
        "route:multi
",
    );
    let pid = s.go("0|A")[0].1;
    s.record("1|A");
    s.record("2|A");
    let flag = s.flag_of(pid);
    s.core.step(Event::FlagGone { name: flag }, s.now);
    s.core.step(
        Event::ChildExited {
            pid,
            how: ExitKind::Code(0),
            flag_left: false,
            record_now: None,
            group_alive: false,
        },
        s.now,
    );
    s.core.step(Event::RecordGone { name: "1|A".into() }, s.now);
    let acts = s.core.dispatch(s.now);
    assert_eq!(
        starts(&acts),
        [("2|A".into(), 1, Some("MULTI".into()), port("m", 2))]
    );
}

#[test]
fn a_client_file_change_looks_only_at_that_clients_records() {
    // 5,000 records of other clients wait; A's file changes: A's 3 records are placed
    // again (read first), nobody else's is looked at.
    let mut s = Site::new();
    s.client("HOLD", "route:one\n");
    s.go("HOLD");
    for i in 0..5000 {
        let c = format!("W{i}");
        s.client(&c, "route:one\n");
        s.record(&c);
    }
    s.client("A", "route:one\n");
    for i in 0..3 {
        s.record(&format!("{i}|A"));
    }
    let (looked, moved) = (s.core.looked, s.core.moved);
    s.feed(Event::ClientChanged { name: "A".into() });
    assert_eq!(s.core.looked - looked, 3);
    assert_eq!(s.core.moved - moved, 3);
    assert_eq!(s.core.want.len(), 1, "A is read again");
    let looked = s.core.looked;
    let acts = s.client("A", "route:multi\n");
    assert_eq!(s.core.looked - looked, 0, "its held records only");
    assert_eq!(starts(&acts).len(), 1);
}

#[test]
fn a_flag_is_found_by_its_name() {
    let mut s = Site::new();
    s.feed(Event::FlagSeen(FlagSeen {
        name: "SYN|001|F".into(),
        client: "F".into(),
        port: port("h", 1),
        pid: 4242,
        start: 7,
        stale: false,
    }));
    let f = s.core.flag("SYN|001|F").expect("counted");
    assert_eq!(
        (f.pid, f.start, s.core.port(f.port.unwrap())),
        (4242, 7, &port("h", 1).unwrap())
    );
    assert!(s.core.flag("SYN|002|F").is_none());
}

#[test]
fn a_spawn_that_found_no_fork_or_no_fds_is_not_an_attempt_an_exec_error_is() {
    // Spec §6.1: the errno decides. EMFILE/ENFILE (the spawn's pipe, /dev/null) and
    // EAGAIN/ENOMEM (fork) are the system's: the record waits `timeout:`, uncounted.
    for errno in [libc::EMFILE, libc::ENFILE, libc::EAGAIN, libc::ENOMEM] {
        let mut s = Site::new();
        s.client("A", "route:one\ntimeout:20\n");
        s.record("A");
        s.feed(Event::StartFailed {
            record: "A".into(),
            why: StartFailure::Spawn { errno },
        });
        assert_eq!(s.core.records["A"].attempts, 0, "errno {errno}");
        assert_eq!(s.state("A"), RecordState::RetryWait, "errno {errno}");
        assert!(spawn_failure(errno).deferred());
    }
    // The program could not be executed: a failed attempt, counted.
    for errno in [libc::ENOENT, libc::EACCES, libc::ENOEXEC] {
        let mut s = Site::new();
        s.client("A", "route:one\n");
        s.record("A");
        s.feed(Event::StartFailed {
            record: "A".into(),
            why: StartFailure::Spawn { errno },
        });
        assert_eq!(s.core.records["A"].attempts, 1, "errno {errno}");
        assert_eq!(
            s.logged("attempt 1/11 failed (could not start); next attempt in 90s"),
            1
        );
        assert_eq!(spawn_failure(errno), SpawnFailure::Exec);
    }
    assert_eq!(spawn_failure(libc::EMFILE), SpawnFailure::OutOfFds);
    assert_eq!(spawn_failure(libc::EAGAIN), SpawnFailure::NoFork);
}

#[test]
fn ftp_mode_deletes_the_record_only_when_every_file_was_sent() {
    // Spec §7: in FTP mode ipsynd is the transmitter; all sent is the request fulfilled.
    let mut s = Site::new();
    s.client("A", "route:one\n");
    let pid = s.go("A")[0].1;
    let acts = s.feed(Event::FtpResult {
        pid,
        sent: 2,
        total: 3,
    });
    assert!(!acts
        .iter()
        .any(|a| matches!(a, Action::DeleteRecord { .. })));
    let acts = s.feed(Event::FtpResult {
        pid,
        sent: 3,
        total: 3,
    });
    assert!(acts
        .iter()
        .any(|a| matches!(a, Action::DeleteRecord { record } if record == "A")));
    // Not for a pid that is no attempt of ours.
    let acts = s.feed(Event::FtpResult {
        pid: 1,
        sent: 1,
        total: 1,
    });
    assert!(acts.is_empty());
}

#[test]
fn a_record_named_as_its_client_shares_the_clients_name() {
    // Memory: a FIP site's usual record per client is named by its client, and a backlog
    // may hold ten thousand of them; one name allocation each, not two.
    let mut s = Site::new();
    s.client("A", "route:one\n");
    s.record("B");
    s.record("SYN_A");
    let (key, _) = s.core.records.get_key_value("B").unwrap();
    let c = s.core.client_ids["B"];
    assert!(Rc::ptr_eq(key, &s.core.clients[c.0 as usize].name));
    let (key, _) = s.core.records.get_key_value("SYN_A").unwrap();
    let c = s.core.client_ids["A"];
    assert!(!Rc::ptr_eq(key, &s.core.clients[c.0 as usize].name));
    assert_eq!(&**key, "SYN_A");
}
