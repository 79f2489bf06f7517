//! Placing records: each idle record waits in exactly one index (ready, a route's port
//! queue, its busy client's queue, the timer set, or held for its client file); a freed
//! port or client wakes only its own waiters.

use std::rc::Rc;
use std::time::Instant;

use super::super::record::RecordState;
use super::index::{ClientId, Key, Lookup, PortId};
use super::record::{Place, Rec};
use super::{log, Core};

impl Core {
    pub(super) fn key(name: &Rc<str>, r: &Rec) -> Key {
        Key::new(r.prior, r.mtime, name.clone())
    }

    /// Take a record out of whatever index holds it.
    pub(super) fn unplace(&mut self, name: &Rc<str>) {
        let Some(r) = self.records.get_mut(name) else {
            return;
        };
        let place = std::mem::replace(&mut r.place, Place::None);
        let key = Self::key(name, r);
        let client = r.client;
        let next_at = r.next_at;
        match place {
            Place::None => {}
            Place::Ready => {
                self.ready.remove(&key);
            }
            Place::Timer => {
                if let Some(at) = next_at {
                    self.timers.remove(&(at, name.clone()));
                }
            }
            Place::Route(rt) => {
                if let Some(s) = self.route_wait.get_mut(&rt) {
                    s.remove(&key);
                }
            }
            Place::Client => {
                let e = self.client_mut(client);
                if let Some(w) = &mut e.wait {
                    w.remove(&key);
                    if w.is_empty() {
                        e.wait = None;
                    }
                }
            }
            Place::Held => {
                // Held lists are swept when taken; a stale entry is skipped there.
            }
        }
    }

    /// Put an idle record where it waits: for its client file, for its time, or ready.
    pub(super) fn place(&mut self, name: &Rc<str>, now: Instant) {
        self.moved += 1;
        self.unplace(name);
        let Some(r) = self.records.get(name) else {
            return;
        };
        if r.blocked || r.running.is_some() || self.starting.contains_key(name) {
            return;
        }
        let c = r.client;
        let prior = match &self.client(c).lookup {
            Lookup::Found(cp) => cp.prior.min(255) as u8,
            Lookup::Unknown => {
                self.want.insert(c);
                self.client_mut(c)
                    .held
                    .get_or_insert_with(Default::default)
                    .push(name.clone());
                self.records.get_mut(name).expect("record").place = Place::Held;
                return;
            }
            Lookup::Missing(why) => {
                // Kept, waiting for its file; said once per record (spec §2).
                let why = why.clone();
                self.client_mut(c)
                    .held
                    .get_or_insert_with(Default::default)
                    .push(name.clone());
                let r = self.records.get_mut(name).expect("record");
                r.place = Place::Held;
                if r.state != RecordState::NoClient {
                    r.state = RecordState::NoClient;
                    self.dirty = true;
                }
                if !r.missing_reported {
                    r.missing_reported = true;
                    let client = self.client_name(c).to_string();
                    log(
                        &mut self.pending,
                        &client,
                        format!("{why}; record {name} kept, waiting"),
                    );
                }
                return;
            }
        };
        let r = self.records.get_mut(name).expect("record");
        r.prior = prior;
        match r.next_at.filter(|t| *t > now) {
            Some(at) => {
                r.place = Place::Timer;
                r.state = RecordState::RetryWait;
                self.timers.insert((at, name.clone()));
            }
            None => {
                r.place = Place::Ready;
                let key = Self::key(name, self.records.get(name).expect("record"));
                self.ready.insert(key);
            }
        }
        self.dirty = true;
    }

    /// Every idle record of `client`, or of every client, placed again (a table change).
    pub(super) fn replace_all(&mut self, client: Option<ClientId>, now: Instant) {
        let names: Vec<Rc<str>> = match client {
            // One client's file: its own records only, not the whole queue.
            Some(c) => self.client(c).records.iter().cloned().collect(),
            None => self.records.keys().cloned().collect(),
        };
        self.looked += names.len() as u64;
        let idle = |r: &Rec| r.running.is_none();
        for n in &names {
            if !self.records.get(n).is_some_and(idle) {
                continue;
            }
            if let Some(r) = self.records.get_mut(n) {
                r.missing_reported = false;
            }
            self.place(n, now);
        }
    }

    /// A port has room again: its waiters (on every route naming it) go to the ready set,
    /// as many as it has room for, and are dispatched.
    pub(super) fn wake_port(&mut self, p: PortId) {
        let Some(routes) = self.port_routes.get(&p).cloned() else {
            return;
        };
        let free = self.cap[p.0 as usize].saturating_sub(self.in_use[p.0 as usize]) as usize;
        if free == 0 {
            return;
        }
        for rt in routes {
            let Some(set) = self.route_wait.get_mut(&rt) else {
                continue;
            };
            let moved: Vec<Key> = (0..free).map_while(|_| set.pop_first()).collect();
            for k in moved {
                self.moved += 1;
                if let Some(r) = self.records.get_mut(&k.name) {
                    r.place = Place::Ready;
                }
                self.ready.insert(k);
            }
        }
    }

    /// A client transmits no more: the first of its records waiting for it goes to the ready
    /// set. Only one: the client can run one attempt, so waking all would cost O(backlog)
    /// per reaped transmitter. Should that one not start (it waits for a port, its client
    /// file went), `try_start` wakes the next while the client is still idle.
    pub(super) fn wake_client(&mut self, c: ClientId) {
        if self.client(c).busy > 0 {
            return;
        }
        let e = self.client_mut(c);
        let Some(w) = &mut e.wait else {
            return;
        };
        let first = w.pop_first();
        if w.is_empty() {
            e.wait = None;
        }
        if let Some(k) = first {
            self.moved += 1;
            if let Some(r) = self.records.get_mut(&k.name) {
                r.place = Place::Ready;
            }
            self.ready.insert(k);
        }
    }

    pub(super) fn take_port(&mut self, p: Option<PortId>) {
        if let Some(p) = p {
            self.in_use[p.0 as usize] += 1;
        }
    }

    pub(super) fn free_port(&mut self, p: Option<PortId>) {
        if let Some(p) = p {
            let n = &mut self.in_use[p.0 as usize];
            *n = n.saturating_sub(1);
            self.wake_port(p);
        }
    }

    pub(super) fn busy(&mut self, c: ClientId, more: bool) {
        let e = self.client_mut(c);
        if more {
            e.busy += 1;
        } else {
            e.busy = e.busy.saturating_sub(1);
            self.wake_client(c);
        }
    }
}
