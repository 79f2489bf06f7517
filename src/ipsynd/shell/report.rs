//! The status files from the core's state (records in name order, then the flags of
//! transmitters this ipsynd did not start) and the process title. When to write is the
//! core's (`Core::status_now`: coalesced to once a second while records change, at once on
//! USR1, `-s` and stop); `status.rs` renders and writes the files.

use std::time::Instant;

use super::Shell;
use crate::ipsynd::core::{Core, PortId};
use crate::ipsynd::log::NO_CLIENT;
use crate::ipsynd::status::{self, Header, NextRef, RowRef};

use crate::sys::clock::epoch_secs as epoch;

/// The status rows: every record, then flags nobody here is running; none when `all` is
/// false. They borrow from the core and are made as the files are written, never
/// gathered: ten thousand rows cost no allocation.
fn rows<'a>(
    core: &'a Core,
    ports: &'a [String],
    all: bool,
) -> impl Iterator<Item = RowRef<'a>> + 'a {
    let port_text = |p: Option<PortId>| p.map_or("", |p| ports[p.0 as usize].as_str());
    let take = if all { usize::MAX } else { 0 };
    let records = core.records().take(take).map(move |(name, r)| RowRef {
        client: core.client_name(r.client),
        state: r.state.word(),
        attempt: r.attempts,
        retry: r.retry,
        port: port_text(r.port),
        pid: r.running.unwrap_or(0),
        next: (r.running.is_none() && r.next_wall > 0).then_some(NextRef::Wall(r.next_wall)),
        record: name,
        // A pure function of the client's name: not kept per record.
        reason: if r.blocked {
            crate::ipsynd::control::refusal(core.client_name(r.client))
        } else {
            None
        },
        since: epoch(r.mtime),
    });
    let flags = core
        .flags()
        .take(take)
        .filter(|(_, f)| !f.own)
        .map(move |(name, f)| RowRef {
            client: core.client_name(f.client),
            state: if f.stale { "stale" } else { "foreign" },
            attempt: 0,
            retry: 0,
            port: port_text(f.port),
            pid: f.pid,
            next: None,
            record: name,
            reason: None,
            since: f.start,
        });
    records.chain(flags)
}

impl Shell {
    /// Write the status files (see [`rows`]); only the port texts are made beforehand, once
    /// per port.
    fn write_rows(&self, state: &'static str, serial: u64, stopped: Option<String>, all: bool) {
        let core = &self.core;
        let ports: Vec<String> = (0..core.port_count())
            .map(|i| {
                let p = core.port(PortId(i as u32));
                format!("{}:{}", p.host, p.port)
            })
            .collect();
        let hdr = Header {
            state,
            pid: std::process::id(),
            started: self.started_wall.clone(),
            serial,
            stopped,
        };
        if let Err(e) = status::write(&self.paths.logsyn, &hdr, rows(core, &ports, all)) {
            self.log
                .line(NO_CLIENT, &format!("unable to write the status: {e}"));
        }
    }

    /// The process title, `ipsynd: <n> running, <m> waiting` (records not running), set
    /// when the counts change.
    pub(super) fn update_title(&mut self) {
        let counts = self.core.counts();
        if self.title_counts != Some(counts) {
            self.title_counts = Some(counts);
            crate::sys::proctitle::set(&format!(
                "ipsynd: {} running, {} waiting",
                counts.0, counts.1
            ));
        }
    }

    /// Write the status now.
    pub(super) fn write_status(&mut self, now: Instant) {
        self.status_serial += 1;
        self.write_rows("running", self.status_serial, None, true);
        self.core.status_written(now);
    }

    /// On TERM/INT: the status says `stopped`, when, and shows no rows (the transmitters
    /// left running are nobody's to report now).
    pub(super) fn write_stopped(&mut self) {
        let when = status::local_time(chrono::Local::now());
        self.status_serial += 1;
        self.write_rows("stopped", self.status_serial, Some(when), false);
    }
}
