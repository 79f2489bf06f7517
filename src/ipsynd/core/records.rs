//! Control records appearing, changing and going away.

use std::rc::Rc;
use std::time::SystemTime;

use super::super::control::{client_of_record, refusal};
use super::super::record::RecordId;
use super::record::{Place, Rec};
use super::{log, Action, Core, EntryKind, Now};

impl Core {
    pub(super) fn record_seen(
        &mut self,
        name: String,
        kind: EntryKind,
        now: Now,
        out: &mut Vec<Action>,
    ) {
        let Some(client) = client_of_record(&name) else {
            return; // a dot file: no record
        };
        let (id, mtime) = match kind {
            EntryKind::Other => {
                // Anything but a regular file is reported once while it stays, and kept.
                self.record_gone_idle(&name);
                if !self.odd.contains(name.as_str()) {
                    log(
                        out,
                        super::super::log::NO_CLIENT,
                        format!("control record {name} is not a regular file; ignored"),
                    );
                    self.odd.insert(name.into_boxed_str());
                }
                return;
            }
            EntryKind::Regular { id, mtime } => (id, mtime),
        };
        self.odd.remove(name.as_str());
        if let Some((key, r)) = self.records.get_key_value(name.as_str()) {
            // Known: a touch changes its age; a running record keeps what it started with.
            if r.running.is_none() && r.mtime != mtime && !self.starting.contains_key(key) {
                let key = key.clone();
                self.unplace(&key);
                let r = self.records.get_mut(&key).expect("record");
                r.mtime = mtime;
                r.id = id;
                if !r.blocked {
                    self.place(&key, now.mono);
                }
                self.dirty = true;
            }
            return;
        }
        self.add_record(name, &client, id, mtime, now, out);
    }

    pub(super) fn add_record(
        &mut self,
        name: String,
        client: &str,
        id: RecordId,
        mtime: SystemTime,
        now: Now,
        out: &mut Vec<Action>,
    ) {
        let c = self.client_id(client);
        let blocked = refusal(client);
        // A record named as its client is (a common FIP name) shares the client's name.
        let rc: Rc<str> = match &self.client(c).name {
            n if **n == *name => n.clone(),
            _ => Rc::from(name),
        };
        if let Some(why) = blocked {
            // Once per record: it stays in the status (blocked) while its file stays.
            log(
                out,
                client,
                format!(
                    "control record {}/{rc}: {why}; not run, record kept",
                    self.cfg.control
                ),
            );
        }
        self.records
            .insert(rc.clone(), Rec::new(c, mtime, id, blocked.is_some()));
        self.client_mut(c).records.insert(rc.clone());
        self.dirty = true;
        if blocked.is_none() {
            self.place(&rc, now.mono);
        }
    }

    pub(super) fn record_gone(&mut self, name: &str) {
        if self.odd.remove(name) {
            return; // forgotten, so it is reported again should it come back
        }
        self.record_gone_idle(name);
    }

    /// Remove an idle record (a running one stays until its attempt is reaped).
    pub(super) fn record_gone_idle(&mut self, name: &str) {
        let Some((key, r)) = self.records.get_key_value(name) else {
            return;
        };
        if r.running.is_some() || self.starting.contains_key(key) {
            return;
        }
        let key = key.clone();
        self.remove_record(&key);
    }

    pub(super) fn remove_record(&mut self, name: &Rc<str>) {
        let was_ready = self
            .records
            .get(name)
            .is_some_and(|r| r.place == Place::Ready);
        self.unplace(name);
        if let Some(r) = self.records.remove(name) {
            let e = self.client_mut(r.client);
            e.records.remove(name);
            self.dirty = true;
            if was_ready {
                // It may have been the one waiter of its idle client woken: wake the next.
                self.wake_client(r.client);
            }
        }
    }
}
