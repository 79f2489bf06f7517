//! The child's Unix side: the listener, accepting clients (and refusing them with `con_lost`
//! when out of file descriptors), reading their requests into the queue, the farewell before
//! a back-off, and what `ps` and the status show.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::time::Instant;

use nix::poll::PollFlags;

use super::conn::Phase;
use super::dispatch::{self, Req};
use super::life::Life;
use super::Word;
use super::{Child, ACCEPT_PAUSE};
use crate::lonc::clients::ClientId;
use crate::lonc::log::err_text;
use crate::sys::proctitle;

impl Child {
    pub(super) fn make_listener(&self) -> io::Result<UnixListener> {
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

    pub(super) fn on_accept(&mut self) {
        let Some(l) = &self.listener else { return };
        // One accept per wake-up: poll said one waits; asking again would mostly say EAGAIN
        // (a burst of clients is taken one per loop, each loop a single poll). Out of file
        // descriptors, the whole backlog at once: the episode ends only with a pass that
        // accepted and refused none, not with the one client a freed descriptor let in.
        let max = if self.fd_episode.is_some() { 64 } else { 1 };
        let pass = self.clients.accept_up_to(l, max);
        if pass.accepted > 0 {
            self.idle_due = true;
            self.log.status(&self.heads.2);
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
        if let Some(e) = &pass.error {
            // Out of fds with no reserve to spend, or another error: pause instead of spinning.
            let msg = format!("WARNING: Cannot accept on {}: {}", self.id, err_text(e));
            self.log.log(&msg);
            self.accept_pause = Some(Instant::now() + ACCEPT_PAUSE);
        }
        self.clients.restore_reserve();
        // Its request is usually there already (lonnet writes right after connecting): read
        // it now instead of polling for it first.
        for i in 0..pass.accepted {
            let cid = self.clients.accepted()[i];
            self.client_input(cid);
            self.clients.close_if_done(cid);
        }
    }

    /// Descriptors are available again (or the child ends): say how many were refused.
    pub(super) fn end_fd_episode(&mut self) {
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
    pub(super) fn farewell(&mut self) {
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
    pub(super) fn show_idle(&mut self) {
        if self.idle_due
            && self.clients.is_empty()
            && self.queue.is_empty()
            && self.links[0].as_ref().is_some_and(|c| c.ready())
            && !self.exchange_in_flight()
        {
            self.idle_due = false;
            self.log.status(&self.heads.3);
        }
    }

    /// `lonc: <id> <state> <n> clients` in `ps`, rewritten only when it changes. The state is
    /// a fixed word: no request ever shows there.
    pub(super) fn show_title(&mut self) {
        let word = match self.life {
            Life::Stopping { .. } => Word::Stopping,
            Life::BackingOff { .. } => Word::Backoff,
            Life::Serving => match self.links[0].as_ref().map(|c| &c.phase) {
                None => Word::Down,
                Some(Phase::Handshake(_)) => Word::Connecting,
                Some(Phase::Delayed(_)) => Word::Delayed,
                Some(Phase::Busy(_)) => Word::Busy,
                Some(Phase::Ready) if self.exchange_in_flight() => Word::Busy,
                Some(Phase::Ready) => Word::Idle,
            },
        };
        let n = self.clients.len();
        if self.title == Some((word, n)) {
            return;
        }
        // With one client the title flips twice per request: the count's text is formatted
        // only when the count changes, the rest is copied into a kept buffer.
        if self.title.is_none_or(|(_, old)| old != n) {
            self.title_count.clear();
            self.title_count.push(' ');
            push_decimal(&mut self.title_count, n);
            self.title_count.push_str(" clients");
        }
        self.title = Some((word, n));
        let t = &mut self.title_buf;
        t.clear();
        t.push_str("lonc: ");
        t.push_str(&self.id);
        t.push(' ');
        t.push_str(word.text());
        t.push_str(&self.title_count);
        proctitle::set(t);
    }

    pub(super) fn on_client(&mut self, cid: ClientId, ev: PollFlags) {
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
    pub(super) fn client_input(&mut self, cid: ClientId) {
        let max = self.cfg.max_line;
        let mut input = std::mem::take(&mut self.input);
        self.clients.read_into(cid, max, &mut input);
        for line in input.lines.drain(..) {
            self.take_request(cid, line);
        }
        let too_long = input.too_long;
        self.input = input;
        if let Some((len, partial)) = too_long {
            let at_least = if partial { "at least " } else { "" };
            self.log.log(&format!(
                "WARNING: Request to {} of {at_least}{len} bytes is over loncMaxLine ({max}), refused",
                self.id
            ));
            self.clients.refuse(cid);
        }
    }

    /// Clients held back for back-pressure whose answers went out: read them again.
    pub(super) fn serve_released(&mut self) {
        for cid in self.clients.released() {
            self.client_input(cid);
            self.clients.close_if_done(cid);
        }
    }

    /// Queue one request in arrival order. While stopping it is answered `con_lost`, after the
    /// client's request in flight and its older lines if it has any (`settle_lost`).
    fn take_request(&mut self, cid: ClientId, line: Vec<u8>) {
        if self.life.stopping() {
            self.clients.expect_answer(cid);
            self.queue.push_back(Req::Lost { cid });
            self.lost_waiting = true;
            return;
        }
        if line == b"close_connection_exit" {
            self.queue.push_back(Req::CloseExit);
            return;
        }
        self.clients.expect_answer(cid);
        self.queue.push_back(Req::Relay { cid, line });
    }

    /// `con_lost` for every request in flight and every queued one.
    pub(super) fn con_lost_all(&mut self) {
        for slot in 0..self.links.len() {
            let cid = match self.links[slot].as_mut() {
                Some(c) => match std::mem::replace(&mut c.phase, Phase::Ready) {
                    Phase::Busy(f) => Some(f.cid),
                    other => {
                        c.phase = other;
                        None
                    }
                },
                None => None,
            };
            if let Some(cid) = cid {
                self.clients.deliver(cid, b"con_lost\n");
            }
        }
        self.con_lost_queued();
    }

    /// `con_lost` for every queued (not yet sent) request, at once (nothing is in flight any
    /// more, or the child gives up).
    pub(super) fn con_lost_queued(&mut self) {
        while let Some(r) = self.queue.pop_front() {
            if let Req::Relay { cid, .. } | Req::Lost { cid } = r {
                self.clients.deliver(cid, b"con_lost\n");
            }
        }
        self.lost_waiting = false;
    }

    /// Link 1 lost or the child stopping: `con_lost` for every queued request, each client's
    /// after its request in flight (`dispatch::doom`).
    pub(super) fn doom_queued(&mut self) {
        let mut queue = std::mem::take(&mut self.queue);
        let now = dispatch::doom(&mut queue, |cid| self.client_busy(cid));
        self.queue = queue;
        for cid in now {
            self.clients.deliver(cid, b"con_lost\n");
        }
        self.lost_waiting = dispatch::any_lost(&self.queue);
    }

    /// The `con_lost` owed to clients whose request in flight has been answered (or its link
    /// lost) since: in the order of their lines.
    pub(super) fn settle_lost(&mut self) {
        if !self.lost_waiting {
            return;
        }
        let mut queue = std::mem::take(&mut self.queue);
        let now = dispatch::take_lost(&mut queue, |cid| self.client_busy(cid));
        self.queue = queue;
        for cid in now {
            self.clients.deliver(cid, b"con_lost\n");
        }
        self.lost_waiting = dispatch::any_lost(&self.queue);
    }

    pub(super) fn close_listener(&mut self) {
        if self.listener.take().is_some() {
            let _ = std::fs::remove_file(&self.sock_path);
        }
    }
}

/// `n` in decimal, appended without `core::fmt` (with lonnet's new connection per request the
/// client count, and so the title, changes twice per request).
fn push_decimal(s: &mut String, n: usize) {
    let mut b = [0u8; 20];
    for &d in crate::sys::decimal::digits(n as u64, &mut b) {
        s.push(char::from(d));
    }
}

#[cfg(test)]
mod tests {
    use super::push_decimal;

    #[test]
    fn decimal_counts() {
        for n in [0, 7, 10, 64, 1000, usize::MAX] {
            let mut s = String::from("x");
            push_decimal(&mut s, n);
            assert_eq!(s, format!("x{n}"));
        }
    }
}
