//! ipsyn's transmission: find the receiver, send every queued file, delete each one the
//! receiver acknowledged, and report what happened in the attempt's log.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Local;

use crate::fip::paths;
use crate::fip::queue::queue_files;
use crate::fip::tables::parse_client;
use crate::sys::sig::SignalPipe;
use crate::sys::stdio;

use super::args::IpsynArgs;
use super::conn::{stop_signal, Conn, ConnError};
use super::wire::{self, Ack};

/// Exit codes of ipsyn.
pub mod exit {
    /// Every queued file went (or there was none); the control file was deleted.
    pub const OK: i32 = 0;
    /// Not everything went: receiver down or refusing, files kept, control file kept.
    pub const INCOMPLETE: i32 = 1;
    /// Bad arguments.
    pub const USAGE: i32 = 100;
    /// A local problem: queue unreadable, no receiver known.
    pub const SYSTEM: i32 = 111;
    /// Stopped by signal `s`: 128 + s.
    pub fn signal(s: i32) -> i32 {
        128 + s
    }
}

/// The attempt's log: lines `<dd Mon yyyy HH:MM:SS> ipsyn <CLIENT> <message>`, appended.
pub struct Log {
    file: Option<File>,
    client: String,
}

impl Log {
    /// Open `path` for appending; stderr when it cannot be opened (the reason goes there).
    pub fn open(path: Option<&Path>, client: &str) -> Log {
        let file = path.and_then(|p| {
            crate::sys::logfile::open_append(p, crate::sys::logfile::SECRET_MODE)
                .map_err(|e| {
                    stdio::Out::stderr()
                        .text(&format!("ipsyn: cannot open log {}: {e}\n", p.display()))
                })
                .ok()
        });
        Log {
            file,
            client: client.to_string(),
        }
    }

    /// Append one line.
    pub fn line(&mut self, msg: &str) {
        let text = format!(
            "{} ipsyn {} {}\n",
            Local::now().format("%d %b %Y %H:%M:%S"),
            self.client,
            msg
        );
        match self.file.as_mut() {
            Some(f) => {
                let _ = f.write_all(text.as_bytes());
            }
            None => eprint!("{text}"),
        }
    }
}

/// The default log when `-l` is absent: `log/syn/<CLIENT>_<ddMonyy>_<HHMM>` (ipsyn's own
/// naming, as its manual describes).
pub fn default_log(root: &Path, client: &str) -> PathBuf {
    paths::log_syn(root).join(format!("{client}_{}", Local::now().format("%d%b%y_%H%M")))
}

/// `host:` and `port:` of `tables/syn/route/<ROUTE>` for the client's route, used when
/// ipsynd passed no `-s/-p` (the route has no PORTS entry).
pub fn endpoint_from_tables(root: &Path, client: &str) -> Result<(String, u16), String> {
    let cpath = paths::client_table(root, client);
    let text = fs::read_to_string(&cpath)
        .map_err(|e| format!("no -s/-p given and cannot read {}: {e}", cpath.display()))?;
    let (c, _) = parse_client(client, &text, &cpath);
    let route = c
        .route
        .ok_or_else(|| format!("no -s/-p given and {} names no route", cpath.display()))?;
    let rpath = paths::route_table(root, &route);
    let text = fs::read_to_string(&rpath)
        .map_err(|e| format!("no -s/-p given and cannot read {}: {e}", rpath.display()))?;
    let (mut host, mut port) = (None, None);
    for line in text.lines().map(str::trim) {
        if line.starts_with(';') {
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            match k.trim().to_ascii_lowercase().as_str() {
                "host" => host = Some(v.trim().to_ascii_lowercase()),
                "port" => port = v.trim().parse::<u16>().ok().filter(|&p| p != 0),
                _ => {}
            }
        }
    }
    match (host, port) {
        (Some(h), Some(p)) if !h.is_empty() => Ok((h, p)),
        _ => Err(format!(
            "no -s/-p given and {} has no host: and port:",
            rpath.display()
        )),
    }
}

/// Counts of one run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub files: usize,
    pub sent: usize,
}

/// Open a queued file and take its size, before anything of it goes on the wire: a file
/// that cannot be opened (gone, unreadable) is skipped with the connection still usable.
fn open_queued(path: &Path) -> io::Result<(File, u64)> {
    let f = File::open(path)?;
    let size = f.metadata()?.len();
    Ok((f, size))
}

/// Send one opened file: header, body, answer. `Ok(Ack)` when the framing held (the
/// receiver may still have refused the file); `Err` when the connection is no longer usable.
fn send_file(
    conn: &mut Conn<'_>,
    (mut f, size): (File, u64),
    name: &str,
    sig: &SignalPipe,
) -> Result<(Ack, u64), ConnError> {
    conn.write_all(wire::file_header(size, name).as_bytes())?;
    let mut left = size;
    let mut buf = vec![0u8; 64 * 1024];
    while left > 0 {
        if let Some(s) = stop_signal(sig) {
            return Err(ConnError::Signal(s));
        }
        let want = buf.len().min(left as usize);
        let n = f.read(&mut buf[..want])?;
        if n == 0 {
            // The file shrank under us: the frame cannot be completed, so the connection
            // is dropped and the file kept for the next attempt.
            return Err(ConnError::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{name} shrank while being sent"),
            )));
        }
        conn.write_all(&buf[..n])?;
        left -= n as u64;
    }
    let line = conn.read_line()?;
    let ack = wire::parse_ack(&line, name).map_err(ConnError::Protocol)?;
    Ok((ack, size))
}

/// The whole transmission. Returns the exit code; the caller removes the in-use flag.
pub fn run(a: &IpsynArgs, root: &Path, sig: &SignalPipe, log: &mut Log) -> i32 {
    let dir = paths::queue_dir(root, &a.queue);
    let files = match queue_files(&dir) {
        Ok(f) => f,
        Err(e) => {
            log.line(&format!("cannot read queue {}: {e}", dir.display()));
            return exit::SYSTEM;
        }
    };
    let mut t = Tally {
        files: files.len(),
        sent: 0,
    };
    let code = if files.is_empty() {
        log.line(&format!(
            "queue {} is empty, nothing to send",
            dir.display()
        ));
        exit::OK
    } else {
        transmit(a, root, &files, sig, log, &mut t)
    };
    if code == exit::OK {
        if let Some(ctrl) = &a.ctrl {
            match fs::remove_file(ctrl) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => log.line(&format!("cannot delete {}: {e}", ctrl.display())),
            }
        }
    }
    log.line(&format!(
        "done: {} files, {} sent, {} left; exit {code}",
        t.files,
        t.sent,
        t.files - t.sent
    ));
    code
}

/// The exit code for a connection failure, after logging it.
fn conn_failure(e: &ConnError, log: &mut Log, what: &str) -> i32 {
    log.line(&format!("{what}: {e}"));
    match e {
        ConnError::Signal(s) => exit::signal(*s),
        _ => exit::INCOMPLETE,
    }
}

/// Find the receiver, connect and exchange greetings. `Err` carries the exit code.
fn open_session<'a>(
    a: &IpsynArgs,
    root: &Path,
    sig: &'a SignalPipe,
    log: &mut Log,
) -> Result<(Conn<'a>, String), i32> {
    let (host, port) = match (&a.host, a.port) {
        (Some(h), Some(p)) => (h.clone(), p),
        _ => endpoint_from_tables(root, &a.client).map_err(|m| {
            log.line(&m);
            exit::SYSTEM
        })?,
    };
    let peer = format!("{host}:{port}");
    let idle = Duration::from_secs(a.io_timeout);
    let mut conn = Conn::connect(&host, port, sig, idle)
        .map_err(|e| conn_failure(&e, log, &format!("cannot connect to {peer}")))?;
    let greeted = conn
        .write_all(wire::hello(&a.client).as_bytes())
        .and_then(|()| conn.read_line());
    match greeted {
        Ok(l) if l == wire::hello_ok().trim_end() => Ok((conn, peer)),
        Ok(l) => {
            log.line(&format!(
                "{peer} refused the session: {}",
                wire::truncate(&l)
            ));
            Err(exit::INCOMPLETE)
        }
        Err(e) => Err(conn_failure(&e, log, &format!("no greeting from {peer}"))),
    }
}

/// Connect and send `files`; updates `t`.
fn transmit(
    a: &IpsynArgs,
    root: &Path,
    files: &[(PathBuf, String)],
    sig: &SignalPipe,
    log: &mut Log,
    t: &mut Tally,
) -> i32 {
    let (mut conn, peer) = match open_session(a, root, sig, log) {
        Ok(s) => s,
        Err(code) => return code,
    };
    log.line(&format!(
        "connected to {peer}, {} files to send",
        files.len()
    ));
    for (path, name) in files {
        if let Some(why) = wire::name_problem(name) {
            log.line(&format!("not sent {name:?}: {why}"));
            continue;
        }
        let opened = match open_queued(path) {
            Ok(o) => o,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // Gone since the listing (someone else took it): nothing to send, nothing
                // lost, and nothing left waiting.
                log.line(&format!("skipped {name}: vanished from the queue"));
                t.files -= 1;
                continue;
            }
            Err(e) => {
                // Kept for a later attempt; the other files still go.
                log.line(&format!("not sent {name}: cannot read: {e}"));
                continue;
            }
        };
        match send_file(&mut conn, opened, name, sig) {
            Ok((Ack::Ok(_), size)) => {
                t.sent += 1;
                match fs::remove_file(path) {
                    Ok(()) => log.line(&format!("sent {name} ({size} bytes) to {peer}")),
                    Err(e) => log.line(&format!(
                        "sent {name} ({size} bytes) to {peer}, but cannot delete it: {e}"
                    )),
                }
            }
            Ok((Ack::Err(_, why), _)) => {
                log.line(&format!("not sent {name}: receiver refused: {why}"))
            }
            Err(e) => return conn_failure(&e, log, &format!("while sending {name} to {peer}")),
        }
    }
    // A failed goodbye loses nothing: every file counted as sent was acknowledged.
    let bye = conn.write_all(b"QUIT\n").and_then(|()| conn.read_line());
    if let Err(e) = bye {
        log.line(&format!("no goodbye from {peer}: {e}"));
        if let ConnError::Signal(s) = e {
            return exit::signal(s);
        }
    }
    if t.sent == t.files {
        exit::OK
    } else {
        exit::INCOMPLETE
    }
}
