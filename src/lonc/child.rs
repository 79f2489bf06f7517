//! lonc per-peer child: one Unix listener (`<lonSockDir>/<id>`), its clients, and one TCP
//! connection to that peer's lond, all in one single-threaded poll loop (spec §3, §4, §7.1-7.4).
//!
//! Life: connect and handshake (`handshake`), replay delayed messages (`delayed`), create the
//! listener and serve. Client lines are queued in arrival order and relayed one at a time (the
//! protocol is strictly one request, one answer). Every wait is a deadline in the loop: connect
//! and handshake together (`loncInitTimeout`), the pong pause, each delayed answer, each reply
//! (`loncReplyTimeout`), the back-off before exit and the TERM grace period. Memory is bounded
//! the same way: a request by `loncMaxLine` (see `clients`), an answer line by `loncMaxAnswer`.
//! This process never forks and never blocks outside `poll`.
//!
//! No client meets a bare end of file when the link fails: before the listener closes for a
//! back-off every connected or waiting client gets `con_lost`; out of file descriptors, clients
//! are told `con_lost` on the reserve fd (see `clients`), one WARNING per episode. `ps` shows
//! `lonc: <id> <state> <n> clients`, a fixed state word, never a request.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags};
use nix::unistd::Pid;
use socket2::Socket;

use super::cipher::{CipherError, LineCipher};
use super::clients::{ClientId, Clients};
use super::config::LoncConfig;
use super::delayed::Replay;
use super::handshake::{self, Action, Event, Phase};
use super::hosts::Host;
use super::linebuf::{chomp, LineBuf, OutBuf};
use super::log::{err_text, shown, Logger};
use super::netconn;
use crate::sys::poll as spoll;
use crate::sys::proctitle;
use crate::sys::sig::SignalPipe;

/// Grace period for the exchange in flight after TERM (spec §7.7: 5 s). A little under the
/// parent's 5 s before KILL, so the child still answers `con_lost` and unlinks its socket.
pub const STOP_GRACE: Duration = Duration::from_millis(4500);
/// Longest wait for the answer to one delayed message (1.29: 60 s), also capped by
/// `loncReplyTimeout` so short test configs stay short.
pub const DELAYED_TIMEOUT: Duration = Duration::from_secs(60);
/// Pause before accepting again when the process is out of file descriptors.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// What a child is given by the parent.
pub struct ChildArgs {
    pub cfg: LoncConfig,
    pub host: Host,
    pub log: Logger,
    pub parent: Pid,
    /// The signal mask to restore once the child's own handlers are in place.
    pub mask: nix::sys::signal::SigSet,
}

/// One queued request.
enum Req {
    Relay { cid: ClientId, line: Vec<u8> },
    CloseExit,
}

/// What the TCP link is doing.
enum Link {
    /// No connection (backing off before exit).
    Down,
    Handshake(Phase),
    Delayed(Replay),
    Ready,
    Busy {
        cid: ClientId,
        request: Vec<u8>,
    },
}

/// Why the child gives up and backs off (spec §3.1 failure path).
enum Fail {
    Connect(String),
    Init,
    Socket(String),
    Replay(String),
}

struct Child {
    cfg: LoncConfig,
    id: String,
    addr: Option<std::net::SocketAddr>,
    log: Logger,
    sig: SignalPipe,
    sock_path: PathBuf,
    listener: Option<UnixListener>,
    accept_pause: Option<Instant>,
    clients: Clients,
    queue: VecDeque<Req>,
    tcp: Option<Socket>,
    link: Link,
    /// Bumped on every new connection, so line processing stops when the link is replaced.
    link_gen: u64,
    tcp_in: LineBuf,
    tcp_out: OutBuf,
    /// Deadline of the link's current wait (handshake, delayed answer, reply).
    link_deadline: Option<Instant>,
    pong_at: Option<Instant>,
    cipher: Option<LineCipher>,
    stopping: Option<Instant>,
    backoff_until: Option<Instant>,
    rng: u64,
    /// The process title shown now: the link's word and the number of clients.
    title: Option<(&'static str, usize)>,
    /// A client came or an answer went out since the status last read `Idle <id>`.
    idle_due: bool,
    /// Out of file descriptors: clients refused with `con_lost` in this episode so far.
    fd_episode: Option<usize>,
}

/// Run the child for one peer; never returns.
pub fn run(args: ChildArgs) -> ! {
    let ChildArgs {
        cfg,
        host,
        mut log,
        parent,
        mask,
    } = args;
    follow_parent(parent);
    let sig = match own_signals(&mask) {
        Ok(s) => s,
        Err(e) => {
            log.log(&format!(
                "CRITICAL: {}: cannot set up signals: {e}",
                host.id
            ));
            std::process::exit(1);
        }
    };
    let addr = host
        .ip
        .trim()
        .parse::<std::net::IpAddr>()
        .ok()
        .map(|ip| std::net::SocketAddr::new(ip, cfg.lond_port));
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        ^ ((std::process::id() as u64) << 32);
    let mut c = Child {
        sock_path: cfg.socket_path(&host.id),
        id: host.id.clone(),
        cfg,
        addr,
        log,
        sig,
        listener: None,
        accept_pause: None,
        clients: Clients::new(),
        queue: VecDeque::new(),
        tcp: None,
        link: Link::Down,
        link_gen: 0,
        tcp_in: LineBuf::new(),
        tcp_out: OutBuf::new(),
        link_deadline: None,
        pong_at: None,
        cipher: None,
        stopping: None,
        backoff_until: None,
        rng: seed | 1,
        title: None,
        idle_due: false,
        fd_episode: None,
    };
    // 1.29 removes a stale socket first: until the listener exists, clients get con_lost.
    let _ = std::fs::remove_file(&c.sock_path);
    c.connect();
    c.show_title();
    c.main_loop()
}

/// Ask for TERM when the parent dies, then check it did not die before we asked (§7.10): a
/// child must not outlive its parent holding a connection.
fn follow_parent(parent: Pid) {
    // SAFETY: prctl with PR_SET_PDEATHSIG and a signal number has no memory effects.
    unsafe {
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGTERM as libc::c_ulong,
            0,
            0,
            0,
        );
    }
    if nix::unistd::getppid() != parent {
        std::process::exit(0);
    }
}

/// The child's own signal handling: TERM, INT, USR1 and QUIT on a self-pipe, HUP ignored
/// (§7.6: only the parent restarts). Signals were blocked across fork so none was lost; `mask`
/// (the mask from before the fork) is restored once our pipe is in place.
fn own_signals(mask: &nix::sys::signal::SigSet) -> io::Result<SignalPipe> {
    let sig = SignalPipe::new(&[libc::SIGTERM, libc::SIGINT, libc::SIGUSR1, libc::SIGQUIT])?;
    let _ =
        nix::sys::signal::sigprocmask(nix::sys::signal::SigmaskHow::SIG_SETMASK, Some(mask), None);
    // SAFETY: setting a disposition to SIG_IGN installs no handler code.
    unsafe {
        let _ = nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGHUP,
            nix::sys::signal::SigHandler::SigIgn,
        );
    }
    Ok(sig)
}

/// Who a poll entry belongs to.
#[derive(Clone, Copy)]
enum Role {
    Sig,
    Tcp,
    Listener,
    Client(ClientId),
}

impl Child {
    fn main_loop(&mut self) -> ! {
        loop {
            let mut roles = Vec::with_capacity(self.clients.len() + 3);
            let mut fds = Vec::with_capacity(self.clients.len() + 3);
            fds.push(PollFd::new(self.sig.fd(), PollFlags::POLLIN));
            roles.push(Role::Sig);
            if let Some(t) = &self.tcp {
                let mut ev = PollFlags::POLLIN;
                if self.connect_pending() || !self.tcp_out.is_empty() {
                    ev |= PollFlags::POLLOUT;
                }
                fds.push(PollFd::new(t.as_fd(), ev));
                roles.push(Role::Tcp);
            }
            if let (Some(l), None) = (&self.listener, self.accept_pause) {
                fds.push(PollFd::new(l.as_fd(), PollFlags::POLLIN));
                roles.push(Role::Listener);
            }
            for (cid, fd, ev) in self.clients.poll_interest() {
                fds.push(PollFd::new(fd, ev));
                roles.push(Role::Client(cid));
            }
            // Held-back clients that may go on are served without sleeping.
            let released = self.clients.any_released().then(Instant::now);
            let deadline = spoll::earliest([
                released,
                self.link_deadline,
                self.pong_at,
                self.stopping,
                self.backoff_until,
                self.accept_pause,
                self.log.perm_retry_at(),
            ]);
            let ready = match spoll::wait(&mut fds, deadline) {
                Ok(_) => fds
                    .iter()
                    .zip(roles.iter())
                    .filter_map(|(f, r)| f.revents().filter(|e| !e.is_empty()).map(|e| (*r, e)))
                    .collect::<Vec<_>>(),
                Err(_) => Vec::new(),
            };
            drop(fds);
            for (role, ev) in ready {
                match role {
                    Role::Sig => self.on_signals(),
                    Role::Tcp => self.on_tcp(ev),
                    Role::Listener => self.on_accept(),
                    Role::Client(cid) => self.on_client(cid, ev),
                }
            }
            self.on_deadlines(Instant::now());
            self.log.retry_perm(Instant::now());
            self.serve_released();
            self.pump();
            for msg in self.clients.take_dropped() {
                self.log.log(&msg);
            }
            self.show_idle();
            self.show_title();
            if self.stopping.is_some() && !self.exchange_in_flight() {
                self.exit_clean(0);
            }
        }
    }

    /// A request or a delayed message is out and its answer not yet back.
    fn exchange_in_flight(&self) -> bool {
        match &self.link {
            Link::Busy { .. } => true,
            Link::Delayed(r) => r.waiting(),
            _ => false,
        }
    }

    // ---------------------------------------------------------------- signals, deadlines

    fn on_signals(&mut self) {
        self.sig.drain();
        if self.sig.take(libc::SIGUSR1) {
            let line = self.log.status_line();
            super::status::append_txt(&self.cfg.status_txt(), &line);
        }
        if self.sig.take(libc::SIGQUIT) {
            // 1.29's catchexception: log and die (the parent restarts us if it may).
            let msg = super::log::abnormal_exit_message(std::process::id(), &self.id, "QUIT", "");
            self.log.log(&msg);
            self.con_lost_all();
            self.exit_clean(1);
        }
        let term = self.sig.take(libc::SIGTERM);
        let int = self.sig.take(libc::SIGINT);
        if term || int {
            self.begin_stop();
        }
    }

    /// TERM/INT or parent death: stop taking work, let the exchange in flight finish.
    fn begin_stop(&mut self) {
        if self.stopping.is_some() {
            return;
        }
        self.log.status(&format!("Shutting down {}", self.id));
        self.stopping = Some(Instant::now() + STOP_GRACE);
        self.close_listener();
        self.con_lost_queued();
        if self.backoff_until.is_some() {
            self.exit_clean(0);
        }
    }

    fn on_deadlines(&mut self, now: Instant) {
        if self.accept_pause.is_some_and(|t| now >= t) {
            self.accept_pause = None;
        }
        if self.backoff_until.is_some_and(|t| now >= t) {
            self.exit_clean(0);
        }
        if self.stopping.is_some_and(|t| now >= t) {
            self.con_lost_all();
            self.exit_clean(0);
        }
        if self.pong_at.is_some_and(|t| now >= t) {
            self.pong_at = None;
            self.feed(Event::DelayOver);
        }
        if self.link_deadline.is_some_and(|t| now >= t) {
            self.link_deadline = None;
            match &self.link {
                Link::Handshake(_) => {
                    self.log.log(&format!("Timed out during init: {}", self.id));
                    self.fail(Fail::Init);
                }
                Link::Delayed(_) => {
                    self.fail(Fail::Replay(
                        "no answer to a delayed message in time".into(),
                    ));
                }
                Link::Busy { request, .. } => {
                    let msg = format!("CRITICAL: Timeout {}: {}", self.id, shown(request));
                    self.log.log(&msg);
                    self.link_lost("reply timeout");
                }
                Link::Ready | Link::Down => {}
            }
        }
    }

    // ---------------------------------------------------------------- the TCP link

    /// Open a new connection and start the handshake (first start and every reconnect).
    fn connect(&mut self) {
        self.log.status(&format!("Opening TCP: {}", self.id));
        self.link_gen += 1;
        self.tcp = None;
        self.tcp_in.clear();
        self.tcp_out.clear();
        self.cipher = None;
        self.pong_at = None;
        self.link = Link::Handshake(Phase::Connecting);
        // Connect, init, challenge, pause, pong and ekey: all within loncInitTimeout (§3.1).
        self.link_deadline = Some(Instant::now() + self.cfg.init_timeout);
        let Some(addr) = self.addr else {
            self.fail(Fail::Connect("bad ip address in hosts.tab".into()));
            return;
        };
        match netconn::start_connect(addr) {
            Ok((s, done)) => {
                self.tcp = Some(s);
                if done {
                    self.connected();
                }
            }
            Err(e) => self.fail(Fail::Connect(err_text(&e))),
        }
    }

    /// The TCP connect was started and has not completed yet.
    fn connect_pending(&self) -> bool {
        matches!(self.link, Link::Handshake(Phase::Connecting))
    }

    fn connected(&mut self) {
        self.log.status(&format!("Init dialogue: {}", self.id));
        self.feed(Event::Connected);
    }

    fn on_tcp(&mut self, ev: PollFlags) {
        if self.connect_pending() {
            let r = match &self.tcp {
                Some(s) => netconn::finish_connect(s),
                None => return,
            };
            match r {
                Ok(()) => self.connected(),
                Err(e) => self.fail(Fail::Connect(err_text(&e))),
            }
            return;
        }
        let gen = self.link_gen;
        if ev.intersects(PollFlags::POLLOUT | PollFlags::POLLHUP | PollFlags::POLLERR) {
            self.flush_tcp();
            if gen != self.link_gen {
                return;
            }
        }
        if ev.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR) {
            let Some(s) = self.tcp.as_mut() else { return };
            let eof = read_burst(s, &mut self.tcp_in);
            while let Some(line) = self.tcp_in.next_line() {
                self.on_tcp_line(&line);
                if gen != self.link_gen || self.tcp.is_none() {
                    return;
                }
            }
            if let Some(reason) = eof {
                self.on_tcp_gone(&reason);
            } else if self.tcp_in.partial_len() > self.cfg.max_answer {
                self.answer_too_long();
            }
        }
    }

    /// lond sent more than `loncMaxAnswer` bytes without a newline. Waiting for the rest could
    /// take all our memory before the reply timeout ends it, so the link counts as lost now.
    fn answer_too_long(&mut self) {
        let what = match &self.link {
            Link::Busy { request, .. } => shown(request),
            Link::Handshake(_) => "the handshake".to_string(),
            Link::Delayed(_) => "a delayed message".to_string(),
            Link::Ready | Link::Down => "nothing".to_string(),
        };
        self.log.log(&format!(
            "WARNING: Answer from {} to {what} is over loncMaxAnswer ({}): at least {} bytes without a newline, connection closed",
            self.id,
            self.cfg.max_answer,
            self.tcp_in.partial_len()
        ));
        self.tcp_in.clear();
        self.on_tcp_gone("answer over loncMaxAnswer");
    }

    fn flush_tcp(&mut self) {
        while !self.tcp_out.is_empty() {
            let Some(s) = self.tcp.as_mut() else { return };
            match s.write(self.tcp_out.pending()) {
                Ok(n) => self.tcp_out.consume(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.on_tcp_gone(&err_text(&e));
                    return;
                }
            }
        }
    }

    fn send_line(&mut self, bytes: &[u8]) {
        self.tcp_out.extend(bytes);
        if !bytes.ends_with(b"\n") {
            self.tcp_out.extend(b"\n");
        }
        self.flush_tcp();
    }

    /// The peer closed, reset, or a read/write failed.
    fn on_tcp_gone(&mut self, reason: &str) {
        match &self.link {
            Link::Handshake(p) => {
                if *p == Phase::AwaitOk {
                    self.log.log(&format!("Init reply for {}: ><", self.id));
                } else {
                    self.log.log(&format!(
                        "Lost connection to {} during init: {reason}",
                        self.id
                    ));
                }
                self.fail(Fail::Init);
            }
            Link::Delayed(_) => self.fail(Fail::Replay(reason.to_string())),
            Link::Ready | Link::Busy { .. } => self.link_lost(reason),
            Link::Down => {}
        }
    }

    fn feed(&mut self, ev: Event) {
        let Link::Handshake(phase) = self.link else {
            return;
        };
        let (next, actions) = handshake::step(phase, ev, &self.id, &self.cfg.lon_host_id);
        self.link = Link::Handshake(next);
        let gen = self.link_gen;
        for a in actions {
            if gen != self.link_gen {
                return;
            }
            match a {
                Action::Send(b) => self.send_line(&b),
                Action::StartDelay => {
                    self.log.status(&format!("Ponging {}", self.id));
                    self.pong_at = Some(Instant::now() + self.cfg.pong_delay);
                }
                Action::Log(m) => self.log.log(&m),
                Action::Status(m) => self.log.status(&m),
                Action::Fail => self.fail(Fail::Init),
                Action::Up(key) => {
                    self.cipher = Some(LineCipher::new(key));
                    self.start_delayed();
                }
            }
        }
    }

    fn on_tcp_line(&mut self, line: &[u8]) {
        match &mut self.link {
            Link::Handshake(_) => self.feed(Event::Line(line)),
            Link::Delayed(replay) => {
                replay.answer(chomp(line), &mut self.log);
                self.next_delayed();
            }
            Link::Busy { cid, request } => {
                let (cid, request) = (*cid, std::mem::take(request));
                let plain = self.decrypted_answer(chomp(line), &request);
                self.link = Link::Ready;
                self.link_deadline = None;
                self.log
                    .status(&format!("Completed {}: {}", self.id, shown(&request)));
                self.idle_due = true;
                // Usually the line as it came (newline included) goes to the client as is.
                self.clients.deliver(cid, plain.as_deref().unwrap_or(line));
            }
            Link::Ready | Link::Down => {
                self.log.log(&format!(
                    "WARNING: Unexpected line from {}: >{}<",
                    self.id,
                    shown(chomp(line))
                ));
            }
        }
    }

    /// For an `enc` answer (without newline) to `request`: the decrypted line to give the
    /// client instead, newline added. `None` means relay the answer unchanged: it is not
    /// encrypted, there is no key yet, or it is bad (logged). A plain text holding a newline
    /// counts as bad: it would make one answer two lines and shift every later answer of a
    /// client that sends several requests.
    fn decrypted_answer(&mut self, raw: &[u8], request: &[u8]) -> Option<Vec<u8>> {
        if !raw.starts_with(b"enc") {
            return None;
        }
        let decrypted = self.cipher.as_ref()?.decrypt_reply(raw).and_then(|p| {
            if p.contains(&b'\n') {
                Err(CipherError::NewlineInside)
            } else {
                Ok(p)
            }
        });
        match decrypted {
            Ok(mut p) => {
                p.push(b'\n');
                Some(p)
            }
            Err(e) => {
                self.log.log(&format!(
                    "WARNING: Bad encrypted answer from {} to {}: {e}; relayed unchanged",
                    self.id,
                    shown(request)
                ));
                None
            }
        }
    }

    /// Handshake done: replay delayed messages (after every connect, spec §3.2).
    fn start_delayed(&mut self) {
        self.log.status("Checking for delayed messages");
        self.link = Link::Delayed(Replay::new(
            &self.cfg.delayed_dir(),
            &self.id,
            self.cfg.max_line,
        ));
        self.link_deadline = None;
        self.next_delayed();
    }

    /// Send the next delayed message, or go on to serving when none is left.
    fn next_delayed(&mut self) {
        if self.stopping.is_some() {
            // Stopping: the exchange in flight is done; the rest waits for the next start.
            self.link = Link::Ready;
            return;
        }
        let Link::Delayed(replay) = &mut self.link else {
            return;
        };
        let cipher = &self.cipher;
        let encrypt = |cmd: &[u8]| match cipher {
            Some(c) => c.encrypt_request(cmd),
            None => [b"encrypt:".as_slice(), cmd].concat(),
        };
        match replay.next(&mut self.log, &encrypt) {
            Some(line) => {
                let timeout = DELAYED_TIMEOUT.min(self.cfg.reply_timeout);
                self.link_deadline = Some(Instant::now() + timeout);
                // One newline only (1.29 sent two after an encrypted line, shifting answers).
                self.send_line(&line);
            }
            None => self.link_ready(),
        }
    }

    /// The link is usable: make sure the listener exists, then serve the queue.
    fn link_ready(&mut self) {
        self.link = Link::Ready;
        self.link_deadline = None;
        if self.listener.is_none() && self.stopping.is_none() {
            self.log.status(&format!("Opening socket {}", self.id));
            match self.make_listener() {
                Ok(l) => {
                    self.listener = Some(l);
                    self.log.log(&format!("{} online", self.id));
                }
                Err(e) => {
                    self.fail(Fail::Socket(err_text(&e)));
                    return;
                }
            }
        }
        self.log.status(&format!("Idle {}", self.id));
    }

    fn make_listener(&self) -> io::Result<UnixListener> {
        let _ = std::fs::remove_file(&self.sock_path);
        // Created 0600 from the start (umask), not chmod-ed after clients could connect.
        let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o177));
        let r = UnixListener::bind(&self.sock_path);
        nix::sys::stat::umask(old);
        let l = r?;
        std::fs::set_permissions(&self.sock_path, std::fs::Permissions::from_mode(0o600))?;
        l.set_nonblocking(true)?;
        Ok(l)
    }

    /// Relay the next queued request if the link is free.
    fn pump(&mut self) {
        if !matches!(self.link, Link::Ready) || self.tcp.is_none() {
            return;
        }
        let Some(req) = self.queue.pop_front() else {
            return;
        };
        match req {
            Req::CloseExit => {
                self.log
                    .status(&format!("Request close connection: {}", self.id));
                self.log
                    .log(&format!("CRITICAL: Request Close Connection {}", self.id));
                self.exit_clean(0);
            }
            Req::Relay { cid, line } => {
                // Queued first, written once the link is Busy: a write error then finds the
                // client the con_lost belongs to.
                match (line.strip_prefix(b"encrypt:"), &self.cipher) {
                    (Some(cmd), Some(c)) => self.tcp_out.extend(&c.encrypt_request(cmd)),
                    _ => self.tcp_out.extend(&line),
                }
                self.tcp_out.extend(b"\n");
                self.log.status(&format!(
                    "Waiting for reply from {}: {}",
                    self.id,
                    shown(&line)
                ));
                self.link = Link::Busy { cid, request: line };
                self.link_deadline = Some(Instant::now() + self.cfg.reply_timeout);
                self.flush_tcp();
            }
        }
    }

    /// Lost the link while serving: `con_lost` to everyone waiting, one immediate reconnect
    /// (spec §7.1). If that reconnect fails, its own failure path backs off and exits.
    fn link_lost(&mut self, reason: &str) {
        self.log
            .log(&format!("CRITICAL: Closing connection {}", self.id));
        self.log
            .status(&format!("Connection lost {}: {reason}", self.id));
        self.con_lost_all();
        self.tcp = None;
        self.link = Link::Down;
        self.link_deadline = None;
        if self.stopping.is_some() {
            self.exit_clean(0);
        }
        self.log.log("Attempting to open new connection");
        self.connect();
    }

    /// Give up: WARNING, close the listener and unlink the socket, back off, then exit.
    fn fail(&mut self, why: Fail) {
        let st = self.backoff();
        let secs = fmt_secs(st);
        let id = self.id.clone();
        let msg = match why {
            Fail::Connect(e) => format!("WARNING: Couldn't connect {id} ({secs} secs): {e}"),
            Fail::Init => format!("WARNING: Init failed {id} ({secs} secs)"),
            Fail::Socket(e) => format!("WARNING: Can't make server socket {id} ({secs} secs): {e}"),
            Fail::Replay(e) => {
                format!("WARNING: Lost {id} while sending delayed messages ({secs} secs): {e}")
            }
        };
        self.log.log(&msg);
        self.farewell();
        self.link_gen += 1;
        self.tcp = None;
        self.tcp_in.clear(); // nothing buffered is held through the back-off
        self.tcp_out.clear();
        self.link = Link::Down;
        self.link_deadline = None;
        self.pong_at = None;
        self.close_listener();
        self.clients.flush_all();
        self.clients.clear();
        if self.stopping.is_some() {
            self.exit_clean(0);
        }
        self.log.status(&format!("Backing off {id} ({secs} secs)"));
        self.backoff_until = Some(Instant::now() + st);
    }

    /// A random time in [loncBackoffMin, loncBackoffMax].
    fn backoff(&mut self) -> Duration {
        // xorshift64: plenty for spreading restarts; no crate needed.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        pick_backoff(self.cfg.backoff_min, self.cfg.backoff_max, self.rng)
    }

    // ---------------------------------------------------------------- Unix clients

    fn on_accept(&mut self) {
        let Some(l) = &self.listener else { return };
        let pass = self.clients.accept_from(l);
        if pass.accepted > 0 {
            self.idle_due = true;
            self.log
                .status(&format!("Accept new connection: {}", self.id));
            if pass.refused == 0 {
                self.end_fd_episode();
            }
        }
        if pass.refused > 0 {
            if self.fd_episode.is_none() {
                // One WARNING per episode; the count follows when it ends.
                self.log.log(&format!(
                    "WARNING: Out of file descriptors on {}: new clients get con_lost",
                    self.id
                ));
            }
            *self.fd_episode.get_or_insert(0) += pass.refused;
        }
        if let Some(e) = pass.error {
            // Out of fds with no reserve to spend, or another error: pause instead of spinning.
            let msg = format!("WARNING: Cannot accept on {}: {}", self.id, err_text(&e));
            self.log.log(&msg);
            self.accept_pause = Some(Instant::now() + ACCEPT_PAUSE);
        }
        self.clients.restore_reserve();
    }

    /// Descriptors are available again (or the child ends): say how many were refused.
    fn end_fd_episode(&mut self) {
        if let Some(n) = self.fd_episode.take() {
            self.log.log(&format!(
                "INFO: {} accepts clients again; {n} refused with con_lost while out of file descriptors",
                self.id
            ));
        }
    }

    /// Close the listener for a back-off so that nobody connected meets a bare end of file:
    /// the socket is unlinked, clients still in the backlog are accepted, requests already
    /// sent are read, and every one of them gets `con_lost`, as does each client that is owed
    /// nothing yet.
    fn farewell(&mut self) {
        // Unlink first: from then on a connect finds no socket (lonnet's con_lost), so nobody
        // slips into the backlog after it was drained and meets a bare end of file when the
        // listener closes (the network test bed caught clients doing just that).
        if let Some(l) = self.listener.take() {
            let _ = std::fs::remove_file(&self.sock_path);
            loop {
                let pass = self.clients.accept_from(&l);
                if pass.refused > 0 {
                    *self.fd_episode.get_or_insert(0) += pass.refused;
                }
                self.clients.restore_reserve();
                if pass.accepted + pass.refused == 0 || pass.error.is_some() {
                    break;
                }
            }
        }
        let ids = self.clients.ids();
        for cid in ids {
            self.client_input(cid);
        }
        self.con_lost_all();
        self.clients.con_lost_idle();
    }

    /// The status reads `Idle <id>` once the last client has left and nothing is in flight
    /// (1.29 set it when a client closed).
    fn show_idle(&mut self) {
        if self.idle_due
            && self.clients.is_empty()
            && self.queue.is_empty()
            && matches!(self.link, Link::Ready)
        {
            self.idle_due = false;
            self.log.status(&format!("Idle {}", self.id));
        }
    }

    /// `lonc: <id> <state> <n> clients` in `ps`, rewritten only when it changes. The state is
    /// a fixed word: no request ever shows there.
    fn show_title(&mut self) {
        let word = if self.stopping.is_some() {
            "stopping"
        } else if self.backoff_until.is_some() {
            "backoff"
        } else {
            match self.link {
                Link::Down => "down",
                Link::Handshake(_) => "connecting",
                Link::Delayed(_) => "delayed",
                Link::Ready => "idle",
                Link::Busy { .. } => "busy",
            }
        };
        let now = (word, self.clients.len());
        if self.title != Some(now) {
            self.title = Some(now);
            proctitle::set(&format!("lonc: {} {word} {} clients", self.id, now.1));
        }
    }

    fn on_client(&mut self, cid: ClientId, ev: PollFlags) {
        // On a hang-up too: the failing write is what tells us a client with unsent answers
        // left (reading alone would not, if it is held back or already at end of file).
        if ev.intersects(PollFlags::POLLOUT | PollFlags::POLLHUP | PollFlags::POLLERR) {
            self.clients.flush(cid);
        }
        if ev.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR) {
            self.client_input(cid);
        }
        self.clients.close_if_done(cid);
    }

    /// Take the requests a client sent (or had held back), as far as back-pressure allows.
    fn client_input(&mut self, cid: ClientId) {
        let max = self.cfg.max_line;
        let input = self.clients.read(cid, max);
        for line in input.lines {
            self.take_request(cid, line);
        }
        if let Some((len, partial)) = input.too_long {
            let at_least = if partial { "at least " } else { "" };
            self.log.log(&format!(
                "WARNING: Request to {} of {at_least}{len} bytes is over loncMaxLine ({max}), refused",
                self.id
            ));
            self.clients.refuse(cid);
        }
    }

    /// Clients held back for back-pressure whose answers went out: read them again.
    fn serve_released(&mut self) {
        for cid in self.clients.released() {
            self.client_input(cid);
            self.clients.close_if_done(cid);
        }
    }

    /// Queue one request in arrival order (while stopping, answer `con_lost` at once).
    fn take_request(&mut self, cid: ClientId, line: Vec<u8>) {
        if self.stopping.is_some() {
            self.clients.send(cid, b"con_lost\n");
            return;
        }
        if line == b"close_connection_exit" {
            self.queue.push_back(Req::CloseExit);
            return;
        }
        self.clients.expect_answer(cid);
        self.queue.push_back(Req::Relay { cid, line });
    }

    /// `con_lost` for the request in flight and every queued one.
    fn con_lost_all(&mut self) {
        if let Link::Busy { cid, .. } = self.link {
            self.link = Link::Ready;
            self.clients.deliver(cid, b"con_lost\n");
        }
        self.con_lost_queued();
    }

    /// `con_lost` for every queued (not yet sent) request.
    fn con_lost_queued(&mut self) {
        while let Some(r) = self.queue.pop_front() {
            if let Req::Relay { cid, .. } = r {
                self.clients.deliver(cid, b"con_lost\n");
            }
        }
    }

    fn close_listener(&mut self) {
        if self.listener.take().is_some() {
            let _ = std::fs::remove_file(&self.sock_path);
        }
    }

    fn exit_clean(&mut self, code: i32) -> ! {
        self.end_fd_episode();
        self.log.before_exit();
        self.close_listener();
        self.clients.flush_all();
        std::process::exit(code)
    }
}

/// Read what lond sent into `into`: at most 64 reads of 8 KiB (512 KiB) per wake-up, so one
/// chatty peer cannot starve the clients. The reason, if the link ended.
fn read_burst(s: &mut Socket, into: &mut LineBuf) -> Option<String> {
    let mut buf = [0u8; 8192];
    for _ in 0..64 {
        match s.read(&mut buf) {
            Ok(0) => return Some("closed by peer".into()),
            Ok(n) => {
                into.push(&buf[..n]);
                // A short read emptied the socket: the next would only say EAGAIN.
                if n < buf.len() {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Some(err_text(&e)),
        }
    }
    None
}

/// A back-off in [`lo`, `hi`] from the random number `r`: whole seconds when both bounds are
/// whole seconds (1.29: `120 + int(rand(240))`, logged as `(218 secs)`), else milliseconds.
pub fn pick_backoff(lo: Duration, hi: Duration, r: u64) -> Duration {
    let hi = hi.max(lo);
    if lo.subsec_nanos() == 0 && hi.subsec_nanos() == 0 {
        let span = hi.as_secs() - lo.as_secs();
        return lo + Duration::from_secs(r % (span + 1));
    }
    let span = (hi - lo).as_millis() as u64;
    lo + Duration::from_millis(r % (span + 1))
}

/// Seconds for log messages: `120` for whole seconds, `0.25` otherwise.
pub fn fmt_secs(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        d.as_secs().to_string()
    } else {
        let s = format!("{:.3}", d.as_secs_f64());
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_whole_seconds_for_whole_second_bounds() {
        let (lo, hi) = (Duration::from_secs(120), Duration::from_secs(360));
        let mut seen = std::collections::BTreeSet::new();
        for r in [0u64, 1, 240, 241, 218_727, u64::MAX, 0x9e37_79b9_7f4a_7c15] {
            let d = pick_backoff(lo, hi, r);
            assert_eq!(d.subsec_nanos(), 0, "{d:?}");
            assert!(d >= lo && d <= hi, "{d:?}");
            assert!(!fmt_secs(d).contains('.'));
            seen.insert(d);
        }
        assert!(seen.len() > 3);
        assert_eq!(pick_backoff(lo, hi, 240), hi);
        let (lo, hi) = (Duration::from_millis(100), Duration::from_millis(200));
        for r in 0..500 {
            let d = pick_backoff(lo, hi, r);
            assert!(d >= lo && d <= hi);
        }
        assert_eq!(pick_backoff(hi, lo, 7), hi, "max below min: min");
    }

    #[test]
    fn secs_formatting() {
        assert_eq!(fmt_secs(Duration::from_secs(120)), "120");
        assert_eq!(fmt_secs(Duration::from_millis(250)), "0.25");
        assert_eq!(fmt_secs(Duration::from_millis(1500)), "1.5");
    }
}
