//! Ending attempts that overrun `maxtime` (spec §6.5, §10.6): run `maxkill` (its own
//! session and process group, the transmitter's pid appended) or SIGTERM the transmitter's
//! group; `grace` seconds later SIGKILL every group that still lives, the transmitter's and a
//! hanging maxkill's alike. Stopping ipsynd finishes the kills it has begun. The killed
//! children are reaped by the daemon's one `waitpid` loop like any other.

use std::fs;
use std::process::Stdio;
use std::time::Instant;

use nix::sys::signal::Signal;

use super::attempt::open_append;
use super::daemon::{Daemon, JobKind};
use super::spawn::{self, Stdio3};
use crate::sys::reap::ExitKind;

/// Whose process group a [`PendingKill`] ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillTarget {
    /// An attempt over maxtime, after its SIGTERM or its maxkill.
    Transmitter,
    /// The maxkill command itself: one that hangs must not live on.
    Maxkill,
}

/// A process group to SIGKILL at `at` if it still lives (the end of the `grace`).
#[derive(Debug, Clone)]
pub struct PendingKill {
    pub pgid: i32,
    pub at: Instant,
    pub client: String,
    pub target: KillTarget,
}

impl Daemon {
    /// Start killing the attempts past their maxtime; SIGKILL the groups whose grace is over.
    pub(super) fn enforce_deadlines(&mut self, now: Instant) {
        let over: Vec<i32> = self
            .jobs
            .iter()
            .filter(|(_, j)| !j.killed && j.deadline.is_some_and(|d| d <= now))
            .map(|(p, _)| *p)
            .collect();
        for pid in over {
            self.kill_overrun(pid, now);
        }
        let (grace_over, waiting) = std::mem::take(&mut self.kill_after)
            .into_iter()
            .partition(|k| k.at <= now);
        self.kill_after = waiting;
        for k in grace_over {
            // kill_group says whether the group still existed: no separate liveness check.
            if spawn::kill_group(k.pgid, Signal::SIGKILL) {
                let msg = match k.target {
                    KillTarget::Transmitter => {
                        format!("process group {} still alive: SIGKILL sent", k.pgid)
                    }
                    KillTarget::Maxkill => format!(
                        "maxkill command pid {} still running after the grace: SIGKILL sent to its process group",
                        k.pgid
                    ),
                };
                self.log.line(&k.client, &msg);
            }
        }
    }

    /// Stopping: transmitters are left running, except those ipsynd has begun to kill
    /// (maxtime) and whose grace has not passed: nobody would finish the kill, and a
    /// TERM-proof one would keep its flag, locking its port for good. They get SIGKILL now
    /// and their flags go, as they would have at the end of the grace.
    pub(super) fn finish_kills_on_exit(&mut self) {
        let killed: Vec<i32> = self
            .jobs
            .iter()
            .filter(|(_, j)| j.killed)
            .map(|(p, _)| *p)
            .collect();
        for &pid in &killed {
            let Some(job) = self.jobs.remove(&pid) else {
                continue;
            };
            spawn::kill_group(pid, Signal::SIGKILL);
            let _ = fs::remove_file(&job.flag);
            if let JobKind::Ftp(f) = &job.kind {
                let _ = fs::remove_file(&f.cmdfile);
            }
            self.log.line(
                &job.client,
                &format!(
                    "stopping while pid {pid} is killed for maxtime: SIGKILL sent to its process group, flag removed"
                ),
            );
        }
        for k in std::mem::take(&mut self.kill_after) {
            // Transmitter groups whose leader was just killed above are done; the rest lost
            // their leader already (reaped) but may hold its children. A maxkill command
            // still running is ended too: nobody would bound it after this.
            if !killed.contains(&k.pgid) && spawn::kill_group(k.pgid, Signal::SIGKILL) {
                let what = match k.target {
                    KillTarget::Transmitter => "process group",
                    KillTarget::Maxkill => "maxkill command's process group",
                };
                self.log.line(
                    &k.client,
                    &format!("stopping: {what} {} still alive: SIGKILL sent", k.pgid),
                );
            }
        }
    }

    /// maxtime passed: run maxkill (pid appended) or TERM the group; KILL after the grace.
    pub(super) fn kill_overrun(&mut self, pid: i32, now: Instant) {
        let Some(job) = self.jobs.get(&pid) else {
            return;
        };
        let secs = now.duration_since(job.started).as_secs();
        self.end_attempt(
            pid,
            now,
            &format!("over maxtime ({secs}s)"),
            "killed after maxtime",
        );
    }

    /// End attempt `pid` as maxtime does (maxkill, or TERM then KILL after the grace);
    /// `what` says why in the log lines, `reason` in the failure line.
    pub(super) fn end_attempt(&mut self, pid: i32, now: Instant, what: &str, reason: &'static str) {
        let grace = self.tables.params.grace;
        let Some(job) = self.jobs.get_mut(&pid) else {
            return;
        };
        job.killed = true;
        job.kill_reason = reason;
        let client = job.client.clone();
        match job.maxkill.clone() {
            Some(mut words) if !words.is_empty() => {
                words.push(pid.to_string());
                let out = open_append(&job.log).ok();
                let stdio = Stdio3 {
                    stdin: Stdio::null(),
                    stdout: out
                        .as_ref()
                        .and_then(|f| f.try_clone().ok())
                        .map_or(Stdio::null(), Stdio::from),
                    stderr: out.map_or(Stdio::null(), Stdio::from),
                };
                match spawn::spawn(&words, stdio, None, &self.paths.root) {
                    Ok(kpid) => {
                        self.maxkills.insert(kpid, client.clone());
                        // The transmitter if maxkill did not end it, and maxkill itself
                        // (its own session, like every child) if it hangs.
                        self.kill_at(pid, now + grace, &client, KillTarget::Transmitter);
                        self.kill_at(kpid, now + grace, &client, KillTarget::Maxkill);
                        self.log.line(
                            &client,
                            &format!("pid {pid} {what}: maxkill started: {}", words.join(" ")),
                        );
                    }
                    Err(e) => {
                        spawn::kill_group(pid, Signal::SIGKILL);
                        self.log.line(
                            &client,
                            &format!(
                                "pid {pid} {what}: maxkill could not start ({e}); SIGKILL sent"
                            ),
                        );
                    }
                }
            }
            _ => {
                spawn::kill_group(pid, Signal::SIGTERM);
                self.kill_at(pid, now + grace, &client, KillTarget::Transmitter);
                self.log.line(
                    &client,
                    &format!("pid {pid} {what}: SIGTERM sent to its process group"),
                );
            }
        }
    }

    /// SIGKILL group `pgid` at `at` if it still lives then.
    fn kill_at(&mut self, pgid: i32, at: Instant, client: &str, target: KillTarget) {
        self.kill_after.push(PendingKill {
            pgid,
            at,
            client: client.to_string(),
            target,
        });
    }

    /// A maxkill command has been reaped.
    pub(super) fn maxkill_ended(&mut self, pid: i32, how: ExitKind) {
        let Some(client) = self.maxkills.remove(&pid) else {
            return;
        };
        self.log
            .line(&client, &format!("maxkill command ended ({how})"));
        // Its group gone with it, nothing is left to bound (and the number must not be
        // signalled later, once it may have been reused).
        if !spawn::group_alive(pid) {
            self.kill_after
                .retain(|k| !(k.target == KillTarget::Maxkill && k.pgid == pid));
        }
    }
}
