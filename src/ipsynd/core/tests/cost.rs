//! What an event costs in records: a freed port, a reaped transmitter or a client file
//! change touches only its own waiters, never the whole backlog.

use super::*;

#[test]
fn many_waiting_records_cost_nothing_when_another_port_frees() {
    // The indexes: 5,000 records wait for port one; a transmitter on another port ends
    // without touching them.
    let mut s = Site::on(&[("HOLD", "route:one\n"), ("R", "route:multi\n")]);
    s.go("HOLD");
    s.backlog(5000);
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
    let mut s = Site::on(&[("HOLD", "route:one\n")]);
    s.go("HOLD");
    s.backlog(5000);
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
