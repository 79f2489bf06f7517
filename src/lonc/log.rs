//! lonc log writer: `lonc.log`, `lonnet.perm.log`, optional syslog, and the two strings the
//! status page shows (`status`, `lastlog`), kept exactly as 1.29 kept them.
//!
//! Lines go through `sys::logfile` (one `write` per line on an `O_APPEND|O_NOFOLLOW` file that
//! follows its path through a rotation) and `sys::syslog`; formatting comes from `logfmt`.
//! This module only decides where lines go. It never panics and never returns errors: a log
//! that cannot be written must not take the daemon down, and it is said once on stderr and
//! syslog instead.
//!
//! Perm-log records are never dropped in silence: a record that cannot be written (a full
//! disk) waits, in order, in a bounded queue in memory, is written as soon as the file takes
//! it again (tried on every log line and every [`PERM_RETRY`]), and is shown in the status
//! line meanwhile. The replay of delayed messages asks [`Logger::perm_room`] before it sends
//! one, so no message is delivered whose record could not be kept.

use std::collections::VecDeque;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::Local;

use super::logfmt;
use crate::sys::logfile::{self, LogFile, Once, LOG_MODE, SECRET_MODE};
use crate::sys::syslog::Syslog;

pub use crate::sys::logfile::err_text;

/// Client and peer bytes become log text through `redact::shown` only (secrets redacted).
pub use super::redact::{shown, MAX_LOGGED_TEXT};

/// Most perm-log records kept in memory while the perm log cannot be written.
pub const PERM_QUEUE_RECORDS: usize = 1000;
/// Most bytes of perm-log records kept in memory (a delayed message can be long).
pub const PERM_QUEUE_BYTES: usize = 8 << 20;
/// How often records waiting in memory are tried again when nothing else is logged.
pub const PERM_RETRY: Duration = Duration::from_secs(1);

/// Where log lines go, plus the current status and last log line of this process.
pub struct Logger {
    log_file: LogFile,
    perm_file: LogFile,
    pid: u32,
    /// The status, kept in parts and formatted only when read (a log line, the status page):
    /// a child sets it twice per request, and formatting the time each time cost more than
    /// the relay itself. `status_req` is a request shown after `status_head` (redacted then).
    status_head: String,
    status_req: Option<Vec<u8>>,
    /// The wall-clock time the status was set (`UNIX_EPOCH`: never).
    status_at: std::time::SystemTime,
    lastlog: String,
    syslog: Syslog,
    /// The last lonc.log write failure, said once on stderr and syslog.
    log_error: Once,
    echo_stderr: bool,
    /// Perm records not yet written (oldest first), the bytes they hold, the bytes of the
    /// first one already written (a full disk can take part of a line).
    perm_queue: VecDeque<Vec<u8>>,
    perm_queue_bytes: usize,
    perm_partial: usize,
    perm_error: Once,
    perm_retry_at: Option<Instant>,
    perm_limit: (usize, usize),
}

impl Logger {
    /// A logger for this process writing `log_file` and `perm_file`, and copying every line
    /// to the syslog socket `syslog` if given.
    pub fn new(log_file: PathBuf, perm_file: PathBuf, syslog: Option<PathBuf>) -> Logger {
        Logger {
            log_file: LogFile::new(log_file, LOG_MODE),
            perm_file: LogFile::new(perm_file, SECRET_MODE),
            pid: std::process::id(),
            status_head: String::new(),
            status_req: None,
            status_at: std::time::SystemTime::UNIX_EPOCH,
            lastlog: String::new(),
            syslog: Syslog::new("lonc", syslog),
            log_error: Once::default(),
            echo_stderr: false,
            perm_queue: VecDeque::new(),
            perm_queue_bytes: 0,
            perm_partial: 0,
            perm_error: Once::default(),
            perm_retry_at: None,
            perm_limit: (PERM_QUEUE_RECORDS, PERM_QUEUE_BYTES),
        }
    }

    /// Also copy every line to stderr (foreground mode).
    pub fn set_echo_stderr(&mut self, on: bool) {
        self.echo_stderr = on;
    }

    /// Call right after `fork` in the process that goes on (the daemon after daemonizing):
    /// new pid, no stderr copy unless asked again (syslog reconnects by itself).
    pub fn after_fork(&mut self) {
        self.pid = std::process::id();
        self.echo_stderr = false;
    }

    /// Point the logger at new files (after HUP re-read the configuration).
    pub fn retarget(&mut self, log_file: PathBuf, perm_file: PathBuf, syslog: Option<PathBuf>) {
        self.log_file.set_path(log_file);
        self.perm_file.set_path(perm_file);
        self.syslog.set_path(syslog);
    }

    /// 1.29's `status()`: remember what this process is doing, stamped with the time.
    pub fn status(&mut self, what: &str) {
        self.status_head.clear();
        self.status_head.push_str(what);
        self.status_req = None;
        self.status_at = std::time::SystemTime::now();
    }

    /// [`status`](Self::status) `<head>: <request as shown>` set at wall-clock time `at`,
    /// cheap per request: the buffers are reused, nothing is formatted until the status is
    /// read, and the caller passes the time it read once for all the requests of one wake-up.
    pub fn status_request(&mut self, head: &str, request: &[u8], at: std::time::SystemTime) {
        self.status_head.clear();
        self.status_head.push_str(head);
        let mut buf = self.status_req.take().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(request);
        self.status_req = Some(buf);
        self.status_at = at;
    }

    /// The status as 1.29 kept it: `<localtime of the status call>: <what>` (empty before
    /// the first call).
    pub fn status_text(&self) -> String {
        if self.status_at == std::time::SystemTime::UNIX_EPOCH {
            return String::new();
        }
        let at = logfmt::perl_localtime(&chrono::DateTime::<Local>::from(self.status_at));
        match &self.status_req {
            None => format!("{at}: {}", self.status_head),
            Some(r) => format!("{at}: {}: {}", self.status_head, shown(r)),
        }
    }

    /// The last message logged (`<localtime>: <message>`).
    pub fn lastlog(&self) -> &str {
        &self.lastlog
    }

    /// This process's status-page line: `<pid>\t<status>\t<lastlog>\n`; while perm records
    /// wait in memory the status says so: `... (perm log: N records pending)`.
    pub fn status_line(&self) -> String {
        self.status_line_with("")
    }

    /// [`status_line`](Self::status_line) with `note` right after the status (a child's links).
    pub fn status_line_with(&self, note: &str) -> String {
        let status = self.status_text();
        match self.perm_queue.len() {
            0 => format!("{}\t{status}{note}\t{}\n", self.pid, self.lastlog),
            n => format!(
                "{}\t{status}{note} (perm log: {n} records pending)\t{}\n",
                self.pid, self.lastlog
            ),
        }
    }

    /// 1.29's `logthis()`: one line in `lonc.log`, and syslog when configured.
    pub fn log(&mut self, msg: &str) {
        let now = Local::now();
        self.lastlog = format!("{}: {}", logfmt::perl_localtime(&now), msg);
        let line = logfmt::log_line(&now, self.pid, &self.status_text(), msg);
        self.write_log_line(&line);
        if let Some(note) = self.syslog.send(&now, msg, msg) {
            // Said once in lonc.log (not through syslog), until the error changes.
            let line = logfmt::log_line(&now, self.pid, &self.status_text(), &note);
            let _ = self.log_file.append(line.as_bytes());
        }
        if !self.perm_queue.is_empty() {
            self.flush_perm();
        }
    }

    /// A line into lonc.log; when that fails, the line and (once) the reason go to stderr,
    /// and the reason to syslog.
    fn write_log_line(&mut self, line: &str) {
        let res = self.log_file.append(line.as_bytes());
        let mut err = std::io::stderr();
        if self.echo_stderr || res.is_err() {
            let _ = err.write_all(line.as_bytes());
        }
        match res {
            Ok(()) => {
                self.log_error.clear();
            }
            Err(e) => {
                let note = format!(
                    "WARNING: cannot write {}: {}",
                    self.log_file.path().display(),
                    err_text(&e)
                );
                if self.log_error.first(&note) {
                    let _ = writeln!(err, "lonc: {note}");
                    let _ = self.syslog.send(&Local::now(), &note, &note);
                }
            }
        }
    }

    /// 1.29's `logperm()`: one record in `lonnet.perm.log`; kept in memory (in order) when
    /// the file cannot take it now. Call only when [`perm_room`](Self::perm_room) said yes.
    pub fn perm(&mut self, msg: &str) {
        let line = logfmt::perm_line(&Local::now(), msg).into_bytes();
        self.perm_queue_bytes += line.len();
        self.perm_queue.push_back(line);
        self.flush_perm();
    }

    /// Whether one more perm record can be kept (written, or queued within the bound);
    /// tries to write what waits first.
    pub fn perm_room(&mut self) -> bool {
        if !self.perm_queue.is_empty() {
            self.flush_perm();
        }
        self.perm_queue.len() < self.perm_limit.0 && self.perm_queue_bytes < self.perm_limit.1
    }

    /// Perm records waiting in memory.
    pub fn perm_pending(&self) -> usize {
        self.perm_queue.len()
    }

    /// When the records waiting in memory are to be tried again (for the caller's poll).
    pub fn perm_retry_at(&self) -> Option<Instant> {
        self.perm_retry_at
    }

    /// At or after [`perm_retry_at`](Self::perm_retry_at): try again.
    pub fn retry_perm(&mut self, now: Instant) {
        if self.perm_retry_at.is_some_and(|t| now >= t) {
            self.flush_perm();
        }
    }

    /// Before the process exits: a last try, and a CRITICAL line for what is lost.
    pub fn before_exit(&mut self) {
        if self.perm_queue.is_empty() {
            return;
        }
        self.flush_perm();
        let n = self.perm_queue.len();
        if n > 0 {
            let msg = format!(
                "CRITICAL: {n} records for {} lost at exit: it cannot be written",
                self.perm_file.path().display()
            );
            self.log(&msg);
            let _ = writeln!(std::io::stderr(), "lonc: {msg}");
        }
    }

    /// Write what waits, oldest first, stopping at the first failure.
    fn flush_perm(&mut self) {
        let mut written = 0;
        while let Some(rec) = self.perm_queue.front() {
            let (n, res) = self.perm_file.append_counted(&rec[self.perm_partial..]);
            if let Err(e) = res {
                self.perm_partial += n;
                self.perm_retry_at = Some(Instant::now() + PERM_RETRY);
                let problem = format!(
                    "cannot write {}: {}",
                    self.perm_file.path().display(),
                    err_text(&e)
                );
                if self.perm_error.first(&problem) {
                    let n = self.perm_queue.len();
                    self.log_unqueued(&format!(
                        "WARNING: {problem}; {n} records kept in memory until it can be"
                    ));
                }
                return;
            }
            self.perm_partial = 0;
            self.perm_queue_bytes -= rec.len();
            self.perm_queue.pop_front();
            written += 1;
        }
        self.perm_retry_at = None;
        if self.perm_error.clear() {
            let msg = format!(
                "{} written again: {written} records that waited in memory written",
                self.perm_file.path().display()
            );
            self.log_unqueued(&msg);
        }
    }

    /// A line about the perm log itself: everywhere [`log`](Self::log) writes, plus stderr,
    /// without recursing into the queue.
    fn log_unqueued(&mut self, msg: &str) {
        let now = Local::now();
        self.lastlog = format!("{}: {}", logfmt::perl_localtime(&now), msg);
        let line = logfmt::log_line(&now, self.pid, &self.status_text(), msg);
        self.write_log_line(&line);
        if !self.echo_stderr {
            let _ = writeln!(std::io::stderr(), "lonc: {msg}");
        }
        let _ = self.syslog.send(&now, msg, msg);
    }

    /// Test hook: a small queue bound.
    #[cfg(test)]
    pub fn set_perm_limit(&mut self, records: usize, bytes: usize) {
        self.perm_limit = (records, bytes);
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
            let _ = logfile::append_to(&path, line.as_bytes(), LOG_MODE);
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
    fn a_request_status_reads_as_the_formatted_one_did() {
        let dir = std::env::temp_dir().join(format!("lonc-status-test-{}", std::process::id()));
        let mut l = Logger::new(dir.join("lonc.log"), dir.join("perm.log"), None);
        assert_eq!(l.status_text(), "");
        l.status_request(
            "Waiting for reply from h1",
            b"encrypt:passwd:dom:u:secret",
            std::time::SystemTime::now(),
        );
        let eager = format!(
            "{}: Waiting for reply from h1: {}",
            logfmt::perl_localtime(&Local::now()),
            shown(b"encrypt:passwd:dom:u:secret")
        );
        // The same text (the second may tick between the two reads: compare after the time).
        assert_eq!(l.status_text()[24..], eager[24..]);
        assert!(!l.status_text().contains("secret"), "redacted as before");
        l.status("Idle h1");
        assert!(l.status_text().ends_with(": Idle h1"));
        let line = l.status_line_with(" [links 2/4, 1 busy]");
        assert!(line.contains(": Idle h1 [links 2/4, 1 busy]\t"), "{line}");
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
