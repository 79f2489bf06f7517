//! The child's TCP links: opening one, its handshake, the first link's delayed replay,
//! sending requests and taking answers, deadlines, and what a lost link means.
//!
//! The first link (slot 0) is 1.29's one link: if its connect, handshake or replay fails the
//! child gives up (WARNING, back-off, exit); if it is lost while serving, the client it served
//! and every queued request get `con_lost` (each client's after its answer still in flight on
//! another link, `dispatch::doom`) and it reconnects at once (spec §7.1). An extra link
//! that fails to open is a WARNING and a later retry; one lost while serving costs only the
//! client it served (`con_lost`). Extra links never replay delayed messages.
//!
//! Every handler gets the link out of its slot (`with_link`), so it cannot be replaced while
//! in use; a loss is marked on the link and queued (`Act::Down`), then carried out.

use std::time::Instant;

use nix::poll::PollFlags;

use super::conn::{Conn, InFlight, Phase};
use super::dispatch::{self, LinkCount, Pick, Req};
use super::outcome::{self, Fail, Outcome, Why};
use super::{fmt_secs, Act, Child, DELAYED_TIMEOUT};
use crate::lonc::cipher::{CipherError, LineCipher};
use crate::lonc::delayed::Replay;
use crate::lonc::handshake::{self, Action, Event, Phase as Hs};
use crate::lonc::linebuf::chomp;
use crate::lonc::log::{err_text, shown};

impl Child {
    /// Work on the link in `slot` out of its slot, flush what it queued, put it back and
    /// carry out what the work left to do.
    fn with_link(&mut self, slot: usize, f: impl FnOnce(&mut Child, &mut Conn)) {
        let Some(mut c) = self.links[slot].take() else {
            return;
        };
        f(self, &mut c);
        if !c.down {
            if let Err(reason) = c.flush() {
                self.gone(&mut c, &reason);
            }
        }
        self.links[slot] = Some(c);
        self.run_todo();
    }

    /// The link is done for; carried out once its handler has finished.
    fn down(&mut self, c: &mut Conn, why: Why) {
        if !c.down {
            c.down = true;
            self.todo.push_back(Act::Down {
                slot: c.slot,
                serial: c.serial,
                why,
            });
        }
    }

    /// Open a new connection in `slot` and start the handshake (first start, every reconnect
    /// of the first link, and every extra link).
    pub(super) fn connect(&mut self, slot: usize) {
        if slot == 0 {
            self.log.status(&format!("Opening TCP: {}", self.id));
        }
        let now = Instant::now();
        // Connect, init, challenge, pause, pong and ekey: all within loncInitTimeout (§3.1).
        let deadline = now + self.cfg.init_timeout;
        self.serial += 1;
        let serial = self.serial;
        let Some(addr) = self.addr else {
            self.link_down_early(slot, Why::Connect("bad ip address in hosts.tab".into()));
            return;
        };
        match Conn::open(slot, serial, addr, deadline, now) {
            Ok((c, done)) => {
                let mut c = Box::new(c);
                if done {
                    self.connected(&mut c);
                    if !c.down {
                        if let Err(reason) = c.flush() {
                            self.gone(&mut c, &reason);
                        }
                    }
                }
                self.links[slot] = Some(c);
            }
            Err(e) => self.link_down_early(slot, Why::Connect(err_text(&e))),
        }
    }

    /// A link that never got a socket failed.
    fn link_down_early(&mut self, slot: usize, why: Why) {
        match outcome::of_down(slot, why) {
            Outcome::GiveUp(fail) => self.todo.push_back(Act::GiveUp(fail)),
            Outcome::ExtraRetry(reason) => self.extra_failed(slot, &reason),
            // Without a socket nothing was lost while serving.
            Outcome::Reconnect(_) | Outcome::ExtraLost(_) => {}
        }
    }

    fn connected(&mut self, c: &mut Conn) {
        if c.slot == 0 {
            self.log.status(&format!("Init dialogue: {}", self.id));
        }
        self.feed(c, Event::Connected);
    }

    pub(super) fn on_link(&mut self, slot: usize, serial: u64, ev: PollFlags) {
        if self.links[slot].as_ref().map(|c| c.serial) != Some(serial) {
            return; // replaced since the poll: this event was for the old connection
        }
        self.with_link(slot, |s, c| {
            if c.connecting() {
                match c.finish_connect() {
                    Ok(()) => s.connected(c),
                    Err(e) => s.down(c, Why::Connect(err_text(&e))),
                }
                return;
            }
            if ev.intersects(PollFlags::POLLOUT | PollFlags::POLLHUP | PollFlags::POLLERR) {
                if let Err(reason) = c.flush() {
                    s.gone(c, &reason);
                    return;
                }
            }
            if ev.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR) {
                let res = c.read();
                // Each line goes through the child's kept buffer: no allocation per answer.
                let mut line = std::mem::take(&mut s.line);
                while !c.down && c.next_line_into(&mut line) {
                    s.on_line(c, &line);
                }
                if line.capacity() > 64 * 1024 {
                    line = Vec::new(); // a big answer went through: give the memory back
                }
                s.line = line;
                if c.down {
                    return;
                }
                if let Err(reason) = res {
                    s.gone(c, &reason);
                } else if c.partial_len() > s.cfg.max_answer {
                    s.answer_too_long(c);
                }
            }
        });
    }

    /// lond sent more than `loncMaxAnswer` bytes without a newline. Waiting for the rest could
    /// take all our memory before the reply timeout ends it, so the link counts as lost now.
    fn answer_too_long(&mut self, c: &mut Conn) {
        let what = match &c.phase {
            Phase::Busy(f) => shown(&f.request),
            Phase::Handshake(_) => "the handshake".to_string(),
            Phase::Delayed(_) => "a delayed message".to_string(),
            Phase::Ready => "nothing".to_string(),
        };
        self.log.log(&format!(
            "WARNING: Answer from {} to {what} is over loncMaxAnswer ({}): at least {} bytes without a newline, connection closed",
            self.id,
            self.cfg.max_answer,
            c.partial_len()
        ));
        c.clear_input();
        self.gone(c, "answer over loncMaxAnswer");
    }

    /// The peer closed, reset, or a read/write failed.
    fn gone(&mut self, c: &mut Conn, reason: &str) {
        if c.down {
            return;
        }
        let why = match &c.phase {
            Phase::Handshake(p) => {
                if *p == Hs::AwaitOk {
                    self.log.log(&format!("Init reply for {}: ><", self.id));
                } else {
                    self.log.log(&format!(
                        "Lost connection to {} during init: {reason}",
                        self.id
                    ));
                }
                Why::Init
            }
            Phase::Delayed(_) => Why::Replay(reason.to_string()),
            Phase::Ready | Phase::Busy(_) => Why::Lost(reason.to_string()),
        };
        self.down(c, why);
    }

    fn feed(&mut self, c: &mut Conn, ev: Event) {
        let Phase::Handshake(phase) = c.phase else {
            return;
        };
        let (next, actions) = handshake::step(phase, ev, &self.id, &self.cfg.lon_host_id);
        c.phase = Phase::Handshake(next);
        for a in actions {
            if c.down {
                return;
            }
            match a {
                Action::Send(b) => c.queue_line(&b),
                // The status follows the first link and the requests: an extra link's
                // handshake does not overwrite `Waiting for reply ...` while it opens.
                Action::StartDelay => {
                    if c.slot == 0 {
                        self.log.status(&format!("Ponging {}", self.id));
                    }
                    c.pong_at = Some(Instant::now() + self.cfg.pong_delay);
                }
                Action::Log(m) => self.log.log(&m),
                Action::Status(m) if c.slot == 0 => self.log.status(&m),
                Action::Status(_) => {}
                Action::Fail => self.down(c, Why::Init),
                Action::Up(key) => {
                    c.cipher = Some(LineCipher::new(key));
                    if c.slot == 0 {
                        self.start_delayed(c);
                    } else {
                        self.extra_up(c);
                    }
                }
            }
        }
    }

    fn on_line(&mut self, c: &mut Conn, line: &[u8]) {
        match &mut c.phase {
            Phase::Handshake(_) => self.feed(c, Event::Line(line)),
            Phase::Delayed(replay) => {
                replay.answer(chomp(line), &mut self.log);
                self.next_delayed(c);
            }
            Phase::Busy(_) => {
                let Phase::Busy(f) = std::mem::replace(&mut c.phase, Phase::Ready) else {
                    unreachable!()
                };
                let plain = self.decrypted_answer(c, chomp(line), &f.request);
                c.deadline = None;
                c.idle_since = self.now;
                let at = self.wall_now();
                self.log.status_request(&self.heads.1, &f.request, at);
                self.idle_due = true;
                // Usually the line as it came (newline included) goes to the client as is.
                self.clients
                    .deliver(f.cid, plain.as_deref().unwrap_or(line));
                self.input.recycle(f.request);
            }
            Phase::Ready => {
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
    fn decrypted_answer(&mut self, c: &Conn, raw: &[u8], request: &[u8]) -> Option<Vec<u8>> {
        if !raw.starts_with(b"enc") {
            return None;
        }
        let decrypted = c.cipher.as_ref()?.decrypt_reply(raw).and_then(|p| {
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

    /// Handshake done on the first link: replay delayed messages (after every connect, §3.2).
    fn start_delayed(&mut self, c: &mut Conn) {
        self.log.status("Checking for delayed messages");
        c.phase = Phase::Delayed(Replay::new(
            &self.cfg.delayed_dir(),
            &self.id,
            self.cfg.max_line,
        ));
        c.deadline = None;
        self.next_delayed(c);
    }

    /// Send the next delayed message, or go on to serving when none is left.
    fn next_delayed(&mut self, c: &mut Conn) {
        if self.life.stopping() {
            // Stopping: the exchange in flight is done; the rest waits for the next start.
            c.phase = Phase::Ready;
            return;
        }
        let Phase::Delayed(replay) = &mut c.phase else {
            return;
        };
        let cipher = &c.cipher;
        let encrypt = |cmd: &[u8]| match cipher {
            Some(k) => k.encrypt_request(cmd),
            None => [b"encrypt:".as_slice(), cmd].concat(),
        };
        match replay.next(&mut self.log, &encrypt) {
            Some(line) => {
                let timeout = DELAYED_TIMEOUT.min(self.cfg.reply_timeout);
                c.deadline = Some(Instant::now() + timeout);
                // One newline only (1.29 sent two after an encrypted line, shifting answers).
                c.queue_line(&line);
            }
            None => self.first_ready(c),
        }
    }

    /// The first link is usable: make sure the listener exists, then serve the queue.
    fn first_ready(&mut self, c: &mut Conn) {
        c.phase = Phase::Ready;
        c.deadline = None;
        c.idle_since = Instant::now();
        if self.listener.is_none() && self.life.serving() {
            self.log.status(&format!("Opening socket {}", self.id));
            match self.make_listener() {
                Ok(l) => {
                    self.listener = Some(l);
                    self.log.log(&format!("{} online", self.id));
                }
                Err(e) => {
                    self.todo.push_back(Act::GiveUp(Fail::Socket(err_text(&e))));
                    return;
                }
            }
        }
        self.log.status(&self.heads.3);
    }

    /// An extra link finished its handshake.
    fn extra_up(&mut self, c: &mut Conn) {
        c.phase = Phase::Ready;
        c.deadline = None;
        c.idle_since = Instant::now();
        let open = self.links.iter().flatten().count() + 1; // `c` is out of its slot
        self.log.log(&format!(
            "INFO: Link {} to {} up ({open} of {} open)",
            c.slot + 1,
            self.id,
            self.links.len()
        ));
    }

    /// The link's waits: the pong pause, its deadline, the idle close of an extra link.
    pub(super) fn link_deadlines(&mut self, slot: usize, now: Instant) {
        let Some(c) = &self.links[slot] else { return };
        let pong = c.pong_at.is_some_and(|t| now >= t);
        let late = c.deadline.is_some_and(|t| now >= t);
        let idle = c.ready()
            && dispatch::idle_close_at(slot, c.idle_since, self.cfg.link_idle)
                .is_some_and(|t| now >= t);
        if idle {
            let secs = fmt_secs(self.cfg.link_idle);
            self.log.log(&format!(
                "INFO: Link {} to {} closed after {secs} secs unused",
                slot + 1,
                self.id
            ));
            self.links[slot] = None;
            return;
        }
        if !pong && !late {
            return;
        }
        self.with_link(slot, |s, c| {
            if pong {
                c.pong_at = None;
                s.feed(c, Event::DelayOver);
            }
            if late && !c.down {
                c.deadline = None;
                match &c.phase {
                    Phase::Handshake(_) => {
                        s.log.log(&format!("Timed out during init: {}", s.id));
                        s.down(c, Why::Init);
                    }
                    Phase::Delayed(_) => {
                        let why = Why::Replay("no answer to a delayed message in time".into());
                        s.down(c, why);
                    }
                    Phase::Busy(f) => {
                        let msg = format!("CRITICAL: Timeout {}: {}", s.id, shown(&f.request));
                        s.log.log(&msg);
                        s.down(c, Why::Lost("reply timeout".into()));
                    }
                    Phase::Ready => {}
                }
            }
        });
    }

    /// Carry out a link's end (it is out of its slot already).
    pub(super) fn link_down(&mut self, c: Conn, why: Why) {
        match outcome::of_down(c.slot, why) {
            Outcome::GiveUp(fail) => self.give_up(fail),
            Outcome::Reconnect(reason) => self.first_lost(c, &reason),
            Outcome::ExtraLost(reason) => self.extra_lost(c, &reason),
            Outcome::ExtraRetry(reason) => self.extra_failed(c.slot, &reason),
        }
    }

    /// Lost the first link while serving: `con_lost` to the client it served and every queued
    /// request, one immediate reconnect (spec §7.1). If that fails, its own failure path backs
    /// off and exits. Extra links serve on meanwhile.
    fn first_lost(&mut self, c: Conn, reason: &str) {
        self.log
            .log(&format!("CRITICAL: Closing connection {}", self.id));
        self.log
            .status(&format!("Connection lost {}: {reason}", self.id));
        if let Some(cid) = c.client() {
            self.clients.deliver(cid, b"con_lost\n");
        }
        drop(c);
        self.doom_queued();
        if self.life.stopping() {
            if !self.exchange_in_flight() {
                self.exit_clean(0);
            }
            return;
        }
        self.log.log("Attempting to open new connection");
        self.connect(0);
    }

    /// An extra link lost while serving: the client it served gets `con_lost`.
    fn extra_lost(&mut self, c: Conn, reason: &str) {
        self.log.log(&format!(
            "WARNING: Lost link {} to {}: {reason}",
            c.slot + 1,
            self.id
        ));
        if let Some(cid) = c.client() {
            self.clients.deliver(cid, b"con_lost\n");
        }
    }

    /// An extra link could not be opened: a WARNING and a later retry, never the child's end.
    fn extra_failed(&mut self, slot: usize, reason: &str) {
        let wait = self.cfg.backoff_min;
        self.extra_retry_at = Some(Instant::now() + wait);
        self.log.log(&format!(
            "WARNING: Couldn't open link {} to {}: {reason}; next try in {} secs",
            slot + 1,
            self.id,
            fmt_secs(wait)
        ));
    }

    /// Give free links the oldest requests they may take, then open extra links for what
    /// still waits.
    pub(super) fn pump(&mut self, now: Instant) {
        while self.life.serving() {
            let Some(slot) = self
                .links
                .iter()
                .flatten()
                .find(|c| c.ready())
                .map(|c| c.slot)
            else {
                break;
            };
            let pick = dispatch::pick(
                &self.queue,
                |cid| self.client_busy(cid),
                self.in_flight_count(),
            );
            match pick {
                None => break,
                Some(Pick::CloseExit) => {
                    self.log
                        .status(&format!("Request close connection: {}", self.id));
                    self.log
                        .log(&format!("CRITICAL: Request Close Connection {}", self.id));
                    self.exit_clean(0);
                }
                Some(Pick::Relay(i)) => {
                    let Some(Req::Relay { cid, line }) = self.queue.remove(i) else {
                        break;
                    };
                    self.with_link(slot, |s, c| s.send_request(c, cid, line));
                }
            }
        }
        if self.links.len() > 1 && !self.queue.is_empty() {
            self.open_extra_links(now);
        }
    }

    fn send_request(&mut self, c: &mut Conn, cid: u64, line: Vec<u8>) {
        match (line.strip_prefix(b"encrypt:"), &c.cipher) {
            (Some(cmd), Some(k)) => c.queue_line(&k.encrypt_request(cmd)),
            _ => c.queue_line(&line),
        }
        let at = self.wall_now();
        self.log.status_request(&self.heads.0, &line, at);
        c.phase = Phase::Busy(InFlight { cid, request: line });
        c.deadline = Some(self.now + self.cfg.reply_timeout);
    }

    /// Open as many extra links as requests wait that no link will take (`dispatch`).
    fn open_extra_links(&mut self, now: Instant) {
        // A retry time that has passed is forgotten: the demand below opens a link now.
        self.extra_retry_at = dispatch::retry_wake(self.extra_retry_at, now);
        let waiting = dispatch::sendable(&self.queue, |cid| self.client_busy(cid));
        let links = &self.links;
        let count = LinkCount {
            max: links.len(),
            open: links.iter().flatten().count(),
            opening: links.iter().flatten().filter(|c| c.opening()).count(),
            first_ready: links[0]
                .as_ref()
                .is_some_and(|c| matches!(c.phase, Phase::Ready | Phase::Busy(_))),
        };
        let n = dispatch::extra_links_wanted(
            count,
            waiting,
            self.life.serving(),
            self.extra_retry_at,
            now,
        );
        for _ in 0..n {
            let Some(slot) = (1..self.links.len()).find(|&i| self.links[i].is_none()) else {
                break;
            };
            self.connect(slot);
        }
        self.run_todo();
    }
}
