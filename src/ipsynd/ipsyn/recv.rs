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

struct Peer {
    stream: TcpStream,
    inbuf: Vec<u8>,
    out: Vec<u8>,
    state: State,
    deadline: Instant,
    closing: bool,
}

/// Shared receiver state.
struct Receiver {
    opts: RecvOptions,
    stored: u64,
    tmp_seq: u64,
}

impl Receiver {
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

    /// Consume what `p.inbuf` holds, producing answers in `p.out`.
    fn process(&mut self, p: &mut Peer) {
        loop {
            if p.closing {
                return;
            }
            if let State::Body { left, tmp, .. } = &mut p.state {
                let n = (*left).min(p.inbuf.len() as u64) as usize;
                if n > 0 {
                    if let Some(t) = tmp.as_mut() {
                        if let Err(e) = t.file.write_all(&p.inbuf[..n]) {
                            // Keep reading the body; refuse the file at its end.
                            if let State::Body { refuse, tmp, .. } = &mut p.state {
                                *refuse = Some(format!("cannot write: {e}"));
                                *tmp = None;
                            }
                        }
                    }
                    p.inbuf.drain(..n);
                }
                if let State::Body { left, .. } = &mut p.state {
                    *left -= n as u64;
                    if *left > 0 {
                        return;
                    }
                }
                if let State::Body {
                    name, tmp, refuse, ..
                } = std::mem::replace(&mut p.state, State::Request)
                {
                    let ack = self.finish(name, tmp, refuse);
                    p.out.extend_from_slice(ack.line().as_bytes());
                }
                continue;
            }
            let Some(pos) = p.inbuf.iter().position(|&b| b == b'\n') else {
                if p.inbuf.len() > MAX_LINE {
                    p.out.extend_from_slice(b"ERR - line too long\n");
                    p.closing = true;
                }
                return;
            };
            let raw: Vec<u8> = p.inbuf.drain(..=pos).collect();
            let line = String::from_utf8_lossy(&raw[..raw.len() - 1])
                .trim_end_matches('\r')
                .to_string();
            match p.state {
                State::Greeting => match wire::parse_hello(&line) {
                    Ok(_) => {
                        p.out.extend_from_slice(wire::hello_ok().as_bytes());
                        p.state = State::Request;
                    }
                    Err(e) => {
                        p.out.extend_from_slice(format!("ERR {e}\n").as_bytes());
                        p.closing = true;
                    }
                },
                State::Request => match wire::parse_request(&line) {
                    Ok(Request::File { size, name }) => p.state = self.begin(size, name),
                    Ok(Request::Quit) => {
                        p.out.extend_from_slice(b"BYE\n");
                        p.closing = true;
                    }
                    Err(e) => {
                        p.out.extend_from_slice(format!("ERR - {e}\n").as_bytes());
                        p.closing = true;
                    }
                },
                State::Body { .. } => unreachable!("handled above"),
            }
        }
    }
}

/// Flush what can be written without blocking; `false` when the peer is gone.
fn flush(p: &mut Peer) -> bool {
    while !p.out.is_empty() {
        match p.stream.write(&p.out) {
            Ok(0) => return false,
            Ok(n) => {
                p.out.drain(..n);
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
            Ok(n) => p.inbuf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
        // Do not buffer without bound: process between reads of a large body.
        if p.inbuf.len() >= chunk.len() * 4 {
            return true;
        }
    }
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
    let mut rx = Receiver {
        opts,
        stored: 0,
        tmp_seq: 0,
    };
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
            if !p.closing {
                ev |= PollFlags::POLLIN;
            }
            if !p.out.is_empty() {
                ev |= PollFlags::POLLOUT;
            }
            fds.push(PollFd::new(p.stream.as_fd(), ev));
        }
        poll::wait(&mut fds, deadline)?;
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        if ready[1] {
            loop {
                match listener.accept() {
                    Ok((stream, _)) => {
                        stream.set_nonblocking(true)?;
                        next_id += 1;
                        peers.insert(
                            next_id,
                            Peer {
                                stream,
                                inbuf: Vec::new(),
                                out: Vec::new(),
                                state: State::Greeting,
                                deadline: Instant::now() + idle,
                                closing: false,
                            },
                        );
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    // EMFILE and friends: try again on the next wake-up.
                    Err(e) => {
                        eprintln!("ipsyn-recv: accept: {e}");
                        break;
                    }
                }
            }
        }
        let now = Instant::now();
        for (i, id) in ids.iter().enumerate() {
            let p = peers.get_mut(id).expect("listed above");
            let mut alive = true;
            if ready[i + 2] {
                p.deadline = now + idle;
                if !p.closing {
                    alive = fill(p);
                    rx.process(p);
                }
                alive = flush(p) && alive;
                if p.closing && p.out.is_empty() {
                    alive = false;
                }
            } else if now >= p.deadline {
                alive = false;
            }
            if !alive {
                peers.remove(id);
            }
        }
    }
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
