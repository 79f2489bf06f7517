//! Building the status rows from the daemon's state (records, then flags this ipsynd did
//! not start) and writing them when they change (`status.rs` renders and writes the files).

use super::daemon::Daemon;
use super::log::NO_CLIENT;
use super::status::{self, Row};

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
            });
        }
        rows
    }

    pub(super) fn write_status(&mut self, force: bool) {
        let rows = self.status_rows();
        let text = status::render_text(&rows);
        if !force && text == self.last_status {
            return;
        }
        if let Err(e) = status::write(&self.paths.logsyn, &text, &rows) {
            self.log
                .line(NO_CLIENT, &format!("unable to write the status: {e}"));
        }
        self.last_status = text;
    }
}
