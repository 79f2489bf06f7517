//! The one syslog sender of both daemons (lonc's `loncSyslog`, ipsynd's `syslog:`): RFC 3164
//! datagrams `<PRI>Mmm dd hh:mm:ss <ident>[<pid>]: <message>` on a local Unix socket
//! (`/dev/log`, or the absolute path the setting names), facility `daemon`, severity from the
//! message's `CRITICAL`/`WARNING`/`INFO` prefix.
//!
//! Our own rather than the `syslog` crate (checked against its current 7.0.0): its RFC 3164
//! formatter stamps the time in UTC on Unix (its `now_local` returns `now_utc`; older
//! versions panicked when the local offset was unknown), zero-pads the day (RFC 3164 pads
//! with a space), fixes the pid when the formatter is made (a forked child would need a new
//! logger), offers no send timeout short of reaching into its backend, and brings `time`,
//! `log` and `hostname` for what is some sixty lines here. The socket is bounded: a syslog
//! daemon that does not read costs at most [`SEND_TIMEOUT`] per line, and the line still is
//! in the daemon's own log. Formatting is pure; [`SyslogSink`] owns the socket and reconnects
//! after an error; [`Syslog`] adds what both daemons need around it (a connection per process
//! after a fork, a failure noted once).

use std::io::{self, Write};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, TimeZone};

use crate::sys::logfile::Once;

/// The system's syslog socket (what a true `loncSyslog` value that is not a path means).
pub const SYSTEM_SOCKET: &str = "/dev/log";
/// Facility `daemon` (3), as 1.29-era daemons logged.
const FACILITY_DAEMON: u8 = 3;
/// Longest a single send may block when the syslog daemon is slow.
pub const SEND_TIMEOUT: Duration = Duration::from_millis(50);

/// Syslog severity of a message: its CRITICAL/WARNING prefix, else info.
pub fn severity(msg: &str) -> u8 {
    if msg.starts_with("CRITICAL") {
        2
    } else if msg.starts_with("WARNING") {
        4
    } else {
        6
    }
}

/// One RFC 3164 message: `<PRI>Mmm dd hh:mm:ss <ident>[<pid>]: <msg>`, the day padded with a
/// space, no host name (the local syslog daemon adds it). Severity comes from `sev_text` (the
/// message, or the part of it that carries the prefix).
pub fn format<Tz: TimeZone>(
    t: &DateTime<Tz>,
    ident: &str,
    pid: u32,
    sev_text: &str,
    msg: &str,
) -> String
where
    Tz::Offset: std::fmt::Display,
{
    let pri = FACILITY_DAEMON * 8 + severity(sev_text);
    format!(
        "<{pri}>{} {ident}[{pid}]: {msg}",
        t.format("%b %e %H:%M:%S")
    )
}

/// A syslog setting's value (`loncSyslog`, ipsynd's `syslog:`), already known to be on: an
/// absolute path names the socket; anything else means the system's. The `Err` is the
/// warning for a value that looks like a path but is not absolute.
pub fn socket_for(value: &str) -> Result<PathBuf, String> {
    if value.starts_with('/') {
        Ok(PathBuf::from(value))
    } else if value.contains('/') {
        Err(format!(
            "{value:?} is not an absolute path; using {SYSTEM_SOCKET}"
        ))
    } else {
        Ok(PathBuf::from(SYSTEM_SOCKET))
    }
}

enum Conn {
    Dgram(UnixDatagram),
    /// Some syslog daemons listen on a stream socket; messages are then NUL-terminated.
    Stream(UnixStream),
}

/// A connection to a syslog socket, made on first use and again after a failure.
pub struct SyslogSink {
    path: PathBuf,
    conn: Option<Conn>,
}

impl SyslogSink {
    pub fn new(path: &Path) -> SyslogSink {
        SyslogSink {
            path: path.to_path_buf(),
            conn: None,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn connect(&self) -> io::Result<Conn> {
        let d = UnixDatagram::unbound()?;
        match d.connect(&self.path) {
            Ok(()) => {
                d.set_write_timeout(Some(SEND_TIMEOUT))?;
                Ok(Conn::Dgram(d))
            }
            Err(e) if e.raw_os_error() == Some(libc::EPROTOTYPE) => {
                let s = UnixStream::connect(&self.path)?;
                s.set_write_timeout(Some(SEND_TIMEOUT))?;
                Ok(Conn::Stream(s))
            }
            Err(e) => Err(e),
        }
    }

    /// Send one formatted message. On error the connection is dropped (and made again next
    /// time), so a restarted syslog daemon is picked up.
    pub fn send(&mut self, text: &str) -> io::Result<()> {
        if self.conn.is_none() {
            self.conn = Some(self.connect()?);
        }
        let r = match self.conn.as_mut() {
            Some(Conn::Dgram(d)) => d.send(text.as_bytes()).map(|_| ()),
            Some(Conn::Stream(s)) => {
                let mut framed = Vec::with_capacity(text.len() + 1);
                framed.extend_from_slice(text.as_bytes());
                framed.push(0);
                s.write_all(&framed)
            }
            None => Ok(()),
        };
        if r.is_err() {
            self.conn = None;
        }
        r
    }
}

/// A daemon's syslog copy: off, or a socket; connected per process (a child never writes
/// through its parent's connection) and on demand.
pub struct Syslog {
    ident: &'static str,
    path: Option<PathBuf>,
    conn: Option<(u32, SyslogSink)>,
    failing: Once,
}

impl Syslog {
    /// `ident` is the program name put before `[pid]`; `path` `None` is off.
    pub fn new(ident: &'static str, path: Option<PathBuf>) -> Syslog {
        Syslog {
            ident,
            path,
            conn: None,
            failing: Once::default(),
        }
    }

    /// Change the socket (a re-read configuration); the next line connects anew.
    pub fn set_path(&mut self, path: Option<PathBuf>) {
        if path != self.path {
            self.path = path;
            self.conn = None;
            self.failing.clear();
        }
    }

    pub fn enabled(&self) -> bool {
        self.path.is_some()
    }

    /// Send `msg` (severity from `sev_text`). `Some(note)` when sending failed in a way not
    /// noted before: the caller writes it to its own log (not through syslog).
    pub fn send<Tz: TimeZone>(
        &mut self,
        now: &DateTime<Tz>,
        sev_text: &str,
        msg: &str,
    ) -> Option<String>
    where
        Tz::Offset: std::fmt::Display,
    {
        let path = self.path.as_ref()?;
        let pid = std::process::id();
        if !matches!(&self.conn, Some((p, _)) if *p == pid) {
            self.conn = Some((pid, SyslogSink::new(path)));
        }
        let (_, sink) = self.conn.as_mut()?;
        match sink.send(&format(now, self.ident, pid, sev_text, msg)) {
            Ok(()) => {
                self.failing.clear();
                None
            }
            Err(e) => {
                let note = format!(
                    "WARNING: cannot send to syslog {}: {}",
                    sink.path().display(),
                    crate::sys::logfile::err_text(&e)
                );
                self.failing.first(&note).then_some(note)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    #[test]
    fn rfc3164_form_with_space_padded_day() {
        let t = Utc.with_ymd_and_hms(2002, 2, 4, 9, 5, 1).unwrap();
        assert_eq!(
            format(
                &t,
                "lonc",
                4321,
                "CRITICAL: x",
                "CRITICAL: ---------- Starting ----------"
            ),
            "<26>Feb  4 09:05:01 lonc[4321]: CRITICAL: ---------- Starting ----------"
        );
        let t = Utc.with_ymd_and_hms(2026, 11, 22, 11, 31, 0).unwrap();
        assert_eq!(
            format(
                &t,
                "lonc",
                7,
                "WARNING: Init",
                "WARNING: Init failed h1 (120 secs)"
            ),
            "<28>Nov 22 11:31:00 lonc[7]: WARNING: Init failed h1 (120 secs)"
        );
        assert_eq!(
            format(&t, "ipsynd", 7, "online", "msul1 online"),
            "<30>Nov 22 11:31:00 ipsynd[7]: msul1 online"
        );
    }

    #[test]
    fn setting_values() {
        assert_eq!(socket_for("/run/x.sock").unwrap(), Path::new("/run/x.sock"));
        assert_eq!(socket_for("yes").unwrap(), Path::new(SYSTEM_SOCKET));
        assert!(socket_for("run/x.sock")
            .unwrap_err()
            .contains("not an absolute path"));
    }

    #[test]
    fn a_failure_is_noted_once_until_it_changes_or_clears() {
        let dir = std::env::temp_dir().join(format!("sys-syslog-once-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log.sock");
        let _ = std::fs::remove_file(&path);
        let mut s = Syslog::new("ipsynd", Some(path.clone()));
        let now = Utc::now();
        assert!(s.send(&now, "x", "x").is_some());
        assert!(s.send(&now, "x", "x").is_none(), "said once");
        let rx = UnixDatagram::bind(&path).unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        assert!(s.send(&now, "WARNING: y", "WARNING: y").is_none());
        let mut buf = [0u8; 128];
        let n = rx.recv(&mut buf).unwrap();
        let got = String::from_utf8_lossy(&buf[..n]).into_owned();
        assert!(got.starts_with("<28>"), "{got}");
        assert!(
            got.ends_with(&format!(" ipsynd[{}]: WARNING: y", std::process::id())),
            "{got}"
        );
        drop(rx);
        let _ = std::fs::remove_file(&path);
        assert!(
            s.send(&now, "x", "x").is_some(),
            "a new failure is noted again"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn datagrams_arrive_and_a_missing_socket_is_an_error() {
        let dir = std::env::temp_dir().join(format!("sys-syslog-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log.sock");
        let _ = std::fs::remove_file(&path);
        let mut sink = SyslogSink::new(&path);
        assert!(sink.send("<30>x").is_err(), "nothing listens yet");
        let rx = UnixDatagram::bind(&path).unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        sink.send("<30>first").unwrap();
        sink.send("<26>second").unwrap();
        let mut buf = [0u8; 64];
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"<30>first");
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"<26>second");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
