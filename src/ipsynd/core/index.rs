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

/// A record in service order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    pub prior: u8,
    /// The control record's modification time (its age, spec §10.7).
    pub mtime: SystemTime,
    pub name: Rc<str>,
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
    pub records: BTreeSet<Rc<str>>,
}

impl ClientEntry {
    pub fn new(name: Rc<str>) -> ClientEntry {
        ClientEntry {
            name,
            lookup: Lookup::Unknown,
            busy: 0,
            wait: None,
            held: None,
            records: BTreeSet::new(),
        }
    }
}
