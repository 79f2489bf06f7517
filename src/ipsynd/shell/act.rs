//! Carrying out the core's other actions: log lines, signals, maxkill commands, the
//! SIGKILL at the end of a grace, removing flags, giving up on a record; and the daemon's
//! side of `ipsynd -f` / `-k` (the request files are `ctl.rs`).

use std::fs;
use std::time::Duration;

use nix::sys::signal::Signal;

use super::start::open_append;
use super::{now, Shell};
use crate::ipsynd::core::{Action, Event, KillTarget, Reply, Sig};
use crate::ipsynd::ctl::{self, Answer, Request};
use crate::ipsynd::log::NO_CLIENT;
use crate::ipsynd::spawn::{self, Io, Stdio3};

/// Answers nobody took within this are removed.
const ANSWER_KEPT: Duration = Duration::from_secs(60);

impl Shell {
    pub(super) fn act(&mut self, a: Action) {
        match a {
            Action::Log { client, msg } => self.log.line(&client, &msg),
            // Stopping: what a freed port would start waits for the next ipsynd.
            Action::Start(plan) if self.stopping => self.feed(Event::StartFailed {
                record: plan.record,
                why: crate::ipsynd::core::StartFailure::Deferred,
            }),
            Action::Start(plan) => self.start(plan),
            // A child not yet known to have exec'd may not have its session yet (its setsid
            // comes before the exec): its outcome first, and no signal for one that never ran.
            Action::Signal { pgid, .. } | Action::KillIfAlive { pgid, .. } if !self.ran(pgid) => {}
            Action::RunMaxkill { pid, .. } if !self.ran(pid) => {}
            Action::Signal { pgid, sig } => {
                let s = match sig {
                    Sig::Term => Signal::SIGTERM,
                    Sig::Kill => Signal::SIGKILL,
                };
                spawn::kill_group(pgid, s);
            }
            Action::RunMaxkill { pid, words } => self.run_maxkill(pid, words),
            Action::KillIfAlive {
                pgid,
                client,
                target,
                stopping,
            } => {
                // kill_group says whether the group still existed: no separate check.
                if spawn::kill_group(pgid, Signal::SIGKILL) {
                    let msg = match (target, stopping) {
                        (KillTarget::Transmitter, false) => {
                            format!("process group {pgid} still alive: SIGKILL sent")
                        }
                        (KillTarget::Maxkill, false) => format!(
                            "maxkill command pid {pgid} still running after the grace: SIGKILL sent to its process group"
                        ),
                        (KillTarget::Transmitter, true) => {
                            format!("stopping: process group {pgid} still alive: SIGKILL sent")
                        }
                        (KillTarget::Maxkill, true) => format!(
                            "stopping: maxkill command's process group {pgid} still alive: SIGKILL sent"
                        ),
                    };
                    self.log.line(&client, &msg);
                }
            }
            Action::RemoveFlag { pid, flag } => {
                let _ = fs::remove_file(self.paths.x.join(&flag));
                if let Some(f) = self.jobs.get(&pid) {
                    if let Some(j) = &f.ftp {
                        let _ = fs::remove_file(&j.cmdfile);
                    }
                }
            }
            Action::DeleteRecord { record } => {
                let _ = fs::remove_file(self.paths.control.join(&record));
            }
            Action::GiveUp {
                record,
                client,
                attempts,
                why,
            } => {
                let path = self.paths.control.join(&record);
                let removed = match fs::remove_file(&path) {
                    Ok(()) => "control record deleted".to_string(),
                    Err(e) => format!("unable to delete {}: {e}", path.display()),
                };
                self.log.line(
                    &client,
                    &format!(
                        "gave up after {attempts} attempts ({why}); {removed}; queued files kept"
                    ),
                );
            }
        }
    }

    /// maxkill for attempt `pid`: its own session and process group, its output to the
    /// attempt's log.
    fn run_maxkill(&mut self, pid: i32, words: Vec<String>) {
        let out = self.jobs.get(&pid).and_then(|f| open_append(&f.log).ok());
        let stdio = Stdio3 {
            stdin: Io::Null,
            stdout: out
                .as_ref()
                .and_then(|f| f.try_clone().ok())
                .map_or(Io::Null, Io::from),
            stderr: out.map_or(Io::Null, Io::from),
        };
        match spawn::spawn(&words, stdio, None, &self.paths.root) {
            Ok(kpid) => self.feed(Event::MaxkillStarted { pid, kpid }),
            Err(e) => self.feed(Event::MaxkillFailed {
                pid,
                error: e.to_string(),
            }),
        }
    }

    /// Act on every waiting request and answer it.
    pub(super) fn serve_requests(&mut self) {
        let dir = self.paths.ctl.clone();
        let requests = ctl::take_requests(&dir);
        for (id, req) in requests {
            let (what, reply) = match req {
                Ok(r) => {
                    let reply = match &r {
                        Request::Force(client) => {
                            let (reply, clients) = self.core.force(client.as_deref(), now());
                            self.tables.forget_clients(&clients);
                            reply
                        }
                        Request::Kill(client) => {
                            let (reply, acts) = self.core.kill_request(client, now());
                            self.todo.extend(acts);
                            self.run_todo();
                            reply
                        }
                    };
                    (r.to_string(), reply)
                }
                Err(e) => (String::from("?"), Reply::Refused(e)),
            };
            let (said, ans) = match reply {
                Reply::Done(m) => (m.clone(), Answer::Done(m)),
                Reply::Refused(m) => (format!("refused: {m}"), Answer::Refused(m)),
            };
            self.log
                .line(NO_CLIENT, &format!("request {what} (ipsynd -f/-k): {said}"));
            if let Err(e) = ctl::answer(&dir, &id, &ans) {
                self.log.line(
                    NO_CLIENT,
                    &format!("unable to answer request {id} in {}: {e}", dir.display()),
                );
            }
        }
        ctl::sweep(&dir, ANSWER_KEPT);
    }
}
