//! The status files from the core's state (records in name order, then the flags of
//! transmitters this ipsynd did not start) and the process title. When to write is the
//! core's (`Core::status_now`: coalesced to once a second while records change, at once on
//! USR1, `-s` and stop); `status.rs` renders and writes the files.

use std::time::{Instant, SystemTime};

use super::Shell;
use crate::ipsynd::log::NO_CLIENT;
use crate::ipsynd::status::{self, Header, Row};

fn epoch(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Shell {
    /// Rows for the status files: every record, then flags nobody here is running.
    fn status_rows(&self) -> Vec<Row> {
        let core = &self.core;
        let port_text = |p: Option<crate::ipsynd::core::PortId>| {
            p.map(|p| {
                let pp = core.port(p);
                format!("{}:{}", pp.host, pp.port)
            })
            .unwrap_or_default()
        };
        let mut rows: Vec<Row> = core
            .records()
            .map(|(name, r)| Row {
                client: core.client_name(r.client).to_string(),
                state: r.state.word().to_string(),
                attempt: r.attempts,
                retry: r.retry,
                port: port_text(r.port),
                pid: r.running.unwrap_or(0),
                next: if r.running.is_none() {
                    r.next_wall.map(|t| {
                        chrono::DateTime::<chrono::Local>::from(t)
                            .format("%Y-%m-%dT%H:%M:%S")
                            .to_string()
                    })
                } else {
                    None
                },
                record: name.to_string(),
                reason: r.blocked.map(String::from),
                since: epoch(r.mtime),
            })
            .collect();
        for (name, f) in core.flags() {
            if f.own {
                continue;
            }
            rows.push(Row {
                client: core.client_name(f.client).to_string(),
                state: if f.stale { "stale" } else { "foreign" }.into(),
                attempt: 0,
                retry: 0,
                port: port_text(f.port),
                pid: f.pid,
                next: None,
                record: name.to_string(),
                reason: None,
                since: f.start,
            });
        }
        rows
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
        let rows = self.status_rows();
        let text = status::render_text(&rows);
        self.put_status("running", &text, &rows, None);
        self.core.status_written(now);
    }

    /// On TERM/INT: the status says `stopped`, when, and shows no rows (the transmitters
    /// left running are nobody's to report now).
    pub(super) fn write_stopped(&mut self) {
        let when = status::local_time(chrono::Local::now());
        let text = status::render_text(&[]);
        self.put_status("stopped", &text, &[], Some(when));
    }

    fn put_status(
        &mut self,
        state: &'static str,
        text: &str,
        rows: &[Row],
        stopped: Option<String>,
    ) {
        self.status_serial += 1;
        let hdr = Header {
            state,
            pid: std::process::id(),
            started: self.started_wall.clone(),
            serial: self.status_serial,
            stopped,
        };
        if let Err(e) = status::write(&self.paths.logsyn, &hdr, text, rows) {
            self.log
                .line(NO_CLIENT, &format!("unable to write the status: {e}"));
        }
    }
}
