//! The core's interned names and ordered indexes: clients, routes and physical ports are
//! small integers (a record holds its client's number, not its name), and a waiting record
//! is a [`Key`] in the index of what it waits for, ordered for service (spec §6.7: `prior`
//! ascending, then the record's age, then its name).

use std::collections::BTreeSet;
use std::rc::Rc;
use std::time::SystemTime;

use crate::fip::tables::ClientParams;

/// A client, by number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(pub u32);

/// A route, by number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RouteId(pub u32);

/// A physical port, by number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortId(pub u32);

/// What is known of a client's parameter file.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// Not read since the tables changed: the shell reads it before its records are placed.
    Unknown,
    Found(Rc<ClientParams>),
    /// Missing or unreadable, with the reason for the log.
    Missing(Box<str>),
}

/// A record in service order: `prior`, then the control record's modification time (its
/// age, spec §10.7) as seconds and nanoseconds from the epoch, then its name. The time is
/// held as two fields rather than a `SystemTime` (16 bytes, 4 of them padding) so a key is
/// 32 bytes, not 40: every waiting record is one in some index.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    pub prior: u8,
    secs: i64,
    nanos: u32,
    pub name: Rc<str>,
}

impl Key {
    pub fn new(prior: u8, mtime: SystemTime, name: Rc<str>) -> Key {
        let (secs, nanos) = epoch_parts(mtime);
        Key {
            prior,
            secs,
            nanos,
            name,
        }
    }
}

/// `t` as (seconds, nanoseconds) from the epoch, nanoseconds in `0..1e9`, ordered as `t` is
/// (a time before the epoch has negative seconds).
fn epoch_parts(t: SystemTime) -> (i64, u32) {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_nanos()),
        Err(e) => {
            let d = e.duration();
            match d.subsec_nanos() {
                0 => (-(d.as_secs() as i64), 0),
                n => (-(d.as_secs() as i64) - 1, 1_000_000_000 - n),
            }
        }
    }
}

/// One client.
#[derive(Debug)]
pub struct ClientEntry {
    pub name: Rc<str>,
    pub lookup: Lookup,
    /// Its transmissions now: our running attempts and live flags of others.
    pub busy: u32,
    /// Its records waiting because it transmits already (boxed: most clients have none,
    /// and there may be one client per record).
    #[allow(clippy::box_collection)]
    pub wait: Option<Box<BTreeSet<Key>>>,
    /// Its records waiting for its file to be read or to appear.
    #[allow(clippy::box_collection)]
    pub held: Option<Box<Vec<Rc<str>>>>,
    /// The records naming it, in name order: a change of its file re-places only these.
    pub records: NameSet,
}

impl ClientEntry {
    pub fn new(name: Rc<str>) -> ClientEntry {
        ClientEntry {
            name,
            lookup: Lookup::Unknown,
            busy: 0,
            wait: None,
            held: None,
            records: NameSet::default(),
        }
    }
}

/// A set of record names in name order that costs no allocation while it holds one name: the
/// common case, one client per record, would otherwise pay a whole B-tree leaf (room for 11
/// keys, about 200 B) per record.
#[derive(Debug, Default)]
pub enum NameSet {
    #[default]
    Empty,
    One(Rc<str>),
    // Boxed so the inline case stays two words (as `wait` and `held` above).
    #[allow(clippy::box_collection)]
    Many(Box<BTreeSet<Rc<str>>>),
}

impl NameSet {
    pub fn insert(&mut self, name: Rc<str>) {
        match self {
            NameSet::Empty => *self = NameSet::One(name),
            NameSet::One(n) if *n == name => {}
            NameSet::One(_) => {
                let NameSet::One(old) = std::mem::take(self) else {
                    unreachable!()
                };
                *self = NameSet::Many(Box::new(BTreeSet::from([old, name])));
            }
            NameSet::Many(set) => {
                set.insert(name);
            }
        }
    }

    pub fn remove(&mut self, name: &str) {
        match self {
            NameSet::One(n) if &**n == name => *self = NameSet::Empty,
            NameSet::Many(set) => {
                set.remove(name);
                if set.is_empty() {
                    *self = NameSet::Empty;
                }
            }
            _ => {}
        }
    }

    /// The names in name order.
    pub fn iter(&self) -> Box<dyn Iterator<Item = &Rc<str>> + '_> {
        match self {
            NameSet::Empty => Box::new(std::iter::empty()),
            NameSet::One(n) => Box::new(std::iter::once(n)),
            NameSet::Many(set) => Box::new(set.iter()),
        }
    }
}

#[cfg(test)]
mod name_set_tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn keys_order_by_prior_then_age_then_name_in_32_bytes() {
        let e = SystemTime::UNIX_EPOCH;
        let times = [
            e - Duration::new(5, 1),
            e - Duration::new(5, 0),
            e - Duration::new(4, 999_999_999),
            e - Duration::from_nanos(1),
            e,
            e + Duration::from_nanos(1),
            e + Duration::new(1_700_000_000, 5),
            e + Duration::new(1_700_000_001, 0),
        ];
        for w in times.windows(2) {
            assert!(
                Key::new(1, w[0], "b".into()) < Key::new(1, w[1], "a".into()),
                "{w:?}"
            );
        }
        assert!(Key::new(1, times[7], "b".into()) < Key::new(2, times[0], "a".into()));
        assert!(Key::new(1, times[3], "a".into()) < Key::new(1, times[3], "b".into()));
        #[cfg(target_pointer_width = "64")]
        assert_eq!(std::mem::size_of::<Key>(), 32);
    }

    fn names(s: &NameSet) -> Vec<&str> {
        s.iter().map(|n| &**n).collect()
    }

    #[test]
    fn one_name_is_held_inline_and_more_in_name_order() {
        let mut s = NameSet::default();
        s.insert("b".into());
        assert!(matches!(s, NameSet::One(_)));
        s.insert("b".into());
        assert!(
            matches!(s, NameSet::One(_)),
            "a name inserted twice is one name"
        );
        s.insert("a".into());
        s.insert("c".into());
        assert_eq!(names(&s), ["a", "b", "c"]);
        s.remove("b");
        s.remove("x");
        assert_eq!(names(&s), ["a", "c"]);
        s.remove("a");
        s.remove("c");
        assert!(matches!(s, NameSet::Empty));
        assert!(names(&s).is_empty());
    }
}
