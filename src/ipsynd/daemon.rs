//! The ipsynd main loop: one thread blocking in `poll` on an inotify fd (control queue, tables,
//! flag directory) and the signal self-pipe, with deadlines for the next attempt, maxtime,
//! the TERM->KILL grace and the rescan safety net. Children are reaped only here.
//!
//! Starting and ending attempts lives in `attempt.rs`, FTP mode in `ftp.rs`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File};
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};
use nix::poll::{PollFd, PollFlags};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};

use super::control::client_of_record;
use super::log::{Log, NO_CLIENT};
use super::record::Record;
use super::status::{self, Row};
use super::tablecache::TableCache;
use crate::sys::{poll, reap, sig::SignalPipe};

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
    pub spool: PathBuf,
    pub x: PathBuf,
    pub logsyn: PathBuf,
    pub log: PathBuf,
    pub pidfile: PathBuf,
}

impl Paths {
    pub fn new(root: &Path) -> Paths {
        Paths {
            root: root.to_path_buf(),
            control: root.join("spool/syn/control"),
            spool: root.join("spool/syn"),
            x: root.join("x"),
            logsyn: root.join("log/syn"),
            log: root.join("log/ipsynd.log"),
            pidfile: root.join("x/ipsynd.pid"),
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

/// A child ipsynd started and will reap.
pub struct Job {
    pub record: String,
    pub client: String,
    pub attempt: u32,
    pub flag: PathBuf,
    pub log: PathBuf,
    pub started: Instant,
    pub deadline: Option<Instant>,
    /// Killed for overrunning maxtime (ipsynd then removes the flag itself).
    pub killed: bool,
    pub maxkill: Option<Vec<String>>,
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
    pub helpers: HashMap<i32, String>,
    /// Process groups to SIGKILL at a deadline if they still live: (pgid, when, client).
    pub kill_after: Vec<(i32, Instant, String)>,
    pub seq: u32,
    /// Flags and routes already reported (stale flags, routes without PORTS entries).
    pub reported: HashSet<String>,
    pub defhost: String,
    last_status: String,
}

/// Watches and what they mean.
struct Watches {
    inotify: Option<Inotify>,
    control: Option<WatchDescriptor>,
    x: Option<WatchDescriptor>,
}

/// Run the daemon until TERM/INT; returns the exit code.
pub fn run(opts: &Options) -> i32 {
    let paths = Paths::new(&opts.root);
    for d in [
        &paths.control,
        &paths.x,
        &paths.logsyn,
        &opts.root.join("tables/syn/client"),
    ] {
        if let Err(e) = fs::create_dir_all(d) {
            eprintln!("ipsynd: unable to create {}: {e}", d.display());
            return EXIT_SYSTEM;
        }
    }
    let _pidlock = match lock_pidfile(&paths.pidfile) {
        Ok(l) => l,
        Err(msg) => {
            eprintln!("ipsynd: {msg}");
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
            eprintln!("ipsynd: unable to set up signals: {e}");
            return EXIT_SYSTEM;
        }
    };
    let log = Log::new(&paths.log, opts.echo);
    let (tables, problems) = TableCache::load(&opts.root);
    let defhost = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().to_lowercase())
        .unwrap_or_else(|_| "localhost".into());
    let mut d = Daemon {
        paths,
        log,
        tables,
        records: BTreeMap::new(),
        jobs: HashMap::new(),
        helpers: HashMap::new(),
        kill_after: Vec::new(),
        seq: (std::process::id() % 1000),
        reported: HashSet::new(),
        defhost,
        last_status: String::new(),
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
    let watches = d.watch();
    d.main_loop(&signals, &watches)
}

/// Take the pid file with an exclusive `flock`; a live holder means another ipsynd runs here.
fn lock_pidfile(path: &Path) -> Result<Flock<File>, String> {
    let f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| format!("unable to open {}: {e}", path.display()))?;
    match Flock::lock(f, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => {
            use std::io::{Seek, Write};
            let mut f: &File = &lock;
            let _ = f.set_len(0);
            let _ = f.seek(io::SeekFrom::Start(0));
            let _ = writeln!(f, "{}", std::process::id());
            Ok(lock)
        }
        Err((_, _)) => {
            let other = fs::read_to_string(path).unwrap_or_default();
            Err(format!(
                "another ipsynd (pid {}) is running on this root; refusing to start",
                other.trim()
            ))
        }
    }
}

impl Daemon {
    fn watch(&mut self) -> Watches {
        let inotify = match Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK) {
            Ok(i) => i,
            Err(e) => {
                self.log.line(
                    NO_CLIENT,
                    &format!("inotify unavailable ({e}); rescanning only"),
                );
                return Watches {
                    inotify: None,
                    control: None,
                    x: None,
                };
            }
        };
        let add = |p: &Path, f: AddWatchFlags| match inotify.add_watch(p, f) {
            Ok(wd) => Some(wd),
            Err(e) => {
                self.log
                    .line(NO_CLIENT, &format!("unable to watch {}: {e}", p.display()));
                None
            }
        };
        use AddWatchFlags as W;
        // A record's content is ignored, so its creation is enough to act on.
        let control = add(
            &self.paths.control,
            W::IN_CREATE | W::IN_MOVED_TO | W::IN_DELETE | W::IN_MOVED_FROM | W::IN_ATTRIB,
        );
        // A flag going away frees a port or a client.
        let x = add(&self.paths.x, W::IN_DELETE | W::IN_MOVED_FROM);
        // Tables: act when a file is complete (close after write, or renamed into place).
        let tflags = W::IN_CLOSE_WRITE | W::IN_MOVED_TO | W::IN_DELETE | W::IN_MOVED_FROM;
        add(&self.tables.paths.syn.clone(), tflags);
        add(&self.tables.paths.clients.clone(), tflags);
        Watches {
            inotify: Some(inotify),
            control,
            x,
        }
    }

    fn main_loop(&mut self, signals: &SignalPipe, w: &Watches) -> i32 {
        let mut rescan_at = Instant::now();
        let mut tables_dirty = false;
        let mut force_status = true;
        loop {
            let now = Instant::now();
            if now >= rescan_at {
                if self.tables.changed_on_disk() {
                    tables_dirty = true;
                }
                rescan_at = now + self.tables.params.rescan.max(Duration::from_millis(100));
            }
            if tables_dirty {
                tables_dirty = false;
                self.reload_tables();
            }
            self.reap();
            self.enforce_deadlines(Instant::now());
            self.dispatch(Instant::now());
            self.write_status(force_status);
            force_status = false;

            let deadline = poll::earliest(
                std::iter::once(Some(rescan_at))
                    .chain(
                        self.records
                            .values()
                            .filter(|r| r.running.is_none())
                            .map(|r| r.next_at),
                    )
                    .chain(self.jobs.values().map(|j| j.deadline))
                    .chain(self.kill_after.iter().map(|k| Some(k.1))),
            );
            let mut fds = vec![PollFd::new(signals.fd(), PollFlags::POLLIN)];
            if let Some(i) = &w.inotify {
                fds.push(PollFd::new(i.as_fd(), PollFlags::POLLIN));
            }
            if let Err(e) = poll::wait(&mut fds, deadline) {
                self.log.line(NO_CLIENT, &format!("poll failed: {e}"));
                std::thread::sleep(Duration::from_millis(100)); // never spin on a broken poll
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
                    self.log.line(
                        NO_CLIENT,
                        &format!(
                            "stopping on {name}; {} transmission(s) left running",
                            self.jobs.len()
                        ),
                    );
                    let _ = fs::remove_file(&self.paths.pidfile);
                    return EXIT_OK;
                }
            }
            if signals.take(libc::SIGHUP) {
                self.log.line(NO_CLIENT, "SIGHUP: re-reading the tables");
                tables_dirty = true;
            }
            if signals.take(libc::SIGUSR1) {
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

    /// Drain inotify; returns whether the tables changed. Control and flag events need no
    /// bookkeeping: every turn of the loop scans both directories.
    fn read_events(&mut self, i: &Inotify, w: &Watches) -> bool {
        let mut tables = false;
        while let Ok(events) = i.read_events() {
            if events.is_empty() {
                break;
            }
            for ev in events {
                if ev.mask.contains(AddWatchFlags::IN_Q_OVERFLOW) {
                    tables = true;
                    continue;
                }
                if Some(ev.wd) == w.control || Some(ev.wd) == w.x {
                    continue;
                }
                let name = ev
                    .name
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if !name.starts_with('.') {
                    tables = true;
                }
            }
        }
        tables
    }

    fn reload_tables(&mut self) {
        let problems = self.tables.reload();
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
            } else if let Some(client) = self.helpers.remove(&pid) {
                self.log
                    .line(&client, &format!("maxkill command ended ({how})"));
            }
        }
    }

    /// maxtime and the TERM->KILL grace.
    fn enforce_deadlines(&mut self, now: Instant) {
        let over: Vec<i32> = self
            .jobs
            .iter()
            .filter(|(_, j)| !j.killed && j.deadline.is_some_and(|d| d <= now))
            .map(|(p, _)| *p)
            .collect();
        for pid in over {
            self.kill_overrun(pid, now);
        }
        let grace_over: Vec<(i32, String)> = self
            .kill_after
            .iter()
            .filter(|k| k.1 <= now)
            .map(|k| (k.0, k.2.clone()))
            .collect();
        self.kill_after.retain(|k| k.1 > now);
        for (pgid, client) in grace_over {
            if super::spawn::group_alive(pgid)
                && super::spawn::kill_group(pgid, nix::sys::signal::Signal::SIGKILL)
            {
                self.log.line(
                    &client,
                    &format!("process group {pgid} still alive: SIGKILL sent"),
                );
            }
        }
    }

    /// Read the control directory into `records`: new records appear, vanished idle ones go.
    pub fn sync_records(&mut self) {
        let mut seen = HashSet::new();
        if let Ok(rd) = fs::read_dir(&self.paths.control) {
            for ent in rd.flatten() {
                let name = ent.file_name().to_string_lossy().into_owned();
                let Some(client) = client_of_record(&name) else {
                    continue;
                };
                let Ok(md) = ent.metadata() else { continue };
                if !md.is_file() {
                    continue;
                }
                seen.insert(name.clone());
                let mtime = md.modified().unwrap_or(std::time::UNIX_EPOCH);
                self.records
                    .entry(name.clone())
                    .and_modify(|r| {
                        if r.running.is_none() {
                            r.mtime = mtime;
                        }
                    })
                    .or_insert_with(|| Record::new(&name, &client, mtime, md.ino()));
            }
        }
        self.records
            .retain(|name, r| r.running.is_some() || seen.contains(name));
    }

    /// Rows for the status files: every record, then flags nobody here is running.
    fn status_rows(&self) -> Vec<Row> {
        let mut rows: Vec<Row> = self
            .records
            .values()
            .map(|r| Row {
                client: r.client.clone(),
                state: r.state.to_string(),
                attempt: r.attempts,
                retry: r.retry,
                port: r.port.clone(),
                pid: r.running.unwrap_or(0),
                next: if r.running.is_none() {
                    r.next_wall.map(|t| {
                        chrono::DateTime::<chrono::Local>::from(t)
                            .format("%Y-%m-%dT%H:%M:%S")
                            .to_string()
                    })
                } else {
                    None
                },
                record: r.name.clone(),
            })
            .collect();
        for f in super::flags::scan(&self.paths.x) {
            if self.jobs.contains_key(&f.pid) && f.pid > 0 {
                continue;
            }
            rows.push(Row {
                client: f.client.clone(),
                state: if f.is_stale() { "stale" } else { "foreign" }.into(),
                attempt: 0,
                retry: 0,
                port: if f.has_port() {
                    format!("{}:{}", f.host, f.port)
                } else {
                    String::new()
                },
                pid: f.pid,
                next: None,
                record: f
                    .path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            });
        }
        rows
    }

    fn write_status(&mut self, force: bool) {
        let rows = self.status_rows();
        let text = status::render_text(&rows);
        if !force && text == self.last_status {
            return;
        }
        if let Err(e) = status::write(&self.paths.logsyn, &rows) {
            self.log
                .line(NO_CLIENT, &format!("unable to write the status: {e}"));
        }
        self.last_status = text;
    }

    /// Log a message once per key (until the key is forgotten).
    pub fn log_once(&mut self, key: String, client: &str, msg: &str) {
        if self.reported.insert(key) {
            self.log.line(client, msg);
        }
    }
}
