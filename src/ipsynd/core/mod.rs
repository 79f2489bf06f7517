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

mod index;
mod record;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime};

use index::{ClientEntry, Key};
pub use index::{ClientId, Lookup, PortId, RouteId};
pub use record::{Place, Rec};

use super::control::{client_of_record, refusal};
use super::record::{after_failure, AfterFailure, RecordId, RecordState};
use super::schedule::use_alt;
use crate::fip::tables::{ClientParams, PhysPort, PortsTable, TIMEOUT_DEFAULT};
use crate::sys::reap::ExitKind;

/// The time an event happens at: the monotonic clock for deadlines, the wall clock for what
/// the status shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    pub mono: Instant,
    pub wall: SystemTime,
}

impl Now {
    /// `d` later.
    pub fn after(self, d: Duration) -> Now {
        Now {
            mono: self.mono + d,
            wall: self.wall + d,
        }
    }
}

/// What a control directory entry is, as the shell found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file (or a link to one): a record.
    Regular { id: RecordId, mtime: SystemTime },
    /// Anything else: reported once while it stays, never run.
    Other,
}

/// An in-use flag as the shell read it (`flags::FlagInfo` without the path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagSeen {
    /// The flag's file name, `SYN|nnn|CLIENT`.
    pub name: String,
    pub client: String,
    /// `None` when the flag names no port from PORTS (`-`).
    pub port: Option<PhysPort>,
    /// 0 when unreadable.
    pub pid: i32,
    pub start: u64,
    /// Its pid is dead (or reused): see `flags::FlagInfo::is_stale`.
    pub stale: bool,
}

/// Why an attempt the core asked for did not get a running child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartFailure {
    /// The control record went away before the start: nothing to do.
    Gone,
    /// A system problem (no flag, no fork, out of file descriptors): the record waits
    /// `timeout` (at least 1 s) without counting an attempt. The shell logged why.
    Deferred,
    /// The attempt counts and failed (an exec error, an FTP set-up error); the text says why.
    Failed(String),
    /// FTP mode with an empty queue: the request is fulfilled and its record was deleted.
    NothingToSend,
    /// The spawn failed with this errno (the shell logged it): [`spawn_failure`] says
    /// whether that was the system's problem or the attempt's.
    Spawn { errno: i32 },
}

/// What a failed spawn was (spec §6, README: a failed fork is not an attempt, an exec
/// error is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpawnFailure {
    /// EMFILE, ENFILE: the spawn's pipe or `/dev/null` could not be opened.
    OutOfFds,
    /// EAGAIN, ENOMEM: no fork (process limit, memory).
    NoFork,
    /// Anything else: the program could not be executed (ENOENT, EACCES, ENOEXEC, ...).
    Exec,
}

impl SpawnFailure {
    /// The system's problem, not the client's: the record waits without counting an
    /// attempt (counting could end in deleting the request).
    pub fn deferred(self) -> bool {
        self != SpawnFailure::Exec
    }
}

/// Classify a spawn's errno.
pub fn spawn_failure(errno: i32) -> SpawnFailure {
    match errno {
        libc::EMFILE | libc::ENFILE => SpawnFailure::OutOfFds,
        libc::EAGAIN | libc::ENOMEM => SpawnFailure::NoFork,
        _ => SpawnFailure::Exec,
    }
}

/// Something that happened.
#[derive(Debug, Clone)]
pub enum Event {
    /// A control directory entry appeared or changed (created, renamed in, touched).
    RecordSeen { name: String, kind: EntryKind },
    /// A control directory entry went away.
    RecordGone { name: String },
    /// `PORTS` or `IPSYND` was (re)read: every client is looked up again.
    Tables {
        ports: PortsTable,
        unlockstale: bool,
        grace: Duration,
    },
    /// A client file was read (or found missing).
    Client { name: String, lookup: Lookup },
    /// A client file changed on disk: it is read again before its records are placed.
    ClientChanged { name: String },
    /// An in-use flag appeared, or was read again.
    FlagSeen(FlagSeen),
    /// An in-use flag went away.
    FlagGone { name: String },
    /// The attempt of [`Action::Start`] runs as `pid`, its flag named `flag`.
    Started {
        record: String,
        pid: i32,
        flag: String,
        /// The expanded `maxkill:` words.
        maxkill: Option<Vec<String>>,
        /// The command as the manual displays it.
        display: String,
        /// The control record at the start.
        id: RecordId,
    },
    /// The attempt of [`Action::Start`] got no running child.
    StartFailed { record: String, why: StartFailure },
    /// Attempt `pid`, already `Started`, could not exec its program (the spawn reports the
    /// exec's outcome after the fact; the shell logged the errno): a failed attempt, as a
    /// `StartFailed` exec error is. Fed instead of its `ChildExited`.
    ExecFailed { pid: i32 },
    /// A child was reaped. For an attempt: whether its flag is still there, and the control
    /// record now (its identity and age), `None` when gone. For a maxkill command: whether
    /// its process group still lives.
    ChildExited {
        pid: i32,
        how: ExitKind,
        flag_left: bool,
        record_now: Option<(RecordId, SystemTime)>,
        group_alive: bool,
    },
    /// The maxkill command of [`Action::RunMaxkill`] runs as `kpid`.
    MaxkillStarted { pid: i32, kpid: i32 },
    /// It could not be started.
    MaxkillFailed { pid: i32, error: String },
    /// FTP mode (ipsynd is the transmitter): attempt `pid`'s ftp ended having sent `sent`
    /// of the `total` queued files. Fed before its `ChildExited`.
    FtpResult { pid: i32, sent: usize, total: usize },
    /// TERM or INT: end what is being killed, leave the rest running.
    Stop { signal: &'static str },
}

/// Whose process group a grace-end SIGKILL is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillTarget {
    /// An attempt over maxtime, after its SIGTERM or its maxkill.
    Transmitter,
    /// The maxkill command itself: one that hangs must not live on.
    Maxkill,
}

/// Which signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sig {
    Term,
    Kill,
}

/// Everything needed to start one attempt (spec §5, §6.1).
#[derive(Debug, Clone)]
pub struct Plan {
    pub record: String,
    pub client: Rc<ClientParams>,
    /// 1-based number of this attempt.
    pub attempt: u32,
    pub route: Option<String>,
    pub port: Option<PhysPort>,
}

/// What the shell must do.
#[derive(Debug, Clone)]
pub enum Action {
    /// A line for `log/ipsynd.log`.
    Log { client: String, msg: String },
    /// Create the flag, build the argv, spawn; answer with `Started` or `StartFailed`.
    Start(Plan),
    /// Signal a process group.
    Signal { pgid: i32, sig: Sig },
    /// Run the maxkill words (the pid already appended) for attempt `pid`; answer with
    /// `MaxkillStarted` or `MaxkillFailed`.
    RunMaxkill { pid: i32, words: Vec<String> },
    /// The grace is over: SIGKILL group `pgid` if it still lives, and say so.
    KillIfAlive {
        pgid: i32,
        client: String,
        target: KillTarget,
        stopping: bool,
    },
    /// Remove the in-use flag (and an FTP attempt's command file) of attempt `pid`.
    RemoveFlag { pid: i32, flag: String },
    /// Delete the control record (the request is fulfilled), silently.
    DeleteRecord { record: String },
    /// `retry` attempts failed: delete the control record and log
    /// `gave up after N attempts (why); ...; queued files kept`.
    GiveUp {
        record: String,
        client: String,
        attempts: u32,
        why: String,
    },
}

/// A running attempt.
#[derive(Debug, Clone)]
pub struct Job {
    pub record: Rc<str>,
    pub client: ClientId,
    pub attempt: u32,
    /// The in-use flag's file name.
    pub flag: String,
    pub started: Instant,
    /// When maxtime runs out (`None`: no limit).
    pub deadline: Option<Instant>,
    /// Being ended (maxtime or `-k`): ipsynd removes its flag itself.
    pub killed: bool,
    pub kill_reason: &'static str,
    pub maxkill: Option<Vec<String>>,
    /// The client's `timeout:` at the start, for the next attempt after a failure.
    pub timeout: u64,
    /// The `what` of the kill, for the maxkill's answer.
    pub kill_what: String,
    /// The record file at the start: a record re-created under the same name while the
    /// transmitter ran is a success plus a new request.
    pub record_id: RecordId,
    /// The port it holds until its flag goes.
    pub port: Option<PortId>,
    /// Its flag still holds the port (until the flag goes).
    pub holds_port: bool,
}

/// A process group to SIGKILL at `at` if it still lives (the end of the `grace`).
#[derive(Debug, Clone)]
pub struct PendingKill {
    pub pgid: i32,
    pub at: Instant,
    pub client: ClientId,
    pub target: KillTarget,
}

/// An in-use flag the core counts.
#[derive(Debug, Clone)]
pub struct Flag {
    pub client: ClientId,
    pub port: Option<PortId>,
    pub pid: i32,
    pub start: u64,
    pub stale: bool,
    /// The flag of one of our running jobs (counted through the job).
    pub own: bool,
    /// Its staleness was logged.
    pub reported: bool,
}

/// A flag's accounting: which port it holds, whether its client transmits.
fn flag_effect(f: &Flag, unlock: bool) -> (Option<PortId>, bool) {
    if f.own {
        return (None, false);
    }
    let port = f.port.filter(|_| !f.stale || !unlock);
    (port, !f.stale)
}

/// Fixed facts the core's messages name.
#[derive(Debug, Clone)]
pub struct Config {
    /// `spool/syn/control`, as the log lines show it.
    pub control: String,
    /// `x/`, as the log lines show it.
    pub x: String,
}

/// The answer to a request (`ipsynd -f`, `-k`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Done(String),
    Refused(String),
}

/// The shortest time between two status writes caused by changes (spec §11.3).
pub const STATUS_EVERY: Duration = Duration::from_secs(1);

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

    // ----- interning -------------------------------------------------------------------

    fn client_id(&mut self, name: &str) -> ClientId {
        if let Some(&id) = self.client_ids.get(name) {
            return id;
        }
        let id = ClientId(self.clients.len() as u32);
        let rc: Rc<str> = Rc::from(name);
        self.clients.push(ClientEntry::new(rc.clone()));
        self.client_ids.insert(rc, id);
        id
    }

    fn route_id(&mut self, name: &str) -> RouteId {
        if let Some(&id) = self.route_ids.get(name) {
            return id;
        }
        let id = RouteId(self.routes.len() as u32);
        let rc: Rc<str> = Rc::from(name);
        self.routes.push(rc.clone());
        self.route_ids.insert(rc, id);
        id
    }

    fn port_id(&mut self, p: &PhysPort) -> PortId {
        if let Some(&id) = self.port_ids.get(p) {
            return id;
        }
        let id = PortId(self.ports.len() as u32);
        self.ports.push(p.clone());
        self.port_ids.insert(p.clone(), id);
        self.cap.push(1);
        self.in_use.push(0);
        id
    }

    /// A client's name.
    pub fn client_name(&self, c: ClientId) -> &str {
        &self.clients[c.0 as usize].name
    }

    /// How many physical ports the core has seen (`PortId`s are `0..port_count`).
    pub fn port_count(&self) -> usize {
        self.ports.len()
    }

    /// A port's `host:port`.
    pub fn port(&self, p: PortId) -> &PhysPort {
        &self.ports[p.0 as usize]
    }

    fn client(&self, c: ClientId) -> &ClientEntry {
        &self.clients[c.0 as usize]
    }

    fn client_mut(&mut self, c: ClientId) -> &mut ClientEntry {
        &mut self.clients[c.0 as usize]
    }

    // ----- queries for the shell -------------------------------------------------------

    /// Whether the core knows this control entry (a record or a reported odd entry).
    pub fn knows_entry(&self, name: &str) -> bool {
        self.records.contains_key(name) || self.odd.contains(name)
    }

    /// The record names and odd entries the core knows (for the rescan's diff).
    pub fn entry_names(&self) -> impl Iterator<Item = &str> {
        self.records
            .keys()
            .map(|k| &**k)
            .chain(self.odd.iter().map(|k| &**k))
    }

    /// The clients whose file must be read before the records waiting for them can be
    /// placed (a new client, or every client after a table read).
    pub fn wanted_clients(&self) -> Vec<String> {
        self.want
            .iter()
            .map(|c| self.client_name(*c).to_string())
            .collect()
    }

    /// Whether the lookup of `client` is known (else the shell reads its file first).
    pub fn client_known(&self, client: &str) -> bool {
        self.client_ids
            .get(client)
            .is_some_and(|c| !matches!(self.client(*c).lookup, Lookup::Unknown))
    }

    /// Whether `name` is the flag of one of our running attempts.
    pub fn own_flag(&self, name: &str) -> bool {
        self.flags.get(name).is_some_and(|f| f.own)
    }

    /// Whether the core knows this flag.
    pub fn knows_flag(&self, name: &str) -> bool {
        self.flags.contains_key(name)
    }

    /// The flags the core knows that are not our jobs' (for the rescan: staleness changes).
    pub fn foreign_flags(&self) -> impl Iterator<Item = (&str, &Flag)> {
        self.flags
            .iter()
            .filter(|(_, f)| !f.own)
            .map(|(n, f)| (&**n, f))
    }

    /// Whether `pid` is a maxkill command of ours.
    pub fn is_maxkill(&self, pid: i32) -> bool {
        self.maxkills.contains_key(&pid)
    }

    /// Whether `pid` is an attempt of ours.
    pub fn job(&self, pid: i32) -> Option<&Job> {
        self.jobs.get(&pid)
    }

    /// (running, waiting) for the process title.
    pub fn counts(&self) -> (usize, usize) {
        let running = self.jobs.len();
        (running, self.records.len().saturating_sub(running))
    }

    /// The records in name order.
    pub fn records(&self) -> impl ExactSizeIterator<Item = (&str, &Rec)> {
        self.records.iter().map(|(n, r)| (&**n, r))
    }

    /// The flag named `name`, if the core counts it.
    pub fn flag(&self, name: &str) -> Option<&Flag> {
        self.flags.get(name)
    }

    /// The flags in name order.
    pub fn flags(&self) -> impl Iterator<Item = (&str, &Flag)> {
        self.flags.iter().map(|(n, f)| (&**n, f))
    }

    /// When the shell must wake up without an event: the next attempt of a record, the end
    /// of a maxtime or a grace, a coalesced status write. Due records have left the timer
    /// set at the last dispatch, so this is never a past time that would make poll spin,
    /// except for a record whose attempt failed after it with `timeout:0` (it starts at
    /// the next turn).
    pub fn next_deadline(&self) -> Option<Instant> {
        let timers = self.timers.first().map(|(t, _)| *t);
        let jobs = self
            .jobs
            .values()
            .filter(|j| !j.killed)
            .filter_map(|j| j.deadline);
        let kills = self.kill_after.iter().map(|k| k.at);
        timers
            .into_iter()
            .chain(jobs)
            .chain(kills)
            .chain(self.status_due)
            .min()
    }

    // ----- status ----------------------------------------------------------------------

    /// Whether the status must be written now: at once when `force` (USR1, `-s`, start),
    /// else when something changed and the last write is a second old; a change within the
    /// second arms a deadline (spec §11.3). The shell writes, then calls
    /// [`Core::status_written`].
    pub fn status_now(&mut self, now: Instant, force: bool) -> bool {
        if force {
            return true;
        }
        if !self.dirty {
            self.status_due = None;
            return false;
        }
        match self
            .status_at
            .map(|t| t + STATUS_EVERY)
            .filter(|t| *t > now)
        {
            Some(at) => {
                self.status_due = Some(at);
                false
            }
            None => true,
        }
    }

    /// The status was written at `now`.
    pub fn status_written(&mut self, now: Instant) {
        self.dirty = false;
        self.status_at = Some(now);
        self.status_due = None;
    }

    /// Whether the status has unwritten changes.
    pub fn status_dirty(&self) -> bool {
        self.dirty
    }

    // ----- placing records -------------------------------------------------------------

    fn key(name: &Rc<str>, r: &Rec) -> Key {
        Key::new(r.prior, r.mtime, name.clone())
    }

    /// Take a record out of whatever index holds it.
    fn unplace(&mut self, name: &Rc<str>) {
        let Some(r) = self.records.get_mut(name) else {
            return;
        };
        let place = std::mem::replace(&mut r.place, Place::None);
        let key = Self::key(name, r);
        let client = r.client;
        let next_at = r.next_at;
        match place {
            Place::None => {}
            Place::Ready => {
                self.ready.remove(&key);
            }
            Place::Timer => {
                if let Some(at) = next_at {
                    self.timers.remove(&(at, name.clone()));
                }
            }
            Place::Route(rt) => {
                if let Some(s) = self.route_wait.get_mut(&rt) {
                    s.remove(&key);
                }
            }
            Place::Client => {
                let e = self.client_mut(client);
                if let Some(w) = &mut e.wait {
                    w.remove(&key);
                    if w.is_empty() {
                        e.wait = None;
                    }
                }
            }
            Place::Held => {
                // Held lists are swept when taken; a stale entry is skipped there.
            }
        }
    }

    /// Put an idle record where it waits: for its client file, for its time, or ready.
    fn place(&mut self, name: &Rc<str>, now: Instant) {
        self.moved += 1;
        self.unplace(name);
        let Some(r) = self.records.get(name) else {
            return;
        };
        if r.blocked || r.running.is_some() || self.starting.contains_key(name) {
            return;
        }
        let c = r.client;
        let prior = match &self.client(c).lookup {
            Lookup::Found(cp) => cp.prior.min(255) as u8,
            Lookup::Unknown => {
                self.want.insert(c);
                self.client_mut(c)
                    .held
                    .get_or_insert_with(Default::default)
                    .push(name.clone());
                self.records.get_mut(name).expect("record").place = Place::Held;
                return;
            }
            Lookup::Missing(why) => {
                // Kept, waiting for its file; said once per record (spec §2).
                let why = why.clone();
                self.client_mut(c)
                    .held
                    .get_or_insert_with(Default::default)
                    .push(name.clone());
                let r = self.records.get_mut(name).expect("record");
                r.place = Place::Held;
                if r.state != RecordState::NoClient {
                    r.state = RecordState::NoClient;
                    self.dirty = true;
                }
                if !r.missing_reported {
                    r.missing_reported = true;
                    let client = self.client_name(c).to_string();
                    log(
                        &mut self.pending,
                        &client,
                        format!("{why}; record {name} kept, waiting"),
                    );
                }
                return;
            }
        };
        let r = self.records.get_mut(name).expect("record");
        r.prior = prior;
        match r.next_at.filter(|t| *t > now) {
            Some(at) => {
                r.place = Place::Timer;
                r.state = RecordState::RetryWait;
                self.timers.insert((at, name.clone()));
            }
            None => {
                r.place = Place::Ready;
                let key = Self::key(name, self.records.get(name).expect("record"));
                self.ready.insert(key);
            }
        }
        self.dirty = true;
    }

    /// Every idle record of `client`, or of every client, placed again (a table change).
    fn replace_all(&mut self, client: Option<ClientId>, now: Instant) {
        let names: Vec<Rc<str>> = match client {
            // One client's file: its own records only, not the whole queue.
            Some(c) => self.client(c).records.iter().cloned().collect(),
            None => self.records.keys().cloned().collect(),
        };
        self.looked += names.len() as u64;
        let idle = |r: &Rec| r.running.is_none();
        for n in &names {
            if !self.records.get(n).is_some_and(idle) {
                continue;
            }
            if let Some(r) = self.records.get_mut(n) {
                r.missing_reported = false;
            }
            self.place(n, now);
        }
    }

    /// A port has room again: its waiters (on every route naming it) go to the ready set,
    /// as many as it has room for, and are dispatched.
    fn wake_port(&mut self, p: PortId) {
        let Some(routes) = self.port_routes.get(&p).cloned() else {
            return;
        };
        let free = self.cap[p.0 as usize].saturating_sub(self.in_use[p.0 as usize]) as usize;
        if free == 0 {
            return;
        }
        for rt in routes {
            let Some(set) = self.route_wait.get_mut(&rt) else {
                continue;
            };
            let moved: Vec<Key> = (0..free).map_while(|_| set.pop_first()).collect();
            for k in moved {
                self.moved += 1;
                if let Some(r) = self.records.get_mut(&k.name) {
                    r.place = Place::Ready;
                }
                self.ready.insert(k);
            }
        }
    }

    /// A client transmits no more: the first of its records waiting for it goes to the ready
    /// set. Only one: the client can run one attempt, so waking all would cost O(backlog)
    /// per reaped transmitter. Should that one not start (it waits for a port, its client
    /// file went), `try_start` wakes the next while the client is still idle.
    fn wake_client(&mut self, c: ClientId) {
        if self.client(c).busy > 0 {
            return;
        }
        let e = self.client_mut(c);
        let Some(w) = &mut e.wait else {
            return;
        };
        let first = w.pop_first();
        if w.is_empty() {
            e.wait = None;
        }
        if let Some(k) = first {
            self.moved += 1;
            if let Some(r) = self.records.get_mut(&k.name) {
                r.place = Place::Ready;
            }
            self.ready.insert(k);
        }
    }

    fn take_port(&mut self, p: Option<PortId>) {
        if let Some(p) = p {
            self.in_use[p.0 as usize] += 1;
        }
    }

    fn free_port(&mut self, p: Option<PortId>) {
        if let Some(p) = p {
            let n = &mut self.in_use[p.0 as usize];
            *n = n.saturating_sub(1);
            self.wake_port(p);
        }
    }

    fn busy(&mut self, c: ClientId, more: bool) {
        let e = self.client_mut(c);
        if more {
            e.busy += 1;
        } else {
            e.busy = e.busy.saturating_sub(1);
            self.wake_client(c);
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
            Event::ExecFailed { pid } => self.exec_failed(pid, now, &mut out),
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

    fn record_seen(&mut self, name: String, kind: EntryKind, now: Now, out: &mut Vec<Action>) {
        let Some(client) = client_of_record(&name) else {
            return; // a dot file: no record
        };
        let (id, mtime) = match kind {
            EntryKind::Other => {
                // Anything but a regular file is reported once while it stays, and kept.
                self.record_gone_idle(&name);
                if !self.odd.contains(name.as_str()) {
                    log(
                        out,
                        super::log::NO_CLIENT,
                        format!("control record {name} is not a regular file; ignored"),
                    );
                    self.odd.insert(name.into_boxed_str());
                }
                return;
            }
            EntryKind::Regular { id, mtime } => (id, mtime),
        };
        self.odd.remove(name.as_str());
        if let Some((key, r)) = self.records.get_key_value(name.as_str()) {
            // Known: a touch changes its age; a running record keeps what it started with.
            if r.running.is_none() && r.mtime != mtime && !self.starting.contains_key(key) {
                let key = key.clone();
                self.unplace(&key);
                let r = self.records.get_mut(&key).expect("record");
                r.mtime = mtime;
                r.id = id;
                if !r.blocked {
                    self.place(&key, now.mono);
                }
                self.dirty = true;
            }
            return;
        }
        self.add_record(name, &client, id, mtime, now, out);
    }

    fn add_record(
        &mut self,
        name: String,
        client: &str,
        id: RecordId,
        mtime: SystemTime,
        now: Now,
        out: &mut Vec<Action>,
    ) {
        let c = self.client_id(client);
        let blocked = refusal(client);
        // A record named as its client is (a common FIP name) shares the client's name.
        let rc: Rc<str> = match &self.client(c).name {
            n if **n == *name => n.clone(),
            _ => Rc::from(name),
        };
        if let Some(why) = blocked {
            // Once per record: it stays in the status (blocked) while its file stays.
            log(
                out,
                client,
                format!(
                    "control record {}/{rc}: {why}; not run, record kept",
                    self.cfg.control
                ),
            );
        }
        self.records
            .insert(rc.clone(), Rec::new(c, mtime, id, blocked.is_some()));
        self.client_mut(c).records.insert(rc.clone());
        self.dirty = true;
        if blocked.is_none() {
            self.place(&rc, now.mono);
        }
    }

    fn record_gone(&mut self, name: &str) {
        if self.odd.remove(name) {
            return; // forgotten, so it is reported again should it come back
        }
        self.record_gone_idle(name);
    }

    /// Remove an idle record (a running one stays until its attempt is reaped).
    fn record_gone_idle(&mut self, name: &str) {
        let Some((key, r)) = self.records.get_key_value(name) else {
            return;
        };
        if r.running.is_some() || self.starting.contains_key(key) {
            return;
        }
        let key = key.clone();
        self.remove_record(&key);
    }

    fn remove_record(&mut self, name: &Rc<str>) {
        let was_ready = self
            .records
            .get(name)
            .is_some_and(|r| r.place == Place::Ready);
        self.unplace(name);
        if let Some(r) = self.records.remove(name) {
            let e = self.client_mut(r.client);
            e.records.remove(name);
            self.dirty = true;
            if was_ready {
                // It may have been the one waiter of its idle client woken: wake the next.
                self.wake_client(r.client);
            }
        }
    }

    fn tables(&mut self, ports: PortsTable, unlockstale: bool, grace: Duration, now: Instant) {
        self.grace = grace;
        // The port indexes from the new table.
        let old_effects: Vec<(Option<PortId>, bool)> = self
            .flags
            .values()
            .map(|f| flag_effect(f, self.unlockstale))
            .collect();
        self.route_ports.clear();
        self.port_routes.clear();
        self.warned_routes.clear();
        for c in self.cap.iter_mut() {
            *c = 1;
        }
        let mut seen_routes: Vec<String> = Vec::new();
        for l in ports.route_names() {
            if !seen_routes.contains(&l) {
                seen_routes.push(l);
            }
        }
        for rt in seen_routes {
            let rid = self.route_id(&rt);
            let phys = ports.route_ports(&rt);
            let mut ids = Vec::new();
            for p in &phys {
                let pid = self.port_id(p);
                self.cap[pid.0 as usize] = ports.capacity(p);
                ids.push(pid);
                let v = self.port_routes.entry(pid).or_default();
                if !v.contains(&rid) {
                    v.push(rid);
                }
            }
            self.route_ports.insert(rid, ids);
        }
        // unlockstale may have changed what stale flags hold.
        self.unlockstale = unlockstale;
        let new_effects: Vec<(Option<PortId>, bool)> = self
            .flags
            .values()
            .map(|f| flag_effect(f, self.unlockstale))
            .collect();
        for ((op, _), (np, _)) in old_effects.into_iter().zip(new_effects) {
            if op != np {
                if let Some(p) = op {
                    self.in_use[p.0 as usize] = self.in_use[p.0 as usize].saturating_sub(1);
                }
                self.take_port(np);
            }
        }
        // Every client is looked up again; a waiting record is tried again (spec §2).
        for c in self.clients.iter_mut() {
            c.lookup = Lookup::Unknown;
        }
        for w in self.route_wait.values_mut() {
            w.clear();
        }
        self.ready.clear();
        for c in self.clients.iter_mut() {
            c.wait = None;
            c.held = None;
        }
        self.timers.clear();
        for r in self.records.values_mut() {
            r.place = Place::None;
        }
        self.replace_all(None, now);
        self.dirty = true;
    }

    fn client_read(&mut self, name: &str, lookup: Lookup, now: Instant) {
        let c = self.client_id(name);
        let was_unknown = matches!(self.client(c).lookup, Lookup::Unknown);
        self.client_mut(c).lookup = lookup;
        self.want.remove(&c);
        if was_unknown {
            let held = self
                .client_mut(c)
                .held
                .take()
                .map(|h| *h)
                .unwrap_or_default();
            for n in held {
                if self
                    .records
                    .get(&n)
                    .is_some_and(|r| r.place == Place::Held && r.client == c)
                {
                    self.records.get_mut(&n).expect("record").place = Place::None;
                    self.place(&n, now);
                }
            }
        } else {
            // A changed file: its records are tried, and their problems reported, again.
            self.client_mut(c).held = None;
            self.replace_all(Some(c), now);
        }
    }

    fn client_changed(&mut self, name: &str, now: Instant) {
        let Some(&c) = self.client_ids.get(name) else {
            return; // no record ever named it: read when one does
        };
        self.client_mut(c).lookup = Lookup::Unknown;
        self.client_mut(c).held = None;
        self.replace_all(Some(c), now);
    }

    fn flag_seen(&mut self, f: FlagSeen, out: &mut Vec<Action>) {
        if self.own_flag(&f.name) {
            return; // ours: counted through its job
        }
        let client = self.client_id(&f.client);
        let port = f.port.as_ref().map(|p| self.port_id(p));
        let (reported, old) = match self.flags.get(f.name.as_str()) {
            Some(old) => (old.reported && old.stale, Some(old.clone())),
            None => (false, None),
        };
        let new = Flag {
            client,
            port,
            pid: f.pid,
            start: f.start,
            stale: f.stale,
            own: false,
            reported: reported || f.stale,
        };
        if f.stale && !reported {
            let lock = match &f.port {
                Some(p) if !self.unlockstale => {
                    format!(
                        "; port {}:{} stays locked until it is removed",
                        p.host, p.port
                    )
                }
                _ => String::new(),
            };
            log(
                out,
                &f.client,
                format!(
                    "stale flag {}/{} (pid {} not running){lock}",
                    self.cfg.x, f.name, f.pid
                ),
            );
        }
        let new_effect = flag_effect(&new, self.unlockstale);
        self.flags.insert(f.name.into_boxed_str(), new.clone());
        self.dirty = true;
        // Take first, then free: a port or client in both is never woken in between.
        self.take_port(new_effect.0);
        if new_effect.1 {
            self.busy(new.client, true);
        }
        if let Some(old) = old {
            let (op, ob) = flag_effect(&old, self.unlockstale);
            if ob {
                self.busy(old.client, false);
            }
            self.free_port(op);
        }
    }

    fn flag_gone(&mut self, name: &str) {
        let Some(f) = self.flags.remove(name) else {
            return;
        };
        self.dirty = true;
        if f.own {
            // The transmitter deleted its flag: the port is free, the client stays busy
            // until the job is reaped.
            let job = self.jobs.values_mut().find(|j| *j.flag == *name);
            if let Some(j) = job {
                if j.holds_port {
                    j.holds_port = false;
                    let p = j.port;
                    self.free_port(p);
                }
            }
            return;
        }
        let (p, b) = flag_effect(&f, self.unlockstale);
        if b {
            self.busy(f.client, false);
        }
        self.free_port(p);
    }

    // ----- dispatch --------------------------------------------------------------------

    /// Start every record that may start now, in service order (prior, age, name), within
    /// port capacity; end attempts past their maxtime; SIGKILL groups whose grace is over.
    pub fn dispatch(&mut self, now: Now) -> Vec<Action> {
        let mut out = Vec::new();
        if self.stopped {
            return out;
        }
        self.deadlines(now, &mut out);
        while let Some((at, _)) = self.timers.first() {
            if *at > now.mono {
                break;
            }
            let (_, name) = self.timers.pop_first().expect("timer");
            if let Some(r) = self.records.get_mut(&name) {
                r.place = Place::None;
            }
            self.place(&name, now.mono);
        }
        while let Some(key) = self.ready.pop_first() {
            let Some(r) = self.records.get_mut(&key.name) else {
                continue;
            };
            r.place = Place::None;
            let c = r.client;
            self.try_start(key, now, &mut out);
            // It did not start (it waits for a port, its client file went) and its client is
            // still idle: the next of the client's waiters gets its turn (see `wake_client`).
            self.wake_client(c);
        }
        if !self.pending.is_empty() {
            let mut p = std::mem::take(&mut self.pending);
            p.append(&mut out);
            out = p;
        }
        out
    }

    fn try_start(&mut self, key: Key, now: Now, out: &mut Vec<Action>) {
        let name = key.name.clone();
        let Some(r) = self.records.get(&name) else {
            return;
        };
        let c = r.client;
        let cp = match &self.client(c).lookup {
            Lookup::Found(cp) => cp.clone(),
            _ => {
                self.place(&name, now.mono);
                return;
            }
        };
        let attempt = r.attempts + 1;
        let r = self.records.get_mut(&name).expect("record");
        r.retry = cp.retry;
        if self.clients[c.0 as usize].busy > 0 {
            r.state = RecordState::BusyElsewhere;
            r.place = Place::Client;
            self.moved += 1;
            self.client_mut(c)
                .wait
                .get_or_insert_with(Default::default)
                .insert(key);
            self.dirty = true;
            return;
        }
        let route = if use_alt(attempt, cp.tryalt, cp.alt.is_some()) {
            cp.alt.as_deref().map(String::from)
        } else {
            cp.route.as_deref().map(String::from)
        };
        let mut port = None;
        if let Some(rt) = &route {
            let rid = self.route_id(rt);
            let ports = self.route_ports.get(&rid).cloned().unwrap_or_default();
            if ports.is_empty() {
                if self.warned_routes.insert(rid) {
                    log(
                        out,
                        &cp.name,
                        format!("route {rt} has no entry in PORTS; running without a port lock"),
                    );
                }
            } else {
                let free = ports
                    .iter()
                    .find(|p| self.in_use[p.0 as usize] < self.cap[p.0 as usize]);
                match free {
                    Some(p) => port = Some(*p),
                    None => {
                        // Not an attempt: wait for a port, let others go ahead (§6.6).
                        let r = self.records.get_mut(&name).expect("record");
                        r.state = RecordState::WaitingPort;
                        r.place = Place::Route(rid);
                        self.moved += 1;
                        self.route_wait.entry(rid).or_default().insert(key);
                        self.dirty = true;
                        return;
                    }
                }
            }
        }
        self.take_port(port);
        self.busy(c, true);
        self.starting.insert(name.clone(), (port, c));
        out.push(Action::Start(Plan {
            record: name.to_string(),
            client: cp,
            attempt,
            route,
            port: port.map(|p| self.port(p).clone()),
        }));
    }

    #[allow(clippy::too_many_arguments)]
    fn started(
        &mut self,
        record: &str,
        pid: i32,
        flag: String,
        maxkill: Option<Vec<String>>,
        (display, id): (String, RecordId),
        now: Now,
        out: &mut Vec<Action>,
    ) {
        let Some((name, (port, c))) = self.starting.remove_entry(record) else {
            return;
        };
        let Lookup::Found(cp) = self.client(c).lookup.clone() else {
            // Not possible: the lookup is set to Unknown only by a table read, which never
            // comes between a Start and its answer. Count it as a job all the same.
            return self.started_without_params(name, pid, flag, port, c, now);
        };
        let r = self.records.get_mut(&name).expect("record");
        r.attempts += 1;
        r.retry = cp.retry;
        r.port = port;
        r.running = Some(pid);
        r.state = RecordState::Running;
        r.next_at = None;
        r.next_wall = 0;
        r.id = id;
        let attempt = r.attempts;
        let record_id = r.id;
        self.dirty = true;
        self.flags.insert(
            flag.clone().into_boxed_str(),
            Flag {
                client: c,
                port,
                pid,
                start: 0,
                stale: false,
                own: true,
                reported: false,
            },
        );
        self.jobs.insert(
            pid,
            Job {
                record: name,
                client: c,
                attempt,
                flag,
                started: now.mono,
                deadline: (cp.maxtime > 0).then(|| now.mono + Duration::from_secs(cp.maxtime)),
                killed: false,
                kill_reason: "",
                maxkill,
                timeout: cp.timeout,
                kill_what: String::new(),
                record_id,
                port,
                holds_port: true,
            },
        );
        let via = match (self.route_of_attempt(&cp, attempt), port) {
            (Some(r), Some(p)) => {
                let pp = self.port(p);
                format!(" route {r} port {}:{}", pp.host, pp.port)
            }
            (Some(r), None) => format!(" route {r}"),
            (None, _) => String::new(),
        };
        log(
            out,
            &cp.name,
            format!(
                "attempt {attempt}/{} started{via} pid {pid}: {display}",
                cp.retry
            ),
        );
    }

    fn route_of_attempt(&self, cp: &ClientParams, attempt: u32) -> Option<String> {
        if use_alt(attempt, cp.tryalt, cp.alt.is_some()) {
            cp.alt.as_deref().map(String::from)
        } else {
            cp.route.as_deref().map(String::from)
        }
    }

    fn started_without_params(
        &mut self,
        name: Rc<str>,
        pid: i32,
        flag: String,
        port: Option<PortId>,
        c: ClientId,
        now: Now,
    ) {
        let r = self.records.get_mut(&name).expect("record");
        r.attempts += 1;
        r.running = Some(pid);
        r.state = RecordState::Running;
        let (attempt, record_id) = (r.attempts, r.id);
        self.jobs.insert(
            pid,
            Job {
                record: name,
                client: c,
                attempt,
                flag,
                started: now.mono,
                deadline: None,
                killed: false,
                kill_reason: "",
                maxkill: None,
                timeout: TIMEOUT_DEFAULT,
                kill_what: String::new(),
                record_id,
                port,
                holds_port: true,
            },
        );
    }

    fn start_failed(&mut self, record: &str, why: StartFailure, now: Now, out: &mut Vec<Action>) {
        let Some((name, (port, c))) = self.starting.remove_entry(record) else {
            return;
        };
        let cp = match &self.client(c).lookup {
            Lookup::Found(cp) => Some(cp.clone()),
            _ => None,
        };
        let timeout = cp.as_ref().map_or(TIMEOUT_DEFAULT, |cp| cp.timeout);
        // The claim goes (no child holds the flag): first the record's new place, so a
        // freed port or client does not pick it again at once.
        let why = match why {
            StartFailure::Spawn { errno } if spawn_failure(errno).deferred() => {
                StartFailure::Deferred
            }
            StartFailure::Spawn { .. } => StartFailure::Failed("could not start".into()),
            why => why,
        };
        match why {
            StartFailure::Gone | StartFailure::NothingToSend => self.remove_record(&name),
            StartFailure::Deferred => {
                // Try again `timeout` seconds from now without counting an attempt.
                self.retry_in(&name, now, Duration::from_secs(timeout.max(1)));
            }
            StartFailure::Spawn { .. } => unreachable!("classified above"),
            StartFailure::Failed(text) => {
                if let Some(r) = self.records.get_mut(&name) {
                    r.attempts += 1;
                    r.port = port;
                    if let Some(cp) = &cp {
                        r.retry = cp.retry;
                    }
                }
                self.record_failure(&name, c, timeout, now, &text, out);
            }
        }
        self.busy(c, false);
        self.free_port(port);
    }

    /// A started attempt's program could not be executed: its flag goes (ipsynd deletes the
    /// flag of an attempt that could not exec, spec §6.1), the attempt (counted at its
    /// `Started`) failed, its client and port are free.
    fn exec_failed(&mut self, pid: i32, now: Now, out: &mut Vec<Action>) {
        let Some(job) = self.jobs.remove(&pid) else {
            return;
        };
        self.dirty = true;
        self.flags.remove(job.flag.as_str());
        out.push(Action::RemoveFlag {
            pid,
            flag: job.flag.clone(),
        });
        if let Some(r) = self.records.get_mut(&job.record) {
            r.running = None;
        }
        self.record_failure(
            &job.record,
            job.client,
            job.timeout,
            now,
            "could not start",
            out,
        );
        self.busy(job.client, false);
        if job.holds_port {
            self.free_port(job.port);
        }
    }

    fn retry_in(&mut self, name: &Rc<str>, now: Now, d: Duration) {
        self.unplace(name);
        if let Some(r) = self.records.get_mut(name) {
            r.running = None;
            r.next_at = Some(now.mono + d);
            r.next_wall = record::epoch_secs(now.wall + d);
            r.state = RecordState::RetryWait;
            self.place(name, now.mono);
        }
    }

    /// A failed attempt (already counted): the next one `timeout` later, or give up.
    fn record_failure(
        &mut self,
        name: &Rc<str>,
        c: ClientId,
        timeout: u64,
        now: Now,
        why: &str,
        out: &mut Vec<Action>,
    ) {
        let Some(r) = self.records.get_mut(name) else {
            return;
        };
        r.running = None;
        let client = self.clients[c.0 as usize].name.to_string();
        match after_failure(r.attempts, r.retry, timeout) {
            AfterFailure::RetryIn(d) => {
                let msg = format!(
                    "attempt {}/{} failed ({why}); next attempt in {}s",
                    r.attempts,
                    r.retry,
                    d.as_secs()
                );
                self.retry_in(name, now, d);
                log(out, &client, msg);
            }
            AfterFailure::GiveUp => {
                let attempts = r.attempts;
                self.remove_record(name);
                out.push(Action::GiveUp {
                    record: name.to_string(),
                    client,
                    attempts,
                    why: why.to_string(),
                });
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn child_exited(
        &mut self,
        pid: i32,
        how: ExitKind,
        flag_left: bool,
        record_now: Option<(RecordId, SystemTime)>,
        group_alive: bool,
        now: Now,
        out: &mut Vec<Action>,
    ) {
        if let Some(c) = self.maxkills.remove(&pid) {
            let client = self.client_name(c).to_string();
            log(out, &client, format!("maxkill command ended ({how})"));
            // Its group gone with it, nothing is left to bound (and the number must not be
            // signalled later, once it may have been reused).
            if !group_alive {
                self.kill_after
                    .retain(|k| !(k.target == KillTarget::Maxkill && k.pgid == pid));
            }
            return;
        }
        let Some(job) = self.jobs.remove(&pid) else {
            return;
        };
        let client = self.client_name(job.client).to_string();
        self.dirty = true;
        // The flag: removed by us for a killed attempt; one the transmitter left behind
        // stays, stale, and keeps its port as any stale flag does.
        let own = self.flags.remove(job.flag.as_str());
        if job.killed {
            out.push(Action::RemoveFlag {
                pid,
                flag: job.flag.clone(),
            });
        }
        let left = flag_left && !job.killed && own.is_some();
        if left {
            log(
                out,
                &client,
                format!(
                    "transmitter pid {pid} ended without deleting its flag {}/{}",
                    self.cfg.x, job.flag
                ),
            );
        }
        let record = job.record.clone();
        let same = self
            .records
            .get(&record)
            .is_some_and(|r| record_now.is_some_and(|(id, _)| id == r.id));
        if let Some(r) = self.records.get_mut(&record) {
            r.running = None;
        }
        let secs = now.mono.duration_since(job.started).as_secs();
        if !same {
            log(
                out,
                &client,
                format!(
                    "attempt {} done ({how}, {secs}s): transmission complete",
                    job.attempt
                ),
            );
            // The record is gone, or is a new request under the same name.
            self.remove_record(&record);
            if let Some((id, mtime)) = record_now {
                self.add_record(record.to_string(), &client, id, mtime, now, out);
            }
        } else {
            let why = if job.killed {
                format!("{}, {how}", job.kill_reason)
            } else {
                format!("{how}, control record still there")
            };
            self.record_failure(&record, job.client, job.timeout, now, &why, out);
        }
        if left {
            // Now a stale flag like any other (our child was never stale while it ran).
            let port = job.port.map(|p| self.port(p).clone());
            self.flag_seen(
                FlagSeen {
                    name: job.flag.clone(),
                    client: client.clone(),
                    port,
                    pid,
                    start: 0,
                    stale: true,
                },
                out,
            );
        }
        self.busy(job.client, false);
        if job.holds_port {
            self.free_port(job.port);
        }
    }

    // ----- ending attempts -------------------------------------------------------------

    fn deadlines(&mut self, now: Now, out: &mut Vec<Action>) {
        let mut over: Vec<i32> = self
            .jobs
            .iter()
            .filter(|(_, j)| !j.killed && j.deadline.is_some_and(|d| d <= now.mono))
            .map(|(p, _)| *p)
            .collect();
        over.sort();
        for pid in over {
            let secs = now.mono.duration_since(self.jobs[&pid].started).as_secs();
            self.end_attempt(
                pid,
                now,
                &format!("over maxtime ({secs}s)"),
                "killed after maxtime",
                out,
            );
        }
        let (due, waiting): (Vec<PendingKill>, Vec<PendingKill>) =
            std::mem::take(&mut self.kill_after)
                .into_iter()
                .partition(|k| k.at <= now.mono);
        self.kill_after = waiting;
        for k in due {
            out.push(Action::KillIfAlive {
                pgid: k.pgid,
                client: self.client_name(k.client).to_string(),
                target: k.target,
                stopping: false,
            });
        }
    }

    /// End attempt `pid` as maxtime does (maxkill, or TERM then KILL after the grace);
    /// `what` says why in the log lines, `reason` in the failure line.
    fn end_attempt(
        &mut self,
        pid: i32,
        now: Now,
        what: &str,
        reason: &'static str,
        out: &mut Vec<Action>,
    ) {
        let grace = self.grace;
        let Some(job) = self.jobs.get_mut(&pid) else {
            return;
        };
        job.killed = true;
        job.kill_reason = reason;
        job.kill_what = what.to_string();
        let c = job.client;
        match job.maxkill.clone() {
            Some(mut words) if !words.is_empty() => {
                words.push(pid.to_string());
                out.push(Action::RunMaxkill { pid, words });
            }
            _ => {
                out.push(Action::Signal {
                    pgid: pid,
                    sig: Sig::Term,
                });
                self.kill_after.push(PendingKill {
                    pgid: pid,
                    at: now.mono + grace,
                    client: c,
                    target: KillTarget::Transmitter,
                });
                log(
                    out,
                    &self.clients[c.0 as usize].name,
                    format!("pid {pid} {what}: SIGTERM sent to its process group"),
                );
            }
        }
    }

    fn maxkill_started(&mut self, pid: i32, kpid: i32, now: Now, out: &mut Vec<Action>) {
        let Some(job) = self.jobs.get(&pid) else {
            return;
        };
        let c = job.client;
        let words = job
            .maxkill
            .clone()
            .unwrap_or_default()
            .into_iter()
            .chain(std::iter::once(pid.to_string()))
            .collect::<Vec<_>>()
            .join(" ");
        let what = job.kill_what.clone();
        self.maxkills.insert(kpid, c);
        // The transmitter if maxkill did not end it, and maxkill itself (its own session,
        // like every child) if it hangs.
        for (pgid, target) in [(pid, KillTarget::Transmitter), (kpid, KillTarget::Maxkill)] {
            self.kill_after.push(PendingKill {
                pgid,
                at: now.mono + self.grace,
                client: c,
                target,
            });
        }
        let client = self.client_name(c).to_string();
        log(
            out,
            &client,
            format!("pid {pid} {what}: maxkill started: {words}"),
        );
    }

    fn maxkill_failed(&mut self, pid: i32, error: &str, out: &mut Vec<Action>) {
        let Some(job) = self.jobs.get(&pid) else {
            return;
        };
        let what = job.kill_what.clone();
        let client = self.client_name(job.client).to_string();
        out.push(Action::Signal {
            pgid: pid,
            sig: Sig::Kill,
        });
        log(
            out,
            &client,
            format!("pid {pid} {what}: maxkill could not start ({error}); SIGKILL sent"),
        );
    }

    /// TERM or INT: transmitters are left running, except those being killed (maxtime,
    /// `-k`) whose grace has not passed: nobody would finish the kill, and a TERM-proof one
    /// would keep its flag, locking its port for good. They get SIGKILL now and their flags
    /// go, as they would have at the end of the grace.
    fn stop(&mut self, signal: &str, out: &mut Vec<Action>) {
        self.stopped = true;
        let mut killed: Vec<i32> = self
            .jobs
            .iter()
            .filter(|(_, j)| j.killed)
            .map(|(p, _)| *p)
            .collect();
        killed.sort();
        for &pid in &killed {
            let Some(job) = self.jobs.remove(&pid) else {
                continue;
            };
            out.push(Action::Signal {
                pgid: pid,
                sig: Sig::Kill,
            });
            out.push(Action::RemoveFlag {
                pid,
                flag: job.flag.clone(),
            });
            log(
                out,
                self.client_name(job.client),
                format!(
                    "stopping while pid {pid} is killed for maxtime: SIGKILL sent to its process group, flag removed"
                ),
            );
        }
        for k in std::mem::take(&mut self.kill_after) {
            // Transmitter groups whose leader was just killed above are done; the rest lost
            // their leader already (reaped) but may hold its children. A maxkill command
            // still running is ended too: nobody would bound it after this.
            if !killed.contains(&k.pgid) {
                out.push(Action::KillIfAlive {
                    pgid: k.pgid,
                    client: self.client_name(k.client).to_string(),
                    target: k.target,
                    stopping: true,
                });
            }
        }
        log(
            out,
            super::log::NO_CLIENT,
            format!(
                "stopping on {signal}; {} transmission(s) left running",
                self.jobs.len()
            ),
        );
    }

    // ----- requests --------------------------------------------------------------------

    /// `ipsynd -f [CLIENT]`: every record (of `client`) that waits for its next attempt is
    /// due now; its client file is read again (the clients come back for the shell to
    /// re-read). The attempts it has used stay counted.
    pub fn force(&mut self, client: Option<&str>, now: Now) -> (Reply, Vec<String>) {
        let mut due: Vec<Rc<str>> = Vec::new();
        let mut running = Vec::new();
        for (name, r) in &self.records {
            if client.is_some_and(|c| c != self.client_name(r.client)) || r.blocked {
                continue;
            }
            if let Some(pid) = r.running {
                running.push(format!("{name} (pid {pid})"));
                continue;
            }
            due.push(name.clone());
        }
        let mut clients: Vec<String> = Vec::new();
        for n in &due {
            self.unplace(n);
            let r = self.records.get_mut(n).expect("record");
            r.next_at = None;
            r.next_wall = 0;
            r.missing_reported = false;
            if r.state == RecordState::RetryWait {
                r.state = RecordState::Ready;
            }
            let c = r.client;
            let cname = self.client_name(c).to_string();
            if !clients.contains(&cname) {
                clients.push(cname);
            }
            // Read again: unknown until the shell answers with the file.
            self.client_mut(c).lookup = Lookup::Unknown;
            self.place(n, now.mono);
        }
        self.dirty = true;
        let reply = match client {
            Some(c) if due.is_empty() && running.is_empty() => {
                Reply::Refused(format!("no record for {c} in the queue"))
            }
            Some(c) if due.is_empty() => Reply::Refused(format!(
                "{c} is being transmitted already: {}",
                running.join(", ")
            )),
            _ => {
                let list = if due.is_empty() {
                    String::new()
                } else {
                    format!(
                        ": {}",
                        due.iter().map(|n| &**n).collect::<Vec<_>>().join(", ")
                    )
                };
                Reply::Done(format!("{} record(s) due now{list}", due.len()))
            }
        };
        (reply, clients)
    }

    /// `ipsynd -k CLIENT`: end its running attempt as maxtime would (maxkill, or TERM then
    /// KILL after the grace); the attempt counts as failed.
    pub fn kill_request(&mut self, client: &str, now: Now) -> (Reply, Vec<Action>) {
        let mut out = Vec::new();
        let mut mine: Vec<(i32, u32)> = Vec::new();
        let mut ending = false;
        for (pid, j) in &self.jobs {
            if self.client_name(j.client) == client {
                if j.killed {
                    ending = true;
                } else {
                    mine.push((*pid, j.attempt));
                }
            }
        }
        if mine.is_empty() {
            if ending {
                let r = format!("{client}: its attempt is being ended already");
                return (Reply::Refused(r), out);
            }
            if let Some(f) = self
                .flags
                .values()
                .find(|f| !f.own && !f.stale && self.client_name(f.client) == client)
            {
                let r = format!(
                    "{client}: its transmitter pid {} was not started by this ipsynd; not ended",
                    f.pid
                );
                return (Reply::Refused(r), out);
            }
            return (
                Reply::Refused(format!("{client} has no running attempt")),
                out,
            );
        }
        mine.sort();
        let mut ended = Vec::new();
        for (pid, attempt) in mine {
            self.end_attempt(
                pid,
                now,
                "ended on request (ipsynd -k)",
                "killed on request (ipsynd -k)",
                &mut out,
            );
            ended.push(format!("attempt {attempt} pid {pid}"));
        }
        let r = format!(
            "{client}: {} being ended as maxtime would",
            ended.join(", ")
        );
        (Reply::Done(r), out)
    }
}
