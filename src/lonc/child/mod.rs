//! lonc per-peer child: one Unix listener (`<lonSockDir>/<id>`), its clients, and up to
//! `loncLinks` TCP links to that peer's lond, all in one single-threaded poll loop (spec §3,
//! §4, §7.1-7.4, §8.6).
//!
//! Life (`life`): serving, stopping until the TERM grace ends, or backing off until exit.
//! The first link connects and does the handshake (`handshake`), replays delayed messages
//! (`delayed`), then the listener opens and the child serves. Client lines are queued in
//! arrival order; a free link takes the oldest one whose client has nothing in flight
//! (`dispatch`), so with one link requests go one at a time as in 1.29, and with several each
//! client's answers still keep the order of its lines. Extra links open on demand and close
//! when idle; losing one is a WARNING, never the child's end (`link`).
//!
//! Each link is a `Conn` (`conn`) that owns everything of that link. Handlers never replace
//! or drop a link while it is being worked on: a lost link is noted on the `Conn` and queued
//! as an [`Act`], carried out once the handler is done, so no stale state is ever acted on.
//! Every wait is a deadline in the loop: connect and handshake together (`loncInitTimeout`),
//! the pong pause, each delayed answer, each reply (`loncReplyTimeout`), the idle close of an
//! extra link, the back-off before exit and the TERM grace period. Memory is bounded the same
//! way: a request by `loncMaxLine` (see `clients`), an answer line by `loncMaxAnswer`. This
//! process never forks and never blocks outside `poll`.
//!
//! No client meets a bare end of file when the child gives up: before the listener closes for
//! a back-off every connected or waiting client gets `con_lost`; out of file descriptors,
//! clients are told `con_lost` on the reserve fd (see `clients`), one WARNING per episode.
//! `ps` shows `lonc: <id> <state> <n> clients`, a fixed state word, never a request (`front`).

mod conn;
pub mod dispatch;
mod front;
pub mod life;
mod link;
mod outcome;

use std::collections::VecDeque;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::poll::PollFlags;
use nix::unistd::Pid;

use super::clients::{ClientId, Clients, Input};
use super::config::LoncConfig;
use super::hosts::Host;
use super::log::Logger;
use crate::sys::poll as spoll;
use crate::sys::sig::SignalPipe;

use conn::Conn;
use dispatch::Req;
use life::Life;
use outcome::{Fail, Why};

pub use life::{fmt_secs, pick_backoff};

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

/// The state word of the process title (`front::show_title`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Word {
    Stopping,
    Backoff,
    Down,
    Connecting,
    Delayed,
    Busy,
    Idle,
}

impl Word {
    fn text(self) -> &'static str {
        match self {
            Word::Stopping => "stopping",
            Word::Backoff => "backoff",
            Word::Down => "down",
            Word::Connecting => "connecting",
            Word::Delayed => "delayed",
            Word::Busy => "busy",
            Word::Idle => "idle",
        }
    }
}

/// Work a handler leaves for the loop instead of doing it while a link is in its hands.
enum Act {
    /// The link in `slot` with this serial is done for.
    Down { slot: usize, serial: u64, why: Why },
    /// Give up on the peer (listener socket trouble).
    GiveUp(Fail),
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
    /// `loncLinks` slots; slot 0 is the first, persistent link. Boxed: a handler takes its
    /// link out of the slot and puts it back (`with_link`) twice per request, a pointer each.
    links: Vec<Option<Box<Conn>>>,
    /// The next link serial.
    serial: u64,
    life: Life,
    todo: VecDeque<Act>,
    /// After an extra link failed to open: no other before this (forgotten once passed).
    extra_retry_at: Option<Instant>,
    /// Some queued entry is a [`Req::Lost`] waiting for its client's answer in flight.
    lost_waiting: bool,
    rng: u64,
    /// The process title shown now: the link's word and the number of clients.
    title: Option<(Word, usize)>,
    title_buf: String,
    /// ` <n> clients` for the number in `title`.
    title_count: String,
    /// A client came or an answer went out since the status last read `Idle <id>`.
    idle_due: bool,
    /// Out of file descriptors: clients refused with `con_lost` in this episode so far.
    fd_episode: Option<usize>,
    /// The clients with events after a `poll`, kept between wake-ups (see `main_loop`).
    ready: Vec<(ClientId, i16)>,
    /// What a client's read produced, kept between requests (no allocation per read).
    input: Input,
    /// The answer line being handled, kept between answers.
    line: Vec<u8>,
    /// `Waiting for reply from <id>`, `Completed <id>`, `Accept new connection: <id>` and
    /// `Idle <id>`: the statuses set per request (or per client), formatted once.
    heads: (String, String, String, String),
    /// When the current wake-up began (read once after each `poll`): the per-request times
    /// (a reply's deadline, when a link became free) come from it, not from a clock read each.
    now: Instant,
    /// The wall clock of the current wake-up, for the per-request status: read the first time
    /// a status needs it, then shared by the wake-up's requests (1.29 stamps the status with
    /// the second it changed, in the wall clock's own time).
    wall: Option<std::time::SystemTime>,
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
    let n_links = cfg.links.max(1);
    let mut c = Child {
        sock_path: cfg.socket_path(&host.id),
        id: host.id.clone(),
        cfg,
        addr,
        log,
        sig,
        listener: None,
        accept_pause: None,
        clients: Clients::new(poll_head(n_links)),
        queue: VecDeque::new(),
        links: (0..n_links).map(|_| None).collect(),
        serial: 0,
        life: Life::Serving,
        todo: VecDeque::new(),
        extra_retry_at: None,
        lost_waiting: false,
        rng: seed | 1,
        title: None,
        title_buf: String::new(),
        title_count: String::new(),
        idle_due: false,
        fd_episode: None,
        ready: Vec::new(),
        input: Input::default(),
        line: Vec::new(),
        heads: (
            format!("Waiting for reply from {}", host.id),
            format!("Completed {}", host.id),
            format!("Accept new connection: {}", host.id),
            format!("Idle {}", host.id),
        ),
        now: Instant::now(),
        wall: None,
    };
    // 1.29 removes a stale socket first: until the listener exists, clients get con_lost.
    let _ = std::fs::remove_file(&c.sock_path);
    c.connect(0);
    c.run_todo();
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

fn pollfd(fd: i32, ev: PollFlags) -> libc::pollfd {
    libc::pollfd {
        fd,
        events: ev.bits(),
        revents: 0,
    }
}

/// The child's own entries at the front of the poll array: the signal pipe, one per link
/// slot, the listener. The clients' entries follow (kept by `Clients`).
fn poll_head(n_links: usize) -> usize {
    n_links + 2
}

impl Child {
    fn main_loop(&mut self) -> ! {
        let n_links = self.links.len();
        let listen_at = poll_head(n_links) - 1;
        // Each link slot's serial at poll time and its events.
        let mut serials = vec![0u64; n_links];
        let mut link_ev = vec![0i16; n_links];
        let mut ready = std::mem::take(&mut self.ready);
        loop {
            // Only the child's own entries are written per wake-up; the clients' are kept up
            // to date by `Clients` as they change.
            let deadline = self.next_deadline();
            // A deadline over a second ahead (a reply's, while a request is out) is timed from
            // this wake-up's start: late by the handlers' microseconds at most, never early;
            // only a near one is worth a clock read of its own.
            let timeout = match deadline {
                None => -1,
                Some(d) if d > self.now + Duration::from_secs(1) => {
                    spoll::timeout_ms(deadline, self.now)
                }
                Some(_) => spoll::timeout_ms(deadline, Instant::now()),
            };
            let pfds = self.clients.poll_array();
            pfds[0] = pollfd(self.sig.fd().as_raw_fd(), PollFlags::POLLIN);
            for (slot, l) in self.links.iter().enumerate() {
                pfds[1 + slot] = match l {
                    Some(c) => {
                        serials[slot] = c.serial;
                        let mut ev = PollFlags::POLLIN;
                        if c.wants_write() {
                            ev |= PollFlags::POLLOUT;
                        }
                        pollfd(c.fd(), ev)
                    }
                    None => pollfd(-1, PollFlags::empty()),
                };
            }
            pfds[listen_at] = match (&self.listener, self.accept_pause) {
                (Some(l), None) => pollfd(l.as_raw_fd(), PollFlags::POLLIN),
                _ => pollfd(-1, PollFlags::empty()),
            };
            let n = match spoll::wait_raw_ms(pfds, timeout) {
                Ok(n) => n,
                Err(_) => {
                    for p in pfds.iter_mut() {
                        p.revents = 0;
                    }
                    0
                }
            };
            // Every event is taken before any handler runs (a handler may close a client and
            // accept another into its slot).
            let sig_ev = pfds[0].revents;
            for (slot, ev) in link_ev.iter_mut().enumerate() {
                *ev = pfds[1 + slot].revents;
            }
            let listen_ev = pfds[listen_at].revents;
            self.now = Instant::now();
            self.wall = None;
            self.clients.ready(&mut ready, n);
            if sig_ev != 0 {
                self.on_signals();
            }
            for slot in 0..n_links {
                if link_ev[slot] != 0 {
                    let ev = PollFlags::from_bits_truncate(link_ev[slot]);
                    self.on_link(slot, serials[slot], ev);
                }
            }
            if listen_ev != 0 {
                self.on_accept();
            }
            for &(cid, ev) in &ready {
                self.on_client(cid, PollFlags::from_bits_truncate(ev));
            }
            let now = self.now;
            self.on_deadlines(now);
            self.log.retry_perm(now);
            self.serve_released();
            // Before the pump, so a `close_connection_exit` behind them may act; after it, for
            // the clients whose link it found lost.
            self.settle_lost();
            self.pump(now);
            self.settle_lost();
            for msg in self.clients.take_dropped() {
                self.log.log(&msg);
            }
            self.show_idle();
            self.show_title();
            if self.life.stopping() && !self.exchange_in_flight() {
                self.con_lost_queued();
                self.exit_clean(0);
            }
        }
    }

    /// The earliest moment the loop must wake without an event. A moment already past is
    /// only ever one that the loop acts on when it wakes (and clears or moves on): one left
    /// standing would make every poll return at once.
    fn next_deadline(&self) -> Option<Instant> {
        // Held-back clients that may go on are served without sleeping.
        let mut t = spoll::earliest([
            self.clients.any_released().then(Instant::now),
            self.life.deadline(),
            self.accept_pause,
            self.log.perm_retry_at(),
        ]);
        for c in self.links.iter().flatten() {
            let idle = if c.ready() {
                dispatch::idle_close_at(c.slot, c.idle_since, self.cfg.link_idle)
            } else {
                None
            };
            t = spoll::earliest([t, c.deadline, c.pong_at, idle]);
        }
        // The clock is read only when there is a retry time (not once per request).
        if !self.queue.is_empty() && self.extra_retry_at.is_some() {
            let retry = dispatch::retry_wake(self.extra_retry_at, Instant::now());
            t = spoll::earliest([t, retry]);
        }
        t
    }

    /// The wall clock of this wake-up (see `wall`).
    fn wall_now(&mut self) -> std::time::SystemTime {
        *self.wall.get_or_insert_with(std::time::SystemTime::now)
    }

    /// A request or a delayed message is out on some link and its answer not yet back.
    fn exchange_in_flight(&self) -> bool {
        self.links.iter().flatten().any(|c| c.in_flight())
    }

    /// How many links have a request or a delayed message out.
    fn in_flight_count(&self) -> usize {
        self.links
            .iter()
            .flatten()
            .filter(|c| c.in_flight())
            .count()
    }

    /// The client has a request out on some link.
    fn client_busy(&self, cid: ClientId) -> bool {
        self.links.iter().flatten().any(|c| c.client() == Some(cid))
    }

    // ---------------------------------------------------------------- signals, deadlines

    fn on_signals(&mut self) {
        self.sig.drain();
        if self.sig.take(libc::SIGUSR1) {
            let line = self.log.status_line_with(&self.links_note());
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

    /// With more than one link allowed: the links on the status page, right after the status
    /// (`loncLinks 1` keeps 1.29's line exactly).
    fn links_note(&self) -> String {
        if self.links.len() <= 1 {
            return String::new();
        }
        let open = self.links.iter().flatten().count();
        super::status::links_note(open, self.links.len(), self.in_flight_count())
    }

    /// TERM/INT or parent death: stop taking work, let the exchanges in flight finish.
    fn begin_stop(&mut self) {
        if self.life.stopping() {
            return;
        }
        self.log.status(&format!("Shutting down {}", self.id));
        if matches!(self.life, Life::BackingOff { .. }) {
            self.exit_clean(0);
        }
        self.life = Life::Stopping {
            until: Instant::now() + STOP_GRACE,
        };
        self.close_listener();
        self.doom_queued();
    }

    fn on_deadlines(&mut self, now: Instant) {
        if self.accept_pause.is_some_and(|t| now >= t) {
            self.accept_pause = None;
        }
        match self.life {
            Life::BackingOff { until } if now >= until => self.exit_clean(0),
            Life::Stopping { until } if now >= until => {
                self.con_lost_all();
                self.exit_clean(0);
            }
            _ => {}
        }
        for slot in 0..self.links.len() {
            self.link_deadlines(slot, now);
        }
    }

    /// Carry out what the handlers left, in order.
    fn run_todo(&mut self) {
        while let Some(act) = self.todo.pop_front() {
            match act {
                Act::Down { slot, serial, why } => {
                    let Some(c) = self.links[slot].take_if(|c| c.serial == serial) else {
                        continue;
                    };
                    self.link_down(*c, why);
                }
                Act::GiveUp(fail) => self.give_up(fail),
            }
        }
    }

    /// Give up: WARNING, close the listener and unlink the socket, back off, then exit.
    fn give_up(&mut self, why: Fail) {
        if !matches!(self.life, Life::Serving | Life::Stopping { .. }) {
            return;
        }
        let st = {
            let r = life::next_random(&mut self.rng);
            pick_backoff(self.cfg.backoff_min, self.cfg.backoff_max, r)
        };
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
        // Every link goes, with whatever it had buffered: nothing is held through the back-off.
        for l in self.links.iter_mut() {
            *l = None;
        }
        self.close_listener();
        self.clients.flush_all();
        self.clients.clear();
        if self.life.stopping() {
            self.exit_clean(0);
        }
        self.log.status(&format!("Backing off {id} ({secs} secs)"));
        self.life = Life::BackingOff {
            until: Instant::now() + st,
        };
    }

    fn exit_clean(&mut self, code: i32) -> ! {
        self.end_fd_episode();
        self.log.before_exit();
        self.close_listener();
        self.clients.flush_all();
        std::process::exit(code)
    }
}
