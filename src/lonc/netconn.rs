//! Non-blocking TCP connects for the poll loops: the parent's reachability probes and the
//! child's connection to lond. Nothing here blocks except name resolution of a host name that
//! is not an address literal (hosts.tab names are usually resolvable or literal).

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

/// Start a non-blocking connect. `Ok((sock, true))` if it completed at once.
pub fn start_connect(addr: SocketAddr) -> io::Result<(Socket, bool)> {
    let sock = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.cloexec(),
        Some(Protocol::TCP),
    )?;
    sock.set_nonblocking(true)?;
    // One short line each way at a time: never wait for Nagle.
    sock.set_nodelay(true)?;
    match sock.connect(&addr.into()) {
        Ok(()) => Ok((sock, true)),
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Ok((sock, false)),
        Err(e) => Err(e),
    }
}

/// After the socket polled writable: the connect's outcome.
pub fn finish_connect(sock: &Socket) -> io::Result<()> {
    match sock.take_error()? {
        None => Ok(()),
        Some(e) => Err(e),
    }
}

/// The address to probe for a host: its name if that is an address or resolves, else its ip.
pub fn probe_target(name: &str, ip: &str, port: u16) -> Option<SocketAddr> {
    if let Ok(a) = name.trim().parse::<IpAddr>() {
        return Some(SocketAddr::new(a, port));
    }
    if !name.trim().is_empty() {
        if let Ok(mut it) = (name.trim(), port).to_socket_addrs() {
            if let Some(a) = it.next() {
                return Some(a);
            }
        }
    }
    ip.trim()
        .parse::<IpAddr>()
        .ok()
        .map(|a| SocketAddr::new(a, port))
}

/// The outcome of a reachability probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// Connected, or refused (a host that sends RST is up).
    Reachable,
    /// Why not.
    Unreachable(String),
}

/// Classify a finished connect: connected or refused = reachable.
pub fn classify(r: &io::Result<()>) -> Reach {
    match r {
        Ok(()) => Reach::Reachable,
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => Reach::Reachable,
        Err(e) => Reach::Unreachable(e.to_string()),
    }
}

/// One reachability probe in flight.
pub struct Probe {
    sock: Option<Socket>,
    pub deadline: Instant,
    pub result: Option<Reach>,
}

impl Probe {
    /// Start probing `target` (None = could not be resolved).
    pub fn start(target: Option<SocketAddr>, timeout: Duration) -> Probe {
        let deadline = Instant::now() + timeout;
        let Some(addr) = target else {
            return Probe {
                sock: None,
                deadline,
                result: Some(Reach::Unreachable("cannot resolve host".into())),
            };
        };
        match start_connect(addr) {
            Ok((s, true)) => {
                drop(s);
                Probe {
                    sock: None,
                    deadline,
                    result: Some(Reach::Reachable),
                }
            }
            Ok((s, false)) => Probe {
                sock: Some(s),
                deadline,
                result: None,
            },
            Err(e) => Probe {
                sock: None,
                deadline,
                result: Some(classify(&Err(e))),
            },
        }
    }

    /// The fd to poll for writability while the probe is pending.
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.sock.as_ref().map(|s| s.as_fd())
    }

    /// The socket polled ready (writable, error or hang-up).
    pub fn ready(&mut self) {
        if let Some(s) = self.sock.take() {
            self.result = Some(classify(&finish_connect(&s)));
        }
    }

    /// Check the deadline; a pending probe past it is unreachable.
    pub fn check_deadline(&mut self, now: Instant) {
        if self.result.is_none() && now >= self.deadline {
            self.sock = None;
            self.result = Some(Reach::Unreachable("probe timed out".into()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_prefers_literal_name_then_ip() {
        assert_eq!(
            probe_target("127.0.0.3", "127.0.0.4", 7),
            Some("127.0.0.3:7".parse().unwrap())
        );
        assert_eq!(
            probe_target("", "127.0.0.4", 7),
            Some("127.0.0.4:7".parse().unwrap())
        );
        assert_eq!(probe_target("", "", 7), None);
    }

    #[test]
    fn refused_counts_as_reachable() {
        // Bind then drop: nothing listens on that port any more, so the connect is refused.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut p = Probe::start(
            Some(SocketAddr::from(([127, 0, 0, 1], port))),
            Duration::from_secs(5),
        );
        let t0 = Instant::now();
        while p.result.is_none() && t0.elapsed() < Duration::from_secs(5) {
            let fd = p.fd().unwrap();
            let mut fds = [nix::poll::PollFd::new(fd, nix::poll::PollFlags::POLLOUT)];
            crate::sys::poll::wait(&mut fds, Some(p.deadline)).unwrap();
            p.ready();
        }
        assert_eq!(p.result, Some(Reach::Reachable));
    }

    #[test]
    fn listening_port_is_reachable() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut p = Probe::start(Some(l.local_addr().unwrap()), Duration::from_secs(5));
        if p.result.is_none() {
            let fd = p.fd().unwrap();
            let mut fds = [nix::poll::PollFd::new(fd, nix::poll::PollFlags::POLLOUT)];
            crate::sys::poll::wait(&mut fds, Some(p.deadline)).unwrap();
            p.ready();
        }
        assert_eq!(p.result, Some(Reach::Reachable));
    }
}
