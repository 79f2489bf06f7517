//! The ipsynd I/O shell around the pure core (`super::core`): one thread blocking in
//! `poll` on an inotify fd (control queue, flags, tables) and the signal self-pipe, with
//! the core's next deadline and the rescan safety net as its timeout.
//!
//! What the shell sees becomes core events: an inotify event costs a `stat` (or a flag
//! read) and one event; the rescan lists the directories and feeds only the differences
//! from what the core knows. The core's actions are carried out here: attempts (`start`),
//! signals, maxkill, flag removal, the log, the status files (`report`, coalesced). Children
//! are reaped only here.

mod act;
mod report;
mod scan;
mod start;
mod watch;

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::fs;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use nix::poll::{PollFd, PollFlags};

use super::core::{Action, Config, Core, Event, Lookup, Now};
use super::daemon::{Options, Paths, EXIT_OK, EXIT_SYSTEM, VERSION};
use super::ftp::FtpJob;
use super::log::{Log, NO_CLIENT};
use super::strict;
use super::tablecache::{ClientLookup, TableCache, TableChange};
use crate::sys::{pidfile, poll, reap, sig::SignalPipe, stdio};

/// What the shell keeps of a running attempt besides what the core knows: its files.
pub(crate) struct JobFiles {
    /// The attempt's log (maxkill's output goes there too).
    pub log: PathBuf,
    pub flag: PathBuf,
    pub ftp: Option<FtpJob>,
}

/// A child started for an attempt whose exec's outcome is not known yet.
pub(crate) struct Spawned {
    sp: super::spawn::Spawning,
    /// `argv[0]`, for the `Execlp error` line.
    program: String,
}

/// The shell's state: the paths, the log, the table cache, the core, the watches.
pub(crate) struct Shell {
    paths: Paths,
    log: Log,
    tables: TableCache,
    core: Core,
    /// Per running attempt (pid): its files.
    jobs: HashMap<i32, JobFiles>,
    /// Per attempt (pid) started but not yet known to have exec'd.
    spawning: HashMap<i32, Spawned>,
    /// TERM, INT or a failed poll: the daemon stops, nothing new starts.
    stopping: bool,
    /// The last flag sequence number used (`nnn` of `x/SYN|nnn|CLIENT`, rolling mod 1000).
    seq: u32,
    /// The local host name (lowercase): the positional argv's host when `IPSYND` names none.
    defhost: String,
    /// Problems of the directories already logged, by key (`scan:control`, `scan:flags`,
    /// `badname:<name>`), forgotten once they pass.
    reported: HashSet<String>,
    /// The next control rescan stats every entry (start, no inotify, overflow).
    control_full: bool,
    /// When this ipsynd started (local time, for the status).
    started_wall: String,
    /// The serial number of the last status written.
    status_serial: u64,
    /// The counts the process title shows (running, waiting).
    title_counts: Option<(usize, usize)>,
    /// Actions waiting to be carried out.
    todo: VecDeque<Action>,
    /// `run_todo` is at work (an action's answer only queues more).
    acting: bool,
    /// Client files that could not be read for want of resources (EMFILE and the like):
    /// their records wait, and the files are read again at each rescan until they are.
    unread_clients: BTreeSet<String>,
}

/// How long a changed table file must stay untouched before a rescan reads it.
const UNSETTLED: Duration = Duration::from_secs(2);

fn now() -> Now {
    Now {
        mono: Instant::now(),
        wall: SystemTime::now(),
    }
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
    fixed_mmap_threshold();
    let log = Log::new(&paths.log, opts.echo);
    let (tables, problems) = TableCache::load(&opts.root);
    log.set_syslog(tables.params.syslog.clone());
    let defhost = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().to_lowercase())
        .unwrap_or_else(|_| "localhost".into());
    let core = Core::new(Config {
        control: paths.control.display().to_string(),
        x: paths.x.display().to_string(),
    });
    let mut sh = Shell {
        paths,
        log,
        tables,
        core,
        jobs: HashMap::new(),
        spawning: HashMap::new(),
        stopping: false,
        seq: std::process::id() % 1000,
        defhost,
        reported: HashSet::new(),
        control_full: true,
        started_wall: super::status::local_time(chrono::Local::now()),
        status_serial: 0,
        title_counts: None,
        todo: VecDeque::new(),
        acting: false,
        unread_clients: BTreeSet::new(),
    };
    sh.log.line(
        NO_CLIENT,
        &format!(
            "started, version {VERSION}, pid {}, root {}",
            std::process::id(),
            opts.root.display()
        ),
    );
    for p in problems {
        sh.log.line(NO_CLIENT, &p);
    }
    if let Some(w) = strict::root_warning(euid, sh.tables.params.root) {
        sh.log.line(NO_CLIENT, w);
    }
    let watches = sh.watch();
    sh.feed_tables();
    sh.main_loop(&signals, &watches)
}

/// Large buffers (a status render of ten thousand records is megabytes) come from mmap and
/// go back to the system when freed. glibc otherwise raises its mmap threshold to the size
/// of the largest buffer freed, and the next renders then leave megabytes of free heap in
/// the daemon's resident size for good.
fn fixed_mmap_threshold() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; still single-threaded here.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 256 * 1024);
    }
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

impl Shell {
    fn main_loop(&mut self, signals: &SignalPipe, w: &watch::Watches) -> i32 {
        let mut rescan_at = Instant::now();
        let mut force_status = true;
        loop {
            if Instant::now() >= rescan_at {
                self.rescan(w);
                rescan_at =
                    Instant::now() + self.tables.params.rescan.max(Duration::from_millis(100));
                // The safety net for a request whose signal was lost.
                self.serve_requests();
            }
            // This turn's lines are written together, before the loop sleeps.
            self.log.hold();
            self.reap();
            self.settle();
            let t = Instant::now();
            if self.core.status_now(t, force_status) {
                self.write_status(t);
            }
            force_status = false;
            self.update_title();
            self.log.flush();

            let deadline = poll::earliest([Some(rescan_at), self.core.next_deadline()]);
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
                self.exec_outcomes_at_stop();
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
            if ino_ready {
                self.read_events(w);
            }
            for (sig, name) in [(libc::SIGTERM, "SIGTERM"), (libc::SIGINT, "SIGINT")] {
                if signals.take(sig) {
                    return self.stop(name);
                }
            }
            if signals.take(libc::SIGHUP) {
                self.log.line(NO_CLIENT, "SIGHUP: re-reading the tables");
                self.reload_tables();
            }
            if signals.take(libc::SIGUSR1) {
                // A command's request (`ipsynd -f/-k`), or `ipsynd -s` asking for the status.
                // A record written just before the request is one to act on too.
                self.read_events(w);
                self.serve_requests();
                force_status = true;
            }
            signals.take(libc::SIGCHLD); // reaping happens every turn anyway
        }
    }

    /// Feed an event to the core and carry out what it asks.
    fn feed(&mut self, ev: Event) {
        let acts = self.core.step(ev, now());
        self.todo.extend(acts);
        self.run_todo();
    }

    /// Carry out the actions waiting (each may feed the core again).
    fn run_todo(&mut self) {
        if self.acting {
            return;
        }
        self.acting = true;
        while let Some(a) = self.todo.pop_front() {
            self.act(a);
        }
        self.acting = false;
    }

    /// Read the client files the core waits for, then start what may start, until nothing
    /// more does.
    fn settle(&mut self) {
        loop {
            for c in self.core.wanted_clients() {
                self.feed_client(&c);
            }
            let acts = self.core.dispatch(now());
            if acts.is_empty() && self.core.wanted_clients().is_empty() {
                break;
            }
            self.todo.extend(acts);
            self.run_todo();
        }
    }

    /// Read (or take the read-ahead of) the file of `client` and give it to the core.
    fn feed_client(&mut self, client: &str) {
        let (lookup, problems) = self.tables.client(client);
        for p in problems {
            self.log.line(client, &p);
        }
        let lookup = match lookup {
            ClientLookup::Found(cp) => Lookup::Found(cp),
            ClientLookup::Missing(why) => Lookup::Missing(why.into()),
            ClientLookup::Unreadable(why) => {
                // Held like a missing file (said once), but read again at the next rescan:
                // no inotify event will come for a file that never changed.
                self.unread_clients.insert(client.to_string());
                Lookup::Missing(why.into())
            }
        };
        self.feed(Event::Client {
            name: client.to_string(),
            lookup,
        });
    }

    /// `PORTS` and `IPSYND` as the cache holds them, to the core.
    fn feed_tables(&mut self) {
        self.feed(Event::Tables {
            ports: self.tables.ports.clone(),
            unlockstale: self.tables.params.unlockstale,
            grace: self.tables.params.grace,
        });
    }

    /// `PORTS` or `IPSYND` changed, HUP, or an inotify overflow: read everything again.
    fn reload_tables(&mut self) {
        let problems = self.tables.reload();
        // Every client file is read afresh now, the unread ones with them.
        self.unread_clients.clear();
        self.log.set_syslog(self.tables.params.syslog.clone());
        self.log.line(NO_CLIENT, "tables read");
        for p in problems {
            self.log.line(NO_CLIENT, &p);
        }
        self.feed_tables();
    }

    /// Client files changed (and nothing else): forget just those; records waiting for
    /// them are tried, and their problems reported, again.
    fn clients_changed(&mut self, names: &[String]) {
        self.tables.forget_clients(names);
        for n in names {
            self.unread_clients.remove(n);
            self.log.line(n, "client file changed");
            self.feed(Event::ClientChanged { name: n.clone() });
        }
    }

    /// The client files not read for want of resources, tried again. One that still cannot
    /// be read stays on the list, its records held without a new log line; one that now
    /// reads (or is now plainly missing) is a changed file to the core.
    fn reread_unread_clients(&mut self) {
        for n in std::mem::take(&mut self.unread_clients) {
            match self.tables.read_ahead(&n) {
                (ClientLookup::Unreadable(_), _) => {
                    self.unread_clients.insert(n);
                }
                (found, problems) => {
                    // Read ahead: the core's lookup after ClientChanged takes it.
                    for p in problems {
                        self.log.line(&n, &p);
                    }
                    if matches!(found, ClientLookup::Found(_)) {
                        self.log.line(&n, "client file read");
                    }
                    // A file now plainly missing: the core's "kept, waiting" line says so.
                    self.feed(Event::ClientChanged { name: n });
                }
            }
        }
    }

    /// The safety net: table fingerprints, then the control queue and the flags against
    /// what the core knows.
    fn rescan(&mut self, w: &watch::Watches) {
        // Watched directories say when a table file is complete; the rescan only catches
        // what inotify missed, never a file its writer may still be at.
        let settled =
            (w.tables.is_some() && w.clients.is_some()).then(|| SystemTime::now() - UNSETTLED);
        match self.tables.changes_on_disk(settled) {
            TableChange::Nothing => {}
            TableChange::Clients(names) => self.clients_changed(&names),
            TableChange::Everything => self.reload_tables(),
        }
        self.reread_unread_clients();
        let full = std::mem::take(&mut self.control_full) || w.control.is_none();
        self.scan_flags();
        self.scan_control(full);
    }

    /// Collect exited children and tell the core.
    fn reap(&mut self) {
        self.exec_outcomes();
        for (pid, how) in reap::reap_all() {
            let pid = pid.as_raw();
            if self.exec_failed_before_exit(pid) {
                continue;
            }
            if self.core.is_maxkill(pid) {
                let group_alive = super::spawn::group_alive(pid);
                self.feed(Event::ChildExited {
                    pid,
                    how,
                    flag_left: false,
                    record_now: None,
                    group_alive,
                });
                continue;
            }
            let Some(job) = self.core.job(pid) else {
                continue;
            };
            let record = job.record.to_string();
            let client = self.core.client_name(job.client).to_string();
            let mut files = self.jobs.remove(&pid);
            if let Some(f) = &mut files {
                if let Some(ftp) = &f.ftp {
                    let (sent, total) = super::ftp::finish(&self.log, &client, &f.log, ftp, how);
                    // ipsynd is the transmitter in FTP mode: it removes its own flag.
                    let _ = fs::remove_file(&f.flag);
                    // The core says whether the record goes (carried out before the stat).
                    self.feed(Event::FtpResult { pid, sent, total });
                }
            }
            let flag_left = files.as_ref().is_some_and(|f| f.flag.exists());
            let record_now = fs::metadata(self.paths.control.join(&record))
                .ok()
                .map(|m| {
                    (
                        super::record::RecordId::of(&m),
                        m.modified().unwrap_or(std::time::UNIX_EPOCH),
                    )
                });
            self.feed(Event::ChildExited {
                pid,
                how,
                flag_left,
                record_now,
                group_alive: false,
            });
        }
    }

    /// TERM or INT: finish the kills begun, leave the other transmitters running, exit 0.
    fn stop(&mut self, signal: &'static str) -> i32 {
        self.exec_outcomes_at_stop();
        self.feed(Event::Stop { signal });
        self.write_stopped();
        let _ = fs::remove_file(&self.paths.pidfile);
        EXIT_OK
    }

    /// Log a message once per key (until the key is forgotten).
    fn log_once(&mut self, key: String, client: &str, msg: &str) {
        if self.reported.insert(key) {
            self.log.line(client, msg);
        }
    }
}
