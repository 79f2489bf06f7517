//! What the shell asks of the core: which entries and flags it knows (the rescan's diff),
//! the clients to read, the records, flags and jobs (the status), the next deadline.

use std::time::Instant;

use super::index::Lookup;
use super::record::Rec;
use super::{Core, Flag, Job};

impl Core {
    /// Whether the core knows this control entry (a record or a reported odd entry).
    pub fn knows_entry(&self, name: &str) -> bool {
        self.records.contains_key(name) || self.odd.contains(name)
    }

    /// The record names and odd entries the core knows (for the rescan's diff).
    pub fn entry_names(&self) -> impl Iterator<Item = &str> {
        self.records
            .keys()
            .map(|k| &**k)
            .chain(self.odd.iter().map(|k| &**k))
    }

    /// The clients whose file must be read before the records waiting for them can be
    /// placed (a new client, or every client after a table read).
    pub fn wanted_clients(&self) -> Vec<String> {
        self.want
            .iter()
            .map(|c| self.client_name(*c).to_string())
            .collect()
    }

    /// Whether the lookup of `client` is known (else the shell reads its file first).
    pub fn client_known(&self, client: &str) -> bool {
        self.client_ids
            .get(client)
            .is_some_and(|c| !matches!(self.client(*c).lookup, Lookup::Unknown))
    }

    /// Whether `name` is the flag of one of our running attempts.
    pub fn own_flag(&self, name: &str) -> bool {
        self.flags.get(name).is_some_and(|f| f.own)
    }

    /// Whether the core knows this flag.
    pub fn knows_flag(&self, name: &str) -> bool {
        self.flags.contains_key(name)
    }

    /// The flags the core knows that are not our jobs' (for the rescan: staleness changes).
    pub fn foreign_flags(&self) -> impl Iterator<Item = (&str, &Flag)> {
        self.flags
            .iter()
            .filter(|(_, f)| !f.own)
            .map(|(n, f)| (&**n, f))
    }

    /// Whether `pid` is a maxkill command of ours.
    pub fn is_maxkill(&self, pid: i32) -> bool {
        self.maxkills.contains_key(&pid)
    }

    /// Whether `pid` is an attempt of ours.
    pub fn job(&self, pid: i32) -> Option<&Job> {
        self.jobs.get(&pid)
    }

    /// (running, waiting) for the process title.
    pub fn counts(&self) -> (usize, usize) {
        let running = self.jobs.len();
        (running, self.records.len().saturating_sub(running))
    }

    /// The records in name order.
    pub fn records(&self) -> impl ExactSizeIterator<Item = (&str, &Rec)> {
        self.records.iter().map(|(n, r)| (&**n, r))
    }

    /// The flag named `name`, if the core counts it.
    pub fn flag(&self, name: &str) -> Option<&Flag> {
        self.flags.get(name)
    }

    /// The flags in name order.
    pub fn flags(&self) -> impl Iterator<Item = (&str, &Flag)> {
        self.flags.iter().map(|(n, f)| (&**n, f))
    }

    /// When the shell must wake up without an event: the next attempt of a record, the end
    /// of a maxtime or a grace, a coalesced status write. Due records have left the timer
    /// set at the last dispatch, so this is never a past time that would make poll spin,
    /// except for a record whose attempt failed after it with `timeout:0` (it starts at
    /// the next turn).
    pub fn next_deadline(&self) -> Option<Instant> {
        let timers = self.timers.first().map(|(t, _)| *t);
        let jobs = self
            .jobs
            .values()
            .filter(|j| !j.killed)
            .filter_map(|j| j.deadline);
        let kills = self.kill_after.iter().map(|k| k.at);
        timers
            .into_iter()
            .chain(jobs)
            .chain(kills)
            .chain(self.status_due)
            .min()
    }
}
