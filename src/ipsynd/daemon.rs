//! The ipsynd main loop: one thread blocking in `poll` on an inotify fd (control queue, tables,
//! flag directory) and the signal self-pipe, with deadlines for the next attempt, maxtime,
//! the TERM->KILL grace and the rescan safety net. Children are reaped only here.
//!
//! Choosing what starts lives in `dispatch.rs`, one attempt in `attempt.rs`, ending one that
//! overruns maxtime in `kill.rs`, FTP mode in `ftp.rs`, inotify in `watch.rs`, the status
//! rows in `report.rs`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags};

use super::kill::PendingKill;
use super::log::{Log, NO_CLIENT};
use super::record::{Record, RecordState};
use super::strict;
use super::tablecache::{TableCache, TableChange};
use super::watch::Watches;
use crate::sys::{pidfile, poll, reap, sig::SignalPipe, stdio};

/// Version printed by `ipsynd -v`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Exit codes (README "Exit codes").
pub const EXIT_OK: i32 = 0;
pub const EXIT_USAGE: i32 = 100;
pub const EXIT_SYSTEM: i32 = 111;

/// Directories and files below the FIP root.
#[derive(Debug, Clone)]
pub struct Paths {
    pub root: PathBuf,
    pub control: PathBuf,
    pub x: PathBuf,
    pub logsyn: PathBuf,
    pub log: PathBuf,
    pub pidfile: PathBuf,
    /// Control requests (`ctl.rs`).
    pub ctl: PathBuf,
}

impl Paths {
    pub fn new(root: &Path) -> Paths {
        Paths {
            root: root.to_path_buf(),
            control: root.join("spool/syn/control"),
            x: root.join("x"),
            logsyn: root.join("log/syn"),
            log: root.join("log/ipsynd.log"),
            pidfile: root.join("x/ipsynd.pid"),
            ctl: root.join(super::ctl::DIR),
        }
    }
}

/// Command-line options.
#[derive(Debug, Clone)]
pub struct Options {
    pub root: PathBuf,
    /// Echo log lines to stderr.
    pub echo: bool,
}

/// What a running attempt is.
pub enum JobKind {
    Transmitter,
    Ftp(super::ftp::FtpJob),
}

/// A running attempt: the child ipsynd started and will reap.
pub struct Job {
    /// The control record's file name.
    pub record: String,
    pub client: String,
    /// 1-based number of this attempt.
    pub attempt: u32,
    /// The in-use flag.
    pub flag: PathBuf,
    /// The attempt's log.
    pub log: PathBuf,
    pub started: Instant,
    /// When maxtime runs out (`None`: no limit).
    pub deadline: Option<Instant>,
    /// Killed for overrunning maxtime or on request (ipsynd then removes the flag itself).
    pub killed: bool,
    /// Why it was killed, for the failure line (`killed after maxtime`).
    pub kill_reason: &'static str,
    /// The expanded `maxkill:` words, decided at the start (the pid is appended when run).
    pub maxkill: Option<Vec<String>>,
    /// The client's `timeout:` at the start, for the next attempt after a failure.
    pub timeout: u64,
    pub kind: JobKind,
}

/// The daemon's whole state.
pub struct Daemon {
    pub paths: Paths,
    pub log: Log,
    pub tables: TableCache,
    pub records: BTreeMap<String, Record>,
    pub jobs: HashMap<i32, Job>,
    /// maxkill commands running: pid -> client.
    pub maxkills: HashMap<i32, String>,
    /// Process groups to SIGKILL at the end of their grace if they still live.
    pub kill_after: Vec<PendingKill>,
    /// The last flag sequence number used (`nnn` of `x/SYN|nnn|CLIENT`, rolling mod 1000).
    pub seq: u32,
    /// Problems already logged, by key (`flag:<path>` stale flags, forgotten once the flag
    /// is gone; `route:<ROUTE>` routes without PORTS entries, forgotten at a table re-read;
    /// `badname:<name>` control names that are not UTF-8).
    pub reported: HashSet<String>,
    /// Control entries that are not regular files, already reported (while they stay).
    pub odd_records: HashSet<String>,
    /// Control entries inotify named since the last `sync_records`.
    pub control_changed: HashSet<String>,
    /// The next `sync_records` stats every entry.
    pub control_full: bool,
    /// inotify watches the control directory (else every scan is a full one).
    pub control_watched: bool,
    /// Client files (by name) changed since they were read; `PORTS` or `IPSYND` changing
    /// means a full re-read instead.
    pub clients_dirty: HashSet<String>,
    /// The local host name (lowercase): the positional argv's host when `IPSYND` names none.
    pub defhost: String,
    /// The status rows' text last written (rewritten only when it changes, or on USR1).
    pub(super) last_status: String,
    /// When this ipsynd started (local time, for the status).
    pub(super) started_wall: String,
    /// The serial number of the last status written.
    pub(super) status_serial: u64,
    /// When the status was last written.
    pub(super) status_at: Option<Instant>,
    /// A changed status waits to be written then (coalescing).
    pub(super) status_due: Option<Instant>,
    /// The counts the process title shows (running, waiting).
    pub(super) title_counts: Option<(usize, usize)>,
    /// The flags found by the last dispatch, with their staleness (for the status rows).
    pub flags_seen: Vec<(super::flags::FlagInfo, bool)>,
}

/// Run the daemon until TERM/INT; returns the exit code.
pub fn run(opts: &Options) -> i32 {
    let paths = Paths::new(&opts.root);
    // Transmitters (ipsyn, scripts) find the tree through FIP_ROOT, also when the root came
    // from `-r`. Set while still single-threaded; children inherit it through execv.
    std::env::set_var("FIP_ROOT", &opts.root);
    for d in [
        &paths.control,
        &paths.x,
        &paths.logsyn,
        &opts.root.join("tables/syn/client"),
    ] {
        // 0755 at most (the umask may take more): never a directory the check below refuses.
        if let Err(e) = fs::DirBuilder::new().recursive(true).mode(0o755).create(d) {
            stdio::Out::stderr().text(&format!("ipsynd: unable to create {}: {e}\n", d.display()));
            return EXIT_SYSTEM;
        }
    }
    // The request directory: only ipsynd's user may write it (checked below).
    if let Err(e) = fs::DirBuilder::new().mode(0o700).create(&paths.ctl) {
        if e.kind() != io::ErrorKind::AlreadyExists {
            stdio::Out::stderr().text(&format!(
                "ipsynd: unable to create {}: {e}\n",
                paths.ctl.display()
            ));
            return EXIT_SYSTEM;
        }
    }
    let euid = nix::unistd::geteuid().as_raw();
    let mut unsafe_dirs = strict::unsafe_dirs(&opts.root, euid);
    unsafe_dirs.extend(strict::private_dir(&paths.ctl, euid).err());
    if !unsafe_dirs.is_empty() {
        // In the log too, unless the log directory itself is one of them.
        let log_ok = !unsafe_dirs.iter().any(|u| u.path == opts.root.join("log"));
        let log = Log::new(&paths.log, opts.echo);
        for u in &unsafe_dirs {
            if log_ok {
                log.line(NO_CLIENT, &format!("refusing to start: {u}"));
            }
            if !log_ok || !opts.echo {
                stdio::Out::stderr().text(&format!("ipsynd: refusing to start: {u}\n"));
            }
        }
        return EXIT_SYSTEM;
    }
    let _pidlock = match lock_pidfile(&paths.pidfile) {
        Ok(l) => l,
        Err(msg) => {
            stdio::Out::stderr().text(&format!("ipsynd: {msg}\n"));
            return EXIT_SYSTEM;
        }
    };
    let signals = match SignalPipe::new(&[
        libc::SIGTERM,
        libc::SIGINT,
        libc::SIGHUP,
        libc::SIGUSR1,
        libc::SIGCHLD,
    ]) {
        Ok(s) => s,
        Err(e) => {
            stdio::Out::stderr().text(&format!("ipsynd: unable to set up signals: {e}\n"));
            return EXIT_SYSTEM;
        }
    };
    let log = Log::new(&paths.log, opts.echo);
    let (tables, problems) = TableCache::load(&opts.root);
    log.set_syslog(tables.params.syslog.clone());
    let defhost = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().to_lowercase())
        .unwrap_or_else(|_| "localhost".into());
    let mut d = Daemon {
        paths,
        log,
        tables,
        records: BTreeMap::new(),
        jobs: HashMap::new(),
        maxkills: HashMap::new(),
        kill_after: Vec::new(),
        seq: std::process::id() % 1000,
        reported: HashSet::new(),
        odd_records: HashSet::new(),
        control_changed: HashSet::new(),
        control_full: true,
        control_watched: false,
        clients_dirty: HashSet::new(),
        defhost,
        last_status: String::new(),
        started_wall: super::status::local_time(chrono::Local::now()),
        status_serial: 0,
        status_at: None,
        status_due: None,
        title_counts: None,
        flags_seen: Vec::new(),
    };
    d.log.line(
        NO_CLIENT,
        &format!(
            "started, version {VERSION}, pid {}, root {}",
            std::process::id(),
            opts.root.display()
        ),
    );
    for p in problems {
        d.log.line(NO_CLIENT, &p);
    }
    if let Some(w) = strict::root_warning(euid, d.tables.params.root) {
        d.log.line(NO_CLIENT, w);
    }
    let watches = d.watch();
    d.main_loop(&signals, &watches)
}

/// Take the pid file (`sys::pidfile::lock`); a live holder means another ipsynd runs here.
fn lock_pidfile(path: &Path) -> Result<pidfile::Locked, String> {
    pidfile::lock(path).map_err(|e| match e {
        pidfile::LockError::Held(other) => {
            format!("another ipsynd (pid {other}) is running on this root; refusing to start")
        }
        pidfile::LockError::Open(e) => format!("unable to open {}: {e}", path.display()),
    })
}

impl Daemon {
    fn main_loop(&mut self, signals: &SignalPipe, w: &Watches) -> i32 {
        let mut rescan_at = Instant::now();
        let mut tables_dirty = false;
        let mut force_status = true;
        loop {
            let now = Instant::now();
            if now >= rescan_at {
                match self.tables.changes_on_disk() {
                    TableChange::Nothing => {}
                    TableChange::Clients(names) => self.clients_dirty.extend(names),
                    TableChange::Everything => tables_dirty = true,
                }
                self.control_full = true;
                rescan_at = now + self.tables.params.rescan.max(Duration::from_millis(100));
                // The safety net for a request whose signal was lost.
                self.serve_requests(now);
            }
            if tables_dirty {
                tables_dirty = false;
                self.clients_dirty.clear();
                self.reload_tables();
            } else if !self.clients_dirty.is_empty() {
                self.reload_clients();
            }
            self.reap();
            self.enforce_deadlines(Instant::now());
            self.dispatch(Instant::now());
            self.write_status(force_status, Instant::now());
            self.update_title();
            force_status = false;

            let deadline = self.next_deadline(rescan_at, Instant::now());
            let mut fds = vec![PollFd::new(signals.fd(), PollFlags::POLLIN)];
            if let Some(i) = &w.inotify {
                fds.push(PollFd::new(i.as_fd(), PollFlags::POLLIN));
            }
            if let Err(e) = poll::wait(&mut fds, deadline) {
                // EINTR is not an error here; anything else (EFAULT, EINVAL, ENOMEM) is a
                // broken invariant: exit rather than spin. Transmitters are left alone and
                // the manager restarts ipsynd, which finds their flags.
                self.log
                    .line(NO_CLIENT, &format!("poll failed: {e}; exiting"));
                self.write_stopped();
                let _ = fs::remove_file(&self.paths.pidfile);
                return EXIT_SYSTEM;
            }
            let sig_ready = fds[0].revents().is_some_and(|r| !r.is_empty());
            let ino_ready = fds
                .get(1)
                .and_then(|f| f.revents())
                .is_some_and(|r| !r.is_empty());
            drop(fds);
            if sig_ready {
                signals.drain();
            }
            for (sig, name) in [(libc::SIGTERM, "SIGTERM"), (libc::SIGINT, "SIGINT")] {
                if signals.take(sig) {
                    return self.stop(name);
                }
            }
            if signals.take(libc::SIGHUP) {
                self.log.line(NO_CLIENT, "SIGHUP: re-reading the tables");
                tables_dirty = true;
            }
            if signals.take(libc::SIGUSR1) {
                // A command's request (`ipsynd -f/-k`), or `ipsynd -s` asking for the status.
                self.serve_requests(Instant::now());
                force_status = true;
            }
            signals.take(libc::SIGCHLD); // reaping happens every turn anyway
            if ino_ready {
                if let Some(i) = &w.inotify {
                    tables_dirty |= self.read_events(i, w);
                }
            }
        }
    }

    /// TERM or INT: finish the kills begun, leave the other transmitters running, exit 0.
    fn stop(&mut self, signal_name: &str) -> i32 {
        self.finish_kills_on_exit();
        self.log.line(
            NO_CLIENT,
            &format!(
                "stopping on {signal_name}; {} transmission(s) left running",
                self.jobs.len()
            ),
        );
        self.write_stopped();
        let _ = fs::remove_file(&self.paths.pidfile);
        EXIT_OK
    }

    /// When the loop must wake up without an event. A past deadline counts only for a record
    /// still in `retry-wait` (its attempt failed after this turn's dispatch, e.g. an exec
    /// error with `timeout:0`): the next turn starts it or gives it the state it waits in. A
    /// due record waiting for a port, its client or a busy flag is woken by the event that
    /// frees it (flag deleted, child reaped, tables changed, rescan), and a killed job by its
    /// SIGCHLD; their past deadlines would only make poll spin.
    fn next_deadline(&self, rescan_at: Instant, now: Instant) -> Option<Instant> {
        poll::earliest(
            std::iter::once(Some(rescan_at))
                .chain(
                    self.records
                        .values()
                        .filter(|r| r.running.is_none())
                        .map(|r| {
                            r.next_at
                                .filter(|t| *t > now || r.state == RecordState::RetryWait)
                        }),
                )
                .chain(self.jobs.values().filter(|j| !j.killed).map(|j| j.deadline))
                .chain(self.kill_after.iter().map(|k| Some(k.at)))
                .chain(std::iter::once(self.status_due)),
        )
    }

    /// Client files changed (and nothing else): forget just those; records waiting for
    /// them are tried, and their problems reported, again.
    fn reload_clients(&mut self) {
        let names = std::mem::take(&mut self.clients_dirty);
        self.tables.forget_clients(&names);
        for n in &names {
            self.log.line(n, "client file changed");
        }
        for r in self.records.values_mut() {
            if names.contains(&r.client) {
                r.missing_reported = false;
            }
        }
    }

    /// `PORTS` or `IPSYND` changed, HUP, or an inotify overflow: read everything again.
    fn reload_tables(&mut self) {
        let problems = self.tables.reload();
        self.log.set_syslog(self.tables.params.syslog.clone());
        self.log.line(NO_CLIENT, "tables read");
        for p in problems {
            self.log.line(NO_CLIENT, &p);
        }
        self.reported.retain(|k| !k.starts_with("route:"));
        for r in self.records.values_mut() {
            // A waiting record is tried again when the tables change (spec §2).
            r.missing_reported = false;
        }
    }

    /// Collect exited children and finish their attempts.
    fn reap(&mut self) {
        for (pid, how) in reap::reap_all() {
            let pid = pid.as_raw();
            if let Some(job) = self.jobs.remove(&pid) {
                self.finish_attempt(pid, job, how);
            } else if self.maxkills.contains_key(&pid) {
                self.maxkill_ended(pid, how);
            }
        }
    }

    /// Log a message once per key (until the key is forgotten).
    pub fn log_once(&mut self, key: String, client: &str, msg: &str) {
        if self.reported.insert(key) {
            self.log.line(client, msg);
        }
    }
}
