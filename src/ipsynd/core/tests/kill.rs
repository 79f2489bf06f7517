//! Ending attempts: `maxtime:`, the maxkill command and the grace, stop.

use super::*;

#[test]
fn past_maxtime_the_group_gets_term_then_kill_after_the_grace_and_the_attempt_fails() {
    let mut s = Site::on(&[("A", "route:one\nmaxtime:10\n")]);
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
    let mut s = Site::on(&[("A", "route:one\nmaxtime:1\nmaxkill:/bin/stop\n")]);
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
    let mut s = Site::on(&[("A", "route:one\nmaxtime:1\nmaxkill:/nonexistent\n")]);
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
    let mut s = Site::on(&[("A", "route:one\nmaxtime:1\nmaxkill:/bin/stop\n")]);
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
fn stopping_kills_only_the_attempts_being_killed_and_leaves_the_rest_running() {
    let mut s = Site::on(&[("A", "route:one\nmaxtime:1\n"), ("B", "route:multi\n")]);
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
