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
}

impl Log {
    pub fn new(path: &Path, echo: bool) -> Log {
        Log {
            echo,
            out: RefCell::new(Out {
                file: LogFile::new(path, LOG_MODE),
                syslog: Syslog::new("ipsynd", None),
                failing: Once::default(),
            }),
        }
    }

    /// Copy every line to the syslog socket `path` from now on (`None`: stop).
    pub fn set_syslog(&self, path: Option<PathBuf>) {
        self.out.borrow_mut().syslog.set_path(path);
    }

    /// Write one line. Failing to log must never stop the daemon, so errors only go to stderr
    /// (the reason once until it changes) and to syslog.
    pub fn line(&self, client: &str, msg: &str) {
        let now = Local::now();
        let text = format_line(&now, client, msg);
        let Ok(mut out) = self.out.try_borrow_mut() else {
            return;
        };
        let res = out.file.append(format!("{text}\n").as_bytes());
        // Not eprintln!: it panics when stderr is gone (a closed pipe), and a log line must
        // never take the daemon down.
        let mut err = std::io::stderr();
        if self.echo || res.is_err() {
            let _ = writeln!(err, "{text}");
        }
        // The syslog copy: the line without its time stamp and program name.
        let tail = text
            .split_once(" ipsynd ")
            .map_or(text.as_str(), |(_, t)| t);
        if let Some(note) = out.syslog.send(&now, msg, tail) {
            let note = format_line(&now, NO_CLIENT, &note);
            let _ = out.file.append(format!("{note}\n").as_bytes());
        }
        match res {
            Ok(()) => {
                out.failing.clear();
            }
            Err(e) => {
                let note = format!(
                    "WARNING: unable to write {}: {}",
                    out.file.path().display(),
                    err_text(&e)
                );
                if out.failing.first(&note) {
                    let _ = writeln!(err, "ipsynd: {note}");
                    let _ = out.syslog.send(&now, &note, &note);
                }
            }
        }
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
}
