//! Building the status rows from the daemon's state (records, then flags this ipsynd did
//! not start) and writing them when they change (`status.rs` renders and writes the files).
//!
//! Writes are coalesced (spec §11.3): while records change, at most one write a second
//! (a change within the second is written when it ends); at once on USR1 and on stop.

use std::time::{Duration, Instant, SystemTime};

use super::daemon::Daemon;
use super::log::NO_CLIENT;
use super::status::{self, Header, Row};

/// The shortest time between two status writes caused by changes.
pub const STATUS_EVERY: Duration = Duration::from_secs(1);

fn epoch(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Daemon {
    /// Rows for the status files: every record, then flags nobody here is running.
    fn status_rows(&self) -> Vec<Row> {
        let mut rows: Vec<Row> = self
            .records
            .values()
            .map(|r| Row {
                client: r.client.clone(),
                state: r.state.word().to_string(),
                attempt: r.attempts,
                retry: r.retry,
                port: r.port.clone(),
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
                record: r.name.clone(),
                reason: r.blocked.map(String::from),
                since: epoch(r.mtime),
            })
            .collect();
        // The flags as the last dispatch read them (one directory scan per turn).
        for (f, stale) in &self.flags_seen {
            if self.jobs.contains_key(&f.pid) && f.pid > 0 {
                continue;
            }
            rows.push(Row {
                client: f.client.clone(),
                state: if *stale { "stale" } else { "foreign" }.into(),
                attempt: 0,
                retry: 0,
                port: if f.has_port() {
                    format!("{}:{}", f.host, f.port)
                } else {
                    String::new()
                },
                pid: f.pid,
                next: None,
                record: f
                    .path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                reason: None,
                since: f.start,
            });
        }
        rows
    }

    /// The process title, `ipsynd: <n> running, <m> waiting` (records not running), set
    /// when the counts change.
    pub(super) fn update_title(&mut self) {
        let running = self.jobs.len();
        let waiting = self
            .records
            .values()
            .filter(|r| r.running.is_none())
            .count();
        if self.title_counts != Some((running, waiting)) {
            self.title_counts = Some((running, waiting));
            crate::sys::proctitle::set(&format!("ipsynd: {running} running, {waiting} waiting"));
        }
    }

    /// Write the status if it changed (coalesced, see the module header), or now if
    /// `force`.
    pub(super) fn write_status(&mut self, force: bool, now: Instant) {
        let rows = self.status_rows();
        let text = status::render_text(&rows);
        if !force && text == self.last_status {
            self.status_due = None;
            return;
        }
        if !force {
            if let Some(at) = self
                .status_at
                .map(|t| t + STATUS_EVERY)
                .filter(|t| *t > now)
            {
                // Changed within the second: written when it ends (a poll deadline).
                self.status_due = Some(at);
                return;
            }
        }
        self.put_status("running", &text, &rows, None);
        self.status_at = Some(now);
        self.status_due = None;
        self.last_status = text;
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
