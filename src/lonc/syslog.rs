//! lonc's copy of its log lines to syslog (`loncSyslog`, spec §2): RFC 3164 datagrams
//! `<PRI>Mmm dd hh:mm:ss lonc[<pid>]: <message>` on a local Unix socket (`/dev/log`, or the
//! absolute path `loncSyslog` names).
//!
//! Written here rather than with the `syslog` crate's formatter, which panics when the local
//! UTC offset cannot be determined and zero-pads the day (RFC 3164 pads with a space). The
//! socket is bounded: a syslog daemon that does not read costs at most [`SEND_TIMEOUT`] per
//! line, and the line still is in `lonc.log`. Formatting is pure; [`SyslogSink`] owns the
//! socket and reconnects after an error.

use std::io::{self, Write};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, TimeZone};

/// The system's syslog socket (what a true `loncSyslog` value that is not a path means).
pub const SYSTEM_SOCKET: &str = "/dev/log";
/// Facility `daemon` (3), as 1.29-era daemons logged.
const FACILITY_DAEMON: u8 = 3;
/// Longest a single send may block when the syslog daemon is slow.
pub const SEND_TIMEOUT: Duration = Duration::from_millis(50);

/// Syslog severity of a lonc message: its CRITICAL/WARNING prefix, else info.
pub fn severity(msg: &str) -> u8 {
    if msg.starts_with("CRITICAL") {
        2
    } else if msg.starts_with("WARNING") {
        4
    } else {
        6
    }
}

/// One RFC 3164 message: `<PRI>Mmm dd hh:mm:ss lonc[<pid>]: <msg>`, the day padded with a
/// space, no host name (the local syslog daemon adds it).
pub fn format<Tz: TimeZone>(t: &DateTime<Tz>, pid: u32, msg: &str) -> String
where
    Tz::Offset: std::fmt::Display,
{
    let pri = FACILITY_DAEMON * 8 + severity(msg);
    format!("<{pri}>{} lonc[{pid}]: {msg}", t.format("%b %e %H:%M:%S"))
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    #[test]
    fn rfc3164_form_with_space_padded_day() {
        let t = Utc.with_ymd_and_hms(2002, 2, 4, 9, 5, 1).unwrap();
        assert_eq!(
            format(&t, 4321, "CRITICAL: ---------- Starting ----------"),
            "<26>Feb  4 09:05:01 lonc[4321]: CRITICAL: ---------- Starting ----------"
        );
        let t = Utc.with_ymd_and_hms(2026, 11, 22, 11, 31, 0).unwrap();
        assert_eq!(
            format(&t, 7, "WARNING: Init failed h1 (120 secs)"),
            "<28>Nov 22 11:31:00 lonc[7]: WARNING: Init failed h1 (120 secs)"
        );
        assert_eq!(
            format(&t, 7, "msul1 online"),
            "<30>Nov 22 11:31:00 lonc[7]: msul1 online"
        );
    }

    #[test]
    fn datagrams_arrive_and_a_missing_socket_is_an_error() {
        let dir = std::env::temp_dir().join(format!("lonc-syslog-unit-{}", std::process::id()));
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
