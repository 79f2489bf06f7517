//! lonc log writer: `lonc.log`, `lonnet.perm.log`, optional syslog, and the two strings the
//! status page shows (`status`, `lastlog`), kept exactly as 1.29 kept them.
//!
//! Each line is written with one `write` on a file opened in append mode, like 1.29's
//! open-print-close per line, so parent and children can share the file without interleaving
//! and a rotated log is picked up at once. Formatting comes from `logfmt`; this module only
//! decides where lines go. It never panics and never returns errors: a log that cannot be
//! written must not take the daemon down.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;

use chrono::Local;

use super::logfmt;
use super::syslog::{self, SyslogSink};

/// Client and peer bytes become log text through `redact::shown` only (secrets redacted).
pub use super::redact::{shown, MAX_LOGGED_TEXT};

/// Where log lines go, plus the current status and last log line of this process.
pub struct Logger {
    log_file: PathBuf,
    perm_file: PathBuf,
    pid: u32,
    status: String,
    lastlog: String,
    /// `loncSyslog`'s socket, and the connection with the pid that made it (a child must
    /// not write through its parent's connection).
    syslog_path: Option<PathBuf>,
    syslog: Option<(u32, SyslogSink)>,
    /// The last syslog failure noted in lonc.log (noted again only when it changes).
    syslog_error: Option<String>,
    echo_stderr: bool,
}

impl Logger {
    /// A logger for this process writing `log_file` and `perm_file`, and copying every line
    /// to the syslog socket `syslog` if given.
    pub fn new(log_file: PathBuf, perm_file: PathBuf, syslog: Option<PathBuf>) -> Logger {
        Logger {
            log_file,
            perm_file,
            pid: std::process::id(),
            status: String::new(),
            lastlog: String::new(),
            syslog_path: syslog,
            syslog: None,
            syslog_error: None,
            echo_stderr: false,
        }
    }

    /// Also copy every line to stderr (foreground mode).
    pub fn set_echo_stderr(&mut self, on: bool) {
        self.echo_stderr = on;
    }

    /// Call right after `fork` in the process that goes on (the daemon after daemonizing):
    /// new pid, no inherited syslog connection, no stderr copy unless asked again.
    pub fn after_fork(&mut self) {
        self.pid = std::process::id();
        self.syslog = None;
        self.echo_stderr = false;
    }

    /// Point the logger at new files (after HUP re-read the configuration).
    pub fn retarget(&mut self, log_file: PathBuf, perm_file: PathBuf, syslog: Option<PathBuf>) {
        self.log_file = log_file;
        self.perm_file = perm_file;
        self.syslog_path = syslog;
        self.syslog = None;
        self.syslog_error = None;
    }

    /// 1.29's `status()`: remember what this process is doing, stamped with the time.
    pub fn status(&mut self, what: &str) {
        self.status = format!("{}: {}", logfmt::perl_localtime(&Local::now()), what);
    }

    /// The last message logged (`<localtime>: <message>`).
    pub fn lastlog(&self) -> &str {
        &self.lastlog
    }

    /// This process's status-page line: `<pid>\t<status>\t<lastlog>\n`.
    pub fn status_line(&self) -> String {
        format!("{}\t{}\t{}\n", self.pid, self.status, self.lastlog)
    }

    /// 1.29's `logthis()`: one line in `lonc.log`, and syslog when configured.
    pub fn log(&mut self, msg: &str) {
        let now = Local::now();
        self.lastlog = format!("{}: {}", logfmt::perl_localtime(&now), msg);
        let line = logfmt::log_line(&now, self.pid, &self.status, msg);
        append(&self.log_file, line.as_bytes());
        if self.echo_stderr {
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
        if self.syslog_path.is_some() {
            self.send_syslog(&now, msg);
        }
    }

    /// 1.29's `logperm()`: one record in `lonnet.perm.log`.
    pub fn perm(&mut self, msg: &str) {
        let line = logfmt::perm_line(&Local::now(), msg);
        append(&self.perm_file, line.as_bytes());
    }

    fn send_syslog(&mut self, now: &chrono::DateTime<Local>, msg: &str) {
        let pid = self.pid;
        let Some(path) = &self.syslog_path else {
            return;
        };
        if !matches!(&self.syslog, Some((p, _)) if *p == pid) {
            self.syslog = Some((pid, SyslogSink::new(path)));
        }
        let Some((_, sink)) = self.syslog.as_mut() else {
            return;
        };
        match sink.send(&syslog::format(now, pid, msg)) {
            Ok(()) => self.syslog_error = None,
            Err(e) => {
                // Said once in lonc.log (not through syslog), until the error changes.
                let note = format!(
                    "WARNING: cannot send to syslog {}: {e}",
                    sink.path().display()
                );
                if self.syslog_error.as_deref() != Some(note.as_str()) {
                    let line = logfmt::log_line(now, pid, &self.status, &note);
                    append(&self.log_file, line.as_bytes());
                    self.syslog_error = Some(note);
                }
            }
        }
    }
}

/// Where the panic hook writes, and the server a child serves (1.29's `$wasserver`).
static ABNORMAL: std::sync::Mutex<Option<(PathBuf, String)>> = std::sync::Mutex::new(None);

/// 1.29's catchexception line: `CRITICAL: ABNORMAL EXIT. Child <pid> for server [<server>]
/// died through "<what>" with parameter [<detail>]`.
pub fn abnormal_exit_message(pid: u32, server: &str, what: &str, detail: &str) -> String {
    format!(
        "CRITICAL: ABNORMAL EXIT. Child {pid} for server [{server}] died through \"{what}\" with parameter [{detail}]"
    )
}

/// Make a panic (a bug: nothing a client or peer sends should cause one) leave 1.29's
/// ABNORMAL EXIT line in `log_file` before the process ends; in the background stderr goes
/// nowhere. Call again after HUP to follow a new log path.
pub fn install_abnormal_exit_hook(log_file: PathBuf) {
    let first = {
        let mut g = ABNORMAL.lock().unwrap_or_else(|e| e.into_inner());
        let first = g.is_none();
        let server = g.take().map(|(_, s)| s).unwrap_or_default();
        *g = Some((log_file, server));
        first
    };
    if !first {
        return;
    }
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let detail = match (
            info.payload().downcast_ref::<&str>(),
            info.payload().downcast_ref::<String>(),
        ) {
            (Some(s), _) => s.to_string(),
            (_, Some(s)) => s.clone(),
            _ => "?".to_string(),
        };
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let target = ABNORMAL
            .lock()
            .ok()
            .and_then(|g| g.as_ref().map(|(p, s)| (p.clone(), s.clone())));
        if let Some((path, server)) = target {
            let pid = std::process::id();
            let msg = abnormal_exit_message(pid, &server, "panic", &format!("{detail}{at}"));
            let line = logfmt::log_line(&Local::now(), pid, "", &msg);
            append(&path, line.as_bytes());
        }
        default(info);
    }));
}

/// In a child: the server it serves, for the ABNORMAL EXIT line.
pub fn set_abnormal_exit_server(id: &str) {
    if let Some((_, s)) = ABNORMAL.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
        *s = id.to_string();
    }
}

/// Append `data` with a single write; errors are swallowed (nowhere left to report them).
pub fn append(path: &std::path::Path, data: &[u8]) {
    if let Ok(mut f) = OpenOptions::new().create(true).append(true).open(path) {
        let _ = f.write_all(data);
    }
}

/// An OS error as a person reads it: `Connection refused`, without ` (os error 111)`.
pub fn err_text(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_errors_read_without_their_number() {
        let e = std::io::Error::from_raw_os_error(libc::ECONNREFUSED);
        assert_eq!(err_text(&e), "Connection refused");
        assert_eq!(err_text(&std::io::Error::other("plain")), "plain");
    }

    #[test]
    fn a_panic_leaves_the_abnormal_exit_line() {
        assert_eq!(
            abnormal_exit_message(7, "msul1", "panic", "boom at x.rs:1"),
            "CRITICAL: ABNORMAL EXIT. Child 7 for server [msul1] died through \"panic\" with parameter [boom at x.rs:1]"
        );
        let dir = std::env::temp_dir().join(format!("lonc-panic-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("lonc.log");
        install_abnormal_exit_hook(path.clone());
        set_abnormal_exit_server("h9");
        let r = std::thread::spawn(|| panic!("test panic {}", 42)).join();
        assert!(r.is_err());
        let text = std::fs::read_to_string(&path).unwrap();
        let want = format!(
            "CRITICAL: ABNORMAL EXIT. Child {} for server [h9] died through \"panic\" with parameter [test panic 42 at ",
            std::process::id()
        );
        assert!(text.contains(&want), "{text}");
        assert!(text.contains("src/lonc/log.rs:"), "{text}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn log_line_sets_lastlog_and_status_line() {
        let dir = std::env::temp_dir().join(format!("lonc-log-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut l = Logger::new(dir.join("lonc.log"), dir.join("perm.log"), None);
        l.status("Sleeping");
        l.log("hello");
        l.perm("S:x:y");
        let text = std::fs::read_to_string(dir.join("lonc.log")).unwrap();
        assert!(text.ends_with(": Sleeping]: hello\n"), "{text}");
        assert!(l.lastlog().ends_with(": hello"));
        let sl = l.status_line();
        assert!(sl.starts_with(&format!("{}\t", std::process::id())));
        assert_eq!(sl.matches('\t').count(), 2);
        let perm = std::fs::read_to_string(dir.join("perm.log")).unwrap();
        assert!(perm.contains(":S:x:y:"), "{perm}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
