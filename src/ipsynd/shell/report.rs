//! The status files from the core's state (records in name order, then the flags of
//! transmitters this ipsynd did not start) and the process title. When to write is the
//! core's (`Core::status_now`: coalesced to once a second while records change, at once on
//! USR1, `-s` and stop); `status.rs` renders and writes the files.

use std::time::{Instant, SystemTime};

use super::Shell;
use crate::ipsynd::core::PortId;
use crate::ipsynd::log::NO_CLIENT;
use crate::ipsynd::status::{self, Header, RowRef};

use crate::sys::clock::epoch_secs as epoch;

impl Shell {
    /// Rows for the status files: every record, then flags nobody here is running. The
    /// rows borrow from the core; only the port and next-attempt texts are made here (a
    /// port's once per write).
    fn write_rows(&self, state: &'static str, serial: u64, stopped: Option<String>, all: bool) {
        let core = &self.core;
        let ports: Vec<String> = (0..core.port_count())
            .map(|i| {
                let p = core.port(PortId(i as u32));
                format!("{}:{}", p.host, p.port)
            })
            .collect();
        let port_text = |p: Option<PortId>| p.map_or("", |p| ports[p.0 as usize].as_str());
        let nexts: Vec<(usize, String)> = if all {
            core.records()
                .enumerate()
                .filter(|(_, (_, r))| r.running.is_none())
                .filter(|(_, (_, r))| r.next_wall > 0)
                .map(|(i, (_, r))| {
                    let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(r.next_wall);
                    let s = chrono::DateTime::<chrono::Local>::from(t)
                        .format("%Y-%m-%dT%H:%M:%S")
                        .to_string();
                    (i, s)
                })
                .collect()
        } else {
            Vec::new()
        };
        let mut rows: Vec<RowRef> = Vec::new();
        if all {
            rows.reserve(core.records().len());
            let mut next = nexts.iter().peekable();
            for (i, (name, r)) in core.records().enumerate() {
                let n = match next.peek() {
                    Some((k, s)) if *k == i => {
                        next.next();
                        Some(s.as_str())
                    }
                    _ => None,
                };
                rows.push(RowRef {
                    client: core.client_name(r.client),
                    state: r.state.word(),
                    attempt: r.attempts,
                    retry: r.retry,
                    port: port_text(r.port),
                    pid: r.running.unwrap_or(0),
                    next: n,
                    record: name,
                    // A pure function of the client's name: not kept per record.
                    reason: if r.blocked {
                        crate::ipsynd::control::refusal(core.client_name(r.client))
                    } else {
                        None
                    },
                    since: epoch(r.mtime),
                });
            }
            for (name, f) in core.flags() {
                if f.own {
                    continue;
                }
                rows.push(RowRef {
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
            }
        }
        let hdr = Header {
            state,
            pid: std::process::id(),
            started: self.started_wall.clone(),
            serial,
            stopped,
        };
        if let Err(e) = status::write(&self.paths.logsyn, &hdr, &rows) {
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
