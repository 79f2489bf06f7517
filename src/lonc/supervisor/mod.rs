//! lonc parent after start-up: concurrent probes, one child per reachable host, reaping and
//! restarts with attempt counting, and the signals USR1, HUP, TERM/INT (spec §2, §7.6-7.10).
//!
//! The decisions are `policy` (pure: a host's slot is one state, restarts and phases are
//! functions of state, event and time); this shell runs one poll loop over the signal
//! self-pipe, the probe sockets and the status-page watch, feeds what happened into the
//! policy and performs the actions it returns. `report` writes the status page and the JSON;
//! `reload` checks a new configuration for HUP. The parent holds no peer sockets; it forks
//! from its main loop only, while single-threaded, and each child drops the parent's signal
//! handlers and every inherited fd before doing anything else.

mod policy;
mod reload;
mod report;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{DateTime, Local};
use nix::poll::{PollFd, PollFlags};
use nix::sys::signal::{kill, sigprocmask, SigSet, SigmaskHow, Signal};
use nix::unistd::{fork, ForkResult, Pid};

use super::child::{self, ChildArgs};
use super::config::{LoncConfig, Problem};
use super::hosts::Host;
use super::log::Logger;
use super::netconn::{probe_target, Probe};
use super::process::{close_inherited_fds, EXIT_OK, EXIT_STARTUP};
use crate::sys::poll as spoll;
use crate::sys::reap::reap_all;
use crate::sys::sig::SignalPipe;
use policy::{Action, Ctx, Event, Facts, HostState, Phase, PhaseAction, Recheck, Sig};

/// How long children get after TERM before KILL (spec §7.6, §7.7).
pub const CHILD_GRACE: Duration = Duration::from_secs(5);

/// One host of hosts.tab: its policy slot, and what the shell holds for it.
struct Slot {
    host: Host,
    p: policy::Slot,
    /// The probe socket while `p.state` is `Probing`.
    probe: Option<Probe>,
    /// Since when the host shows its state (for the status files and `lonc -s`).
    since: DateTime<Local>,
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
    /// The status files: USR1's collection, the children's lines, `usr1_served`.
    report: report::Report,
    /// A host's state changed since the JSON was last written.
    json_dirty: bool,
    /// `-f`: children copy their log lines to stderr as well.
    foreground: bool,
    /// `loncRecheck`: when the unreachable and abandoned hosts are probed again (and that
    /// moment on the wall clock, for the status page).
    next_recheck: Option<(Instant, DateTime<Local>)>,
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
        report: report::Report::new(Local::now()),
        json_dirty: true,
        foreground,
        next_recheck: None,
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
            p: policy::Slot::new(),
            probe: None,
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
            if self.phase.accepting() && !self.probing() {
                self.log.status("Sleeping");
            }
            let n = self
                .slots
                .iter()
                .filter(|s| s.p.state.pid().is_some())
                .count();
            crate::sys::proctitle::set(&format!("lonc: parent {n} children"));
            let mut idx = Vec::new();
            let mut fds = Vec::new();
            let Some(sig) = &self.sig else {
                std::process::exit(EXIT_STARTUP)
            };
            fds.push(PollFd::new(sig.fd(), PollFlags::POLLIN));
            let watch = self.report.collecting().and_then(|c| c.fd());
            if let Some(fd) = watch {
                fds.push(PollFd::new(fd, PollFlags::POLLIN));
            }
            let first_probe = fds.len();
            for (i, s) in self.slots.iter().enumerate() {
                if let Some(fd) = s.probe.as_ref().and_then(|p| p.fd()) {
                    fds.push(PollFd::new(fd, PollFlags::POLLOUT));
                    idx.push(i);
                }
            }
            let deadline = spoll::earliest(
                self.slots
                    .iter()
                    .map(|s| {
                        // A probe that finished at once (refused, unresolvable) is collected
                        // without waiting for anything else.
                        s.probe.as_ref().map(|p| match p.result {
                            Some(_) => Instant::now(),
                            None => p.deadline,
                        })
                    })
                    .chain([
                        self.phase.deadline(),
                        self.report.collecting().map(|c| c.next_check()),
                        self.next_recheck.map(|(t, _)| t),
                    ]),
            );
            let woke = spoll::wait(&mut fds, deadline).is_ok();
            let ready = |f: &PollFd| woke && f.revents().is_some_and(|e| !e.is_empty());
            let sig_ready = ready(&fds[0]);
            let watch_ready = watch.is_some() && ready(&fds[1]);
            let probes_ready: Vec<usize> = fds[first_probe..]
                .iter()
                .zip(idx.iter())
                .filter(|(f, _)| ready(f))
                .map(|(_, &i)| i)
                .collect();
            drop(fds);
            if watch_ready {
                if let Some(c) = self.report.collect() {
                    c.noticed(Instant::now());
                }
            }
            if sig_ready {
                self.on_signals();
            }
            for i in probes_ready {
                if let Some(p) = self.slots[i].probe.as_mut() {
                    p.ready();
                }
            }
            self.collect_probes();
            self.advance_phase();
            self.recheck_tick();
            self.status_json_tick();
        }
    }

    fn probing(&self) -> bool {
        self.slots
            .iter()
            .any(|s| matches!(s.p.state, HostState::Probing { .. }))
    }

    /// Feed one event into host `i`'s policy and perform what it returns, in order.
    fn feed(&mut self, i: usize, ev: Event) {
        let s = &self.slots[i];
        let (id, target) = (s.host.id.clone(), pinging_target(&s.host).to_string());
        let cx = Ctx {
            id: &id,
            target: &target,
            max_attempts: self.cfg.max_attempts,
            accepting: self.phase.accepting(),
            grace: CHILD_GRACE,
        };
        let (next, acts) = policy::step(s.p, ev, &cx);
        let s = &mut self.slots[i];
        if next.state.shown() != s.p.state.shown() {
            s.since = Local::now();
        }
        if next != s.p {
            self.json_dirty = true;
        }
        if !matches!(next.state, HostState::Probing { .. }) {
            s.probe = None;
        }
        s.p = next;
        for a in acts {
            self.perform(i, a);
        }
    }

    fn perform(&mut self, i: usize, a: Action) {
        match a {
            Action::Log(m) => self.log.log(&m),
            Action::Status(m) => self.log.status(&m),
            Action::Probe => {
                let h = &self.slots[i].host;
                let target = probe_target(&h.name, &h.ip, self.cfg.probe_port);
                self.slots[i].probe = Some(Probe::start(target, self.cfg.probe_timeout));
            }
            Action::Spawn => self.spawn(i),
            Action::Signal(pid, s) => {
                let s = match s {
                    Sig::Term => Signal::SIGTERM,
                    Sig::Kill => Signal::SIGKILL,
                };
                let _ = kill(Pid::from_raw(pid), s);
            }
            Action::RemoveSocket => {
                let _ = std::fs::remove_file(self.cfg.socket_path(&self.slots[i].host.id));
            }
            Action::ForgetLast(pid) => self.report.forget(pid),
        }
    }

    /// Feed one event to every host, in hosts.tab order.
    fn feed_all(&mut self, ev: Event) {
        for i in 0..self.slots.len() {
            self.feed(i, ev);
        }
    }

    /// `loncRecheck`: keep a recheck planned while some host waits for one; when it is due,
    /// reset those hosts' attempts as USR1 does and probe them (an answer restarts the child).
    fn recheck_tick(&mut self) {
        let period = self.cfg.recheck;
        let waiting: Vec<usize> = (0..self.slots.len())
            .filter(|&i| self.slots[i].p.state.awaits_recheck())
            .collect();
        let now = Instant::now();
        let (next, what) = policy::recheck(
            self.next_recheck.map(|(t, _)| t),
            period,
            matches!(self.phase, Phase::Running),
            !waiting.is_empty(),
            now,
        );
        self.next_recheck = match (next, self.next_recheck) {
            (None, _) => None,
            (Some(t), Some((u, w))) if t == u => Some((u, w)),
            (Some(t), _) => {
                let wall = Local::now() + chrono::Duration::from_std(period).unwrap_or_default();
                Some((t, wall))
            }
        };
        match what {
            Recheck::Nothing => {}
            Recheck::Changed => self.json_dirty = true,
            Recheck::Due => {
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
                    self.feed(i, Event::Recheck);
                }
                self.json_dirty = true;
            }
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
        if self.phase.accepting() {
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
            let pid = pid.as_raw();
            if let Some(i) = self.slots.iter().position(|s| s.p.state.pid() == Some(pid)) {
                self.feed(i, Event::Exited(kind));
                died = true;
            }
        }
        died
    }

    /// 1.29's main-loop pass: every childless host is probed and restarted if it has attempts
    /// left, else skipped (and shown as abandoned).
    fn wake(&mut self) {
        self.feed_all(Event::Wake);
    }

    /// Act on finished probes.
    fn collect_probes(&mut self) {
        let now = Instant::now();
        for i in 0..self.slots.len() {
            let Some(p) = self.slots[i].probe.as_mut() else {
                continue;
            };
            p.check_deadline(now);
            let Some(reach) = p.result.take() else {
                continue;
            };
            self.slots[i].probe = None;
            self.feed(i, Event::ProbeDone(&reach));
        }
    }

    /// Phase transitions: end of start-up, pending HUP/USR1, stop and restart progress.
    fn advance_phase(&mut self) {
        let facts = Facts {
            probing: self.probing(),
            alive: self.slots.iter().any(|s| s.p.state.pid().is_some()),
            stopped: self
                .slots
                .iter()
                .any(|s| s.p.state == HostState::NoChild(policy::Childless::Stopped)),
        };
        let (phase, acts) = policy::advance(self.phase, facts, Instant::now());
        self.phase = phase;
        for a in acts {
            match a {
                PhaseAction::Log(m) => self.log.log(m),
                PhaseAction::Wake => self.wake(),
                PhaseAction::KillAll => self.feed_all(Event::Kill),
                PhaseAction::FinishRestart => self.finish_restart(),
                PhaseAction::FinishStop => self.finish_stop(),
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
        self.feed_all(Event::Start);
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
                self.feed(i, Event::Spawned(child.as_raw()));
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
                self.feed(i, Event::SpawnFailed(&e.to_string()));
            }
        }
    }

    /// USR1's report: the log lines, the status page, USR1 to every child; the JSON once
    /// they have answered.
    fn usr1_report(&mut self) {
        let rows = rows(&self.slots);
        let recheck = self.next_recheck.map(|(_, w)| w);
        self.report.usr1(&mut self.log, &self.cfg, &rows, recheck);
    }

    /// Collect the children's lines after USR1; write the JSON when a state changed or the
    /// collection is over.
    fn status_json_tick(&mut self) {
        let rows = rows(&self.slots);
        if self.report.tick(&self.cfg, &rows, self.json_dirty) {
            self.json_dirty = true;
        }
        if self.json_dirty {
            self.json_dirty = false;
            let recheck = self.next_recheck.map(|(_, w)| w);
            self.report
                .write_json(&mut self.log, &self.cfg, &rows, recheck);
        }
    }

    /// Both status files say `stopped` (on the way out).
    fn write_stopped(&mut self) {
        self.next_recheck = None;
        let rows = rows(&self.slots);
        self.report.write_stopped(&mut self.log, &self.cfg, &rows);
    }

    /// USR1, all of it (when it was held back during start-up or a restart).
    fn usr1(&mut self) {
        self.usr1_report();
        self.usr1_retry();
    }

    /// USR1's retry: every host starts again with no attempts used; the restart pass.
    fn usr1_retry(&mut self) {
        self.feed_all(Event::ResetAttempts);
        self.wake();
    }

    /// TERM to every child, on purpose (TERM/INT, HUP); probes in flight are cancelled.
    fn term_children(&mut self) {
        self.feed_all(Event::Stop);
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
            if s.p.state.pid().is_some() {
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
        match reload::reload(&self.cfg.path) {
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
        self.feed_all(Event::Forget);
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
                    s.p = policy::Slot::new();
                }
            }
        }
        self.report.forget_all();
        self.log.log("CRITICAL: Restarting");
        self.phase = Phase::Starting;
        self.json_dirty = true;
        self.start_all();
    }
}

/// The hosts as the status files show them.
fn rows(slots: &[Slot]) -> Vec<report::Row<'_>> {
    slots
        .iter()
        .map(|s| report::Row {
            id: &s.host.id,
            state: s.p.state,
            attempts: s.p.attempts,
            since: s.since,
        })
        .collect()
}

/// What 1.29's status while probing a host names: its name, its ip when it has no name.
fn pinging_target(h: &Host) -> &str {
    if h.name.trim().is_empty() {
        &h.ip
    } else {
        &h.name
    }
}

fn single_threaded() -> bool {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count() == 1)
        .unwrap_or(true)
}
