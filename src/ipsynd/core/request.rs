//! Requests from `ipsynd -f` (attempt now) and `ipsynd -k` (end a client's attempts).

use std::rc::Rc;

use super::super::record::RecordState;
use super::index::Lookup;
use super::{Action, Core, Now, Reply};

impl Core {
    /// `ipsynd -f [CLIENT]`: every record (of `client`) that waits for its next attempt is
    /// due now; its client file is read again (the clients come back for the shell to
    /// re-read). The attempts it has used stay counted.
    pub fn force(&mut self, client: Option<&str>, now: Now) -> (Reply, Vec<String>) {
        let mut due: Vec<Rc<str>> = Vec::new();
        let mut running = Vec::new();
        for (name, r) in &self.records {
            if client.is_some_and(|c| c != self.client_name(r.client)) || r.blocked {
                continue;
            }
            if let Some(pid) = r.running {
                running.push(format!("{name} (pid {pid})"));
                continue;
            }
            due.push(name.clone());
        }
        let mut clients: Vec<String> = Vec::new();
        for n in &due {
            self.unplace(n);
            let r = self.records.get_mut(n).expect("record");
            r.next_at = None;
            r.next_wall = 0;
            r.missing_reported = false;
            if r.state == RecordState::RetryWait {
                r.state = RecordState::Ready;
            }
            let c = r.client;
            let cname = self.client_name(c).to_string();
            if !clients.contains(&cname) {
                clients.push(cname);
            }
            // Read again: unknown until the shell answers with the file.
            self.client_mut(c).lookup = Lookup::Unknown;
            self.place(n, now.mono);
        }
        self.dirty = true;
        let reply = match client {
            Some(c) if due.is_empty() && running.is_empty() => {
                Reply::Refused(format!("no record for {c} in the queue"))
            }
            Some(c) if due.is_empty() => Reply::Refused(format!(
                "{c} is being transmitted already: {}",
                running.join(", ")
            )),
            _ => {
                let list = if due.is_empty() {
                    String::new()
                } else {
                    format!(
                        ": {}",
                        due.iter().map(|n| &**n).collect::<Vec<_>>().join(", ")
                    )
                };
                Reply::Done(format!("{} record(s) due now{list}", due.len()))
            }
        };
        (reply, clients)
    }

    /// `ipsynd -k CLIENT`: end its running attempt as maxtime would (maxkill, or TERM then
    /// KILL after the grace); the attempt counts as failed.
    pub fn kill_request(&mut self, client: &str, now: Now) -> (Reply, Vec<Action>) {
        let mut out = Vec::new();
        let mut mine: Vec<(i32, u32)> = Vec::new();
        let mut ending = false;
        for (pid, j) in &self.jobs {
            if self.client_name(j.client) == client {
                if j.killed {
                    ending = true;
                } else {
                    mine.push((*pid, j.attempt));
                }
            }
        }
        if mine.is_empty() {
            if ending {
                let r = format!("{client}: its attempt is being ended already");
                return (Reply::Refused(r), out);
            }
            if let Some(f) = self
                .flags
                .values()
                .find(|f| !f.own && !f.stale && self.client_name(f.client) == client)
            {
                let r = format!(
                    "{client}: its transmitter pid {} was not started by this ipsynd; not ended",
                    f.pid
                );
                return (Reply::Refused(r), out);
            }
            return (
                Reply::Refused(format!("{client} has no running attempt")),
                out,
            );
        }
        mine.sort();
        let mut ended = Vec::new();
        for (pid, attempt) in mine {
            self.end_attempt(
                pid,
                now,
                "ended on request (ipsynd -k)",
                "killed on request (ipsynd -k)",
                &mut out,
            );
            ended.push(format!("attempt {attempt} pid {pid}"));
        }
        let r = format!(
            "{client}: {} being ended as maxtime would",
            ended.join(", ")
        );
        (Reply::Done(r), out)
    }
}
