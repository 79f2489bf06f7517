//! The daemon's side of `ipsynd -f` and `ipsynd -k` (the request files are `ctl.rs`):
//! taken on USR1 and at every rescan, acted on in the daemon's own loop, answered.

use std::time::{Duration, Instant};

use super::ctl::{self, Answer, Request};
use super::daemon::Daemon;
use super::log::NO_CLIENT;
use super::record::RecordState;

/// Answers nobody took within this are removed.
const ANSWER_KEPT: Duration = Duration::from_secs(60);

impl Daemon {
    /// Act on every waiting request and answer it.
    pub(super) fn serve_requests(&mut self, now: Instant) {
        let dir = self.paths.ctl.clone();
        let requests = ctl::take_requests(&dir);
        if !requests.is_empty() {
            // A record written just before the request is one to act on too.
            self.sync_records();
        }
        for (id, req) in requests {
            let (what, ans) = match req {
                Ok(r) => {
                    let ans = match &r {
                        Request::Force(client) => self.force(client.as_deref()),
                        Request::Kill(client) => self.kill_request(client, now),
                    };
                    (r.to_string(), ans)
                }
                Err(e) => (String::from("?"), Answer::Refused(e)),
            };
            let said = match &ans {
                Answer::Done(m) => m.clone(),
                Answer::Refused(m) => format!("refused: {m}"),
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

    /// `ipsynd -f [CLIENT]`: every record (of `client`) that waits for its next attempt is
    /// due now; its client file is read again. The attempts it has used stay counted.
    fn force(&mut self, client: Option<&str>) -> Answer {
        let mut due = Vec::new();
        let mut running = Vec::new();
        for r in self.records.values_mut() {
            if client.is_some_and(|c| c != r.client) || r.blocked.is_some() {
                continue;
            }
            if let Some(pid) = r.running {
                running.push(format!("{} (pid {pid})", r.name));
                continue;
            }
            r.next_at = None;
            r.next_wall = None;
            r.missing_reported = false;
            if r.state == RecordState::RetryWait {
                r.state = RecordState::Ready;
            }
            due.push((r.name.clone(), r.client.clone()));
        }
        let clients: Vec<String> = due.iter().map(|(_, c)| c.clone()).collect();
        self.tables.forget_clients(&clients);
        match client {
            Some(c) if due.is_empty() && running.is_empty() => {
                Answer::Refused(format!("no record for {c} in the queue"))
            }
            Some(c) if due.is_empty() => Answer::Refused(format!(
                "{c} is being transmitted already: {}",
                running.join(", ")
            )),
            _ => {
                let names: Vec<&str> = due.iter().map(|(n, _)| n.as_str()).collect();
                let list = if names.is_empty() {
                    String::new()
                } else {
                    format!(": {}", names.join(", "))
                };
                Answer::Done(format!("{} record(s) due now{list}", names.len()))
            }
        }
    }

    /// `ipsynd -k CLIENT`: end its running attempt as maxtime would (maxkill, or TERM then
    /// KILL after the grace); the attempt counts as failed.
    fn kill_request(&mut self, client: &str, now: Instant) -> Answer {
        let mut mine: Vec<(i32, u32)> = Vec::new();
        let mut ending = false;
        for (pid, j) in &self.jobs {
            if j.client == client {
                if j.killed {
                    ending = true;
                } else {
                    mine.push((*pid, j.attempt));
                }
            }
        }
        if mine.is_empty() {
            if ending {
                return Answer::Refused(format!("{client}: its attempt is being ended already"));
            }
            if let Some((f, _)) = self
                .flags_seen
                .iter()
                .find(|(f, stale)| f.client == client && !stale)
            {
                return Answer::Refused(format!(
                    "{client}: its transmitter pid {} was not started by this ipsynd; not ended",
                    f.pid
                ));
            }
            return Answer::Refused(format!("{client} has no running attempt"));
        }
        mine.sort();
        let mut ended = Vec::new();
        for (pid, attempt) in mine {
            self.end_attempt(
                pid,
                now,
                "ended on request (ipsynd -k)",
                "killed on request (ipsynd -k)",
            );
            ended.push(format!("attempt {attempt} pid {pid}"));
        }
        Answer::Done(format!(
            "{client}: {} being ended as maxtime would",
            ended.join(", ")
        ))
    }
}
