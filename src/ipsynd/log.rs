//! ipsynd's own log, `log/ipsynd.log`: one line per event,
//! `<dd Mon yyyy HH:MM:SS> ipsynd <CLIENT> <message>`.
//!
//! The file is opened in append mode for every line, so an operator may rotate or delete it
//! at any time. ipsynd runs in the foreground, so lines are also echoed to stderr (unless
//! `-q`), and always when the file cannot be written.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Local};

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

/// Appends lines to the daemon log (and echoes them to stderr).
pub struct Log {
    path: PathBuf,
    echo: bool,
}

impl Log {
    pub fn new(path: &Path, echo: bool) -> Log {
        Log {
            path: path.to_path_buf(),
            echo,
        }
    }

    /// Write one line. Failing to log must never stop the daemon, so errors only go to stderr.
    pub fn line(&self, client: &str, msg: &str) {
        let text = format_line(&Local::now(), client, msg);
        let res = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .and_then(|mut f| f.write_all(format!("{text}\n").as_bytes()));
        // Not eprintln!: it panics when stderr is gone (a closed pipe), and a log line must
        // never take the daemon down.
        let mut err = std::io::stderr();
        if self.echo || res.is_err() {
            let _ = writeln!(err, "{text}");
        }
        if let Err(e) = res {
            let _ = writeln!(err, "ipsynd: unable to write {}: {e}", self.path.display());
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
