//! The status write timing (spec §11.3) and the requests `-f` and `-k`.

use super::*;

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
fn force_makes_a_waiting_record_due_now_and_reads_its_client_again() {
    let mut s = Site::on(&[("A", "route:one\ntimeout:600\n")]);
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
    let mut s = Site::on(&[("A", "route:one\n")]);
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
