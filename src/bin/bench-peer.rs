//! bench-peer: a lond for benchmarks, one process, one `ppoll` loop, no threads.
//!
//! `bench-peer [--listen ADDR] [--unix PATH] [--port-file FILE] [--delay-ms MS] [--slow-ms MS]
//!  [--host-id ID] [--peer-id ID] [--buildkey KEY]`
//!
//! A connection whose first line is `init` gets lond's handshake (challenge, `ok`, then `pong`
//! and `ekey` as the stand-in answers them), so lonc links to it as to lond; a connection that
//! starts with any other line is served plain lines at once (the minimal relay, direct TCP
//! and the Unix ping-pong baseline use that). Requests are answered by the stand-in's pure
//! `respond` (`echo:<text>` -> `<text>`, `enc:` lines after `ekey`, ...), one at a time per
//! connection in arrival order, as a lond child serves its link: each answer is due
//! `--delay-ms` (default 0, fractions allowed) after the previous one or its arrival,
//! whichever is later; `slow` (or `slow:<text>`) takes `--slow-ms` (default 2000) instead.
//! The handshake lines (`init`, the echo, `ping`, `pong`, `ekey`) are never delayed. Connections
//! are independent, so N links to one peer are served N at a time. `--listen` may repeat (a
//! peer for many hosts.tab rows on their own loopback addresses, as lonc has one `londPort`):
//! a later address with port 0 takes the first one's port, which the port file names. TERM,
//! INT or HUP stop it (exit 0, the port file removed); a usage error exits 64.

use loncsyn::bench::args::Args;
use loncsyn::bench::net::{pfd, ppoll, stop_pipe, Stream};
use loncsyn::lonc::standin::{respond, Action, Session, StandinOptions, DEFAULT_BUILDKEY};
use loncsyn::sys::fsutil::atomic_write;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;
use std::process::ExitCode;
use std::time::{Duration, Instant};

const USAGE: &str = "usage: bench-peer [--listen ADDR] [--unix PATH] [--port-file FILE] \
[--delay-ms MS] [--slow-ms MS] [--host-id ID] [--peer-id ID] [--buildkey KEY]";

/// Where a connection's handshake stands.
enum Hs {
    /// Nothing read yet: `init` starts lond's handshake, anything else is a plain request.
    Fresh,
    /// Challenge sent; the next line must echo it.
    AwaitEcho(Vec<u8>),
    /// Serving requests.
    Serving,
}

struct Conn {
    s: Stream,
    hs: Hs,
    session: Session,
    inbuf: Vec<u8>,
    out: Vec<u8>,
    /// Answers not yet due, in order: (due, bytes with newline).
    later: VecDeque<(Instant, Vec<u8>)>,
    /// When the previous request's answer is (was) due: the next starts after it.
    free_at: Instant,
    eof: bool,
}

struct Cfg {
    opts: StandinOptions,
    delay: Duration,
    slow: Duration,
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.starts_with("usage") => {
            eprintln!("bench-peer: {e}\n{USAGE}");
            ExitCode::from(64)
        }
        Err(e) => {
            eprintln!("bench-peer: {e}");
            ExitCode::from(1)
        }
    }
}

fn run() -> Result<(), String> {
    let a = Args::parse(std::env::args().skip(1), 0).map_err(|e| format!("usage: {e}"))?;
    a.only(&[
        "listen",
        "unix",
        "port-file",
        "delay-ms",
        "slow-ms",
        "host-id",
        "peer-id",
        "buildkey",
    ])
    .map_err(|e| format!("usage: {e}"))?;
    let mut opts = StandinOptions::new(
        a.str("host-id").unwrap_or("benchd"),
        a.str("peer-id").unwrap_or("benchc"),
    );
    opts.buildkey = a.str("buildkey").unwrap_or(DEFAULT_BUILDKEY).to_string();
    let delay_ms: f64 = a.get("delay-ms", 0.0).map_err(|e| format!("usage: {e}"))?;
    let slow_ms: u64 = a.get("slow-ms", 2000).map_err(|e| format!("usage: {e}"))?;
    if !(0.0..=60_000.0).contains(&delay_ms) {
        return Err("usage: --delay-ms out of 0..60000".into());
    }
    let cfg = Cfg {
        opts,
        delay: Duration::from_secs_f64(delay_ms / 1000.0),
        slow: Duration::from_millis(slow_ms),
    };
    let stop = stop_pipe().map_err(|e| format!("signals: {e}"))?;
    let mut addrs: Vec<std::net::SocketAddr> =
        a.all("listen").map_err(|e| format!("usage: {e}"))?;
    if addrs.is_empty() {
        addrs.push(([127, 0, 0, 1], 0).into());
    }
    let mut tcp: Vec<TcpListener> = Vec::new();
    for mut addr in addrs {
        if let (Some(first), 0) = (tcp.first(), addr.port()) {
            addr.set_port(first.local_addr().map_err(|e| e.to_string())?.port());
        }
        let l = TcpListener::bind(addr).map_err(|e| format!("listen {addr}: {e}"))?;
        l.set_nonblocking(true).map_err(|e| e.to_string())?;
        tcp.push(l);
    }
    let unix_path = a.str("unix");
    let unix = match unix_path {
        Some(p) => {
            let _ = std::fs::remove_file(p);
            let l = UnixListener::bind(p).map_err(|e| format!("bind {p}: {e}"))?;
            l.set_nonblocking(true).map_err(|e| e.to_string())?;
            Some(l)
        }
        None => None,
    };
    let port = tcp[0].local_addr().map_err(|e| e.to_string())?.port();
    let port_file = a.str("port-file");
    if let Some(p) = port_file {
        atomic_write(std::path::Path::new(p), format!("{port}\n").as_bytes())
            .map_err(|e| format!("{p}: {e}"))?;
    }
    let r = serve(&cfg, &stop, &tcp, unix.as_ref());
    if let Some(p) = port_file {
        let _ = std::fs::remove_file(p);
    }
    if let Some(p) = unix_path {
        let _ = std::fs::remove_file(p);
    }
    r.map_err(|e| format!("poll loop: {e}"))
}

fn serve(
    cfg: &Cfg,
    stop: &std::os::unix::net::UnixStream,
    tcp: &[TcpListener],
    unix: Option<&UnixListener>,
) -> io::Result<()> {
    let mut conns: Vec<Conn> = Vec::new();
    let mut fds: Vec<libc::pollfd> = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // Rebuilt each turn: the peer is the same in every measured path, so its cost is in
        // the baselines too; simplicity wins here.
        fds.clear();
        fds.push(pfd(stop.as_raw_fd(), libc::POLLIN));
        fds.push(pfd(unix.map_or(-1, |u| u.as_raw_fd()), libc::POLLIN));
        fds.extend(tcp.iter().map(|l| pfd(l.as_raw_fd(), libc::POLLIN)));
        let first_conn = fds.len();
        let mut next_due: Option<Instant> = None;
        for c in &conns {
            let mut ev = 0;
            if !c.eof {
                ev |= libc::POLLIN;
            }
            if !c.out.is_empty() {
                ev |= libc::POLLOUT;
            }
            fds.push(pfd(c.s.as_raw_fd(), ev));
            if let Some((due, _)) = c.later.front() {
                next_due = Some(next_due.map_or(*due, |d: Instant| d.min(*due)));
            }
        }
        let timeout = next_due.map(|d| d.saturating_duration_since(Instant::now()));
        ppoll(&mut fds, timeout)?;
        if fds[0].revents != 0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut gone = Vec::new();
        for (i, c) in conns.iter_mut().enumerate() {
            let rev = fds[first_conn + i].revents;
            if rev & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 && !c.eof {
                match c.s.read(&mut buf) {
                    Ok(0) => c.eof = true,
                    Ok(n) => {
                        c.inbuf.extend_from_slice(&buf[..n]);
                        if handle_lines(c, cfg, now).is_err() {
                            gone.push(i);
                            continue;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => {
                        gone.push(i);
                        continue;
                    }
                }
            }
            while let Some((due, _)) = c.later.front() {
                if *due > now {
                    break;
                }
                let (_, bytes) = c.later.pop_front().unwrap();
                c.out.extend_from_slice(&bytes);
            }
            if !c.out.is_empty() {
                match c.s.write(&c.out) {
                    Ok(n) => {
                        c.out.drain(..n);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => {
                        gone.push(i);
                        continue;
                    }
                }
            }
            if c.eof && c.out.is_empty() && c.later.is_empty() {
                gone.push(i);
            }
        }
        for i in gone.into_iter().rev() {
            conns.swap_remove(i);
        }
        for (l, f) in tcp.iter().zip(&fds[2..first_conn]) {
            if f.revents & libc::POLLIN != 0 {
                if let Ok((s, _)) = l.accept() {
                    let _ = s.set_nodelay(true);
                    add(&mut conns, Stream::Tcp(s), now)?;
                }
            }
        }
        if fds[1].revents & libc::POLLIN != 0 {
            if let Some(Ok((s, _))) = unix.map(|u| u.accept()) {
                add(&mut conns, Stream::Unix(s), now)?;
            }
        }
    }
}

fn add(conns: &mut Vec<Conn>, s: Stream, now: Instant) -> io::Result<()> {
    s.set_nonblocking(true)?;
    conns.push(Conn {
        s,
        hs: Hs::Fresh,
        session: Session::default(),
        inbuf: Vec::new(),
        out: Vec::new(),
        later: VecDeque::new(),
        free_at: now,
        eof: false,
    });
    Ok(())
}

/// Answer every complete line in the input buffer; `Err` = close the connection.
fn handle_lines(c: &mut Conn, cfg: &Cfg, now: Instant) -> Result<(), ()> {
    let mut start = 0;
    while let Some(nl) = c.inbuf[start..].iter().position(|&b| b == b'\n') {
        let line = c.inbuf[start..start + nl].to_vec();
        start += nl + 1;
        answer(c, cfg, now, &line)?;
    }
    c.inbuf.drain(..start);
    Ok(())
}

fn answer(c: &mut Conn, cfg: &Cfg, now: Instant, line: &[u8]) -> Result<(), ()> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    match std::mem::replace(&mut c.hs, Hs::Serving) {
        Hs::Fresh if strip_nonword(line) == b"init" => {
            let ch = format!(
                "{}{}",
                std::process::id(),
                now.elapsed().as_nanos() % 1_000_000
            );
            c.out.extend_from_slice(ch.as_bytes());
            c.out.push(b'\n');
            c.hs = Hs::AwaitEcho(ch.into_bytes());
            return Ok(());
        }
        Hs::AwaitEcho(ch) => {
            if strip_nonword(line) == ch {
                c.out.extend_from_slice(b"ok\n");
                return Ok(());
            }
            c.out.extend_from_slice(b"refused\n");
            let _ = c.s.write(&c.out);
            return Err(());
        }
        _ => {}
    }
    let (text, delay) = if line == b"slow" || line.starts_with(b"slow:") {
        (b"slow".to_vec(), cfg.slow)
    } else {
        let immediate = matches!(line, b"ping" | b"pong" | b"ekey");
        let mut session = std::mem::take(&mut c.session);
        let (_, act) = respond(line, &cfg.opts, &mut session);
        c.session = session;
        let d = if immediate { Duration::ZERO } else { cfg.delay };
        match act {
            Action::Answer(t) => (t, d),
            Action::Delayed(extra, t) => (t, d + extra),
            // No test drives this peer: a held request is never released.
            Action::Hang | Action::Hold(_) => return Ok(()),
            _ => return Err(()),
        }
    };
    let mut bytes = text;
    bytes.push(b'\n');
    if delay.is_zero() && c.later.is_empty() {
        c.out.extend_from_slice(&bytes);
        c.free_at = now;
    } else {
        let due = c.free_at.max(now) + delay;
        c.free_at = due;
        c.later.push_back((due, bytes));
    }
    Ok(())
}

/// lond compared the handshake lines after deleting every non-word character.
fn strip_nonword(line: &[u8]) -> Vec<u8> {
    line.iter()
        .copied()
        .filter(|&b| b.is_ascii_alphanumeric() || b == b'_')
        .collect()
}
