//! `ipsyn-recv`: the receiving end of ipsyn's protocol (see [`super::wire`]).
//!
//! One poll loop serves the listener, every connection and the signal self-pipe. A file is
//! written to a dot-named temporary file in the target directory, fsynced and renamed to its
//! name before `OK <name>` goes back, so a file either arrives whole or not at all, and an
//! acknowledged file survives a crash of the receiver.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags};

use crate::sys::fsutil::atomic_write;
use crate::sys::poll;
use crate::sys::sig::SignalPipe;
use crate::sys::stdio;

use super::wire::{self, Ack, Request, MAX_LINE};

/// What `ipsyn-recv` was asked to do.
#[derive(Debug, Clone)]
pub struct RecvOptions {
    /// Address to listen on, e.g. `127.0.0.1:0`.
    pub listen: String,
    /// Where received files go.
    pub dir: PathBuf,
    /// Written (atomically) with the bound port number once listening.
    pub port_file: Option<PathBuf>,
    /// Refuse every file after this many were stored (for tests and demos of partial runs).
    pub reject_after: Option<u64>,
    /// A connection with no traffic for this long is dropped.
    pub idle: Duration,
}

/// A temporary file removed on drop unless it was renamed into place.
struct Tmp {
    file: File,
    path: Option<PathBuf>,
}

impl Drop for Tmp {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            let _ = fs::remove_file(p);
        }
    }
}

enum State {
    Greeting,
    Request,
    Body {
        name: String,
        left: u64,
        tmp: Option<Tmp>,
        /// Why the file will be refused once its bytes are read.
        refuse: Option<String>,
    },
}

/// The protocol side of one connection, without the socket (so it can be unit-tested).
struct Session {
    /// Bytes received and not yet consumed.
    inbuf: Vec<u8>,
    /// Answers not yet written.
    out: Vec<u8>,
    state: State,
    /// No more input is read; close once `out` is written.
    closing: bool,
}

impl Session {
    fn new() -> Session {
        Session {
            inbuf: Vec::new(),
            out: Vec::new(),
            state: State::Greeting,
            closing: false,
        }
    }

    fn answer(&mut self, line: &str) {
        self.out.extend_from_slice(line.as_bytes());
    }

    /// Answer and stop reading.
    fn fail(&mut self, line: &str) {
        self.answer(line);
        self.closing = true;
    }
}

struct Peer {
    stream: TcpStream,
    s: Session,
    deadline: Instant,
}

/// Shared receiver state.
struct Receiver {
    opts: RecvOptions,
    stored: u64,
    tmp_seq: u64,
}

impl Receiver {
    fn new(opts: RecvOptions) -> Receiver {
        Receiver {
            opts,
            stored: 0,
            tmp_seq: 0,
        }
    }

    fn tmp_path(&mut self) -> PathBuf {
        self.tmp_seq += 1;
        self.opts.dir.join(format!(
            ".ipsyn-recv.{}.{}.tmp",
            std::process::id(),
            self.tmp_seq
        ))
    }

    /// Begin a file: decide whether it will be refused, open its temporary file.
    fn begin(&mut self, size: u64, name: String) -> State {
        let mut refuse = wire::name_problem(&name).map(str::to_string);
        if refuse.is_none() && self.opts.reject_after.is_some_and(|n| self.stored >= n) {
            refuse = Some("refusing more files (--reject-after)".into());
        }
        let mut tmp = None;
        if refuse.is_none() {
            let path = self.tmp_path();
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => {
                    tmp = Some(Tmp {
                        file,
                        path: Some(path),
                    })
                }
                Err(e) => refuse = Some(format!("cannot create a temporary file: {e}")),
            }
        }
        State::Body {
            name,
            left: size,
            tmp,
            refuse,
        }
    }

    /// End a file whose bytes have all arrived.
    fn finish(&mut self, name: String, tmp: Option<Tmp>, refuse: Option<String>) -> Ack {
        if let Some(why) = refuse {
            return Ack::Err(name, why);
        }
        let Some(mut tmp) = tmp else {
            return Ack::Err(name, "internal: no temporary file".into());
        };
        let path = tmp.path.clone().unwrap_or_default();
        let target = self.opts.dir.join(&name);
        match tmp
            .file
            .sync_all()
            .and_then(|()| fs::rename(&path, &target))
        {
            Ok(()) => {
                tmp.path = None;
                self.stored += 1;
                Ack::Ok(name)
            }
            Err(e) => Ack::Err(name, format!("cannot store: {e}")),
        }
    }

    /// Feed body bytes from `s.inbuf` into the current file; `true` when the file is
    /// complete (and answered).
    fn body(&mut self, s: &mut Session) -> bool {
        let State::Body {
            left, tmp, refuse, ..
        } = &mut s.state
        else {
            return false;
        };
        let n = (*left).min(s.inbuf.len() as u64) as usize;
        if let Some(t) = tmp.as_mut() {
            if let Err(e) = t.file.write_all(&s.inbuf[..n]) {
                // Keep reading the body (the framing must hold); refuse the file at its end.
                *refuse = Some(format!("cannot write: {e}"));
                *tmp = None;
            }
        }
        s.inbuf.drain(..n);
        *left -= n as u64;
        if *left > 0 {
            return false;
        }
        if let State::Body {
            name, tmp, refuse, ..
        } = std::mem::replace(&mut s.state, State::Request)
        {
            let ack = self.finish(name, tmp, refuse);
            s.answer(&ack.line());
        }
        true
    }

    /// Act on one control line.
    fn line(&mut self, s: &mut Session, line: &str) {
        match s.state {
            State::Greeting => match wire::parse_hello(line) {
                Ok(_) => {
                    s.answer(&wire::hello_ok());
                    s.state = State::Request;
                }
                Err(e) => s.fail(&format!("ERR {e}\n")),
            },
            State::Request => match wire::parse_request(line) {
                Ok(Request::File { size, name }) => s.state = self.begin(size, name),
                Ok(Request::Quit) => s.fail("BYE\n"),
                Err(e) => s.fail(&format!("ERR - {e}\n")),
            },
            State::Body { .. } => unreachable!("bodies are consumed by Receiver::body"),
        }
    }

    /// Consume what `s.inbuf` holds, producing answers in `s.out`.
    fn process(&mut self, s: &mut Session) {
        while !s.closing {
            if matches!(s.state, State::Body { .. }) {
                if self.body(s) {
                    continue;
                }
                return;
            }
            let pos = s.inbuf.iter().position(|&b| b == b'\n');
            // Too long whether or not its newline came in the same read, so the verdict
            // does not depend on how the stream was cut into reads.
            if pos.unwrap_or(s.inbuf.len()) > MAX_LINE {
                s.fail("ERR - line too long\n");
                return;
            }
            let Some(pos) = pos else {
                return;
            };
            let raw: Vec<u8> = s.inbuf.drain(..=pos).collect();
            let line = String::from_utf8_lossy(&raw[..raw.len() - 1]);
            self.line(s, line.trim_end_matches('\r'));
        }
    }
}

/// Flush what can be written without blocking; `false` when the peer is gone.
fn flush(p: &mut Peer) -> bool {
    while !p.s.out.is_empty() {
        match p.stream.write(&p.s.out) {
            Ok(0) => return false,
            Ok(n) => {
                p.s.out.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    true
}

/// Read what is available; `false` on EOF or error.
fn fill(p: &mut Peer) -> bool {
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        match p.stream.read(&mut chunk) {
            Ok(0) => return false,
            Ok(n) => p.s.inbuf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
        // Do not buffer without bound: process between reads of a large body.
        if p.s.inbuf.len() >= chunk.len() * 4 {
            return true;
        }
    }
}

/// Accept every pending connection.
fn accept_all(
    listener: &TcpListener,
    peers: &mut HashMap<u64, Peer>,
    next_id: &mut u64,
    idle: Duration,
) {
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                if let Err(e) = stream.set_nonblocking(true) {
                    stdio::Out::stderr().text(&format!("ipsyn-recv: accept: {e}\n"));
                    continue;
                }
                *next_id += 1;
                peers.insert(
                    *next_id,
                    Peer {
                        stream,
                        s: Session::new(),
                        deadline: Instant::now() + idle,
                    },
                );
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            // EMFILE and friends: try again on the next wake-up.
            Err(e) => {
                stdio::Out::stderr().text(&format!("ipsyn-recv: accept: {e}\n"));
                return;
            }
        }
    }
}

/// Serve one peer after poll; `false` when it is finished or broken.
fn service(rx: &mut Receiver, p: &mut Peer, ready: bool, now: Instant, idle: Duration) -> bool {
    if !ready {
        return now < p.deadline;
    }
    p.deadline = now + idle;
    let mut alive = true;
    if !p.s.closing {
        alive = fill(p);
        rx.process(&mut p.s);
    }
    alive = flush(p) && alive;
    alive && !(p.s.closing && p.s.out.is_empty())
}

/// Bind, announce the port, and serve until SIGTERM or SIGINT.
pub fn serve(opts: RecvOptions, sig: &SignalPipe) -> io::Result<()> {
    if !opts.dir.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{} is not a directory", opts.dir.display()),
        ));
    }
    let listener = TcpListener::bind(&opts.listen)?;
    listener.set_nonblocking(true)?;
    if let Some(pf) = &opts.port_file {
        atomic_write(
            pf,
            format!("{}\n", listener.local_addr()?.port()).as_bytes(),
        )?;
    }
    let idle = opts.idle;
    let mut rx = Receiver::new(opts);
    let mut peers: HashMap<u64, Peer> = HashMap::new();
    let mut next_id = 0u64;
    loop {
        sig.drain();
        if sig.take(libc::SIGTERM) || sig.take(libc::SIGINT) {
            return Ok(()); // dropping the peers removes their temporary files
        }
        sig.take(libc::SIGHUP);
        let ids: Vec<u64> = peers.keys().copied().collect();
        let deadline = poll::earliest(peers.values().map(|p| Some(p.deadline)));
        let mut fds = vec![
            PollFd::new(sig.fd(), PollFlags::POLLIN),
            PollFd::new(listener.as_fd(), PollFlags::POLLIN),
        ];
        for id in &ids {
            let p = &peers[id];
            let mut ev = PollFlags::empty();
            ev.set(PollFlags::POLLIN, !p.s.closing);
            ev.set(PollFlags::POLLOUT, !p.s.out.is_empty());
            fds.push(PollFd::new(p.stream.as_fd(), ev));
        }
        poll::wait(&mut fds, deadline)?;
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        if ready[1] {
            accept_all(&listener, &mut peers, &mut next_id, idle);
        }
        let now = Instant::now();
        for (i, id) in ids.iter().enumerate() {
            let p = peers.get_mut(id).expect("listed above");
            if !service(&mut rx, p, ready[i + 2], now, idle) {
                peers.remove(id);
            }
        }
    }
}

/// The protocol side of one connection without its socket: `reads` as the socket brought
/// them, files stored under `opts.dir`, as [`serve`] does per read. Returns what was answered
/// and whether the session ended; a file left unfinished is removed. (The fuzz target of the
/// framing drives the receiver through this.)
pub fn answer_session<'a>(
    opts: RecvOptions,
    reads: impl IntoIterator<Item = &'a [u8]>,
) -> (Vec<u8>, bool) {
    let mut rx = Receiver::new(opts);
    let mut s = Session::new();
    for r in reads {
        if s.closing {
            break;
        }
        s.inbuf.extend_from_slice(r);
        rx.process(&mut s);
    }
    (std::mem::take(&mut s.out), s.closing)
}

/// Whether `dir` holds any leftover temporary file of a receiver (for tests).
pub fn has_temp_files(dir: &Path) -> bool {
    fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with(".ipsyn-recv."))
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests;
