//! Client files and tables: a missing client file, a new client, a table read, a route
//! without a PORTS entry.

use super::*;

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
    let mut s = Site::on(&[("A", "route:one\n"), ("B", "route:one\n")]);
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
    let mut s = Site::on(&[("A", "route:nowhere\n"), ("B", "route:nowhere\n")]);
    let a = starts(&s.record("A"));
    let b = starts(&s.record("B"));
    assert_eq!(a[0].3, None);
    assert_eq!(b[0].3, None);
    assert_eq!(
        s.logged("route NOWHERE has no entry in PORTS; running without a port lock"),
        1
    );
}
