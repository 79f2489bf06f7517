//! ipsyn's side of a connection: a non-blocking TCP stream driven by `poll` with an idle
//! deadline, woken by the signal self-pipe so SIGTERM ends a stuck transfer at once.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::sys::poll;
use crate::sys::sig::SignalPipe;

use super::wire::MAX_LINE;

/// Signals that end ipsyn (checked while waiting).
pub const STOP_SIGNALS: [i32; 3] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP];

/// Why a connection step failed.
#[derive(Debug)]
pub enum ConnError {
    /// No progress for the idle timeout, while doing this.
    Timeout(&'static str),
    /// A stop signal arrived.
    Signal(i32),
    /// The peer closed the connection.
    Closed,
    /// The peer said something we do not understand.
    Protocol(String),
    Io(io::Error),
}

impl std::fmt::Display for ConnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnError::Timeout(what) => write!(f, "timed out while {what}"),
            ConnError::Signal(s) => write!(f, "stopped by signal {s}"),
            ConnError::Closed => write!(f, "connection closed by the receiver"),
            ConnError::Protocol(m) => write!(f, "protocol error: {m}"),
            ConnError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl From<io::Error> for ConnError {
    fn from(e: io::Error) -> Self {
        ConnError::Io(e)
    }
}

/// A connected stream plus what is needed to wait on it.
pub struct Conn<'a> {
    stream: TcpStream,
    sig: &'a SignalPipe,
    idle: Duration,
    inbuf: Vec<u8>,
}

/// Return the stop signal that arrived, if any.
pub fn stop_signal(sig: &SignalPipe) -> Option<i32> {
    STOP_SIGNALS.into_iter().find(|&s| sig.take(s))
}

/// Wait until `fd` shows `events`, a stop signal arrives, or `deadline` passes.
fn wait_fd(
    fd: std::os::fd::BorrowedFd<'_>,
    events: PollFlags,
    sig: &SignalPipe,
    deadline: Instant,
    what: &'static str,
) -> Result<(), ConnError> {
    loop {
        if let Some(s) = stop_signal(sig) {
            return Err(ConnError::Signal(s));
        }
        let mut fds = [
            PollFd::new(fd, events),
            PollFd::new(sig.fd(), PollFlags::POLLIN),
        ];
        poll::wait(&mut fds, Some(deadline))?;
        if fds[1].revents().is_some_and(|r| !r.is_empty()) {
            sig.drain();
            continue;
        }
        if fds[0].revents().is_some_and(|r| !r.is_empty()) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(ConnError::Timeout(what));
        }
    }
}

/// Connect to one address without blocking past `idle`.
fn connect_one(
    addr: &SocketAddr,
    sig: &SignalPipe,
    idle: Duration,
) -> Result<TcpStream, ConnError> {
    // socket2 creates the socket close-on-exec.
    let sock = Socket::new(
        Domain::for_address(*addr),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    sock.set_nonblocking(true)?;
    match sock.connect(&SockAddr::from(*addr)) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {
            wait_fd(
                sock.as_fd(),
                PollFlags::POLLOUT,
                sig,
                Instant::now() + idle,
                "connecting",
            )?;
            if let Some(e) = sock.take_error()? {
                return Err(ConnError::Io(e));
            }
        }
        Err(e) => return Err(ConnError::Io(e)),
    }
    let _ = sock.set_nodelay(true);
    Ok(sock.into())
}

impl<'a> Conn<'a> {
    /// Connect to `host:port` (every resolved address in turn).
    pub fn connect(
        host: &str,
        port: u16,
        sig: &'a SignalPipe,
        idle: Duration,
    ) -> Result<Conn<'a>, ConnError> {
        let addrs: Vec<SocketAddr> = (host, port).to_socket_addrs()?.collect();
        let mut last = ConnError::Protocol(format!("{host} has no address"));
        for addr in &addrs {
            match connect_one(addr, sig, idle) {
                Ok(stream) => {
                    return Ok(Conn {
                        stream,
                        sig,
                        idle,
                        inbuf: Vec::new(),
                    })
                }
                Err(e @ ConnError::Signal(_)) => return Err(e),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn wait(&self, events: PollFlags, what: &'static str) -> Result<(), ConnError> {
        wait_fd(
            self.stream.as_fd(),
            events,
            self.sig,
            Instant::now() + self.idle,
            what,
        )
    }

    /// Write all of `buf`; the idle deadline restarts on every bit of progress.
    pub fn write_all(&mut self, mut buf: &[u8]) -> Result<(), ConnError> {
        while !buf.is_empty() {
            match self.stream.write(buf) {
                Ok(0) => return Err(ConnError::Closed),
                Ok(n) => buf = &buf[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.wait(PollFlags::POLLOUT, "sending")?
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(ConnError::Io(e)),
            }
        }
        Ok(())
    }

    /// Read one line (without `\n` or a trailing `\r`).
    pub fn read_line(&mut self) -> Result<String, ConnError> {
        loop {
            if let Some(pos) = self.inbuf.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.inbuf.drain(..=pos).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return String::from_utf8(line)
                    .map_err(|_| ConnError::Protocol("answer is not UTF-8".into()));
            }
            if self.inbuf.len() > MAX_LINE {
                return Err(ConnError::Protocol("answer line too long".into()));
            }
            let mut chunk = [0u8; 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(ConnError::Closed),
                Ok(n) => self.inbuf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.wait(PollFlags::POLLIN, "waiting for the receiver's answer")?
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(ConnError::Io(e)),
            }
        }
    }
}
