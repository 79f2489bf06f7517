//! ipsynd's own log, `log/ipsynd.log`: one line per event,
//! `<dd Mon yyyy HH:MM:SS> ipsynd <CLIENT> <message>`.
//!
//! Written through `sys::logfile` (`O_APPEND|O_NOFOLLOW`, mode 0640, following its path when
//! logrotate renames it), so an operator may rotate or delete it at any time. ipsynd runs in
//! the foreground, so lines are also echoed to stderr (unless `-q`), and always when the file
//! cannot be written. With `syslog:` in `tables/syn/IPSYND` every line also goes to syslog as
//! `ipsynd[<pid>]: <CLIENT> <message>` (`sys::syslog`).

use std::cell::RefCell;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Local};

use crate::sys::logfile::{err_text, LogFile, Once, LOG_MODE};
use crate::sys::syslog::Syslog;

/// Client field used for lines that concern no particular client.
pub const NO_CLIENT: &str = "-";

/// One formatted log line (without the newline). Control characters (from a record's file
/// name, say) are escaped, so one event is always one line and no name can forge another.
pub fn format_line(now: &DateTime<Local>, client: &str, msg: &str) -> String {
    let client = if client.is_empty() { NO_CLIENT } else { client };
    let line = format!("{} ipsynd {client} {msg}", now.format("%d %b %Y %H:%M:%S"));
    if !line.chars().any(char::is_control) {
        return line;
    }
    line.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Appends lines to the daemon log (and echoes them to stderr, and copies them to syslog).
///
/// While [held](Log::hold), lines are kept in a batch and written with one open, one
/// `write` and one close at [`flush`](Log::flush): the main loop holds the lines of one turn
/// (a draining queue logs two lines per transmission, and each open of the log is a path
/// walk and an fstat). The batch never waits beyond the turn: the loop flushes before it
/// sleeps in poll, a batch over [`HELD_MAX`] bytes goes at once, and dropping the log
/// flushes it. Echo and syslog copies go out line by line as before.
pub struct Log {
    echo: bool,
    /// Behind a `RefCell` so that logging stays a `&self` call from anywhere in the daemon.
    out: RefCell<Out>,
}

struct Out {
    file: LogFile,
    syslog: Syslog,
    /// The last failure to write the file, said once until it changes.
    failing: Once,
    /// Lines are being held for one write.
    holding: bool,
    /// The held lines, each with its newline.
    held: Vec<u8>,
}

/// The most a held batch grows before it is written anyway.
pub const HELD_MAX: usize = 64 * 1024;

impl Log {
    pub fn new(path: &Path, echo: bool) -> Log {
        Log {
            echo,
            out: RefCell::new(Out {
                file: LogFile::new(path, LOG_MODE),
                syslog: Syslog::new("ipsynd", None),
                failing: Once::default(),
                holding: false,
                held: Vec::new(),
            }),
        }
    }

    /// Copy every line to the syslog socket `path` from now on (`None`: stop).
    pub fn set_syslog(&self, path: Option<PathBuf>) {
        self.out.borrow_mut().syslog.set_path(path);
    }

    /// Keep the lines from now on for one write at [`flush`](Log::flush).
    pub fn hold(&self) {
        if let Ok(mut out) = self.out.try_borrow_mut() {
            out.holding = true;
        }
    }

    /// Write the held lines (if any) and write each line at once again from now on.
    pub fn flush(&self) {
        let Ok(mut out) = self.out.try_borrow_mut() else {
            return;
        };
        out.holding = false;
        out.write_held(self.echo);
    }

    /// Write one line. Failing to log must never stop the daemon, so errors only go to stderr
    /// (the reason once until it changes) and to syslog.
    pub fn line(&self, client: &str, msg: &str) {
        let now = Local::now();
        let text = format_line(&now, client, msg);
        let Ok(mut out) = self.out.try_borrow_mut() else {
            return;
        };
        out.held.extend_from_slice(text.as_bytes());
        out.held.push(b'\n');
        // Not eprintln!: it panics when stderr is gone (a closed pipe), and a log line must
        // never take the daemon down.
        if self.echo {
            let _ = writeln!(std::io::stderr(), "{text}");
        }
        // The syslog copy: the line without its time stamp and program name.
        let tail = text
            .split_once(" ipsynd ")
            .map_or(text.as_str(), |(_, t)| t);
        if let Some(note) = out.syslog.send(&now, msg, tail) {
            let note = format_line(&now, NO_CLIENT, &note);
            out.held.extend_from_slice(note.as_bytes());
            out.held.push(b'\n');
        }
        if !out.holding || out.held.len() > HELD_MAX {
            out.write_held(self.echo);
        }
    }
}

impl Out {
    /// The held lines to the file with one write; on failure to stderr (unless echoed
    /// already) with the reason, said once until it changes.
    fn write_held(&mut self, echoed: bool) {
        if self.held.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.held);
        let (done, res) = self.file.append_counted(&batch);
        match res {
            Ok(()) => {
                self.failing.clear();
            }
            Err(e) => {
                let mut err = std::io::stderr();
                if !echoed {
                    // What did not reach the file, whole lines (a full disk can take part).
                    let from = batch[..done]
                        .iter()
                        .rposition(|&b| b == b'\n')
                        .map_or(0, |i| i + 1);
                    let _ = err.write_all(&batch[from..]);
                }
                let note = format!(
                    "WARNING: unable to write {}: {}",
                    self.file.path().display(),
                    err_text(&e)
                );
                if self.failing.first(&note) {
                    let _ = writeln!(err, "ipsynd: {note}");
                    let _ = self.syslog.send(&Local::now(), &note, &note);
                }
            }
        }
        // The buffer's capacity is kept for the next batch.
        self.held = batch;
        self.held.clear();
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn line_format_matches_spec() {
        let t = Local.with_ymd_and_hms(1997, 1, 10, 14, 10, 5).unwrap();
        assert_eq!(
            format_line(&t, "JUKEBOX", "gave up after 11 attempts"),
            "10 Jan 1997 14:10:05 ipsynd JUKEBOX gave up after 11 attempts"
        );
        assert_eq!(format_line(&t, "", "x"), "10 Jan 1997 14:10:05 ipsynd - x");
        assert_eq!(
            format_line(&t, "A\nB", "record A\nB\tkept\r"),
            "10 Jan 1997 14:10:05 ipsynd A\\nB record A\\nB\\tkept\\r"
        );
    }

    #[test]
    fn held_lines_go_in_one_write_at_flush_or_drop_and_others_at_once() {
        let dir = std::env::temp_dir().join(format!("ipsynd-logbatch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ipsynd.log");
        let read = || std::fs::read_to_string(&path).unwrap_or_default();
        let log = Log::new(&path, false);
        log.line("A", "one");
        assert!(read().ends_with("ipsynd A one\n"), "not held: at once");
        log.hold();
        log.line("B", "two");
        log.line("C", "three");
        assert_eq!(read().lines().count(), 1, "held until the flush");
        log.flush();
        let lines: Vec<String> = read().lines().map(String::from).collect();
        assert_eq!(lines.len(), 3);
        assert!(
            lines[1].ends_with(" B two") && lines[2].ends_with(" C three"),
            "{lines:?}"
        );
        log.line("D", "four");
        assert_eq!(
            read().lines().count(),
            4,
            "after a flush lines go at once again"
        );
        // A big batch does not wait for the flush; a dropped log writes what it held.
        log.hold();
        let long = "x".repeat(1000);
        for _ in 0..(HELD_MAX / 1000 + 2) {
            log.line("E", &long);
        }
        assert!(read().lines().count() > 4, "over HELD_MAX: written");
        log.line("F", "last");
        drop(log);
        assert!(read().ends_with("ipsynd F last\n"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
