//! The ipsynd scheduling core, pure: the control records, the ports and their in-use flags,
//! the clients, the running attempts, and every decision about them (spec §§2-10).
//!
//! The shell (`super::shell`) turns inotify, the rescan, reaped children and signals into
//! [`Event`]s and feeds them to [`Core::step`]; [`Core::dispatch`] starts what may start now.
//! Both return [`Action`]s for the shell to carry out; the results of the I/O an action needs
//! (a spawn, a maxkill) come back as events. Nothing here touches files, clocks or processes:
//! time comes in as [`Now`].
//!
//! Every event costs O(log n) in the number of waiting records: records wait in ordered
//! indexes (ready, per route for a port, per client for a busy client, a timer set for the
//! next attempt), so a freed port or client looks only at its own waiters. Only a table
//! change or a request (`-f`) looks at every record.

//! The files, by concern: `types` (events, actions, per-attempt state), `intern` (names to
//! numbers), `query` (what the shell asks), `status` (when to write it), `place` (the
//! indexes), `records`, `tables` (PORTS, IPSYND, client files), `flags`, `dispatch`
//! (starting attempts), `attempt` (their end), `kill` (maxtime, stop), `request` (`-f`,
//! `-k`). This file holds the state and [`Core::step`].

mod attempt;
mod dispatch;
mod flags;
mod index;
mod intern;
mod kill;
mod place;
mod query;
mod record;
mod records;
mod request;
mod status;
mod tables;
#[cfg(test)]
mod tests;
mod types;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::rc::Rc;
use std::time::{Duration, Instant};

use index::{ClientEntry, Key};
pub use index::{ClientId, Lookup, PortId, RouteId};
pub use record::{Place, Rec};
pub use types::{
    spawn_failure, Action, Config, EntryKind, Event, Flag, FlagSeen, Job, KillTarget, Now,
    PendingKill, Plan, Reply, Sig, SpawnFailure, StartFailure,
};

use crate::fip::tables::PhysPort;

/// The daemon's state.
pub struct Core {
    cfg: Config,
    pub(crate) records: BTreeMap<Rc<str>, Rec>,
    /// Control entries that are not regular files, reported once while they stay.
    odd: HashSet<Box<str>>,
    clients: Vec<ClientEntry>,
    client_ids: HashMap<Rc<str>, ClientId>,
    /// Clients whose lookup is unknown while records wait for it.
    want: BTreeSet<ClientId>,
    routes: Vec<Rc<str>>,
    route_ids: HashMap<Rc<str>, RouteId>,
    /// Per route: its physical ports in PORTS order.
    route_ports: HashMap<RouteId, Vec<PortId>>,
    /// Per physical port: the routes naming it.
    port_routes: HashMap<PortId, Vec<RouteId>>,
    /// Records waiting for a port, per route.
    route_wait: HashMap<RouteId, BTreeSet<Key>>,
    ports: Vec<PhysPort>,
    port_ids: HashMap<PhysPort, PortId>,
    /// Capacity per port (1 when PORTS does not name it).
    cap: Vec<u32>,
    /// Flags (and starting attempts) holding each port.
    in_use: Vec<u32>,
    /// Routes without a PORTS entry, warned about since the last table read.
    warned_routes: HashSet<RouteId>,
    ready: BTreeSet<Key>,
    timers: BTreeSet<(Instant, Rc<str>)>,
    pub(crate) jobs: HashMap<i32, Job>,
    /// Attempts asked for and not yet answered: record -> (port, client).
    starting: HashMap<Rc<str>, (Option<PortId>, ClientId)>,
    maxkills: HashMap<i32, ClientId>,
    kill_after: Vec<PendingKill>,
    pub(crate) flags: BTreeMap<Box<str>, Flag>,
    unlockstale: bool,
    grace: Duration,
    /// Something the status shows changed since it was written.
    dirty: bool,
    status_at: Option<Instant>,
    status_due: Option<Instant>,
    stopped: bool,
    /// Records placed or moved between indexes so far: what an event costs in records,
    /// which the unit tests assert on (a reap must not touch a whole backlog).
    moved: u64,
    /// Records a table or client file change looked at (for the same tests).
    looked: u64,
    /// Lines from placing records (a missing client file), taken with the next actions.
    pending: Vec<Action>,
}

fn log(out: &mut Vec<Action>, client: &str, msg: String) {
    out.push(Action::Log {
        client: client.to_string(),
        msg,
    });
}

impl Core {
    pub fn new(cfg: Config) -> Core {
        Core {
            cfg,
            records: BTreeMap::new(),
            odd: HashSet::new(),
            clients: Vec::new(),
            client_ids: HashMap::new(),
            want: BTreeSet::new(),
            routes: Vec::new(),
            route_ids: HashMap::new(),
            route_ports: HashMap::new(),
            port_routes: HashMap::new(),
            route_wait: HashMap::new(),
            ports: Vec::new(),
            port_ids: HashMap::new(),
            cap: Vec::new(),
            in_use: Vec::new(),
            warned_routes: HashSet::new(),
            ready: BTreeSet::new(),
            timers: BTreeSet::new(),
            jobs: HashMap::new(),
            starting: HashMap::new(),
            maxkills: HashMap::new(),
            kill_after: Vec::new(),
            flags: BTreeMap::new(),
            unlockstale: false,
            grace: Duration::from_secs(5),
            dirty: true,
            status_at: None,
            status_due: None,
            stopped: false,
            moved: 0,
            looked: 0,
            pending: Vec::new(),
        }
    }

    // ----- events ----------------------------------------------------------------------

    /// Apply one event; the actions it needs come back. What may start is
    /// [`Core::dispatch`]'s (call it after a batch of events).
    pub fn step(&mut self, ev: Event, now: Now) -> Vec<Action> {
        let mut out = Vec::new();
        match ev {
            Event::RecordSeen { name, kind } => self.record_seen(name, kind, now, &mut out),
            Event::RecordGone { name } => self.record_gone(&name),
            Event::Tables {
                ports,
                unlockstale,
                grace,
            } => self.tables(ports, unlockstale, grace, now.mono),
            Event::Client { name, lookup } => self.client_read(&name, lookup, now.mono),
            Event::ClientChanged { name } => self.client_changed(&name, now.mono),
            Event::FlagSeen(f) => self.flag_seen(f, &mut out),
            Event::FlagGone { name } => self.flag_gone(&name),
            Event::Started {
                record,
                pid,
                flag,
                maxkill,
                display,
                id,
            } => self.started(&record, pid, flag, maxkill, (display, id), now, &mut out),
            Event::StartFailed { record, why } => self.start_failed(&record, why, now, &mut out),
            Event::ExecFailed { pid, counted } => self.exec_failed(pid, counted, now, &mut out),
            Event::ChildExited {
                pid,
                how,
                flag_left,
                record_now,
                group_alive,
            } => self.child_exited(pid, how, flag_left, record_now, group_alive, now, &mut out),
            Event::MaxkillStarted { pid, kpid } => self.maxkill_started(pid, kpid, now, &mut out),
            Event::MaxkillFailed { pid, error } => self.maxkill_failed(pid, &error, &mut out),
            Event::FtpResult { pid, sent, total } => {
                // Every file sent: the request is fulfilled, like a transmitter deleting
                // its record (spec §7); otherwise the record stays for the next attempt.
                if let Some(j) = self.jobs.get(&pid) {
                    if sent == total {
                        out.push(Action::DeleteRecord {
                            record: j.record.to_string(),
                        });
                    }
                }
            }
            Event::Stop { signal } => self.stop(signal, &mut out),
        }
        if !self.pending.is_empty() {
            let mut p = std::mem::take(&mut self.pending);
            p.append(&mut out);
            out = p;
        }
        out
    }

    /// `step`, then `dispatch`: what one event alone leads to (the unit tests' view).
    pub fn handle(&mut self, ev: Event, now: Now) -> Vec<Action> {
        let mut out = self.step(ev, now);
        out.extend(self.dispatch(now));
        out
    }
}
