//! Ending attempts: over `maxtime:` (SIGTERM or the maxkill command, SIGKILL after the
//! grace), and at stop.

use super::{log, Action, Core, KillTarget, Now, PendingKill, Sig};

impl Core {
    pub(super) fn deadlines(&mut self, now: Now, out: &mut Vec<Action>) {
        let mut over: Vec<i32> = self
            .jobs
            .iter()
            .filter(|(_, j)| !j.killed && j.deadline.is_some_and(|d| d <= now.mono))
            .map(|(p, _)| *p)
            .collect();
        over.sort();
        for pid in over {
            let secs = now.mono.duration_since(self.jobs[&pid].started).as_secs();
            self.end_attempt(
                pid,
                now,
                &format!("over maxtime ({secs}s)"),
                "killed after maxtime",
                out,
            );
        }
        let (due, waiting): (Vec<PendingKill>, Vec<PendingKill>) =
            std::mem::take(&mut self.kill_after)
                .into_iter()
                .partition(|k| k.at <= now.mono);
        self.kill_after = waiting;
        for k in due {
            out.push(Action::KillIfAlive {
                pgid: k.pgid,
                client: self.client_name(k.client).to_string(),
                target: k.target,
                stopping: false,
            });
        }
    }

    /// End attempt `pid` as maxtime does (maxkill, or TERM then KILL after the grace);
    /// `what` says why in the log lines, `reason` in the failure line.
    pub(super) fn end_attempt(
        &mut self,
        pid: i32,
        now: Now,
        what: &str,
        reason: &'static str,
        out: &mut Vec<Action>,
    ) {
        let grace = self.grace;
        let Some(job) = self.jobs.get_mut(&pid) else {
            return;
        };
        job.killed = true;
        job.kill_reason = reason;
        job.kill_what = what.to_string();
        let c = job.client;
        match job.maxkill.clone() {
            Some(mut words) if !words.is_empty() => {
                words.push(pid.to_string());
                out.push(Action::RunMaxkill { pid, words });
            }
            _ => {
                out.push(Action::Signal {
                    pgid: pid,
                    sig: Sig::Term,
                });
                self.kill_after.push(PendingKill {
                    pgid: pid,
                    at: now.mono + grace,
                    client: c,
                    target: KillTarget::Transmitter,
                });
                log(
                    out,
                    &self.clients[c.0 as usize].name,
                    format!("pid {pid} {what}: SIGTERM sent to its process group"),
                );
            }
        }
    }

    pub(super) fn maxkill_started(&mut self, pid: i32, kpid: i32, now: Now, out: &mut Vec<Action>) {
        let Some(job) = self.jobs.get(&pid) else {
            return;
        };
        let c = job.client;
        let words = job
            .maxkill
            .clone()
            .unwrap_or_default()
            .into_iter()
            .chain(std::iter::once(pid.to_string()))
            .collect::<Vec<_>>()
            .join(" ");
        let what = job.kill_what.clone();
        self.maxkills.insert(kpid, c);
        // The transmitter if maxkill did not end it, and maxkill itself (its own session,
        // like every child) if it hangs.
        for (pgid, target) in [(pid, KillTarget::Transmitter), (kpid, KillTarget::Maxkill)] {
            self.kill_after.push(PendingKill {
                pgid,
                at: now.mono + self.grace,
                client: c,
                target,
            });
        }
        let client = self.client_name(c).to_string();
        log(
            out,
            &client,
            format!("pid {pid} {what}: maxkill started: {words}"),
        );
    }

    pub(super) fn maxkill_failed(&mut self, pid: i32, error: &str, out: &mut Vec<Action>) {
        let Some(job) = self.jobs.get(&pid) else {
            return;
        };
        let what = job.kill_what.clone();
        let client = self.client_name(job.client).to_string();
        out.push(Action::Signal {
            pgid: pid,
            sig: Sig::Kill,
        });
        log(
            out,
            &client,
            format!("pid {pid} {what}: maxkill could not start ({error}); SIGKILL sent"),
        );
    }

    /// TERM or INT: transmitters are left running, except those being killed (maxtime,
    /// `-k`) whose grace has not passed: nobody would finish the kill, and a TERM-proof one
    /// would keep its flag, locking its port for good. They get SIGKILL now and their flags
    /// go, as they would have at the end of the grace.
    pub(super) fn stop(&mut self, signal: &str, out: &mut Vec<Action>) {
        self.stopped = true;
        let mut killed: Vec<i32> = self
            .jobs
            .iter()
            .filter(|(_, j)| j.killed)
            .map(|(p, _)| *p)
            .collect();
        killed.sort();
        for &pid in &killed {
            let Some(job) = self.jobs.remove(&pid) else {
                continue;
            };
            out.push(Action::Signal {
                pgid: pid,
                sig: Sig::Kill,
            });
            out.push(Action::RemoveFlag {
                pid,
                flag: job.flag.clone(),
            });
            log(
                out,
                self.client_name(job.client),
                format!(
                    "stopping while pid {pid} is killed for maxtime: SIGKILL sent to its process group, flag removed"
                ),
            );
        }
        for k in std::mem::take(&mut self.kill_after) {
            // Transmitter groups whose leader was just killed above are done; the rest lost
            // their leader already (reaped) but may hold its children. A maxkill command
            // still running is ended too: nobody would bound it after this.
            if !killed.contains(&k.pgid) {
                out.push(Action::KillIfAlive {
                    pgid: k.pgid,
                    client: self.client_name(k.client).to_string(),
                    target: k.target,
                    stopping: true,
                });
            }
        }
        log(
            out,
            super::super::log::NO_CLIENT,
            format!(
                "stopping on {signal}; {} transmission(s) left running",
                self.jobs.len()
            ),
        );
    }
}
