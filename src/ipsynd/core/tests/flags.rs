//! In-use flags: others' flags hold ports and clients; stale flags and `unlockstale:`.

use super::*;

#[test]
fn a_live_flag_of_another_transmitter_holds_its_port_and_its_client() {
    let mut s = Site::on(&[("A", "route:one\n"), ("B", "route:one\n")]);
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
    let mut s = Site::on(&[("B", "route:one\n")]);
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
    let mut s = Site::on(&[("A", "route:one\n"), ("B", "route:one\n")]);
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
