//! The core's vocabulary: the time an event happens at, the events the shell feeds, the
//! actions it carries out, and the state kept per running attempt, maxkill and in-use flag.

use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime};

use super::super::record::RecordId;
use super::index::{ClientId, Lookup, PortId};
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
    /// Attempt `pid`, already `Started`, never ran its program (the spawn reports the
    /// exec's outcome after the fact; the shell logged the errno). `counted`: the errno
    /// was the attempt's ([`SpawnFailure::Exec`]), a failed attempt as a `StartFailed` exec
    /// error is; else the system's (out of fds, no memory): not an attempt, the record
    /// waits `timeout` as for a `Deferred` start. Fed instead of its `ChildExited`.
    ExecFailed { pid: i32, counted: bool },
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

impl Job {
    /// An attempt just started as `pid`'s job: no maxtime, no maxkill, the default
    /// `timeout:`, not being ended, its flag holding `port`.
    pub fn new(
        record: Rc<str>,
        client: ClientId,
        attempt: u32,
        flag: String,
        started: Instant,
        record_id: RecordId,
        port: Option<PortId>,
    ) -> Job {
        Job {
            record,
            client,
            attempt,
            flag,
            started,
            deadline: None,
            killed: false,
            kill_reason: "",
            maxkill: None,
            timeout: TIMEOUT_DEFAULT,
            kill_what: String::new(),
            record_id,
            port,
            holds_port: true,
        }
    }
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
