//! Control records: unusable names, entries that are no regular file, dot files, a record
//! deleted while running, a touched record, names shared with clients.

use super::*;

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
    let mut s = Site::on(&[("A", "route:one\n")]);
    let pid = s.go("A")[0].1;
    s.feed(Event::RecordGone { name: "A".into() });
    assert_eq!(s.state("A"), RecordState::Running);
    s.exit(pid, true, 0);
    assert!(s.core.records.is_empty());
}

#[test]
fn a_touched_record_gets_its_new_age() {
    let mut s = Site::on(&[
        ("HOLD", "route:one\n"),
        ("A", "route:one\n"),
        ("B", "route:one\n"),
    ]);
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
fn a_record_named_as_its_client_shares_the_clients_name() {
    // Memory: a FIP site's usual record per client is named by its client, and a backlog
    // may hold ten thousand of them; one name allocation each, not two.
    let mut s = Site::on(&[("A", "route:one\n")]);
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
