//! The status files `log/syn/ipsynd.status` (text, one line per record) and
//! `log/syn/ipsynd.status.json` (the same rows), written atomically.
//!
//! Both start with who wrote them and when, so a reader tells a live status from a stale
//! one: the writer's pid, its start time, the time of writing, a serial number that grows
//! with every write (`ipsynd -s` waits for a higher one after its USR1), and the state,
//! `running` or `stopped` (written on TERM/INT, with the time and no rows).
//!
//! Text: a first line `; ipsynd state=... pid=... started=... written=... serial=...`
//! [`stopped=...`], then the column line and one line per row, columns
//! `client state attempt port pid next record`; empty values are `-` so each line splits on
//! whitespace. Times are local `YYYY-MM-DDTHH:MM:SS`. A `blocked` row ends with its reason,
//! in words after the record.

use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::sys::fsutil::atomic_write;

/// One line of the status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Since when, in epoch seconds: the control record's modification time (its age), or
    /// a flag's start time; 0 = unknown.
    #[serde(default)]
    pub since: u64,
}

/// Who writes the status, and in what state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// `running`, or `stopped` (then there are no rows).
    pub state: &'static str,
    pub pid: u32,
    /// When this ipsynd started (local time).
    pub started: String,
    /// Grows by one with every write of this ipsynd.
    pub serial: u64,
    /// When it stopped (local time), for `stopped`.
    pub stopped: Option<String>,
}

/// The JSON document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Doc {
    /// `running` or `stopped`.
    pub state: String,
    pub pid: u32,
    /// The same pid, under the name earlier versions wrote.
    pub ipsynd_pid: u32,
    pub started: String,
    /// When this document was written.
    pub written: String,
    /// The same time, under the name earlier versions wrote.
    pub updated: String,
    pub stopped: Option<String>,
    pub serial: u64,
    pub records: Vec<Row>,
}

/// Local time as the status files write it.
pub fn local_time(t: chrono::DateTime<chrono::Local>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S").to_string()
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

/// One line of the status, borrowed from the daemon's state: rendering ten thousand of
/// them allocates nothing per row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowRef<'a> {
    pub client: &'a str,
    pub state: &'a str,
    pub attempt: u32,
    pub retry: u32,
    pub port: &'a str,
    pub pid: i32,
    pub next: Option<&'a str>,
    pub record: &'a str,
    pub reason: Option<&'a str>,
    pub since: u64,
}

impl Row {
    /// The borrowed form.
    pub fn as_ref(&self) -> RowRef<'_> {
        RowRef {
            client: &self.client,
            state: &self.state,
            attempt: self.attempt,
            retry: self.retry,
            port: &self.port,
            pid: self.pid,
            next: self.next.as_deref(),
            record: &self.record,
            reason: self.reason.as_deref(),
            since: self.since,
        }
    }
}

/// `s` as one word: blanks and control characters become `_`, empty is `-`.
fn push_word(out: &mut String, s: &str) {
    let s = dash(s);
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        out.push_str(&word(s));
    } else {
        out.push_str(s);
    }
}

fn push_num(out: &mut String, n: impl std::fmt::Display) {
    use std::fmt::Write;
    let _ = write!(out, "{n}");
}

/// The text form.
pub fn render_text(rows: &[Row]) -> String {
    let refs: Vec<RowRef> = rows.iter().map(Row::as_ref).collect();
    render_text_refs(&refs)
}

/// The text form, from borrowed rows.
pub fn render_text_refs(rows: &[RowRef]) -> String {
    let mut out = String::with_capacity(64 + rows.len() * 64);
    out.push_str("; client state attempt port pid next record [reason]\n");
    for r in rows {
        push_word(&mut out, r.client);
        out.push(' ');
        out.push_str(r.state);
        out.push(' ');
        push_num(&mut out, r.attempt);
        out.push('/');
        push_num(&mut out, r.retry);
        out.push(' ');
        out.push_str(dash(r.port));
        out.push(' ');
        if r.pid > 0 {
            push_num(&mut out, r.pid);
        } else {
            out.push('-');
        }
        out.push(' ');
        out.push_str(r.next.unwrap_or("-"));
        out.push(' ');
        push_word(&mut out, r.record);
        if let Some(why) = r.reason {
            out.push(' ');
            out.push_str(&why.replace(char::is_control, "_"));
        }
        out.push('\n');
    }
    out
}

/// A JSON string as `serde_json` writes it (the same escapes, so the file reads the same
/// whichever writer made it).
fn push_json_str(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc: Option<&str> = match b {
            b'"' => Some("\\\""),
            b'\\' => Some("\\\\"),
            b'\n' => Some("\\n"),
            b'\r' => Some("\\r"),
            b'\t' => Some("\\t"),
            0x08 => Some("\\b"),
            0x0c => Some("\\f"),
            0..=0x1f => None,
            _ => continue,
        };
        out.push_str(&s[start..i]);
        match esc {
            Some(e) => out.push_str(e),
            None => {
                out.push_str("\\u00");
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 0xf) as usize] as char);
            }
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

fn push_json_opt(out: &mut String, s: Option<&str>) {
    match s {
        Some(s) => push_json_str(out, s),
        None => out.push_str("null"),
    }
}

/// The JSON form from borrowed rows, byte for byte what `serde_json::to_string_pretty` of
/// the [`Doc`] writes (a unit test holds the two together).
pub fn render_json_refs(hdr: &Header, rows: &[RowRef], written: &str) -> String {
    let mut o = String::with_capacity(256 + rows.len() * 240);
    o.push_str("{\n  \"state\": ");
    push_json_str(&mut o, hdr.state);
    o.push_str(",\n  \"pid\": ");
    push_num(&mut o, hdr.pid);
    o.push_str(",\n  \"ipsynd_pid\": ");
    push_num(&mut o, hdr.pid);
    o.push_str(",\n  \"started\": ");
    push_json_str(&mut o, &hdr.started);
    o.push_str(",\n  \"written\": ");
    push_json_str(&mut o, written);
    o.push_str(",\n  \"updated\": ");
    push_json_str(&mut o, written);
    o.push_str(",\n  \"stopped\": ");
    push_json_opt(&mut o, hdr.stopped.as_deref());
    o.push_str(",\n  \"serial\": ");
    push_num(&mut o, hdr.serial);
    o.push_str(",\n  \"records\": [");
    for (i, r) in rows.iter().enumerate() {
        o.push_str(if i == 0 {
            "\n    {\n      \"client\": "
        } else {
            ",\n    {\n      \"client\": "
        });
        push_json_str(&mut o, r.client);
        o.push_str(",\n      \"state\": ");
        push_json_str(&mut o, r.state);
        o.push_str(",\n      \"attempt\": ");
        push_num(&mut o, r.attempt);
        o.push_str(",\n      \"retry\": ");
        push_num(&mut o, r.retry);
        o.push_str(",\n      \"port\": ");
        push_json_str(&mut o, r.port);
        o.push_str(",\n      \"pid\": ");
        push_num(&mut o, r.pid);
        o.push_str(",\n      \"next\": ");
        push_json_opt(&mut o, r.next);
        o.push_str(",\n      \"record\": ");
        push_json_str(&mut o, r.record);
        o.push_str(",\n      \"reason\": ");
        push_json_opt(&mut o, r.reason);
        o.push_str(",\n      \"since\": ");
        push_num(&mut o, r.since);
        o.push_str("\n    }");
    }
    o.push_str(if rows.is_empty() {
        "]\n}\n"
    } else {
        "\n  ]\n}\n"
    });
    o
}

/// The JSON form.
pub fn render_json(hdr: &Header, rows: &[Row], written: &str) -> String {
    let doc = Doc {
        state: hdr.state.to_string(),
        pid: hdr.pid,
        ipsynd_pid: hdr.pid,
        started: hdr.started.clone(),
        written: written.to_string(),
        updated: written.to_string(),
        stopped: hdr.stopped.clone(),
        serial: hdr.serial,
        records: rows.to_vec(),
    };
    serde_json::to_string_pretty(&doc).unwrap_or_else(|_| "{}".into()) + "\n"
}

/// The text form's first line.
pub fn render_header(hdr: &Header, written: &str) -> String {
    let stopped = hdr
        .stopped
        .as_deref()
        .map(|t| format!(" stopped={t}"))
        .unwrap_or_default();
    format!(
        "; ipsynd state={} pid={} started={} written={written} serial={}{stopped}\n",
        hdr.state, hdr.pid, hdr.started, hdr.serial
    )
}

/// Write both files atomically.
pub fn write(dir: &Path, hdr: &Header, rows: &[RowRef]) -> io::Result<()> {
    let written = local_time(chrono::Local::now());
    let mut full = render_header(hdr, &written);
    full.push_str(&render_text_refs(rows));
    atomic_write(&dir.join("ipsynd.status"), full.as_bytes())?;
    drop(full);
    atomic_write(
        &dir.join("ipsynd.status.json"),
        render_json_refs(hdr, rows, &written).as_bytes(),
    )
}

/// Read the JSON status `log/syn/ipsynd.status.json` (for `ipsynd -s`).
pub fn read_json(dir: &Path) -> Option<Doc> {
    let text = std::fs::read_to_string(dir.join("ipsynd.status.json")).ok()?;
    serde_json::from_str(&text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdr() -> Header {
        Header {
            state: "running",
            pid: 7,
            started: "2026-12-01T09:00:00".into(),
            serial: 3,
            stopped: None,
        }
    }

    #[test]
    fn both_forms_say_who_wrote_them_and_when() {
        let mut h = hdr();
        assert_eq!(
            render_header(&h, "2026-12-01T10:00:00"),
            "; ipsynd state=running pid=7 started=2026-12-01T09:00:00 written=2026-12-01T10:00:00 serial=3\n"
        );
        h.state = "stopped";
        h.stopped = Some("2026-12-01T10:00:01".into());
        assert!(render_header(&h, "x").ends_with(" stopped=2026-12-01T10:00:01\n"));
        let doc: Doc = serde_json::from_str(&render_json(&h, &[], "w")).unwrap();
        assert_eq!(
            (
                doc.state.as_str(),
                doc.pid,
                doc.serial,
                doc.written.as_str()
            ),
            ("stopped", 7, 3, "w")
        );
        assert_eq!(doc.stopped.as_deref(), Some("2026-12-01T10:00:01"));
        assert_eq!((doc.ipsynd_pid, doc.updated.as_str()), (7, "w"));
    }

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
            since: 0,
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
        let j: serde_json::Value =
            serde_json::from_str(&render_json(&hdr(), &rows, "now")).unwrap();
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
            since: 0,
        };
        let t = render_text(std::slice::from_ref(&row));
        assert_eq!(t.lines().count(), 2, "{t}");
        assert_eq!(
            t.lines().nth(1).unwrap(),
            "CONTROL blocked 0/0 - - - SYN_CONTROL the queue is_the control queue"
        );
        let j: serde_json::Value =
            serde_json::from_str(&render_json(&hdr(), &[row], "now")).unwrap();
        assert_eq!(j["records"][0]["reason"], "the queue is\nthe control queue");
    }

    #[test]
    fn the_fast_json_is_what_serde_writes() {
        let mut h = hdr();
        let rows = [
            Row {
                client: "JUKE\"BOX\\ é\u{1}\u{8}\u{c}\t\r\n\u{1f}\u{7f}".into(),
                state: "running".into(),
                attempt: 2,
                retry: 11,
                port: "h:1".into(),
                pid: -3,
                next: Some("2026-12-01T10:00:00".into()),
                record: "SYN_X".into(),
                reason: Some("why \"so\"".into()),
                since: u64::MAX,
            },
            Row {
                client: String::new(),
                state: "stale".into(),
                attempt: 0,
                retry: 0,
                port: String::new(),
                pid: 0,
                next: None,
                record: "SYN|001|A".into(),
                reason: None,
                since: 0,
            },
        ];
        for stopped in [None, Some("2026-12-01T10:00:01".to_string())] {
            h.stopped = stopped;
            for n in 0..=rows.len() {
                let refs: Vec<RowRef> = rows[..n].iter().map(Row::as_ref).collect();
                assert_eq!(
                    render_json_refs(&h, &refs, "w\"1"),
                    render_json(&h, &rows[..n], "w\"1"),
                    "{n} rows"
                );
            }
        }
    }
}
