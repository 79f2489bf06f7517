//! The supervisor's restart policy as pure functions (spec §2, §7.6, §7.7, §8.5): a host's
//! slot is one [`HostState`], and [`step`] maps (slot, event) to (slot, actions); [`advance`]
//! moves the parent's [`Phase`] (start-up, running, HUP restart, stop) on its facts and the
//! clock; [`recheck`] plans `loncRecheck`. Nothing here touches processes, sockets, files or
//! clocks: the shell (`supervisor/mod.rs`) feeds events in, with the time as an argument, and
//! performs the returned actions in their order, which is the order of 1.29's log lines.

use std::time::{Duration, Instant};

use crate::lonc::netconn::Reach;
use crate::sys::reap::ExitKind;

/// Why a probe was started: a host's first start (at start-up and after HUP), or a restart,
/// which counts against `loncMaxAttempts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    Initial,
    Restart,
}

/// Why a host has no child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Childless {
    /// Its child ended (or a fork failed, or it was never probed): the next restart pass
    /// probes it.
    Stopped,
    /// Its last probe found it unreachable.
    Unreachable,
    /// Out of attempts: skipped by restart passes until USR1 or `loncRecheck`.
    Abandoned,
}

/// One host's slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostState {
    /// A probe in flight; `after` is where the host was before it, where a probe that is
    /// cancelled (TERM, HUP) or whose fork fails leaves it again.
    Probing {
        why: Why,
        after: Childless,
    },
    Running {
        pid: i32,
    },
    /// TERM went to its child on purpose (TERM/INT or HUP): its end is no death.
    Stopping {
        pid: i32,
    },
    NoChild(Childless),
}

impl HostState {
    /// The child's pid, while there is one.
    pub fn pid(&self) -> Option<i32> {
        match *self {
            HostState::Running { pid } | HostState::Stopping { pid } => Some(pid),
            _ => None,
        }
    }

    /// The state `loncstatus.json` shows (a stopping child still runs).
    pub fn shown(&self) -> &'static str {
        match self {
            HostState::Probing { .. } => "starting",
            HostState::Running { .. } | HostState::Stopping { .. } => "running",
            HostState::NoChild(Childless::Stopped) => "stopped",
            HostState::NoChild(Childless::Unreachable) => "unreachable",
            HostState::NoChild(Childless::Abandoned) => "abandoned",
        }
    }

    /// The state of the host's line on the text page (spec §7.9): none while it has a child;
    /// `abandoned` for an abandoned host (also while it is probed again), `unreachable` for
    /// every other host without a child.
    pub fn page_state(&self) -> Option<&'static str> {
        match self {
            HostState::Running { .. } | HostState::Stopping { .. } => None,
            HostState::NoChild(Childless::Abandoned)
            | HostState::Probing {
                after: Childless::Abandoned,
                ..
            } => Some("abandoned"),
            _ => Some("unreachable"),
        }
    }

    /// `loncRecheck` is for hosts given up on: unreachable or out of attempts.
    pub fn awaits_recheck(&self) -> bool {
        matches!(
            self,
            HostState::NoChild(Childless::Unreachable | Childless::Abandoned)
        )
    }
}

/// A host's slot and the restarts counted against `loncMaxAttempts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub state: HostState,
    pub attempts: u32,
}

impl Slot {
    /// A host just read from hosts.tab: no child, no attempt used.
    pub fn new() -> Slot {
        Slot {
            state: HostState::NoChild(Childless::Stopped),
            attempts: 0,
        }
    }
}

impl Default for Slot {
    fn default() -> Self {
        Slot::new()
    }
}

/// What happened to a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// Probe it as a first start (start-up, after HUP).
    Start,
    /// Its probe ended.
    ProbeDone(&'a Reach),
    /// The fork for it succeeded.
    Spawned(i32),
    /// The fork failed, with this error.
    SpawnFailed(&'a str),
    /// Its child was reaped.
    Exited(ExitKind),
    /// 1.29's restart pass (after a death, after USR1, at the end of start-up).
    Wake,
    /// USR1 or a recheck: its attempts start again from 0.
    ResetAttempts,
    /// `loncRecheck` is due: probe it again with no attempts used.
    Recheck,
    /// TERM/INT or HUP: cancel the probe, TERM the child.
    Stop,
    /// The grace period is over: KILL the child.
    Kill,
    /// HUP's restart begins with children that ignored KILL still there: forget them.
    Forget,
}

/// What the shell must do, in this order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Log(String),
    /// Set the parent's 1.29 status.
    Status(String),
    /// Start a reachability probe; feed [`Event::ProbeDone`] when it ends.
    Probe,
    /// Fork the host's child; feed [`Event::Spawned`] or [`Event::SpawnFailed`].
    Spawn,
    Signal(i32, Sig),
    /// Unlink the host's socket (its child is gone).
    RemoveSocket,
    /// Forget the status line collected from this pid.
    ForgetLast(i32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sig {
    Term,
    Kill,
}

/// What `step` needs to know beside the slot.
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'a> {
    pub id: &'a str,
    /// What 1.29's `Pinging` status names: the host's name, its ip when it has none.
    pub target: &'a str,
    pub max_attempts: u32,
    /// Probe answers are acted on (start-up, running); during a stop or restart they are not.
    pub accepting: bool,
    pub grace: Duration,
}

/// Advance one host's slot.
pub fn step(slot: Slot, ev: Event, cx: &Ctx) -> (Slot, Vec<Action>) {
    use Action::*;
    use HostState::*;
    let (id, max) = (cx.id, cx.max_attempts);
    let pinging = || Status(format!("Pinging {}", cx.target));
    let mut s = slot;
    let acts = match (slot.state, ev) {
        (NoChild(after), Event::Start) => {
            s.state = Probing {
                why: Why::Initial,
                after,
            };
            vec![pinging(), Probe]
        }
        (Probing { after, .. }, Event::ProbeDone(_)) if !cx.accepting => {
            s.state = NoChild(after);
            vec![]
        }
        // What follows is what 1.29 logged right after online() returned for this host.
        (Probing { why, .. }, Event::ProbeDone(Reach::Reachable)) => match why {
            Why::Initial => vec![pinging(), Spawn],
            Why::Restart => {
                s.attempts += 1;
                let n = s.attempts;
                vec![
                    pinging(),
                    Log(format!(
                        "INFO: Trying to reconnect for {id} ({n} of {max} attempts)"
                    )),
                    Spawn,
                ]
            }
        },
        (Probing { why, .. }, Event::ProbeDone(Reach::Unreachable(e))) => {
            s.state = NoChild(Childless::Unreachable);
            match why {
                Why::Initial => vec![
                    pinging(),
                    Log(format!(
                        "WARNING: {id} is not reachable ({e}), no child started"
                    )),
                ],
                // 1.29's exact line, with the reason on its own line before it.
                Why::Restart => vec![
                    pinging(),
                    Log(format!("WARNING: {id} is not reachable ({e})")),
                    Log(format!(
                        "INFO: Skipping {id} ({} of {max} attempts)",
                        s.attempts
                    )),
                ],
            }
        }
        (Probing { .. }, Event::Spawned(pid)) => {
            s.state = Running { pid };
            vec![]
        }
        (Probing { after, .. }, Event::SpawnFailed(e)) => {
            s.state = NoChild(after);
            vec![Log(format!("CRITICAL: fork for {id} failed: {e}"))]
        }
        (Running { pid }, Event::Exited(kind)) | (Stopping { pid }, Event::Exited(kind)) => {
            let stopped = matches!(slot.state, Stopping { .. });
            s.state = NoChild(Childless::Stopped);
            vec![
                Log(death_message(pid, id, s.attempts, stopped, kind)),
                RemoveSocket,
                ForgetLast(pid),
            ]
        }
        (NoChild(after), Event::Wake) if s.attempts < max => {
            s.state = Probing {
                why: Why::Restart,
                after,
            };
            vec![pinging(), Probe]
        }
        (NoChild(_), Event::Wake) => {
            s.state = NoChild(Childless::Abandoned);
            vec![Log(format!(
                "INFO: Skipping {id} ({} of {max} attempts)",
                s.attempts
            ))]
        }
        (_, Event::ResetAttempts) => {
            s.attempts = 0;
            vec![]
        }
        (NoChild(after @ (Childless::Unreachable | Childless::Abandoned)), Event::Recheck) => {
            s.attempts = 0;
            s.state = Probing {
                why: Why::Restart,
                after,
            };
            vec![pinging(), Probe]
        }
        (Probing { after, .. }, Event::Stop) => {
            s.state = NoChild(after);
            vec![]
        }
        // 1.29's hangup(): `Closing <id>`, then the signal (TERM here: the child finishes its
        // exchange in flight; 1.29 relayed `exit` to lond and sent INT).
        (Running { pid } | Stopping { pid }, Event::Stop) => {
            s.state = Stopping { pid };
            vec![
                Status(format!("Closing {id}")),
                Log(format!("Closing {id}: TERM to child {pid}")),
                Status(format!("Kill PID {pid} for {id}")),
                Signal(pid, Sig::Term),
            ]
        }
        (Running { pid } | Stopping { pid }, Event::Kill) => vec![
            Log(format!(
                "WARNING: Child {pid} for server {id} did not stop within {} s; killed",
                cx.grace.as_secs()
            )),
            Signal(pid, Sig::Kill),
        ],
        // Its reaping later is harmless: no slot has that pid any more.
        (Running { .. } | Stopping { .. }, Event::Forget) => {
            s.state = NoChild(Childless::Stopped);
            vec![RemoveSocket]
        }
        // Anything else means nothing in that state (a stray answer, a pass over a host that
        // has its child or its probe).
        _ => vec![],
    };
    (s, acts)
}

/// The parent's line for a reaped child. A child that ends on its own is 1.29's REAPER line;
/// one we sent TERM (TERM/INT, HUP) just `stopped`, unless it ended badly.
pub fn death_message(pid: i32, id: &str, attempts: u32, stopped: bool, kind: ExitKind) -> String {
    match (stopped, kind) {
        (false, _) => format!("CRITICAL: Child {pid} for server {id} died ({attempts})"),
        (true, ExitKind::Code(0)) => format!("Child {pid} for server {id} stopped"),
        (true, k) => format!("WARNING: Child {pid} for server {id} stopped with {k}"),
    }
}

/// Where the parent stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Initial probes in flight (at start and after HUP).
    Starting,
    Running,
    /// HUP: waiting for the old children until `deadline`; `killed` once KILL went out.
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

impl Phase {
    /// Probe answers count (else they are dropped: the hosts are being stopped).
    pub fn accepting(&self) -> bool {
        matches!(self, Phase::Starting | Phase::Running)
    }

    /// When the phase moves on by itself.
    pub fn deadline(&self) -> Option<Instant> {
        match *self {
            Phase::Restarting { deadline, .. } | Phase::Stopping { deadline, .. } => Some(deadline),
            _ => None,
        }
    }
}

/// What the parent's slots say, for [`advance`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    /// Some host has a probe in flight.
    pub probing: bool,
    /// Some host has a child.
    pub alive: bool,
    /// Some host's child ended and was not restarted (it died during start-up).
    pub stopped: bool,
}

/// What the shell must do when the phase moves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhaseAction {
    Log(&'static str),
    /// The restart pass ([`Event::Wake`] to every host).
    Wake,
    /// [`Event::Kill`] to every host.
    KillAll,
    /// The old children are gone: switch configuration and start over (spec §7.6).
    FinishRestart,
    /// Remove the pid file, log `CRITICAL: Shutting down`, exit 0 (spec §7.7).
    FinishStop,
}

/// How long a child KILLed after the grace period gets to be reaped before the parent goes on.
pub const AFTER_KILL: Duration = Duration::from_secs(2);

/// Move the parent's phase: start-up ends when no probe is in flight; a stop or restart
/// ends when every child is gone, KILLs the rest at the deadline and gives up on them
/// `AFTER_KILL` later.
pub fn advance(phase: Phase, f: Facts, now: Instant) -> (Phase, Vec<PhaseAction>) {
    use PhaseAction::*;
    match phase {
        Phase::Starting if !f.probing => {
            let mut acts = vec![Log("Done starting initial servers")];
            // A child that died during start-up gets its restart pass now.
            if f.stopped {
                acts.push(Wake);
            }
            (Phase::Running, acts)
        }
        Phase::Restarting { deadline, killed } | Phase::Stopping { deadline, killed } => {
            let restart = matches!(phase, Phase::Restarting { .. });
            if f.alive && now >= deadline && !killed {
                let deadline = now + AFTER_KILL;
                let next = if restart {
                    Phase::Restarting {
                        deadline,
                        killed: true,
                    }
                } else {
                    Phase::Stopping {
                        deadline,
                        killed: true,
                    }
                };
                (next, vec![KillAll])
            } else if !f.alive || now >= deadline {
                (
                    phase,
                    vec![if restart { FinishRestart } else { FinishStop }],
                )
            } else {
                (phase, vec![])
            }
        }
        _ => (phase, vec![]),
    }
}

/// What [`recheck`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recheck {
    Nothing,
    /// A recheck is planned (or no longer is): the status shows when.
    Changed,
    /// Due now: reset the waiting hosts' attempts and probe them ([`Event::Recheck`]).
    Due,
}

/// `loncRecheck` (spec §8.5): while some host waits for one and the parent runs, a recheck
/// is planned `period` after the first moment it was needed; when it is due, it happens and
/// the next is planned once hosts wait again. A period of 0 is 1.29's behaviour (never).
pub fn recheck(
    next: Option<Instant>,
    period: Duration,
    running: bool,
    waiting: bool,
    now: Instant,
) -> (Option<Instant>, Recheck) {
    if period.is_zero() || !running {
        return (None, Recheck::Nothing);
    }
    match next {
        _ if !waiting => (
            None,
            if next.is_some() {
                Recheck::Changed
            } else {
                Recheck::Nothing
            },
        ),
        None => (Some(now + period), Recheck::Changed),
        Some(due) if now >= due => (None, Recheck::Due),
        Some(_) => (next, Recheck::Nothing),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Action::*;
    use HostState::*;

    const GRACE: Duration = Duration::from_secs(5);

    fn cx() -> Ctx<'static> {
        Ctx {
            id: "h1",
            target: "10.0.0.1",
            max_attempts: 5,
            accepting: true,
            grace: GRACE,
        }
    }

    fn at(state: HostState, attempts: u32) -> Slot {
        Slot { state, attempts }
    }

    fn ping() -> Action {
        Status("Pinging 10.0.0.1".into())
    }

    fn run(slot: Slot, evs: &[Event]) -> (Slot, Vec<Action>) {
        let mut s = slot;
        let mut all = Vec::new();
        for ev in evs {
            let (n, a) = step(s, *ev, &cx());
            s = n;
            all.extend(a);
        }
        (s, all)
    }

    const UP: Reach = Reach::Reachable;

    fn down() -> Reach {
        Reach::Unreachable("timed out".into())
    }

    #[test]
    fn start_up_probes_and_forks_a_reachable_host_without_counting_an_attempt() {
        let (s, acts) = run(Slot::new(), &[Event::Start, Event::ProbeDone(&UP)]);
        assert_eq!(acts, vec![ping(), Probe, ping(), Spawn]);
        let (s, acts) = run(s, &[Event::Spawned(42)]);
        assert_eq!(s, at(Running { pid: 42 }, 0));
        assert!(acts.is_empty());
        assert_eq!(s.state.shown(), "running");
        assert_eq!(s.state.page_state(), None);
    }

    #[test]
    fn an_unreachable_host_at_start_up_gets_no_child() {
        let d = down();
        let (s, acts) = run(Slot::new(), &[Event::Start, Event::ProbeDone(&d)]);
        assert_eq!(s, at(NoChild(Childless::Unreachable), 0));
        assert_eq!(
            acts[2..],
            [
                ping(),
                Log("WARNING: h1 is not reachable (timed out), no child started".into())
            ]
        );
        assert_eq!(s.state.shown(), "unreachable");
        assert!(s.state.awaits_recheck());
    }

    #[test]
    fn a_death_while_running_is_1_29s_reaper_line_and_a_restart_counts_an_attempt() {
        let (s, acts) = run(
            at(Running { pid: 42 }, 0),
            &[Event::Exited(ExitKind::Code(1))],
        );
        assert_eq!(s, at(NoChild(Childless::Stopped), 0));
        assert_eq!(
            acts,
            vec![
                Log("CRITICAL: Child 42 for server h1 died (0)".into()),
                RemoveSocket,
                ForgetLast(42)
            ]
        );
        assert_eq!(s.state.shown(), "stopped");
        let (s, acts) = run(s, &[Event::Wake, Event::ProbeDone(&UP), Event::Spawned(43)]);
        assert_eq!(s, at(Running { pid: 43 }, 1));
        assert_eq!(
            acts,
            vec![
                ping(),
                Probe,
                ping(),
                Log("INFO: Trying to reconnect for h1 (1 of 5 attempts)".into()),
                Spawn
            ]
        );
    }

    #[test]
    fn a_restart_that_finds_the_host_unreachable_skips_it_with_both_lines() {
        let d = down();
        let (s, acts) = run(
            at(NoChild(Childless::Stopped), 2),
            &[Event::Wake, Event::ProbeDone(&d)],
        );
        assert_eq!(s, at(NoChild(Childless::Unreachable), 2));
        assert_eq!(
            acts[2..],
            [
                ping(),
                Log("WARNING: h1 is not reachable (timed out)".into()),
                Log("INFO: Skipping h1 (2 of 5 attempts)".into())
            ]
        );
    }

    #[test]
    fn out_of_attempts_a_host_is_abandoned_and_skipped_at_every_pass() {
        let (s, acts) = run(at(NoChild(Childless::Stopped), 5), &[Event::Wake]);
        assert_eq!(s, at(NoChild(Childless::Abandoned), 5));
        assert_eq!(
            acts,
            vec![Log("INFO: Skipping h1 (5 of 5 attempts)".into())]
        );
        assert_eq!(s.state.shown(), "abandoned");
        assert_eq!(s.state.page_state(), Some("abandoned"));
        let (s2, acts) = run(s, &[Event::Wake]);
        assert_eq!(s2, s);
        assert_eq!(
            acts,
            vec![Log("INFO: Skipping h1 (5 of 5 attempts)".into())]
        );
    }

    #[test]
    fn usr1_resets_the_attempts_so_an_abandoned_host_is_probed_again() {
        let (s, acts) = run(
            at(NoChild(Childless::Abandoned), 5),
            &[Event::ResetAttempts, Event::Wake],
        );
        assert_eq!(
            s,
            at(
                Probing {
                    why: Why::Restart,
                    after: Childless::Abandoned
                },
                0
            )
        );
        assert_eq!(acts, vec![ping(), Probe]);
        // While probed again it still reads abandoned on the text page, starting in the JSON.
        assert_eq!(s.state.page_state(), Some("abandoned"));
        assert_eq!(s.state.shown(), "starting");
    }

    #[test]
    fn a_restart_pass_probes_unreachable_hosts_and_leaves_running_and_probing_ones() {
        let (s, acts) = run(at(NoChild(Childless::Unreachable), 1), &[Event::Wake]);
        assert!(matches!(
            s.state,
            Probing {
                why: Why::Restart,
                ..
            }
        ));
        assert_eq!(acts, vec![ping(), Probe]);
        for st in [Running { pid: 4 }, Stopping { pid: 4 }, s.state] {
            assert_eq!(run(at(st, 1), &[Event::Wake]), (at(st, 1), vec![]));
        }
    }

    #[test]
    fn recheck_probes_only_hosts_given_up_on_with_their_attempts_reset() {
        for c in [Childless::Unreachable, Childless::Abandoned] {
            let (s, acts) = run(at(NoChild(c), 5), &[Event::Recheck]);
            assert_eq!(
                s,
                at(
                    Probing {
                        why: Why::Restart,
                        after: c
                    },
                    0
                )
            );
            assert_eq!(acts, vec![ping(), Probe]);
        }
        let st = at(NoChild(Childless::Stopped), 2);
        assert_eq!(run(st, &[Event::Recheck]), (st, vec![]));
        let st = at(Running { pid: 3 }, 2);
        assert_eq!(run(st, &[Event::Recheck]), (st, vec![]));
    }

    #[test]
    fn stop_sends_term_with_1_29s_closing_lines_and_its_end_is_no_death() {
        let (s, acts) = run(at(Running { pid: 42 }, 1), &[Event::Stop]);
        assert_eq!(s, at(Stopping { pid: 42 }, 1));
        assert_eq!(
            acts,
            vec![
                Status("Closing h1".into()),
                Log("Closing h1: TERM to child 42".into()),
                Status("Kill PID 42 for h1".into()),
                Signal(42, Sig::Term)
            ]
        );
        assert_eq!(s.state.shown(), "running");
        let (s, acts) = run(s, &[Event::Exited(ExitKind::Code(0))]);
        assert_eq!(s, at(NoChild(Childless::Stopped), 1));
        assert_eq!(acts[0], Log("Child 42 for server h1 stopped".into()));
        let (_, acts) = run(
            at(Stopping { pid: 42 }, 0),
            &[Event::Exited(ExitKind::Signal(9))],
        );
        assert_eq!(
            acts[0],
            Log("WARNING: Child 42 for server h1 stopped with signal 9".into())
        );
    }

    #[test]
    fn stop_cancels_a_probe_and_the_host_is_where_it_was() {
        let p = at(
            Probing {
                why: Why::Restart,
                after: Childless::Unreachable,
            },
            0,
        );
        assert_eq!(
            run(p, &[Event::Stop]),
            (at(NoChild(Childless::Unreachable), 0), vec![])
        );
    }

    #[test]
    fn a_probe_answer_during_a_stop_or_restart_is_dropped() {
        let p = at(
            Probing {
                why: Why::Initial,
                after: Childless::Stopped,
            },
            0,
        );
        let c = Ctx {
            accepting: false,
            ..cx()
        };
        assert_eq!(
            step(p, Event::ProbeDone(&UP), &c),
            (at(NoChild(Childless::Stopped), 0), vec![])
        );
    }

    #[test]
    fn after_the_grace_period_a_child_is_killed_and_later_forgotten() {
        let (s, acts) = run(at(Stopping { pid: 42 }, 0), &[Event::Kill]);
        assert_eq!(s, at(Stopping { pid: 42 }, 0));
        assert_eq!(
            acts,
            vec![
                Log("WARNING: Child 42 for server h1 did not stop within 5 s; killed".into()),
                Signal(42, Sig::Kill)
            ]
        );
        let (s, acts) = run(s, &[Event::Forget]);
        assert_eq!(s, at(NoChild(Childless::Stopped), 0));
        assert_eq!(acts, vec![RemoveSocket]);
    }

    #[test]
    fn a_failed_fork_leaves_the_host_where_it_was() {
        let p = at(
            Probing {
                why: Why::Restart,
                after: Childless::Unreachable,
            },
            1,
        );
        let (s, acts) = run(p, &[Event::SpawnFailed("EAGAIN")]);
        assert_eq!(s, at(NoChild(Childless::Unreachable), 1));
        assert_eq!(
            acts,
            vec![Log("CRITICAL: fork for h1 failed: EAGAIN".into())]
        );
    }

    #[test]
    fn a_stray_event_changes_nothing() {
        for st in [
            Running { pid: 1 },
            NoChild(Childless::Stopped),
            NoChild(Childless::Abandoned),
        ] {
            let s = at(st, 2);
            assert_eq!(run(s, &[Event::ProbeDone(&UP)]), (s, vec![]));
            assert_eq!(run(s, &[Event::Spawned(9)]), (s, vec![]));
        }
        let s = at(NoChild(Childless::Stopped), 0);
        assert_eq!(run(s, &[Event::Exited(ExitKind::Code(0))]), (s, vec![]));
    }

    #[test]
    fn death_lines() {
        assert_eq!(
            death_message(42, "h1", 3, false, ExitKind::Code(0)),
            "CRITICAL: Child 42 for server h1 died (3)"
        );
        assert_eq!(
            death_message(42, "h1", 3, true, ExitKind::Code(0)),
            "Child 42 for server h1 stopped"
        );
        assert_eq!(
            death_message(42, "h1", 0, true, ExitKind::Signal(9)),
            "WARNING: Child 42 for server h1 stopped with signal 9"
        );
    }

    fn facts(probing: bool, alive: bool, stopped: bool) -> Facts {
        Facts {
            probing,
            alive,
            stopped,
        }
    }

    #[test]
    fn start_up_ends_when_no_probe_is_in_flight_with_a_restart_pass_for_early_deaths() {
        let t = Instant::now();
        assert_eq!(
            advance(Phase::Starting, facts(true, true, true), t),
            (Phase::Starting, vec![])
        );
        assert_eq!(
            advance(Phase::Starting, facts(false, true, false), t),
            (
                Phase::Running,
                vec![PhaseAction::Log("Done starting initial servers")]
            )
        );
        assert_eq!(
            advance(Phase::Starting, facts(false, true, true), t).1,
            vec![
                PhaseAction::Log("Done starting initial servers"),
                PhaseAction::Wake
            ]
        );
    }

    #[test]
    fn a_stop_finishes_when_the_children_are_gone_or_kills_them_at_the_deadline() {
        let t = Instant::now();
        let d = t + GRACE;
        let stop = Phase::Stopping {
            deadline: d,
            killed: false,
        };
        assert_eq!(advance(stop, facts(false, true, false), t), (stop, vec![]));
        assert_eq!(
            advance(stop, facts(false, false, true), t).1,
            vec![PhaseAction::FinishStop]
        );
        let (p, acts) = advance(stop, facts(false, true, false), d);
        assert_eq!(acts, vec![PhaseAction::KillAll]);
        assert_eq!(
            p,
            Phase::Stopping {
                deadline: d + AFTER_KILL,
                killed: true
            }
        );
        // Children that ignore KILL too are given up on at the second deadline.
        assert_eq!(advance(p, facts(false, true, false), d).1, vec![]);
        assert_eq!(
            advance(p, facts(false, true, false), d + AFTER_KILL).1,
            vec![PhaseAction::FinishStop]
        );
    }

    #[test]
    fn a_hup_restart_moves_the_same_way_and_then_starts_over() {
        let t = Instant::now();
        let hup = Phase::Restarting {
            deadline: t + GRACE,
            killed: false,
        };
        assert_eq!(
            advance(hup, facts(false, false, true), t).1,
            vec![PhaseAction::FinishRestart]
        );
        let (p, acts) = advance(hup, facts(false, true, false), t + GRACE);
        assert_eq!(acts, vec![PhaseAction::KillAll]);
        assert!(matches!(p, Phase::Restarting { killed: true, .. }));
        assert!(!p.accepting() && !hup.accepting() && Phase::Starting.accepting());
    }

    #[test]
    fn recheck_is_planned_when_hosts_wait_and_due_a_period_later() {
        let t = Instant::now();
        let p = Duration::from_secs(600);
        assert_eq!(recheck(None, p, true, false, t), (None, Recheck::Nothing));
        let (next, r) = recheck(None, p, true, true, t);
        assert_eq!((next, r), (Some(t + p), Recheck::Changed));
        assert_eq!(
            recheck(next, p, true, true, t + p / 2),
            (next, Recheck::Nothing)
        );
        assert_eq!(recheck(next, p, true, true, t + p), (None, Recheck::Due));
        // Nobody waits any more (USR1 brought them back): the plan goes.
        assert_eq!(recheck(next, p, true, false, t), (None, Recheck::Changed));
    }

    #[test]
    fn recheck_0_is_1_29s_never_and_nothing_is_planned_outside_running() {
        let t = Instant::now();
        assert_eq!(
            recheck(None, Duration::ZERO, true, true, t),
            (None, Recheck::Nothing)
        );
        assert_eq!(
            recheck(Some(t), Duration::from_secs(1), false, true, t),
            (None, Recheck::Nothing)
        );
    }
}
