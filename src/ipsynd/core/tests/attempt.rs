//! Attempts and their results (spec §6, README): retries after `timeout:`, the alternate
//! route, giving up, what is and is not an attempt, a record re-created while it ran, FTP
//! mode.

use super::*;

#[test]
fn a_failed_attempt_is_retried_after_timeout_and_switches_to_alt_every_tryalt_plus_one() {
    let mut s = Site::on(&[("A", "route:one\nalt:alt\ntryalt:2\ntimeout:30\nretry:4\n")]);
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
    let mut s = Site::on(&[("A", "route:one\nretry:2\ntimeout:0\n")]);
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
    let mut s = Site::on(&[("A", "route:one\ntimeout:20\n"), ("B", "route:one\n")]);
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
    let mut s = Site::on(&[("A", "route:one\ntimeout:0\n")]);
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
    let mut s = Site::on(&[("A", "route:one\nscript:/nonexistent\n")]);
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
fn a_record_gone_before_its_start_is_forgotten_and_frees_the_port() {
    let mut s = Site::on(&[("A", "route:one\n"), ("B", "route:one\n")]);
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
    let mut s = Site::on(&[("A", "route:one\nuseftp:\n")]);
    s.record("A");
    s.feed(Event::StartFailed {
        record: "A".into(),
        why: StartFailure::NothingToSend,
    });
    assert!(s.core.records.is_empty());
}

#[test]
fn a_record_recreated_under_the_same_name_while_running_is_a_success_plus_a_new_request() {
    let mut s = Site::on(&[("A", "route:one\n")]);
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
    let mut s = Site::on(&[("A", "route:one\n")]);
    let pid = s.go("A")[0].1;
    s.exit(pid, false, 0);
    assert_eq!(
        s.logged("attempt 1/11 failed (exit status 0, control record still there)"),
        1
    );
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
    let mut s = Site::on(&[("A", "route:one\n")]);
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
    let acts = s.feed(Event::ExecFailed { pid, counted: true });
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
fn an_fd_or_memory_shortage_reported_after_the_start_is_not_an_attempt() {
    // The child may fail before its exec for the system's want (EMFILE in its dup, ENOMEM):
    // as for a spawn that failed at once, the record waits `timeout:`, uncounted, and its
    // flag goes.
    let mut s = Site::new();
    s.client("A", "route:one\ntimeout:20\nretry:1\n");
    let pid = s.go("A")[0].1;
    let flag = s.flag_of(pid);
    let acts = s.feed(Event::ExecFailed {
        pid,
        counted: false,
    });
    assert!(acts
        .iter()
        .any(|a| matches!(a, Action::RemoveFlag { pid: p, flag: f } if *p == pid && *f == flag)));
    assert!(s.core.job(pid).is_none());
    assert_eq!(s.core.records["A"].attempts, 0);
    assert_eq!(s.state("A"), RecordState::RetryWait);
    assert_eq!(s.logged("failed"), 0);
    assert_eq!(s.logged("gave up"), 0);
    // 20 s later it starts again (retry:1 would have given up had it counted).
    let again = s.later(20);
    assert_eq!(starts(&again).len(), 1);
}
