//! The status files `log/syn/ipsynd.status` (text, one line per record) and
//! `log/syn/ipsynd.status.json` (the same rows), written atomically.
//!
//! Text columns: `client state attempt port pid next record`; empty values are `-` so each
//! line splits on whitespace. `next` is local time `YYYY-MM-DDTHH:MM:SS`. A `blocked` row
//! ends with its reason, in words after the record.

use std::io;
use std::path::Path;

use serde::Serialize;

use crate::sys::fsutil::atomic_write;

/// One line of the status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    pub client: String,
    /// `running`, `retry-wait`, `waiting-port`, `ready`, `no-client`, `busy-elsewhere`,
    /// `blocked` (see `record::RecordState`), `stale` (a flag with a dead pid), `foreign` (a live flag of a transmitter ipsynd did
    /// not start in this run).
    pub state: String,
    /// Attempts started so far for this record (0 = none yet).
    pub attempt: u32,
    pub retry: u32,
    /// `host:port`, or `-`.
    pub port: String,
    /// 0 = none.
    pub pid: i32,
    pub next: Option<String>,
    /// The control record's file name or, for flag rows, the flag's file name.
    pub record: String,
    /// Why a `blocked` record never runs.
    pub reason: Option<String>,
}

#[derive(Serialize)]
struct Doc<'a> {
    ipsynd_pid: u32,
    updated: String,
    records: &'a [Row],
}

fn dash(s: &str) -> &str {
    if s.is_empty() {
        "-"
    } else {
        s
    }
}

/// A name as one whitespace-free word (blanks and control characters become `_`), so a
/// line always splits into the same columns.
fn word(s: &str) -> String {
    dash(s).replace(|c: char| c.is_whitespace() || c.is_control(), "_")
}

/// The text form.
pub fn render_text(rows: &[Row]) -> String {
    let mut out = String::from("; client state attempt port pid next record [reason]\n");
    for r in rows {
        let reason = r
            .reason
            .as_deref()
            .map(|why| format!(" {}", why.replace(char::is_control, "_")))
            .unwrap_or_default();
        out.push_str(&format!(
            "{} {} {}/{} {} {} {} {}{reason}\n",
            word(&r.client),
            r.state,
            r.attempt,
            r.retry,
            dash(&r.port),
            if r.pid > 0 {
                r.pid.to_string()
            } else {
                "-".into()
            },
            r.next.as_deref().unwrap_or("-"),
            word(&r.record),
        ));
    }
    out
}

/// The JSON form.
pub fn render_json(rows: &[Row], updated: &str) -> String {
    let doc = Doc {
        ipsynd_pid: std::process::id(),
        updated: updated.to_string(),
        records: rows,
    };
    serde_json::to_string_pretty(&doc).unwrap_or_else(|_| "{}".into()) + "\n"
}

/// Write both files atomically; `text` is [`render_text`] of `rows` (the caller already has
/// it, to tell whether anything changed).
pub fn write(dir: &Path, text: &str, rows: &[Row]) -> io::Result<()> {
    let updated = chrono::Local::now().format("%Y-%m-%dT%H:%M:%S").to_string();
    atomic_write(&dir.join("ipsynd.status"), text.as_bytes())?;
    atomic_write(
        &dir.join("ipsynd.status.json"),
        render_json(rows, &updated).as_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_rows_split_on_whitespace() {
        let rows = vec![Row {
            client: "JUKEBOX".into(),
            state: "running".into(),
            attempt: 2,
            retry: 11,
            port: "obnoxiousnoise:9191".into(),
            pid: 42,
            next: None,
            record: "SYN_JUKEBOX".into(),
            reason: None,
        }];
        let t = render_text(&rows);
        let line = t.lines().nth(1).unwrap();
        assert_eq!(
            line.split_whitespace().collect::<Vec<_>>(),
            [
                "JUKEBOX",
                "running",
                "2/11",
                "obnoxiousnoise:9191",
                "42",
                "-",
                "SYN_JUKEBOX"
            ]
        );
        let odd = Row {
            client: "TWO WORDS\nX".into(),
            record: "SYN_two words\nx".into(),
            ..rows[0].clone()
        };
        let t = render_text(std::slice::from_ref(&odd));
        assert_eq!(t.lines().count(), 2, "{t}");
        let w: Vec<&str> = t.lines().nth(1).unwrap().split_whitespace().collect();
        assert_eq!((w[0], w[6]), ("TWO_WORDS_X", "SYN_two_words_x"));
        let j: serde_json::Value = serde_json::from_str(&render_json(&rows, "now")).unwrap();
        assert_eq!(j["records"][0]["state"], "running");
        assert_eq!(j["records"][0]["pid"], 42);
    }

    #[test]
    fn a_blocked_row_ends_with_its_reason() {
        let row = Row {
            client: "CONTROL".into(),
            state: "blocked".into(),
            attempt: 0,
            retry: 0,
            port: String::new(),
            pid: 0,
            next: None,
            record: "SYN_CONTROL".into(),
            reason: Some("the queue is\nthe control queue".into()),
        };
        let t = render_text(std::slice::from_ref(&row));
        assert_eq!(t.lines().count(), 2, "{t}");
        assert_eq!(
            t.lines().nth(1).unwrap(),
            "CONTROL blocked 0/0 - - - SYN_CONTROL the queue is_the control queue"
        );
        let j: serde_json::Value = serde_json::from_str(&render_json(&[row], "now")).unwrap();
        assert_eq!(j["records"][0]["reason"], "the queue is\nthe control queue");
    }
}
