//! Unit tests of the tryalt rule, port picking and ordering.

use super::*;
use std::path::Path;
use std::time::Duration;

fn alts(tryalt: TryAlt, n: u32) -> Vec<u32> {
    (1..=n).filter(|&k| use_alt(k, tryalt, true)).collect()
}

#[test]
fn tryalt_every_n() {
    // Default 5 with retry 11: normal x5, alt, normal x5.
    assert_eq!(alts(TryAlt::Every(5), 11), [6]);
    assert_eq!(alts(TryAlt::Every(2), 10), [3, 6, 9]);
    assert_eq!(alts(TryAlt::Every(100), 100), Vec::<u32>::new());
    assert_eq!(alts(TryAlt::Every(3), 12), [4, 8, 12]);
}

#[test]
fn tryalt_even_alternates_normal_first() {
    assert_eq!(alts(TryAlt::Even, 7), [2, 4, 6]);
}

#[test]
fn no_alt_never() {
    for k in 1..=20 {
        assert!(!use_alt(k, TryAlt::Even, false));
        assert!(!use_alt(k, TryAlt::Every(2), false));
    }
    assert!(!use_alt(0, TryAlt::Even, true));
}

fn pp(h: &str, p: u16) -> PhysPort {
    PhysPort {
        host: h.into(),
        port: p,
    }
}

#[test]
fn pick_port_respects_capacity_and_order() {
    let (t, _) = PortsTable::parse(
        "route:x25slow host:bigpad multi:7\nroute:x25slow host:lilpad\n",
        Path::new("PORTS"),
    );
    let ports = t.route_ports("X25SLOW");
    let mut in_use = HashMap::new();
    let mut got = Vec::new();
    while let Some(p) = pick_port(&ports, &in_use, &t) {
        *in_use.entry(p.clone()).or_insert(0) += 1;
        got.push(p);
        assert!(got.len() <= 8);
    }
    assert_eq!(got.len(), 8);
    assert_eq!(got.iter().filter(|p| **p == pp("bigpad", 0)).count(), 7);
    assert_eq!(got[7], pp("lilpad", 0));
    // One frees up: it is picked again.
    *in_use.get_mut(&pp("bigpad", 0)).unwrap() -= 1;
    assert_eq!(pick_port(&ports, &in_use, &t), Some(pp("bigpad", 0)));
}

#[test]
fn shared_port_blocks_other_routes() {
    let (t, _) = PortsTable::parse(
        "route:hayes12 host:svr3 port:1103\nroute:hayes24 host:svr3 port:1103\n",
        Path::new("PORTS"),
    );
    let mut in_use = HashMap::new();
    in_use.insert(pp("svr3", 1103), 1);
    assert_eq!(pick_port(&t.route_ports("HAYES24"), &in_use, &t), None);
    in_use.insert(pp("svr3", 1103), 0);
    assert_eq!(
        pick_port(&t.route_ports("HAYES24"), &in_use, &t),
        Some(pp("svr3", 1103))
    );
    assert_eq!(pick_port(&[], &in_use, &t), None);
}

#[test]
fn ordering_prior_then_age_then_name() {
    let base = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    let c = |prior, age: u64, name: &str| Candidate {
        prior,
        mtime: base + Duration::from_secs(age),
        name: name.into(),
    };
    let mut v = vec![
        c(50, 5, "B"),
        c(50, 5, "A"),
        c(10, 9, "Z"),
        c(50, 1, "Y"),
        c(99, 0, "OLD"),
    ];
    order(&mut v);
    let names: Vec<&str> = v.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["Z", "Y", "A", "B", "OLD"]);
}
