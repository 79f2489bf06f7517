//! bench-relay: the minimal relay lonc is measured against (issue 10 §1). No daemon logic:
//! one `poll` loop, one TCP link, requests relayed strictly one at a time in arrival order as
//! a lonc child relays them, and per request only the four syscalls of the path (Unix `recv`,
//! TCP `send`, TCP `recv`, Unix `send`) plus the `poll`s.
//!
//! `bench-relay --unix PATH --connect HOST:PORT [--ready-file FILE]`
//!
//! It talks to `bench-peer`, which serves a connection that does not start with `init` plain
//! lines: so the relay skips lond's handshake (lonc does it once per link, outside the
//! measured requests; the per-request path is the same). The pollfd array is kept, not
//! rebuilt: slot i of the clients is pollfd 3+i, a free slot has fd -1 (which `poll` skips)
//! and is reused. One `accept4` per readable listener; a client that closes is closed. The
//! ready file (written once the link is up and the socket listens) lets a script wait for it.
//! TERM, INT or HUP stop it (exit 0, the socket removed).

use loncsyn::bench::args::Args;
use loncsyn::bench::net::{pfd, stop_pipe};
use std::collections::VecDeque;
use std::io;
use std::net::TcpStream;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::process::ExitCode;

const USAGE: &str = "usage: bench-relay --unix PATH --connect HOST:PORT [--ready-file FILE]";
const SIG: usize = 0;
const LISTEN: usize = 1;
const LINK: usize = 2;
const FIRST: usize = 3;

struct Client {
    fd: OwnedFd,
    /// Bumped when the slot is reused, so a late answer never goes to a newcomer.
    gen: u64,
    inbuf: Vec<u8>,
    out: Vec<u8>,
}

struct Relay {
    fds: Vec<libc::pollfd>,
    clients: Vec<Option<Client>>,
    free: Vec<usize>,
    gen: u64,
    /// Requests waiting for the link: (slot, gen, line with newline).
    queue: VecDeque<(usize, u64, Vec<u8>)>,
    /// The request on the link: whose answer the next line is.
    in_flight: Option<(usize, u64)>,
    link: TcpStream,
    link_out: Vec<u8>,
    link_in: Vec<u8>,
    buf: Vec<u8>,
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.starts_with("usage") => {
            eprintln!("bench-relay: {e}\n{USAGE}");
            ExitCode::from(64)
        }
        Err(e) => {
            eprintln!("bench-relay: {e}");
            ExitCode::from(1)
        }
    }
}

fn run() -> Result<(), String> {
    let a = Args::parse(std::env::args().skip(1), 0).map_err(|e| format!("usage: {e}"))?;
    a.only(&["unix", "connect", "ready-file"])
        .map_err(|e| format!("usage: {e}"))?;
    let path = a.need("unix").map_err(|e| format!("usage: {e}"))?;
    let target = a.need("connect").map_err(|e| format!("usage: {e}"))?;
    let stop = stop_pipe().map_err(|e| format!("signals: {e}"))?;
    let link = TcpStream::connect(target).map_err(|e| format!("connect {target}: {e}"))?;
    link.set_nodelay(true).map_err(|e| e.to_string())?;
    link.set_nonblocking(true).map_err(|e| e.to_string())?;
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path).map_err(|e| format!("bind {path}: {e}"))?;
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    if let Some(f) = a.str("ready-file") {
        loncsyn::sys::fsutil::atomic_write(std::path::Path::new(f), b"ready\n")
            .map_err(|e| format!("{f}: {e}"))?;
    }
    let mut r = Relay {
        fds: vec![
            pfd(stop.as_raw_fd(), libc::POLLIN),
            pfd(listener.as_raw_fd(), libc::POLLIN),
            pfd(link.as_raw_fd(), libc::POLLIN),
        ],
        clients: Vec::new(),
        free: Vec::new(),
        gen: 0,
        queue: VecDeque::new(),
        in_flight: None,
        link,
        link_out: Vec::new(),
        link_in: Vec::new(),
        buf: vec![0u8; 64 * 1024],
    };
    let res = r.run(listener.as_raw_fd());
    let _ = std::fs::remove_file(path);
    res.map_err(|e| e.to_string())
}

impl Relay {
    fn run(&mut self, listen_fd: RawFd) -> io::Result<()> {
        loop {
            // SAFETY: fds is a live Vec of pollfd for the duration of the call.
            let n = unsafe { libc::poll(self.fds.as_mut_ptr(), self.fds.len() as _, -1) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            if self.fds[SIG].revents != 0 {
                return Ok(());
            }
            if self.fds[LINK].revents != 0 {
                self.on_link()?;
            }
            for slot in 0..self.clients.len() {
                if self.fds[FIRST + slot].revents != 0 {
                    self.on_client(slot);
                }
            }
            if self.fds[LISTEN].revents & libc::POLLIN != 0 {
                self.accept(listen_fd);
            }
            self.start_next()?;
        }
    }

    fn accept(&mut self, listen_fd: RawFd) {
        // SAFETY: accept4 on our listening socket; null address pointers are allowed.
        let fd = unsafe {
            libc::accept4(
                listen_fd,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            )
        };
        if fd < 0 {
            return;
        }
        // SAFETY: accept4 returned a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        self.gen += 1;
        let c = Client {
            gen: self.gen,
            inbuf: Vec::new(),
            out: Vec::new(),
            fd,
        };
        let p = pfd(c.fd.as_raw_fd(), libc::POLLIN);
        match self.free.pop() {
            Some(slot) => {
                self.fds[FIRST + slot] = p;
                self.clients[slot] = Some(c);
            }
            None => {
                self.fds.push(p);
                self.clients.push(Some(c));
            }
        }
    }

    fn close(&mut self, slot: usize) {
        self.clients[slot] = None;
        self.fds[FIRST + slot] = pfd(-1, 0);
        self.free.push(slot);
    }

    fn on_client(&mut self, slot: usize) {
        let rev = self.fds[FIRST + slot].revents;
        let Some(c) = self.clients[slot].as_mut() else {
            return;
        };
        if rev & libc::POLLOUT != 0 {
            match send(c.fd.as_raw_fd(), &c.out) {
                Ok(n) => {
                    c.out.drain(..n);
                    if c.out.is_empty() {
                        self.fds[FIRST + slot].events = libc::POLLIN;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => return self.close(slot),
            }
        }
        if rev & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) == 0 {
            return;
        }
        match recv(c.fd.as_raw_fd(), &mut self.buf) {
            Ok(0) | Err(_) => self.close(slot),
            Ok(n) => {
                c.inbuf.extend_from_slice(&self.buf[..n]);
                let mut start = 0;
                while let Some(nl) = c.inbuf[start..].iter().position(|&b| b == b'\n') {
                    let line = c.inbuf[start..start + nl + 1].to_vec();
                    self.queue.push_back((slot, c.gen, line));
                    start += nl + 1;
                }
                c.inbuf.drain(..start);
            }
        }
    }

    /// Put the next waiting request on the link if it is free.
    fn start_next(&mut self) -> io::Result<()> {
        if self.in_flight.is_some() {
            return Ok(());
        }
        let Some((slot, gen, line)) = self.queue.pop_front() else {
            return Ok(());
        };
        self.in_flight = Some((slot, gen));
        match send(self.link.as_raw_fd(), &line) {
            Ok(n) if n == line.len() => {}
            Ok(n) => {
                self.link_out.extend_from_slice(&line[n..]);
                self.fds[LINK].events = libc::POLLIN | libc::POLLOUT;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.link_out.extend_from_slice(&line);
                self.fds[LINK].events = libc::POLLIN | libc::POLLOUT;
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }

    fn on_link(&mut self) -> io::Result<()> {
        let rev = self.fds[LINK].revents;
        if rev & libc::POLLOUT != 0 && !self.link_out.is_empty() {
            match send(self.link.as_raw_fd(), &self.link_out) {
                Ok(n) => {
                    self.link_out.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            if self.link_out.is_empty() {
                self.fds[LINK].events = libc::POLLIN;
            }
        }
        if rev & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) == 0 {
            return Ok(());
        }
        match recv(self.link.as_raw_fd(), &mut self.buf) {
            Ok(0) => return Err(io::Error::other("the peer closed the link")),
            Ok(n) => self.link_in.extend_from_slice(&self.buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(e),
        }
        // One request in flight, so at most one answer line is complete.
        let Some(nl) = self.link_in.iter().position(|&b| b == b'\n') else {
            return Ok(());
        };
        let answer: Vec<u8> = self.link_in.drain(..nl + 1).collect();
        let Some((slot, gen)) = self.in_flight.take() else {
            return Ok(());
        };
        let Some(c) = self.clients[slot].as_mut().filter(|c| c.gen == gen) else {
            return Ok(()); // the client left before its answer
        };
        if !c.out.is_empty() {
            c.out.extend_from_slice(&answer);
            return Ok(());
        }
        match send(c.fd.as_raw_fd(), &answer) {
            Ok(n) if n == answer.len() => {}
            Ok(n) => {
                c.out.extend_from_slice(&answer[n..]);
                self.fds[FIRST + slot].events = libc::POLLIN | libc::POLLOUT;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                c.out.extend_from_slice(&answer);
                self.fds[FIRST + slot].events = libc::POLLIN | libc::POLLOUT;
            }
            Err(_) => self.close(slot),
        }
        Ok(())
    }
}

fn recv(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: recv into a buffer we own, at most its length.
    let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

fn send(fd: RawFd, data: &[u8]) -> io::Result<usize> {
    // SAFETY: send from a buffer we own; MSG_NOSIGNAL: a gone client is an error, not SIGPIPE.
    let n = unsafe { libc::send(fd, data.as_ptr().cast(), data.len(), libc::MSG_NOSIGNAL) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}
