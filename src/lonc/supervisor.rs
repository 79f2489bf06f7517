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
use super::preflight;
use super::startup::{close_inherited_fds, create_private_dir, EXIT_OK, EXIT_STARTUP};
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
    /// The state last shown, and since when (for the status files and `lonc -s`).
    shown: &'static str,
    since: DateTime<Local>,
}

impl Slot {
    /// The state the status files show.
    fn state(&self) -> &'static str {
        match (self.pid, &self.probe, self.mark) {
            (Some(_), _, _) => "running",
            (None, Some(_), _) => "starting",
            (None, None, Mark::Abandoned) => "abandoned",
            (None, None, Mark::Unreachable) => "unreachable",
            (None, None, Mark::None) => "stopped",
        }
    }
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
    child_last: BTreeMap<i32, status::ChildLine>,
    /// `-f`: children copy their log lines to stderr as well.
    foreground: bool,
    /// The last JSON write failure logged (logged again only when it changes).
    json_error: Option<String>,
    /// `loncRecheck`: when the unreachable and abandoned hosts are probed again (and that
    /// moment on the wall clock, for the status page).
    next_recheck: Option<(Instant, DateTime<Local>)>,
    /// When this lonc started (for the status files, to tell a live page from a stale one).
    started: DateTime<Local>,
    /// USR1 reports completed (children's lines collected): `lonc -s` waits for it to grow.
    usr1_served: u64,
    /// HUP: the new configuration, hosts and warnings, checked before any child was stopped.
    reloaded: Option<(LoncConfig, Vec<Host>, Vec<Problem>)>,
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
        started: Local::now(),
        usr1_served: 0,
        reloaded: None,
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
            shown: "stopped",
            since: Local::now(),
        })
        .collect()
}

impl Supervisor {
    fn main_loop(&mut self) -> ! {
        loop {
            // 1.29's `[status]` points: `Sleeping` while waiting for a signal; while probes are
            // in flight the parent is where 1.29 sat in online() (`Pinging <host>`), and while
            // stopping or restarting it still reads `Kill PID <pid> for <id>`.
            let probing = self.slots.iter().any(|s| s.probe.is_some());
            if matches!(self.phase, Phase::Running | Phase::Starting) && !probing {
                self.log.status("Sleeping");
            }
            let n = self.slots.iter().filter(|s| s.pid.is_some()).count();
            crate::sys::proctitle::set(&format!("lonc: parent {n} children"));
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

    /// The signals that arrived. Their log lines carry the status the parent had while it
    /// waited (`Sleeping`), as 1.29's handlers ran inside its sleep; then `Woke up` and the
    /// restart pass, unless a stop or restart began.
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
            self.write_stopped();
            let _ = std::fs::remove_file(&self.pid_file);
            std::process::exit(EXIT_STARTUP);
        }
        if !(chld || term || int || hup || usr1) {
            return;
        }
        let died = chld && self.reap();
        if term || int {
            self.begin_stop();
        }
        let running = matches!(self.phase, Phase::Running);
        let mut usr1_now = false;
        if running && hup {
            self.begin_restart();
        } else {
            self.hup_pending |= hup;
        }
        let running = matches!(self.phase, Phase::Running);
        if running && usr1 && !self.hup_pending {
            self.usr1_report();
            usr1_now = true;
        } else {
            self.usr1_pending |= usr1;
        }
        if matches!(self.phase, Phase::Running | Phase::Starting) {
            self.log.status("Woke up");
        }
        if usr1_now {
            self.usr1_retry();
        } else if died && running {
            self.wake();
        }
    }

    /// Reap every dead child; true if one of ours died (its restart is the caller's).
    fn reap(&mut self) -> bool {
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
        }
        died
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
        self.log.status(&pinging(h));
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
            // What follows is what 1.29 logged right after online() returned for this host.
            self.log.status(&pinging(&self.slots[i].host));
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

    /// USR1, all of it (when it was held back during start-up or a restart).
    fn usr1(&mut self) {
        self.usr1_report();
        self.usr1_retry();
    }

    /// USR1's report: the log lines, the status page, USR1 to every child (1.29's
    /// checkchildren), and the JSON once the children have answered.
    fn usr1_report(&mut self) {
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
        let now = Instant::now();
        self.json_due = Some((now, now + STATUS_COLLECT));
    }

    /// USR1's retry: every host starts again with no attempts used; the restart pass.
    fn usr1_retry(&mut self) {
        for s in &mut self.slots {
            s.attempts = 0;
        }
        self.wake();
    }

    /// Header, the parent's own line, one line per host without a child (spec §7.9).
    fn write_status_header(&mut self) {
        let mut text = status::header(
            &perl_localtime(&Local::now()),
            std::process::id(),
            &perl_localtime(&self.started),
        );
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
                self.usr1_served += 1;
            } else {
                self.json_due = Some((now + STATUS_POLL, give_up));
            }
        }
        if self.refresh_since() || self.json_dirty {
            self.json_dirty = false;
            self.write_json();
        }
    }

    /// Note when a host's shown state changed (its `since`); true if one did.
    fn refresh_since(&mut self) -> bool {
        let mut changed = false;
        let now = Local::now();
        for s in &mut self.slots {
            let st = s.state();
            if st != s.shown {
                s.shown = st;
                s.since = now;
                changed = true;
            }
        }
        changed
    }

    fn write_json(&mut self) {
        self.refresh_since();
        let max = self.cfg.max_attempts;
        let hosts: Vec<HostStatus> = self
            .slots
            .iter()
            .map(|s| HostStatus {
                id: s.host.id.clone(),
                state: s.shown.into(),
                pid: s.pid.map(|p| p.as_raw()),
                attempts: s.attempts,
                max_attempts: max,
                since: perl_localtime(&s.since),
                since_epoch: s.since.timestamp(),
                last_log: s
                    .pid
                    .and_then(|p| self.child_last.get(&p.as_raw()))
                    .map(|c| c.last_log.clone()),
                links_max: self.cfg.links,
                links: s
                    .pid
                    .and_then(|p| self.child_last.get(&p.as_raw()))
                    .and_then(|c| c.links),
            })
            .collect();
        self.write_json_doc("running", &hosts);
    }

    fn write_json_doc(&mut self, state: &str, hosts: &[HostStatus]) {
        let now = Local::now();
        let lt = perl_localtime(&now);
        let started = perl_localtime(&self.started);
        let line = self.log.status_line();
        let mut f = line.trim_end_matches('\n').splitn(3, '\t').skip(1);
        let (pstatus, plast) = (f.next().unwrap_or(""), f.next().unwrap_or(""));
        let doc = StatusDoc {
            state,
            parent_pid: std::process::id(),
            parent_status: pstatus,
            parent_last_log: plast,
            started: &started,
            started_epoch: self.started.timestamp(),
            written: &lt,
            written_epoch: now.timestamp(),
            usr1_served: self.usr1_served,
            next_recheck: self.next_recheck.map(|(_, w)| perl_localtime(&w)),
            next_recheck_epoch: self.next_recheck.map(|(_, w)| w.timestamp()),
            hosts,
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

    /// On the way out: both status files say `stopped`, with the time, so nobody reads the
    /// last running page (and a dead pid) as live.
    fn write_stopped(&mut self) {
        let now = Local::now();
        let hosts: Vec<HostStatus> = self
            .slots
            .iter()
            .map(|s| HostStatus {
                id: s.host.id.clone(),
                state: "stopped".into(),
                pid: None,
                attempts: s.attempts,
                max_attempts: self.cfg.max_attempts,
                since: perl_localtime(&now),
                since_epoch: now.timestamp(),
                last_log: None,
                links_max: self.cfg.links,
                links: None,
            })
            .collect();
        self.next_recheck = None;
        self.write_json_doc("stopped", &hosts);
        let page = status::stopped_page(
            &perl_localtime(&now),
            std::process::id(),
            &perl_localtime(&self.started),
            &self.log.status_line(),
        );
        let _ = status::write_page(&self.cfg.status_txt(), &page);
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
        self.write_stopped();
        std::process::exit(EXIT_OK)
    }

    /// HUP: check the new configuration and hosts.tab first; only if a start would accept
    /// them do the children stop (else nothing changes and the log says why).
    fn begin_restart(&mut self) {
        match reload(&self.cfg.path) {
            Ok(new) => self.reloaded = Some(new),
            Err(msg) => {
                self.log.log(&format!(
                    "CRITICAL: Cannot use the new configuration, keeping the old one and the running children: {msg}"
                ));
                return;
            }
        }
        self.term_children();
        self.phase = Phase::Restarting {
            deadline: Instant::now() + CHILD_GRACE,
            killed: false,
        };
    }

    /// Old children are gone: switch to the configuration checked when HUP came, then start
    /// over in the same process (spec §7.6).
    fn finish_restart(&mut self) {
        // Children that ignored KILL's deadline are forgotten; their reaping is harmless later.
        for s in &mut self.slots {
            if s.pid.take().is_some() {
                let _ = std::fs::remove_file(self.cfg.socket_path(&s.host.id));
            }
        }
        match self
            .reloaded
            .take()
            .ok_or_else(|| "not checked".to_string())
        {
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

/// 1.29's status while probing a host: `Pinging <name>` (its ip when it has no name).
fn pinging(h: &Host) -> String {
    format!(
        "Pinging {}",
        if h.name.trim().is_empty() {
            &h.ip
        } else {
            &h.name
        }
    )
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

/// Re-read config and hosts.tab for HUP and check them as a start would (user, directories);
/// a hosts.tab whose every row is refused counts as broken too (a file caught mid-write).
/// Any fatal problem keeps the old ones.
fn reload(path: &Path) -> Result<(LoncConfig, Vec<Host>, Vec<Problem>), String> {
    let (cfg, mut problems) = LoncConfig::load(path).map_err(|e| e.to_string())?;
    let tab = cfg.hosts_tab();
    let (hosts, hp) = load_hosts(&tab).map_err(|e| e.to_string())?;
    if hosts.is_empty() && !hp.is_empty() {
        return Err(format!(
            "{}: no usable host ({} rows refused)",
            tab.display(),
            hp.len()
        ));
    }
    problems.extend(hp);
    create_private_dir(&cfg.lon_sock_dir)
        .map_err(|e| format!("cannot create {}: {e}", cfg.lon_sock_dir.display()))?;
    let env = preflight::environment_problems(&cfg);
    let fatal: Vec<String> = env
        .iter()
        .filter(|p| p.fatal)
        .map(|p| p.to_string())
        .collect();
    if !fatal.is_empty() {
        return Err(fatal.join("; "));
    }
    problems.extend(env);
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
