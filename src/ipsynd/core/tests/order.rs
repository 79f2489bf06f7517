//! Service order and limits (spec §6): a record starts at once on a free port of its
//! route, a busy client waits, a port takes `multi:` transmissions, waiters go by `prior:`,
//! then age, then name.

use super::*;

#[test]
fn a_new_record_starts_at_once_on_a_port_of_its_route() {
    let mut s = Site::on(&[("A", "route:one\n")]);
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
    let mut s = Site::on(&[("A", "route:multi\n")]);
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
    let mut s = Site::on(&[("A", "route:one\n"), ("B", "route:shared\n")]);
    s.go("A");
    assert!(starts(&s.record("B")).is_empty());
    assert_eq!(s.state("B"), RecordState::WaitingPort);
}

#[test]
fn waiting_records_go_by_priority_then_age_then_name() {
    let mut s = Site::on(&[
        ("HOLD", "route:one\n"),
        ("LOW", "route:one\nprior:90\n"),
        ("HIGH", "route:one\nprior:10\n"),
        ("MID", "route:one\n"),
    ]);
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
    let mut s = Site::on(&[
        ("HOLD", "route:one\n"),
        ("X", "route:one\n"),
        ("Y", "route:one\n"),
    ]);
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
fn a_due_record_waiting_for_a_port_arms_no_deadline() {
    // The busy-loop guard: nothing wakes the loop for a record only an event can free.
    let mut s = Site::on(&[("A", "route:one\n"), ("B", "route:one\n")]);
    s.go("A");
    s.record("B");
    assert_eq!(s.state("B"), RecordState::WaitingPort);
    s.core.status_written(s.now.mono);
    assert_eq!(s.core.next_deadline(), None);
}
