//! The end of an attempt: done, failed and retried after `timeout:`, or given up after
//! `retry:` attempts (spec §6).

use std::rc::Rc;
use std::time::{Duration, SystemTime};

use super::super::record::{after_failure, AfterFailure, RecordId, RecordState};
use super::index::ClientId;
use super::record;
use super::{log, Action, Core, FlagSeen, KillTarget, Now};
use crate::sys::reap::ExitKind;

impl Core {
    pub(super) fn retry_in(&mut self, name: &Rc<str>, now: Now, d: Duration) {
        self.unplace(name);
        if let Some(r) = self.records.get_mut(name) {
            r.running = None;
            r.next_at = Some(now.mono + d);
            r.next_wall = record::epoch_secs(now.wall + d);
            r.state = RecordState::RetryWait;
            self.place(name, now.mono);
        }
    }

    /// A failed attempt (already counted): the next one `timeout` later, or give up.
    pub(super) fn record_failure(
        &mut self,
        name: &Rc<str>,
        c: ClientId,
        timeout: u64,
        now: Now,
        why: &str,
        out: &mut Vec<Action>,
    ) {
        let Some(r) = self.records.get_mut(name) else {
            return;
        };
        r.running = None;
        let client = self.clients[c.0 as usize].name.to_string();
        match after_failure(r.attempts, r.retry, timeout) {
            AfterFailure::RetryIn(d) => {
                let msg = format!(
                    "attempt {}/{} failed ({why}); next attempt in {}s",
                    r.attempts,
                    r.retry,
                    d.as_secs()
                );
                self.retry_in(name, now, d);
                log(out, &client, msg);
            }
            AfterFailure::GiveUp => {
                let attempts = r.attempts;
                self.remove_record(name);
                out.push(Action::GiveUp {
                    record: name.to_string(),
                    client,
                    attempts,
                    why: why.to_string(),
                });
            }
        }
    }

    /// A started attempt's program never ran: its flag goes (ipsynd deletes the flag of an
    /// attempt that could not exec, spec §6.1), its client and port are free. `counted`:
    /// the attempt (counted at its `Started`) failed; else it is taken back and the record
    /// waits `timeout` (at least 1 s), as after a `Deferred` start.
    pub(super) fn exec_failed(&mut self, pid: i32, counted: bool, now: Now, out: &mut Vec<Action>) {
        let Some(job) = self.jobs.remove(&pid) else {
            return;
        };
        self.dirty = true;
        self.flags.remove(job.flag.as_str());
        out.push(Action::RemoveFlag {
            pid,
            flag: job.flag.clone(),
        });
        if let Some(r) = self.records.get_mut(&job.record) {
            r.running = None;
            if !counted {
                r.attempts = r.attempts.saturating_sub(1);
            }
        }
        if counted {
            self.record_failure(
                &job.record,
                job.client,
                job.timeout,
                now,
                "could not start",
                out,
            );
        } else if self.records.contains_key(&job.record) {
            self.retry_in(&job.record, now, Duration::from_secs(job.timeout.max(1)));
        }
        self.busy(job.client, false);
        if job.holds_port {
            self.free_port(job.port);
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn child_exited(
        &mut self,
        pid: i32,
        how: ExitKind,
        flag_left: bool,
        record_now: Option<(RecordId, SystemTime)>,
        group_alive: bool,
        now: Now,
        out: &mut Vec<Action>,
    ) {
        if let Some(c) = self.maxkills.remove(&pid) {
            let client = self.client_name(c).to_string();
            log(out, &client, format!("maxkill command ended ({how})"));
            // Its group gone with it, nothing is left to bound (and the number must not be
            // signalled later, once it may have been reused).
            if !group_alive {
                self.kill_after
                    .retain(|k| !(k.target == KillTarget::Maxkill && k.pgid == pid));
            }
            return;
        }
        let Some(job) = self.jobs.remove(&pid) else {
            return;
        };
        let client = self.client_name(job.client).to_string();
        self.dirty = true;
        // The flag: removed by us for a killed attempt; one the transmitter left behind
        // stays, stale, and keeps its port as any stale flag does.
        let own = self.flags.remove(job.flag.as_str());
        if job.killed {
            out.push(Action::RemoveFlag {
                pid,
                flag: job.flag.clone(),
            });
        }
        let left = flag_left && !job.killed && own.is_some();
        if left {
            log(
                out,
                &client,
                format!(
                    "transmitter pid {pid} ended without deleting its flag {}/{}",
                    self.cfg.x, job.flag
                ),
            );
        }
        let record = job.record.clone();
        let same = self
            .records
            .get(&record)
            .is_some_and(|r| record_now.is_some_and(|(id, _)| id == r.id));
        if let Some(r) = self.records.get_mut(&record) {
            r.running = None;
        }
        let secs = now.mono.duration_since(job.started).as_secs();
        if !same {
            log(
                out,
                &client,
                format!(
                    "attempt {} done ({how}, {secs}s): transmission complete",
                    job.attempt
                ),
            );
            // The record is gone, or is a new request under the same name.
            self.remove_record(&record);
            if let Some((id, mtime)) = record_now {
                self.add_record(record.to_string(), &client, id, mtime, now, out);
            }
        } else {
            let why = if job.killed {
                format!("{}, {how}", job.kill_reason)
            } else {
                format!("{how}, control record still there")
            };
            self.record_failure(&record, job.client, job.timeout, now, &why, out);
        }
        if left {
            // Now a stale flag like any other (our child was never stale while it ran).
            let port = job.port.map(|p| self.port(p).clone());
            self.flag_seen(
                FlagSeen {
                    name: job.flag.clone(),
                    client: client.clone(),
                    port,
                    pid,
                    start: 0,
                    stale: true,
                },
                out,
            );
        }
        self.busy(job.client, false);
        if job.holds_port {
            self.free_port(job.port);
        }
    }
}
