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

use std::io::{self, Write};
use std::path::Path;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::sys::fsutil::TempFile;

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
    t.format(TIME_FORMAT).to_string()
}

const TIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%S";

/// Epoch seconds as local time, appended to `out`: what [`local_time`] writes, with the
/// digits put down here rather than through `chrono`'s format machinery (ten thousand
/// next-attempt times per write).
fn push_wall(out: &mut String, secs: u64) {
    use chrono::{Datelike, Timelike};
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
    let dt = chrono::DateTime::<chrono::Local>::from(t);
    let year = dt.year();
    if !(0..=9999).contains(&year) {
        // `%Y` writes a sign and more digits out there.
        use std::fmt::Write;
        let _ = write!(out, "{}", dt.format(TIME_FORMAT));
        return;
    }
    let d = |n: u32| (b'0' + (n % 10) as u8) as char;
    let y = year as u32;
    for (n, sep) in [
        (y / 100, None),
        (y % 100, Some('-')),
        (dt.month(), Some('-')),
        (dt.day(), Some('T')),
        (dt.hour(), Some(':')),
        (dt.minute(), Some(':')),
        (dt.second(), None),
    ] {
        out.push(d(n / 10));
        out.push(d(n));
        if let Some(c) = sep {
            out.push(c);
        }
    }
}

fn dash(s: &str) -> &str {
    if s.is_empty() {
        "-"
    } else {
        s
    }
}

/// When a row's next attempt is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextRef<'a> {
    /// Already in words (a row read back from the JSON).
    Text(&'a str),
    /// Epoch seconds, written as local time (made while the row is written, not kept).
    Wall(u64),
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
    pub next: Option<NextRef<'a>>,
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
            next: self.next.as_deref().map(NextRef::Text),
            record: &self.record,
            reason: self.reason.as_deref(),
            since: self.since,
        }
    }
}

/// How much of a status file is made before it is handed to the kernel: the files are
/// written in pieces of this size, so a write never holds a whole file (2 MB of JSON at
/// 10,000 records) in memory.
const CHUNK: usize = 64 * 1024;

/// The bytes of a status file being made: kept (`sink` None: the in-memory renderers) or
/// handed to `sink` a chunk at a time. Only `str`s and ASCII go in, so the bytes are UTF-8.
struct Out<'w> {
    buf: Vec<u8>,
    sink: Option<&'w mut dyn Write>,
    /// The last next-attempt time written, and its text: neighbouring records often share
    /// one, and the JSON repeats what the text wrote.
    wall: Option<(u64, String)>,
}

/// Bytes a JSON string escapes (as `serde_json` does: controls, `"` and `\`).
static JSON_ESCAPE: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

impl<'w> Out<'w> {
    fn memory(capacity: usize) -> Out<'static> {
        Out {
            buf: Vec::with_capacity(capacity),
            sink: None,
            wall: None,
        }
    }

    fn to(sink: &'w mut dyn Write) -> Out<'w> {
        Out {
            buf: Vec::with_capacity(CHUNK + 4096),
            sink: Some(sink),
            wall: None,
        }
    }

    /// After each row: a full chunk goes to the file.
    #[inline]
    fn row_done(&mut self) -> io::Result<()> {
        if self.buf.len() >= CHUNK {
            if let Some(w) = self.sink.as_mut() {
                w.write_all(&self.buf)?;
                self.buf.clear();
            }
        }
        Ok(())
    }

    fn finish(mut self) -> io::Result<()> {
        if let Some(w) = self.sink.as_mut() {
            w.write_all(&self.buf)?;
        }
        Ok(())
    }

    #[inline]
    fn push(&mut self, s: &str) {
        self.buf.extend_from_slice(s.as_bytes());
    }

    #[inline]
    fn push_byte(&mut self, b: u8) {
        self.buf.push(b);
    }

    fn push_char(&mut self, c: char) {
        let mut b = [0u8; 4];
        self.buf.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
    }

    /// A number without `fmt` (`sys::decimal`).
    #[inline]
    fn push_u64(&mut self, n: u64) {
        let mut b = [0u8; 20];
        self.buf
            .extend_from_slice(crate::sys::decimal::digits(n, &mut b));
    }

    fn push_i64(&mut self, n: i64) {
        if n < 0 {
            self.buf.push(b'-');
        }
        self.push_u64(n.unsigned_abs());
    }

    fn push_next(&mut self, n: NextRef) {
        match n {
            NextRef::Text(s) => self.push(s),
            NextRef::Wall(secs) => {
                let cached = matches!(&self.wall, Some((k, _)) if *k == secs);
                if !cached {
                    let (k, text) = self.wall.get_or_insert_with(|| (0, String::new()));
                    *k = secs;
                    text.clear();
                    push_wall(text, secs);
                }
                if let Some((_, text)) = &self.wall {
                    self.buf.extend_from_slice(text.as_bytes());
                }
            }
        }
    }

    /// `s` as one whitespace-free word (blanks and control characters become `_`, empty
    /// is `-`), so a line always splits into the same columns.
    fn push_word(&mut self, s: &str) {
        let s = dash(s);
        // Printable ASCII (no blank, no control): the usual name, as it is.
        if s.bytes().all(|b| b.is_ascii_graphic()) {
            self.push(s);
        } else {
            for c in s.chars() {
                if c.is_whitespace() || c.is_control() {
                    self.push_byte(b'_');
                } else {
                    self.push_char(c);
                }
            }
        }
    }

    /// A JSON string as `serde_json` writes it (the same escapes, so the file reads the
    /// same whichever writer made it).
    fn push_json_str(&mut self, s: &str) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let bytes = s.as_bytes();
        let out = &mut self.buf;
        out.push(b'"');
        let mut start = 0;
        while let Some(k) = bytes[start..].iter().position(|&b| JSON_ESCAPE[b as usize]) {
            let i = start + k;
            let b = bytes[i];
            out.extend_from_slice(&bytes[start..i]);
            match b {
                b'"' => out.extend_from_slice(b"\\\""),
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.extend_from_slice(b"\\t"),
                0x08 => out.extend_from_slice(b"\\b"),
                0x0c => out.extend_from_slice(b"\\f"),
                _ => out.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[(b >> 4) as usize],
                    HEX[(b & 0xf) as usize],
                ]),
            }
            start = i + 1;
        }
        out.extend_from_slice(&bytes[start..]);
        out.push(b'"');
    }

    fn push_json_opt(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.push_json_str(s),
            None => self.push("null"),
        }
    }

    /// The text form's column line.
    fn text_head(&mut self) {
        self.push("; client state attempt port pid next record [reason]\n");
    }

    /// One line of the text form.
    fn text_row(&mut self, r: &RowRef) {
        self.push_word(r.client);
        self.push_byte(b' ');
        self.push(r.state);
        self.push_byte(b' ');
        self.push_u64(r.attempt.into());
        self.push_byte(b'/');
        self.push_u64(r.retry.into());
        self.push_byte(b' ');
        self.push(dash(r.port));
        self.push_byte(b' ');
        if r.pid > 0 {
            self.push_i64(r.pid.into());
        } else {
            self.push_byte(b'-');
        }
        self.push_byte(b' ');
        match r.next {
            Some(n) => self.push_next(n),
            None => self.push_byte(b'-'),
        }
        self.push_byte(b' ');
        self.push_word(r.record);
        if let Some(why) = r.reason {
            self.push_byte(b' ');
            for c in why.chars() {
                self.push_char(if c.is_control() { '_' } else { c });
            }
        }
        self.push_byte(b'\n');
    }

    fn text_rows<'a>(&mut self, rows: impl Iterator<Item = RowRef<'a>>) -> io::Result<()> {
        self.text_head();
        for r in rows {
            self.text_row(&r);
            self.row_done()?;
        }
        Ok(())
    }

    /// The JSON document up to its first row.
    fn json_head(&mut self, hdr: &Header, written: &str) {
        self.push("{\n  \"state\": ");
        self.push_json_str(hdr.state);
        self.push(",\n  \"pid\": ");
        self.push_u64(hdr.pid.into());
        self.push(",\n  \"ipsynd_pid\": ");
        self.push_u64(hdr.pid.into());
        self.push(",\n  \"started\": ");
        self.push_json_str(&hdr.started);
        self.push(",\n  \"written\": ");
        self.push_json_str(written);
        self.push(",\n  \"updated\": ");
        self.push_json_str(written);
        self.push(",\n  \"stopped\": ");
        self.push_json_opt(hdr.stopped.as_deref());
        self.push(",\n  \"serial\": ");
        self.push_u64(hdr.serial);
        self.push(",\n  \"records\": [");
    }

    /// One row of the JSON document, the `first` or a later one.
    fn json_row(&mut self, r: &RowRef, first: bool) {
        self.push(if first {
            "\n    {\n      \"client\": "
        } else {
            ",\n    {\n      \"client\": "
        });
        self.push_json_str(r.client);
        self.push(",\n      \"state\": ");
        self.push_json_str(r.state);
        self.push(",\n      \"attempt\": ");
        self.push_u64(r.attempt.into());
        self.push(",\n      \"retry\": ");
        self.push_u64(r.retry.into());
        self.push(",\n      \"port\": ");
        self.push_json_str(r.port);
        self.push(",\n      \"pid\": ");
        self.push_i64(r.pid.into());
        self.push(",\n      \"next\": ");
        match r.next {
            Some(n) => {
                // A next text never needs escapes (digits, `-`, `T`, `:`), but one
                // read back from a file might.
                match n {
                    NextRef::Text(s) => self.push_json_str(s),
                    NextRef::Wall(_) => {
                        self.push_byte(b'"');
                        self.push_next(n);
                        self.push_byte(b'"');
                    }
                }
            }
            None => self.push("null"),
        }
        self.push(",\n      \"record\": ");
        self.push_json_str(r.record);
        self.push(",\n      \"reason\": ");
        self.push_json_opt(r.reason);
        self.push(",\n      \"since\": ");
        self.push_u64(r.since);
        self.push("\n    }");
    }

    /// The end of the JSON document, after `rows` rows.
    fn json_tail(&mut self, rows: usize) {
        self.push(if rows == 0 { "]\n}\n" } else { "\n  ]\n}\n" });
    }

    /// The JSON document, byte for byte what `serde_json::to_string_pretty` of the [`Doc`]
    /// writes (a unit test holds the two together).
    fn json_doc<'a>(
        &mut self,
        hdr: &Header,
        rows: impl Iterator<Item = RowRef<'a>>,
        written: &str,
    ) -> io::Result<()> {
        self.json_head(hdr, written);
        let mut n = 0;
        for r in rows {
            self.json_row(&r, n == 0);
            n += 1;
            self.row_done()?;
        }
        self.json_tail(n);
        Ok(())
    }

    fn into_string(self) -> String {
        // Only `str`s and ASCII went in.
        String::from_utf8(self.buf)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }
}

/// The text form (without its first line).
pub fn render_text(rows: &[Row]) -> String {
    render_text_refs(rows.iter().map(Row::as_ref))
}

/// The text form (without its first line), from borrowed rows.
pub fn render_text_refs<'a>(rows: impl ExactSizeIterator<Item = RowRef<'a>>) -> String {
    let mut o = Out::memory(64 + rows.len() * 64);
    // In memory: nothing to fail.
    let _ = o.text_rows(rows);
    o.into_string()
}

/// The JSON form from borrowed rows, byte for byte what [`render_json`] writes.
pub fn render_json_refs<'a>(
    hdr: &Header,
    rows: impl ExactSizeIterator<Item = RowRef<'a>>,
    written: &str,
) -> String {
    let mut o = Out::memory(256 + rows.len() * 240);
    let _ = o.json_doc(hdr, rows, written);
    o.into_string()
}

/// The JSON form, through `serde_json` (what the fast writer is held to).
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

/// Write both files atomically, made and written a chunk at a time in one pass over `rows`
/// (the rows are never gathered, and the daemon's state is walked once); the text is put in
/// place first, then the JSON (`ipsynd -s` waits for the JSON's serial).
pub fn write<'a>(
    dir: &Path,
    hdr: &Header,
    rows: impl Iterator<Item = RowRef<'a>>,
) -> io::Result<()> {
    let written = local_time(chrono::Local::now());
    let mut text_file = TempFile::new(&dir.join("ipsynd.status"), 0o644)?;
    let mut json_file = TempFile::new(&dir.join("ipsynd.status.json"), 0o644)?;
    {
        let mut text = Out::to(text_file.file());
        let mut json = Out::to(json_file.file());
        text.push(&render_header(hdr, &written));
        text.text_head();
        json.json_head(hdr, &written);
        let mut n = 0;
        for r in rows {
            text.text_row(&r);
            json.json_row(&r, n == 0);
            n += 1;
            text.row_done()?;
            json.row_done()?;
        }
        json.json_tail(n);
        text.finish()?;
        json.finish()?;
    }
    text_file.swap_in()?;
    json_file.swap_in()
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
                assert_eq!(
                    render_json_refs(&h, rows[..n].iter().map(Row::as_ref), "w\"1"),
                    render_json(&h, &rows[..n], "w\"1"),
                    "{n} rows"
                );
            }
        }
    }

    /// The text renderer as it was before the files were written in chunks (one `String`
    /// for the whole file, `fmt` for numbers, chrono's format for times): what the
    /// streamed files are held to, byte for byte.
    mod reference {
        use super::super::*;

        fn word(s: &str) -> String {
            dash(s).replace(|c: char| c.is_whitespace() || c.is_control(), "_")
        }

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

        pub fn text(rows: &[Row]) -> String {
            let mut out = String::new();
            out.push_str("; client state attempt port pid next record [reason]\n");
            for r in rows {
                push_word(&mut out, &r.client);
                out.push(' ');
                out.push_str(&r.state);
                out.push(' ');
                push_num(&mut out, r.attempt);
                out.push('/');
                push_num(&mut out, r.retry);
                out.push(' ');
                out.push_str(dash(&r.port));
                out.push(' ');
                if r.pid > 0 {
                    push_num(&mut out, r.pid);
                } else {
                    out.push('-');
                }
                out.push(' ');
                out.push_str(r.next.as_deref().unwrap_or("-"));
                out.push(' ');
                push_word(&mut out, &r.record);
                if let Some(why) = &r.reason {
                    out.push(' ');
                    out.push_str(&why.replace(char::is_control, "_"));
                }
                out.push('\n');
            }
            out
        }

        /// A next-attempt time as the shell made it.
        pub fn wall(secs: u64) -> String {
            let t = SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
            chrono::DateTime::<chrono::Local>::from(t)
                .format("%Y-%m-%dT%H:%M:%S")
                .to_string()
        }
    }

    #[test]
    fn a_wall_time_reads_as_chrono_writes_it() {
        wall_times_agree_with_chrono();
    }

    /// The same in a zone with daylight saving time (CI's machines run in UTC, where the
    /// DST samples test nothing): this test runs itself again as a child process with
    /// `TZ=Europe/Berlin`, which chrono reads when the process starts.
    #[test]
    fn a_wall_time_reads_as_chrono_writes_it_where_clocks_change() {
        if std::env::var_os("LONCSYN_STATUS_TZ_CHILD").is_some() {
            use chrono::{Local, Offset, TimeZone};
            let offset = |s: i64| Local.timestamp_opt(s, 0).unwrap().offset().fix();
            // January and July differ: the zone really has DST here.
            assert_ne!(offset(1_704_067_200), offset(1_719_792_000));
            wall_times_agree_with_chrono();
            return;
        }
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "ipsynd::status::tests::a_wall_time_reads_as_chrono_writes_it_where_clocks_change",
                "--test-threads=1",
            ])
            .env("TZ", "Europe/Berlin")
            .env("LONCSYN_STATUS_TZ_CHILD", "1")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && text.contains("1 passed"), "{text}");
    }

    fn wall_times_agree_with_chrono() {
        let mut secs: Vec<u64> = vec![
            0,
            1,
            59,
            86_399,
            951_782_400,     // 2000-02-29
            1_000_000_000,   // 2001-09-09T01:46:40
            1_711_846_800,   // around a March DST change
            1_729_990_800,   // around an October one
            253_402_300_799, // 9999-12-31T23:59:59
            253_402_300_800, // year 10000: chrono's sign and fifth digit
            253_402_387_200,
        ];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..2000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            secs.push(x % 4_102_444_800); // up to 2100
        }
        for s in secs {
            let mut got = String::new();
            push_wall(&mut got, s);
            assert_eq!(got, reference::wall(s), "{s}");
        }
    }

    /// Rows of every kind: states, empty and odd names (blanks, controls, Unicode blanks,
    /// JSON escapes), pids, next times as text and as epoch seconds, reasons.
    fn varied_rows(n: usize) -> (Vec<Row>, Vec<Option<u64>>) {
        let states = [
            "running",
            "retry-wait",
            "waiting-port",
            "ready",
            "no-client",
            "busy-elsewhere",
            "blocked",
            "stale",
            "foreign",
        ];
        let clients = [
            "JUKEBOX",
            "",
            "TWO WORDS",
            "tab\there",
            "nbsp\u{a0}x",
            "ls\u{2028}x",
            "c1\u{85}x",
            "quo\"te\\",
            "é-ü",
            "ctl\u{1}\u{1f}\u{7f}",
        ];
        let mut rows = Vec::new();
        let mut walls = Vec::new();
        for i in 0..n {
            let wall = (i % 3 == 0).then_some(1_764_000_000 + (i as u64 / 7) * 60);
            let next = match i % 5 {
                0 | 3 => wall.map(reference::wall),
                1 => Some(format!("2026-12-01T10:00:{:02}", i % 60)),
                _ => None,
            };
            rows.push(Row {
                client: clients[i % clients.len()].to_string(),
                state: states[i % states.len()].to_string(),
                attempt: (i as u32).wrapping_mul(2_654_435_761) % 1000,
                retry: if i % 11 == 0 { u32::MAX } else { i as u32 % 12 },
                port: if i % 4 == 0 {
                    String::new()
                } else {
                    format!("host{}:{}", i % 3, 9000 + i % 7)
                },
                pid: match i % 6 {
                    0 => 0,
                    1 => -(i as i32),
                    2 => i32::MAX,
                    _ => 1000 + i as i32,
                },
                next,
                record: match i % 7 {
                    0 => format!("SYN_{i:05}"),
                    1 => format!("{i:05}|Q"),
                    2 => format!("sp ace {i}"),
                    3 => format!("nl\n{i}"),
                    4 => String::new(),
                    5 => format!("\"q\\{i}\u{3000}"),
                    _ => format!("SYN|{i:03}|A"),
                },
                reason: match i % 9 {
                    0 => Some("the queue is\nthe control queue".into()),
                    4 => Some(format!("why \"so\"\t{i} é\u{85}")),
                    _ => None,
                },
                since: match i % 8 {
                    0 => 0,
                    1 => u64::MAX,
                    _ => 1_764_000_000 + i as u64,
                },
            });
            // Rows 0 and 3 (mod 5) with a time give it as epoch seconds, as the shell does.
            walls.push(if i % 5 == 0 || i % 5 == 3 { wall } else { None });
        }
        (rows, walls)
    }

    fn refs<'a>(rows: &'a [Row], walls: &'a [Option<u64>]) -> impl Iterator<Item = RowRef<'a>> {
        rows.iter().zip(walls).map(|(r, w)| RowRef {
            next: match w {
                Some(s) => Some(NextRef::Wall(*s)),
                None => r.as_ref().next,
            },
            ..r.as_ref()
        })
    }

    #[test]
    fn the_files_written_in_chunks_are_the_old_renderers_bytes() {
        let dir = std::env::temp_dir().join(format!("ipsynd-status-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut h = hdr();
        // Enough rows for many chunks (the JSON is about 250 bytes a row), and the edges.
        for n in [0, 1, 2, 9, 3001] {
            let (rows, walls) = varied_rows(n);
            for stopped in [None, Some("2026-12-01T10:00:01".to_string())] {
                h.stopped = stopped;
                write(&dir, &h, refs(&rows, &walls)).unwrap();
                let text = std::fs::read_to_string(dir.join("ipsynd.status")).unwrap();
                let json = std::fs::read_to_string(dir.join("ipsynd.status.json")).unwrap();
                let first = text.lines().next().unwrap();
                let written = first
                    .split(' ')
                    .find_map(|w| w.strip_prefix("written="))
                    .unwrap();
                assert!(text.len() > CHUNK || n < 1000, "{n} rows: {}", text.len());
                let want = render_header(&h, written) + &reference::text(&rows);
                assert!(text == want, "{n} rows: the text differs");
                let want = render_json(&h, &rows, written);
                assert!(json == want, "{n} rows: the JSON differs");
                // The in-memory forms are the same bytes.
                assert!(
                    render_text_refs(refs(&rows, &walls).collect::<Vec<_>>().into_iter())
                        == reference::text(&rows)
                );
                assert!(
                    render_json_refs(
                        &h,
                        refs(&rows, &walls).collect::<Vec<_>>().into_iter(),
                        written
                    ) == render_json(&h, &rows, written)
                );
            }
        }
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(left.len(), 2, "no temporary file left");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
