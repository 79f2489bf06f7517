//! Starting attempts: service order within port and client limits, the plan for the
//! shell, and its answer (started, or why not).

use std::rc::Rc;
use std::time::Duration;

use super::super::record::{RecordId, RecordState};
use super::super::schedule::use_alt;
use super::index::{ClientId, Key, Lookup, PortId};
use super::record::Place;
use super::{log, spawn_failure, Action, Core, Flag, Job, Now, Plan, StartFailure};
use crate::fip::tables::{ClientParams, TIMEOUT_DEFAULT};

impl Core {
    /// Start every record that may start now, in service order (prior, age, name), within
    /// port capacity; end attempts past their maxtime; SIGKILL groups whose grace is over.
    pub fn dispatch(&mut self, now: Now) -> Vec<Action> {
        let mut out = Vec::new();
        if self.stopped {
            return out;
        }
        self.deadlines(now, &mut out);
        while let Some((at, _)) = self.timers.first() {
            if *at > now.mono {
                break;
            }
            let (_, name) = self.timers.pop_first().expect("timer");
            if let Some(r) = self.records.get_mut(&name) {
                r.place = Place::None;
            }
            self.place(&name, now.mono);
        }
        while let Some(key) = self.ready.pop_first() {
            let Some(r) = self.records.get_mut(&key.name) else {
                continue;
            };
            r.place = Place::None;
            let c = r.client;
            self.try_start(key, now, &mut out);
            // It did not start (it waits for a port, its client file went) and its client is
            // still idle: the next of the client's waiters gets its turn (see `wake_client`).
            self.wake_client(c);
        }
        if !self.pending.is_empty() {
            let mut p = std::mem::take(&mut self.pending);
            p.append(&mut out);
            out = p;
        }
        out
    }

    pub(super) fn try_start(&mut self, key: Key, now: Now, out: &mut Vec<Action>) {
        let name = key.name.clone();
        let Some(r) = self.records.get(&name) else {
            return;
        };
        let c = r.client;
        let cp = match &self.client(c).lookup {
            Lookup::Found(cp) => cp.clone(),
            _ => {
                self.place(&name, now.mono);
                return;
            }
        };
        let attempt = r.attempts + 1;
        let r = self.records.get_mut(&name).expect("record");
        r.retry = cp.retry;
        if self.clients[c.0 as usize].busy > 0 {
            r.state = RecordState::BusyElsewhere;
            r.place = Place::Client;
            self.moved += 1;
            self.client_mut(c)
                .wait
                .get_or_insert_with(Default::default)
                .insert(key);
            self.dirty = true;
            return;
        }
        let route = Self::route_of_attempt(&cp, attempt);
        let mut port = None;
        if let Some(rt) = &route {
            let rid = self.route_id(rt);
            let ports = self.route_ports.get(&rid).cloned().unwrap_or_default();
            if ports.is_empty() {
                if self.warned_routes.insert(rid) {
                    log(
                        out,
                        &cp.name,
                        format!("route {rt} has no entry in PORTS; running without a port lock"),
                    );
                }
            } else {
                let free = ports
                    .iter()
                    .find(|p| self.in_use[p.0 as usize] < self.cap[p.0 as usize]);
                match free {
                    Some(p) => port = Some(*p),
                    None => {
                        // Not an attempt: wait for a port, let others go ahead (§6.6).
                        let r = self.records.get_mut(&name).expect("record");
                        r.state = RecordState::WaitingPort;
                        r.place = Place::Route(rid);
                        self.moved += 1;
                        self.route_wait.entry(rid).or_default().insert(key);
                        self.dirty = true;
                        return;
                    }
                }
            }
        }
        self.take_port(port);
        self.busy(c, true);
        self.starting.insert(name.clone(), (port, c));
        out.push(Action::Start(Plan {
            record: name.to_string(),
            client: cp,
            attempt,
            route,
            port: port.map(|p| self.port(p).clone()),
        }));
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn started(
        &mut self,
        record: &str,
        pid: i32,
        flag: String,
        maxkill: Option<Vec<String>>,
        (display, id): (String, RecordId),
        now: Now,
        out: &mut Vec<Action>,
    ) {
        let Some((name, (port, c))) = self.starting.remove_entry(record) else {
            return;
        };
        let Lookup::Found(cp) = self.client(c).lookup.clone() else {
            // Not possible: the lookup is set to Unknown only by a table read, which never
            // comes between a Start and its answer. Count it as a job all the same.
            return self.started_without_params(name, pid, flag, port, c, now);
        };
        let r = self.records.get_mut(&name).expect("record");
        r.attempts += 1;
        r.retry = cp.retry;
        r.port = port;
        r.running = Some(pid);
        r.state = RecordState::Running;
        r.next_at = None;
        r.next_wall = 0;
        r.id = id;
        let attempt = r.attempts;
        let record_id = r.id;
        self.dirty = true;
        self.flags.insert(
            flag.clone().into_boxed_str(),
            Flag {
                client: c,
                port,
                pid,
                start: 0,
                stale: false,
                own: true,
                reported: false,
            },
        );
        self.jobs.insert(
            pid,
            Job {
                deadline: (cp.maxtime > 0).then(|| now.mono + Duration::from_secs(cp.maxtime)),
                maxkill,
                timeout: cp.timeout,
                ..Job::new(name, c, attempt, flag, now.mono, record_id, port)
            },
        );
        let via = match (Self::route_of_attempt(&cp, attempt), port) {
            (Some(r), Some(p)) => {
                let pp = self.port(p);
                format!(" route {r} port {}:{}", pp.host, pp.port)
            }
            (Some(r), None) => format!(" route {r}"),
            (None, _) => String::new(),
        };
        log(
            out,
            &cp.name,
            format!(
                "attempt {attempt}/{} started{via} pid {pid}: {display}",
                cp.retry
            ),
        );
    }

    /// The route attempt number `attempt` of `cp` takes: its `alt:` every `tryalt:`-th.
    pub(super) fn route_of_attempt(cp: &ClientParams, attempt: u32) -> Option<String> {
        if use_alt(attempt, cp.tryalt, cp.alt.is_some()) {
            cp.alt.as_deref().map(String::from)
        } else {
            cp.route.as_deref().map(String::from)
        }
    }

    pub(super) fn started_without_params(
        &mut self,
        name: Rc<str>,
        pid: i32,
        flag: String,
        port: Option<PortId>,
        c: ClientId,
        now: Now,
    ) {
        let r = self.records.get_mut(&name).expect("record");
        r.attempts += 1;
        r.running = Some(pid);
        r.state = RecordState::Running;
        let (attempt, record_id) = (r.attempts, r.id);
        self.jobs.insert(
            pid,
            Job::new(name, c, attempt, flag, now.mono, record_id, port),
        );
    }

    pub(super) fn start_failed(
        &mut self,
        record: &str,
        why: StartFailure,
        now: Now,
        out: &mut Vec<Action>,
    ) {
        let Some((name, (port, c))) = self.starting.remove_entry(record) else {
            return;
        };
        let cp = match &self.client(c).lookup {
            Lookup::Found(cp) => Some(cp.clone()),
            _ => None,
        };
        let timeout = cp.as_ref().map_or(TIMEOUT_DEFAULT, |cp| cp.timeout);
        // The claim goes (no child holds the flag): first the record's new place, so a
        // freed port or client does not pick it again at once.
        let why = match why {
            StartFailure::Spawn { errno } if spawn_failure(errno).deferred() => {
                StartFailure::Deferred
            }
            StartFailure::Spawn { .. } => StartFailure::Failed("could not start".into()),
            why => why,
        };
        match why {
            StartFailure::Gone | StartFailure::NothingToSend => self.remove_record(&name),
            StartFailure::Deferred => {
                // Try again `timeout` seconds from now without counting an attempt.
                self.retry_in(&name, now, Duration::from_secs(timeout.max(1)));
            }
            StartFailure::Spawn { .. } => unreachable!("classified above"),
            StartFailure::Failed(text) => {
                if let Some(r) = self.records.get_mut(&name) {
                    r.attempts += 1;
                    r.port = port;
                    if let Some(cp) = &cp {
                        r.retry = cp.retry;
                    }
                }
                self.record_failure(&name, c, timeout, now, &text, out);
            }
        }
        self.busy(c, false);
        self.free_port(port);
    }
}
