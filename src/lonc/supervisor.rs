//! lonc parent after start-up: concurrent probes, one child per reachable host, reaping and
//! restarts with attempt counting, and the signals USR1, HUP, TERM/INT (spec §2, §7.6-7.10).
//!
//! One poll loop over the signal self-pipe and the probe sockets, with deadlines for probes,
//! the stop/restart grace period and the status-JSON collection. The parent holds no peer
//! sockets; it forks from its main loop only, while single-threaded, and each child drops the
//! parent's signal handlers and every inherited fd before doing anything else.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Local};
use nix::poll::{PollFd, PollFlags};
use nix::sys::signal::{kill, sigprocmask, SigSet, SigmaskHow, Signal};
use nix::unistd::{fork, ForkResult, Pid};

use super::child::{self, ChildArgs};
use super::config::{LoncConfig, Problem};
use super::hosts::{load_hosts, Host};
use super::log::Logger;
use super::logfmt::perl_localtime;
use super::netconn::{probe_target, Probe, Reach};
use super::startup::{close_inherited_fds, EXIT_OK, EXIT_STARTUP};
use super::status::{self, HostStatus, StatusDoc};
use crate::sys::poll as spoll;
use crate::sys::reap::{reap_all, ExitKind};
use crate::sys::sig::SignalPipe;

/// How long children get after TERM before KILL (spec §7.6, §7.7).
pub const CHILD_GRACE: Duration = Duration::from_secs(5);
/// How long to wait for the children's status lines after USR1 before writing the JSON anyway.
const STATUS_COLLECT: Duration = Duration::from_secs(2);
const STATUS_POLL: Duration = Duration::from_millis(50);

/// Why a probe was started.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Why {
    Initial,
    Restart,
}

/// Why a host has no child.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mark {
    None,
    Unreachable,
    Abandoned,
}

/// One host of hosts.tab and its child.
struct Slot {
    host: Host,
    pid: Option<Pid>,
    probe: Option<(Probe, Why)>,
    attempts: u32,
    mark: Mark,
    /// TERM went to this slot's child on purpose (TERM/INT or HUP): its end is no death.
    stop_sent: bool,
}

#[derive(Clone, Copy)]
enum Phase {
    /// Initial probes in flight (at start and after HUP).
    Starting,
    Running,
    /// HUP: waiting for the old children; `killed` once KILL went out.
    Restarting {
        deadline: Instant,
        killed: bool,
    },
    /// TERM/INT: waiting for the children before exiting.
    Stopping {
        deadline: Instant,
        killed: bool,
    },
}

struct Supervisor {
    cfg: LoncConfig,
    pid_file: PathBuf,
    log: Logger,
    sig: Option<SignalPipe>,
    slots: Vec<Slot>,
    phase: Phase,
    hup_pending: bool,
    usr1_pending: bool,
    /// (next check, give up) while collecting the children's status lines.
    json_due: Option<(Instant, Instant)>,
    json_dirty: bool,
    child_last: BTreeMap<i32, String>,
    /// `-f`: children copy their log lines to stderr as well.
    foreground: bool,
    /// The last JSON write failure logged (logged again only when it changes).
    json_error: Option<String>,
    /// `loncRecheck`: when the unreachable and abandoned hosts are probed again (and that
    /// moment on the wall clock, for the status page).
    next_recheck: Option<(Instant, DateTime<Local>)>,
}

/// Run the parent's main loop with the start-up results; never returns.
pub fn start(
    cfg: LoncConfig,
    hosts: Vec<Host>,
    pid_file: PathBuf,
    log: Logger,
    sig: SignalPipe,
    foreground: bool,
) -> ! {
    let mut sup = Supervisor {
        slots: slots_for(hosts),
        cfg,
        pid_file,
        log,
        sig: Some(sig),
        phase: Phase::Starting,
        hup_pending: false,
        usr1_pending: false,
        json_due: None,
        json_dirty: true,
        child_last: BTreeMap::new(),
        foreground,
        json_error: None,
        next_recheck: None,
    };
    sup.start_all();
    sup.main_loop()
}

fn slots_for(hosts: Vec<Host>) -> Vec<Slot> {
    hosts
        .into_iter()
        .map(|host| Slot {
            host,
            pid: None,
            probe: None,
            attempts: 0,
            mark: Mark::None,
            stop_sent: false,
        })
        .collect()
}

impl Supervisor {
    fn main_loop(&mut self) -> ! {
        loop {
            self.log.status("Sleeping");
            let mut idx = Vec::new();
            let mut fds = Vec::new();
            let Some(sig) = &self.sig else {
                std::process::exit(EXIT_STARTUP)
            };
            fds.push(PollFd::new(sig.fd(), PollFlags::POLLIN));
            for (i, s) in self.slots.iter().enumerate() {
                if let Some(fd) = s.probe.as_ref().and_then(|(p, _)| p.fd()) {
                    fds.push(PollFd::new(fd, PollFlags::POLLOUT));
                    idx.push(i);
                }
            }
            let phase_deadline = match self.phase {
                Phase::Restarting { deadline, .. } | Phase::Stopping { deadline, .. } => {
                    Some(deadline)
                }
                _ => None,
            };
            let deadline = spoll::earliest(
                self.slots
                    .iter()
                    .map(|s| {
                        // A probe that finished at once (refused, unresolvable) is collected
                        // without waiting for anything else.
                        s.probe.as_ref().map(|(p, _)| match p.result {
                            Some(_) => Instant::now(),
                            None => p.deadline,
                        })
                    })
                    .chain([
                        phase_deadline,
                        self.json_due.map(|(t, _)| t),
                        self.next_recheck.map(|(t, _)| t),
                    ]),
            );
            let woke = spoll::wait(&mut fds, deadline).is_ok();
            let sig_ready = woke && fds[0].revents().is_some_and(|e| !e.is_empty());
            let probes_ready: Vec<usize> = fds[1..]
                .iter()
                .zip(idx.iter())
                .filter(|(f, _)| f.revents().is_some_and(|e| !e.is_empty()))
                .map(|(_, &i)| i)
                .collect();
            drop(fds);
            self.log.status("Woke up");
            if sig_ready {
                self.on_signals();
            }
            for i in probes_ready {
                if let Some((p, _)) = self.slots[i].probe.as_mut() {
                    p.ready();
                }
            }
            self.collect_probes();
            self.advance_phase();
            self.recheck_tick();
            self.status_json_tick();
        }
    }

    /// Hosts `loncRecheck` is for: no child, no probe in flight, and given up on (unreachable
    /// or out of attempts).
    fn recheck_due_for(s: &Slot) -> bool {
        s.pid.is_none() && s.probe.is_none() && s.mark != Mark::None
    }

    /// `loncRecheck`: keep a recheck scheduled while some host waits for one; when it is due,
    /// reset those hosts' attempts as USR1 does and probe them (an answer restarts the child).
    fn recheck_tick(&mut self) {
        let period = self.cfg.recheck;
        if period.is_zero() || !matches!(self.phase, Phase::Running) {
            self.next_recheck = None;
            return;
        }
        let waiting: Vec<usize> = (0..self.slots.len())
            .filter(|&i| Self::recheck_due_for(&self.slots[i]))
            .collect();
        let now = Instant::now();
        match self.next_recheck {
            _ if waiting.is_empty() => {
                if self.next_recheck.take().is_some() {
                    self.json_dirty = true;
                }
            }
            None => {
                let wall = Local::now() + chrono::Duration::from_std(period).unwrap_or_default();
                self.next_recheck = Some((now + period, wall));
                self.json_dirty = true;
            }
            Some((due, _)) if now >= due => {
                self.next_recheck = None;
                let ids: Vec<&str> = waiting
                    .iter()
                    .map(|&i| self.slots[i].host.id.as_str())
                    .collect();
                let msg = format!(
                    "INFO: Recheck after {} s: probing {}",
                    period.as_secs_f64(),
                    ids.join(" ")
                );
                self.log.log(&msg);
                for i in waiting {
                    self.slots[i].attempts = 0;
                    self.start_probe(i, Why::Restart);
                }
                self.json_dirty = true;
            }
            Some(_) => {}
        }
    }

    fn on_signals(&mut self) {
        let (chld, term, int, hup, usr1, quit) = {
            let Some(sig) = &self.sig else { return };
            sig.drain();
            (
                sig.take(libc::SIGCHLD),
                sig.take(libc::SIGTERM),
                sig.take(libc::SIGINT),
                sig.take(libc::SIGHUP),
                sig.take(libc::SIGUSR1),
                sig.take(libc::SIGQUIT),
            )
        };
        if quit {
            // 1.29's catchexception: log and die at once. The children follow through their
            // parent-death signal and clean up their sockets; the pid file goes too.
            let msg = super::log::abnormal_exit_message(std::process::id(), "", "QUIT", "");
            self.log.log(&msg);
            let _ = std::fs::remove_file(&self.pid_file);
            std::process::exit(EXIT_STARTUP);
        }
        if chld {
            self.reap();
        }
        if term || int {
            self.begin_stop();
        }
        self.hup_pending |= hup;
        self.usr1_pending |= usr1;
    }

    /// Reap every dead child; restart what may be restarted.
    fn reap(&mut self) {
        let mut died = false;
        for (pid, kind) in reap_all() {
            let Some(slot) = self.slots.iter_mut().find(|s| s.pid == Some(pid)) else {
                continue;
            };
            slot.pid = None;
            let (id, n) = (slot.host.id.clone(), slot.attempts);
            let stopped = std::mem::take(&mut slot.stop_sent);
            self.log.log(&death_message(pid, &id, n, stopped, kind));
            let _ = std::fs::remove_file(self.cfg.socket_path(&id));
            self.child_last.remove(&pid.as_raw());
            died = true;
        }
        if died {
            self.json_dirty = true;
            if matches!(self.phase, Phase::Running) {
                self.wake();
            }
        }
    }

    /// 1.29's main-loop pass: every childless host is probed and restarted if it has attempts
    /// left, else skipped (and shown as abandoned).
    fn wake(&mut self) {
        let max = self.cfg.max_attempts;
        for i in 0..self.slots.len() {
            let s = &self.slots[i];
            if s.pid.is_some() || s.probe.is_some() {
                continue;
            }
            if s.attempts < max {
                self.start_probe(i, Why::Restart);
            } else {
                let msg = format!(
                    "INFO: Skipping {} ({} of {max} attempts)",
                    s.host.id, s.attempts
                );
                self.slots[i].mark = Mark::Abandoned;
                self.log.log(&msg);
                self.json_dirty = true;
            }
        }
    }

    fn start_probe(&mut self, i: usize, why: Why) {
        let h = &self.slots[i].host;
        self.log.status(&format!(
            "Pinging {}",
            if h.name.is_empty() { &h.ip } else { &h.name }
        ));
        let target = probe_target(&h.name, &h.ip, self.cfg.probe_port);
        self.slots[i].probe = Some((Probe::start(target, self.cfg.probe_timeout), why));
    }

    /// Act on finished probes.
    fn collect_probes(&mut self) {
        let now = Instant::now();
        for i in 0..self.slots.len() {
            let done = match self.slots[i].probe.as_mut() {
                Some((p, _)) => {
                    p.check_deadline(now);
                    p.result.is_some()
                }
                None => false,
            };
            if !done {
                continue;
            }
            let Some((p, why)) = self.slots[i].probe.take() else {
                continue;
            };
            let reach = p.result.unwrap_or(Reach::Unreachable("?".into()));
            if !matches!(self.phase, Phase::Starting | Phase::Running) {
                continue;
            }
            let max = self.cfg.max_attempts;
            let id = self.slots[i].host.id.clone();
            match (reach, why) {
                (Reach::Reachable, Why::Initial) => self.spawn(i),
                (Reach::Reachable, Why::Restart) => {
                    self.slots[i].attempts += 1;
                    let n = self.slots[i].attempts;
                    self.log.log(&format!(
                        "INFO: Trying to reconnect for {id} ({n} of {max} attempts)"
                    ));
                    self.spawn(i);
                }
                (Reach::Unreachable(e), Why::Initial) => {
                    self.slots[i].mark = Mark::Unreachable;
                    self.log.log(&format!(
                        "WARNING: {id} is not reachable ({e}), no child started"
                    ));
                }
                (Reach::Unreachable(e), Why::Restart) => {
                    self.slots[i].mark = Mark::Unreachable;
                    let n = self.slots[i].attempts;
                    // 1.29's exact line, with the reason on its own line before it.
                    self.log
                        .log(&format!("WARNING: {id} is not reachable ({e})"));
                    self.log
                        .log(&format!("INFO: Skipping {id} ({n} of {max} attempts)"));
                }
            }
            self.json_dirty = true;
        }
    }

    /// Phase transitions: end of start-up, pending HUP/USR1, stop and restart progress.
    fn advance_phase(&mut self) {
        let now = Instant::now();
        match self.phase {
            Phase::Starting => {
                if self.slots.iter().all(|s| s.probe.is_none()) {
                    self.log.log("Done starting initial servers");
                    self.phase = Phase::Running;
                    // A child that died during start-up gets its restart pass now.
                    if self
                        .slots
                        .iter()
                        .any(|s| s.pid.is_none() && s.mark == Mark::None)
                    {
                        self.wake();
                    }
                }
            }
            Phase::Running => {}
            Phase::Restarting { deadline, killed } | Phase::Stopping { deadline, killed } => {
                let alive = self.slots.iter().any(|s| s.pid.is_some());
                if alive && now >= deadline && !killed {
                    for s in &self.slots {
                        if let Some(pid) = s.pid {
                            self.log.log(&format!(
                                "WARNING: Child {pid} for server {} did not stop within {} s; killed",
                                s.host.id,
                                CHILD_GRACE.as_secs()
                            ));
                            let _ = kill(pid, Signal::SIGKILL);
                        }
                    }
                    let d = now + Duration::from_secs(2);
                    self.phase = match self.phase {
                        Phase::Restarting { .. } => Phase::Restarting {
                            deadline: d,
                            killed: true,
                        },
                        _ => Phase::Stopping {
                            deadline: d,
                            killed: true,
                        },
                    };
                } else if !alive || now >= deadline {
                    match self.phase {
                        Phase::Restarting { .. } => self.finish_restart(),
                        _ => self.finish_stop(),
                    }
                }
            }
        }
        // Signals that arrived while starting or restarting are handled as soon as we run
        // (also right after start-up finished in this same pass, so none waits for a wake-up).
        if matches!(self.phase, Phase::Running) {
            if self.hup_pending {
                self.hup_pending = false;
                self.begin_restart();
            } else if self.usr1_pending {
                self.usr1_pending = false;
                self.usr1();
            }
        }
    }

    /// Probe every host; reachable ones get a child (start and after HUP).
    fn start_all(&mut self) {
        self.log.status("Forking ...");
        for i in 0..self.slots.len() {
            self.start_probe(i, Why::Initial);
        }
        self.collect_probes();
    }

    fn spawn(&mut self, i: usize) {
        debug_assert!(single_threaded(), "fork from a multi-threaded parent");
        let mut old = SigSet::empty();
        let _ = sigprocmask(SigmaskHow::SIG_BLOCK, Some(&SigSet::all()), Some(&mut old));
        let parent = nix::unistd::getpid();
        // SAFETY: the parent is single-threaded; the child only runs our own code and exits.
        match unsafe { fork() } {
            Ok(ForkResult::Parent { child }) => {
                let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
                self.slots[i].pid = Some(child);
                self.slots[i].mark = Mark::None;
                self.json_dirty = true;
            }
            Ok(ForkResult::Child) => {
                if let Some(s) = self.sig.take() {
                    s.unregister();
                }
                // SAFETY: SIG_DFL installs no handler code.
                unsafe {
                    let _ = nix::sys::signal::signal(
                        Signal::SIGCHLD,
                        nix::sys::signal::SigHandler::SigDfl,
                    );
                }
                close_inherited_fds();
                super::log::set_abnormal_exit_server(&self.slots[i].host.id);
                let mut log = Logger::new(
                    self.cfg.log_file(),
                    self.cfg.perm_log_file(),
                    self.cfg.syslog.clone(),
                );
                log.set_echo_stderr(self.foreground);
                let args = ChildArgs {
                    cfg: self.cfg.clone(),
                    host: self.slots[i].host.clone(),
                    log,
                    parent,
                    mask: old,
                };
                child::run(args)
            }
            Err(e) => {
                let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
                let id = self.slots[i].host.id.clone();
                self.log
                    .log(&format!("CRITICAL: fork for {id} failed: {e}"));
            }
        }
    }

    fn usr1(&mut self) {
        self.log.log("USR1: Trying to establish connections again");
        self.write_status_header();
        self.log.log("Going to check on the children");
        let mut pids: Vec<Pid> = self.slots.iter().filter_map(|s| s.pid).collect();
        pids.sort_by_key(|p| p.as_raw().to_string());
        for pid in pids {
            if kill(pid, Signal::SIGUSR1).is_err() {
                self.log.log(&format!("CRITICAL: Child {pid} is dead"));
            }
        }
        for s in &mut self.slots {
            s.attempts = 0;
        }
        let now = Instant::now();
        self.json_due = Some((now, now + STATUS_COLLECT));
        self.wake();
    }

    /// Header, the parent's own line, one line per host without a child (spec §7.9).
    fn write_status_header(&mut self) {
        let mut text = status::header(&perl_localtime(&Local::now()), std::process::id());
        text.push_str(&self.log.status_line());
        let recheck = self.next_recheck.map(|(_, w)| perl_localtime(&w));
        for s in &self.slots {
            if s.pid.is_none() {
                let state = if s.mark == Mark::Abandoned {
                    "abandoned"
                } else {
                    "unreachable"
                };
                text.push_str(&status::childless_line(
                    &s.host.id,
                    state,
                    s.attempts,
                    self.cfg.max_attempts,
                    recheck.as_deref(),
                ));
            }
        }
        if let Err(e) = status::write_page(&self.cfg.status_txt(), &text) {
            self.log.log(&format!(
                "WARNING: cannot write {}: {e}",
                self.cfg.status_txt().display()
            ));
        }
    }

    /// Collect the children's status lines, then write the JSON (and on every state change).
    fn status_json_tick(&mut self) {
        let now = Instant::now();
        if let Some((next, give_up)) = self.json_due {
            if now < next {
                return;
            }
            let text = std::fs::read_to_string(self.cfg.status_txt()).unwrap_or_default();
            let lines = status::child_lines(&text);
            let all = self
                .slots
                .iter()
                .filter_map(|s| s.pid)
                .all(|p| lines.contains_key(&p.as_raw()));
            for (pid, last) in lines {
                if self
                    .slots
                    .iter()
                    .any(|s| s.pid.map(|p| p.as_raw()) == Some(pid))
                {
                    self.child_last.insert(pid, last);
                }
            }
            if all || now >= give_up {
                self.json_due = None;
                self.json_dirty = true;
            } else {
                self.json_due = Some((now + STATUS_POLL, give_up));
            }
        }
        if self.json_dirty {
            self.json_dirty = false;
            self.write_json();
        }
    }

    fn write_json(&mut self) {
        let max = self.cfg.max_attempts;
        let hosts: Vec<HostStatus> = self
            .slots
            .iter()
            .map(|s| HostStatus {
                id: s.host.id.clone(),
                state: match (s.pid, &s.probe, s.mark) {
                    (Some(_), _, _) => "running",
                    (None, Some(_), _) => "starting",
                    (None, None, Mark::Abandoned) => "abandoned",
                    (None, None, Mark::Unreachable) => "unreachable",
                    (None, None, Mark::None) => "stopped",
                }
                .into(),
                pid: s.pid.map(|p| p.as_raw()),
                attempts: s.attempts,
                max_attempts: max,
                last_log: s
                    .pid
                    .and_then(|p| self.child_last.get(&p.as_raw()).cloned()),
            })
            .collect();
        let now = Local::now();
        let lt = perl_localtime(&now);
        let doc = StatusDoc {
            parent_pid: std::process::id(),
            written: &lt,
            written_epoch: now.timestamp(),
            next_recheck: self.next_recheck.map(|(_, w)| perl_localtime(&w)),
            next_recheck_epoch: self.next_recheck.map(|(_, w)| w.timestamp()),
            hosts: &hosts,
        };
        match status::write_page(&self.cfg.status_json(), &status::json(&doc)) {
            // Written on every state change: say so once per distinct problem, not each time.
            Err(e) => {
                let msg = format!(
                    "WARNING: cannot write {}: {e}",
                    self.cfg.status_json().display()
                );
                if self.json_error.as_deref() != Some(msg.as_str()) {
                    self.log.log(&msg);
                    self.json_error = Some(msg);
                }
            }
            Ok(()) => self.json_error = None,
        }
    }

    /// 1.29's hangup(): `Closing <id>` per child, then the signal (TERM here: the child
    /// finishes its exchange in flight; 1.29 relayed `exit` to lond and sent INT).
    fn term_children(&mut self) {
        for i in 0..self.slots.len() {
            self.slots[i].probe = None;
            let Some(pid) = self.slots[i].pid else {
                continue;
            };
            let id = self.slots[i].host.id.clone();
            self.log.status(&format!("Closing {id}"));
            self.log.log(&format!("Closing {id}: TERM to child {pid}"));
            self.log.status(&format!("Kill PID {pid} for {id}"));
            self.slots[i].stop_sent = true;
            let _ = kill(pid, Signal::SIGTERM);
        }
    }

    fn begin_stop(&mut self) {
        if matches!(self.phase, Phase::Stopping { .. }) {
            return;
        }
        self.log.status("Shutting down");
        self.term_children();
        self.phase = Phase::Stopping {
            deadline: Instant::now() + CHILD_GRACE,
            killed: false,
        };
    }

    fn finish_stop(&mut self) -> ! {
        for s in &self.slots {
            if s.pid.is_some() {
                let _ = std::fs::remove_file(self.cfg.socket_path(&s.host.id));
            }
        }
        let _ = std::fs::remove_file(&self.pid_file);
        self.log.log("CRITICAL: Shutting down");
        std::process::exit(EXIT_OK)
    }

    fn begin_restart(&mut self) {
        self.log.status("Restarting");
        self.term_children();
        self.phase = Phase::Restarting {
            deadline: Instant::now() + CHILD_GRACE,
            killed: false,
        };
    }

    /// Old children are gone: re-read config and hosts.tab (keep the old ones if broken),
    /// then start over in the same process (spec §7.6).
    fn finish_restart(&mut self) {
        // Children that ignored KILL's deadline are forgotten; their reaping is harmless later.
        for s in &mut self.slots {
            if s.pid.take().is_some() {
                let _ = std::fs::remove_file(self.cfg.socket_path(&s.host.id));
            }
        }
        match reload(&self.cfg.path) {
            Ok((cfg, hosts, problems)) => {
                for p in &problems {
                    self.log.log(&format!("WARNING: {p}"));
                }
                self.log
                    .retarget(cfg.log_file(), cfg.perm_log_file(), cfg.syslog.clone());
                super::log::install_abnormal_exit_hook(cfg.log_file());
                self.cfg = cfg;
                self.slots = slots_for(hosts);
            }
            Err(msg) => {
                self.log.log(&format!(
                    "CRITICAL: Cannot use the new configuration, keeping the old one: {msg}"
                ));
                for s in &mut self.slots {
                    s.attempts = 0;
                    s.mark = Mark::None;
                }
            }
        }
        self.child_last.clear();
        self.log.log("CRITICAL: Restarting");
        self.phase = Phase::Starting;
        self.json_dirty = true;
        self.start_all();
    }
}

/// The parent's line for a reaped child. A child that ends on its own is 1.29's REAPER line;
/// one we sent TERM (TERM/INT, HUP) just `stopped`, unless it ended badly.
fn death_message(pid: Pid, id: &str, attempts: u32, stop_sent: bool, kind: ExitKind) -> String {
    match (stop_sent, kind) {
        (false, _) => format!("CRITICAL: Child {pid} for server {id} died ({attempts})"),
        (true, ExitKind::Code(0)) => format!("Child {pid} for server {id} stopped"),
        (true, k) => format!("WARNING: Child {pid} for server {id} stopped with {k}"),
    }
}

/// Re-read config and hosts.tab for HUP; any fatal problem keeps the old ones.
fn reload(path: &Path) -> Result<(LoncConfig, Vec<Host>, Vec<Problem>), String> {
    let (cfg, mut problems) = LoncConfig::load(path).map_err(|e| e.to_string())?;
    let (hosts, hp) = load_hosts(&cfg.hosts_tab()).map_err(|e| e.to_string())?;
    problems.extend(hp);
    Ok((cfg, hosts, problems))
}

fn single_threaded() -> bool {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count() == 1)
        .unwrap_or(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn death_lines() {
        let pid = Pid::from_raw(42);
        assert_eq!(
            death_message(pid, "h1", 3, false, ExitKind::Code(0)),
            "CRITICAL: Child 42 for server h1 died (3)"
        );
        assert_eq!(
            death_message(pid, "h1", 3, true, ExitKind::Code(0)),
            "Child 42 for server h1 stopped"
        );
        assert_eq!(
            death_message(pid, "h1", 0, true, ExitKind::Signal(9)),
            "WARNING: Child 42 for server h1 stopped with signal 9"
        );
    }
}
