//! The Unix-socket clients of one lonc child: accept, read lines (with the `loncMaxLine`
//! limit), owe answers, write them without blocking, and forget clients that left.
//!
//! One entry per connection: the stream, the partial line read so far, the bytes not yet
//! written and how many answers it is still owed. An idle client has empty buffers and costs a
//! few hundred bytes. Writes never raise SIGPIPE (Rust ignores it); a failed write means the
//! client left, and its later answers are dropped. Queueing and relaying belong to `child`.
//!
//! Back-pressure: a client owed [`MAX_OWED`] answers, or with more than [`MAX_UNSENT`] bytes
//! of answers it has not read, is not read from until that drops (its requests wait in its
//! socket, and then in the client's own writes). So one client that floods requests and never
//! reads cannot fill the child's memory or push every other client's request far back.
//!
//! Out of file descriptors (EMFILE/ENFILE), the clients waiting in the backlog would wait
//! forever: one descriptor is kept in reserve and spent to accept each of them, answer
//! `con_lost` and close (the libuv/nginx trick).

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::{UnixListener, UnixStream};

use nix::poll::PollFlags;

use super::linebuf::{chomp, LineBuf, OutBuf};

/// A client's id within its child (never reused).
pub type ClientId = u64;

/// Most answers one client may be owed (queued or in flight) before it is read no further.
pub const MAX_OWED: usize = 16;
/// Most bytes of answers a client may leave unread before it is read no further.
pub const MAX_UNSENT: usize = 64 * 1024;

struct Client {
    stream: UnixStream,
    inbuf: LineBuf,
    out: OutBuf,
    /// End of file seen: no more requests, but owed answers still go out.
    read_closed: bool,
    /// Answers still owed (requests queued or in flight).
    pending: usize,
    /// Sent a line over the limit: gets `refused` after its owed answers, then is closed.
    refused: bool,
    /// Reading stopped for back-pressure; complete lines may wait in `inbuf`.
    held: bool,
}

impl Client {
    /// Owed enough, or has enough unread answers, that it must wait.
    fn busy(&self, taken: usize) -> bool {
        self.pending + taken >= MAX_OWED || self.out.pending().len() > MAX_UNSENT
    }

    /// Held back, and may be read again now.
    fn released(&self) -> bool {
        self.held && !self.refused && !self.busy(0)
    }

    /// Move complete lines from `inbuf` to `input` while the client is not busy. False when
    /// reading must stop here (busy: `held` is set; or a line over `max_line`).
    fn take_lines(&mut self, input: &mut Input, max_line: usize) -> bool {
        loop {
            if self.busy(input.lines.len()) {
                self.held = true;
                return false;
            }
            let Some(mut l) = self.inbuf.next_line() else {
                break;
            };
            // The line itself becomes the request (no second copy): its newline dropped.
            let len = chomp(&l).len();
            if len > max_line {
                input.too_long = Some((len, false));
                return false;
            }
            l.truncate(len);
            input.lines.push(l);
        }
        if self.inbuf.partial_len() > max_line {
            input.too_long = Some((self.inbuf.partial_len(), true));
            return false;
        }
        true
    }
}

/// What one read from a client produced.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Input {
    /// Complete requests, without their newline, in order.
    pub lines: Vec<Vec<u8>>,
    /// A request over the limit: its length so far and whether it was still incomplete.
    pub too_long: Option<(usize, bool)>,
}

/// How an accept pass went.
#[derive(Debug, Default)]
pub struct Accepted {
    /// Clients accepted and kept.
    pub accepted: usize,
    /// Clients accepted on the reserve fd only to be told `con_lost` (out of fds).
    pub refused: usize,
    /// `accept` failed and the reserve could not help (no reserve, or accept failed anyway):
    /// the caller should stop polling the listener for a moment.
    pub error: Option<io::Error>,
    /// The id of the first client accepted; the others follow it in order.
    pub first: ClientId,
}

impl Accepted {
    /// The ids of the clients accepted and kept.
    pub fn ids(&self) -> std::ops::Range<ClientId> {
        self.first..self.first + self.accepted as ClientId
    }
}

/// `accept4` with `SOCK_NONBLOCK | SOCK_CLOEXEC`: the new socket is non-blocking from the
/// start, without the `ioctl(FIONBIO)` a `set_nonblocking` after `accept` costs per client.
fn accept_nonblocking(listener: &UnixListener) -> io::Result<UnixStream> {
    use std::os::fd::{AsRawFd, FromRawFd};
    // SAFETY: accept4 on a valid listening fd with null address pointers; on success the new
    // fd is ours alone and handed to `UnixStream` exactly once.
    let fd = unsafe {
        libc::accept4(
            listener.as_raw_fd(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a freshly accepted, open socket nobody else owns.
    Ok(unsafe { UnixStream::from_raw_fd(fd) })
}

/// Out of file descriptors, for this process (EMFILE) or the system (ENFILE).
fn out_of_fds(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE))
}

/// One descriptor held back for the moment the process runs out (the libuv/nginx EMFILE
/// trick): closing it lets one waiting client be accepted and told `con_lost` instead of
/// waiting in the backlog forever.
fn open_reserve() -> Option<std::fs::File> {
    std::fs::File::open("/dev/null").ok()
}

/// Every connected client of one child.
#[derive(Default)]
pub struct Clients {
    /// By id: a few lookups per request, no hashing (ids only grow, so new clients go last).
    map: BTreeMap<ClientId, Client>,
    next: ClientId,
    /// 1.29's `Dropping data with <error>: <len>, <sent>` lines for clients whose answers
    /// could not be written, for the child to log.
    dropped: Vec<String>,
    /// The reserve descriptor (see [`open_reserve`]); `None` while spent or not yet opened.
    reserve: Option<std::fs::File>,
    /// Where reads land before their bytes go to a client's line buffer.
    scratch: Vec<u8>,
    /// Some client may be held back (only `read` holds one back): while false, the two
    /// scans for released clients that every loop makes are skipped (64 clients, one link:
    /// one wake-up per request).
    some_held: bool,
}

impl Clients {
    pub fn new() -> Clients {
        Clients {
            reserve: open_reserve(),
            scratch: vec![0; 8192],
            ..Clients::default()
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Every client's id.
    pub fn ids(&self) -> Vec<ClientId> {
        self.map.keys().copied().collect()
    }

    /// Accept everything waiting on `listener` (at most 64 per call, to stay fair).
    pub fn accept_from(&mut self, listener: &UnixListener) -> Accepted {
        self.accept_up_to(listener, 64)
    }

    /// Accept at most `max` clients waiting on `listener`. Out of file descriptors, each
    /// waiting client is accepted on the reserve descriptor, told `con_lost` and closed; the
    /// reserve is then left spent until [`Clients::restore_reserve`]. A pass that took `max`
    /// stops there without the `accept` that would only say EAGAIN: the poll loop comes back
    /// at once if more wait. New clients get the ids in [`Accepted::ids`].
    pub fn accept_up_to(&mut self, listener: &UnixListener, max: usize) -> Accepted {
        let mut pass = Accepted {
            first: self.next + 1,
            ..Accepted::default()
        };
        if self.reserve.is_none() {
            self.reserve = open_reserve();
        }
        while pass.accepted + pass.refused < max {
            match accept_nonblocking(listener) {
                Ok(stream) => {
                    self.next += 1;
                    let client = Client {
                        stream,
                        inbuf: LineBuf::new(),
                        out: OutBuf::new(),
                        read_closed: false,
                        pending: 0,
                        refused: false,
                        held: false,
                    };
                    self.map.insert(self.next, client);
                    pass.accepted += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if out_of_fds(&e) => {
                    if self.reserve.take().is_none() {
                        pass.error = Some(e);
                        break;
                    }
                    let turned = listener.accept().map(|(stream, _)| turn_away(stream));
                    // At once, before the next accept could take the slot for a client.
                    self.reserve = open_reserve();
                    if turned.is_ok() {
                        pass.refused += 1;
                    } else {
                        pass.error = Some(e);
                        break;
                    }
                }
                Err(e) => {
                    pass.error = Some(e);
                    break;
                }
            }
        }
        if pass.refused > 0 {
            // Left free until `restore_reserve`, so the caller can still open its log file.
            self.reserve = None;
        }
        pass
    }

    /// Take the reserve descriptor again after a pass that spent it (see [`Clients::accept_from`]).
    pub fn restore_reserve(&mut self) {
        if self.reserve.is_none() {
            self.reserve = open_reserve();
        }
    }

    /// The fds to poll and for what; clients with nothing to do are left out (a hung-up
    /// client waiting for its answer would otherwise wake the loop forever).
    pub fn poll_interest(&self) -> impl Iterator<Item = (ClientId, BorrowedFd<'_>, PollFlags)> {
        self.map.iter().filter_map(|(&id, c)| {
            let mut ev = PollFlags::empty();
            if !c.read_closed && !c.refused && !c.held {
                ev |= PollFlags::POLLIN;
            }
            if !c.out.is_empty() {
                ev |= PollFlags::POLLOUT;
            }
            (!ev.is_empty()).then(|| (id, c.stream.as_fd(), ev))
        })
    }

    /// Read what the client sent: complete lines up to the first one over `max_line` bytes,
    /// lines held back earlier first, and no more than back-pressure allows.
    pub fn read(&mut self, id: ClientId, max_line: usize) -> Input {
        let input = self.read_client(id, max_line);
        if self.map.get(&id).is_some_and(|c| c.held) {
            self.some_held = true;
        }
        input
    }

    fn read_client(&mut self, id: ClientId, max_line: usize) -> Input {
        let mut input = Input::default();
        if self.scratch.len() < 8192 {
            self.scratch.resize(8192, 0); // a `Clients::default()` has none yet
        }
        let Some(c) = self.map.get_mut(&id) else {
            return input;
        };
        if c.refused {
            return input;
        }
        c.held = false;
        if !c.take_lines(&mut input, max_line) || c.read_closed {
            return input;
        }
        // One scratch buffer for every client: zeroed once, not per read.
        let buf = &mut self.scratch[..];
        for _ in 0..16 {
            match c.stream.read(buf) {
                Ok(0) => {
                    c.read_closed = true;
                    break;
                }
                Ok(n) => {
                    c.inbuf.push(&buf[..n]);
                    // A short read emptied the socket: the next would only say EAGAIN.
                    if !c.take_lines(&mut input, max_line) || n < buf.len() {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    c.read_closed = true;
                    break;
                }
            }
        }
        input
    }

    /// Clients that were held back and may be read again now.
    pub fn released(&mut self) -> Vec<ClientId> {
        if !self.some_held {
            return Vec::new();
        }
        self.some_held = self.map.values().any(|c| c.held);
        self.map
            .iter()
            .filter(|(_, c)| c.released())
            .map(|(&id, _)| id)
            .collect()
    }

    /// Whether [`Clients::released`] has anything (the poll loop must not sleep then).
    pub fn any_released(&self) -> bool {
        self.some_held && self.map.values().any(Client::released)
    }

    /// The client owes one more answer (its request was queued).
    pub fn expect_answer(&mut self, id: ClientId) {
        if let Some(c) = self.map.get_mut(&id) {
            c.pending += 1;
        }
    }

    /// Queue bytes for the client that are not an owed answer (e.g. `con_lost` while stopping).
    pub fn send(&mut self, id: ClientId, bytes: &[u8]) {
        if let Some(c) = self.map.get_mut(&id) {
            c.out.extend(bytes);
        }
        self.flush(id);
    }

    /// Hand over an owed answer (with its newline); a client that left just loses it.
    pub fn deliver(&mut self, id: ClientId, answer: &[u8]) {
        if let Some(c) = self.map.get_mut(&id) {
            c.out.extend(answer);
            c.pending = c.pending.saturating_sub(1);
            if c.refused && c.pending == 0 {
                c.out.extend(b"refused\n");
            }
        }
        self.flush(id);
        self.close_if_done(id);
    }

    /// Stop reading this client: it gets `refused` once its owed answers are out, then EOF.
    pub fn refuse(&mut self, id: ClientId) {
        if let Some(c) = self.map.get_mut(&id) {
            c.refused = true;
            c.inbuf.clear();
            if c.pending == 0 {
                c.out.extend(b"refused\n");
            }
        }
        self.flush(id);
        self.close_if_done(id);
    }

    /// Before the listener closes: a client not owed anything and still sending gets
    /// `con_lost`, so whatever it asks next is answered instead of meeting a bare end of file.
    pub fn con_lost_idle(&mut self) {
        let ids: Vec<ClientId> = self.map.keys().copied().collect();
        for id in ids {
            if let Some(c) = self.map.get_mut(&id) {
                if !c.refused && !c.read_closed && c.pending == 0 {
                    c.out.extend(b"con_lost\n");
                }
            }
            self.flush(id);
        }
    }

    /// Write as much as the socket takes now; a write error removes the client.
    pub fn flush(&mut self, id: ClientId) {
        let Some(c) = self.map.get_mut(&id) else {
            return;
        };
        while !c.out.is_empty() {
            match c.stream.write(c.out.pending()) {
                Ok(n) => c.out.consume(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // EPIPE/ECONNRESET: the client left; we live on.
                    self.dropped.push(format!(
                        "Dropping data with {}: {}, 0",
                        super::log::err_text(&e),
                        c.out.pending().len()
                    ));
                    self.map.remove(&id);
                    return;
                }
            }
        }
    }

    /// The `Dropping data` lines collected since the last call.
    pub fn take_dropped(&mut self) -> Vec<String> {
        std::mem::take(&mut self.dropped)
    }

    /// Close a client that will neither send nor receive anything more.
    pub fn close_if_done(&mut self, id: ClientId) {
        if let Some(c) = self.map.get(&id) {
            if (c.read_closed || c.refused) && !c.held && c.pending == 0 && c.out.is_empty() {
                self.map.remove(&id);
            }
        }
    }

    /// One write attempt for every client (right before exit or back-off).
    pub fn flush_all(&mut self) {
        let ids: Vec<ClientId> = self.map.keys().copied().collect();
        for id in ids {
            self.flush(id);
        }
    }

    /// Close every client.
    pub fn clear(&mut self) {
        self.map.clear();
    }
}

/// A client accepted only to be refused: `con_lost`, then closed. What it sent is read first
/// (one read), so closing does not reset the connection before it reads the answer.
fn turn_away(mut stream: UnixStream) {
    let _ = stream.set_nonblocking(true);
    let mut buf = [0u8; 512];
    let _ = stream.read(&mut buf);
    let _ = stream.write(b"con_lost\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(clients: &mut Clients) -> (ClientId, UnixStream) {
        // Unique per call: the unit tests run in parallel threads of one process.
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("lonc-clients-{}-{n}", std::process::id()));
        let _ = std::fs::remove_file(&dir);
        let l = UnixListener::bind(&dir).unwrap();
        let peer = UnixStream::connect(&dir).unwrap();
        l.set_nonblocking(true).unwrap();
        assert_eq!(clients.accept_from(&l).accepted, 1);
        let _ = std::fs::remove_file(&dir);
        (clients.next, peer)
    }

    fn read_all(peer: &mut UnixStream) -> Vec<u8> {
        peer.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let mut out = Vec::new();
        let _ = peer.read_to_end(&mut out);
        out
    }

    #[test]
    fn accept_takes_at_most_what_it_is_asked_and_names_the_new_ids() {
        let dir = std::env::temp_dir().join(format!("lonc-accept-{}", std::process::id()));
        let _ = std::fs::remove_file(&dir);
        let l = UnixListener::bind(&dir).unwrap();
        l.set_nonblocking(true).unwrap();
        let _a = UnixStream::connect(&dir).unwrap();
        let _b = UnixStream::connect(&dir).unwrap();
        let mut cs = Clients::new();
        let pass = cs.accept_up_to(&l, 1);
        assert_eq!(pass.accepted, 1, "the second waits for the next wake-up");
        assert_eq!(pass.ids().collect::<Vec<_>>(), vec![1]);
        // Non-blocking from accept4: a read with nothing sent says WouldBlock at once.
        assert!(cs.read(1, 100).lines.is_empty());
        let pass = cs.accept_up_to(&l, 64);
        assert_eq!(pass.ids().collect::<Vec<_>>(), vec![2]);
        assert_eq!(cs.accept_up_to(&l, 64).accepted, 0);
        assert_eq!(cs.len(), 2);
        let _ = std::fs::remove_file(&dir);
    }

    #[test]
    fn lines_limit_and_refusal_after_owed_answers() {
        let mut cs = Clients::new();
        let (id, mut peer) = pair(&mut cs);
        peer.write_all(b"one\ntwo\r\n0123456789ab\nlater\n")
            .unwrap();
        let input = cs.read(id, 10);
        assert_eq!(input.lines, vec![b"one".to_vec(), b"two\r".to_vec()]);
        assert_eq!(input.too_long, Some((12, false)));
        cs.expect_answer(id);
        cs.expect_answer(id);
        cs.refuse(id);
        cs.deliver(id, b"1\n");
        assert_eq!(cs.len(), 1, "still owed one answer");
        cs.deliver(id, b"2\n");
        assert!(cs.is_empty(), "closed once everything went out");
        assert_eq!(read_all(&mut peer), b"1\n2\nrefused\n");
    }

    #[test]
    fn a_client_owed_too_much_is_held_back_until_answers_go_out() {
        let mut cs = Clients::new();
        let (id, mut peer) = pair(&mut cs);
        peer.write_all(&b"r\n".repeat(MAX_OWED + 4)).unwrap();
        let input = cs.read(id, 100);
        assert_eq!(input.lines.len(), MAX_OWED);
        for _ in 0..MAX_OWED {
            cs.expect_answer(id);
        }
        assert_eq!(
            cs.poll_interest().count(),
            0,
            "not read while owed {MAX_OWED}"
        );
        assert!(cs.released().is_empty() && !cs.any_released());
        cs.deliver(id, b"a\n");
        assert_eq!(cs.released(), vec![id]);
        // One answer out, one more request in; the rest stays held.
        assert_eq!(cs.read(id, 100).lines.len(), 1);
        cs.expect_answer(id);
        assert!(cs.released().is_empty());
        for _ in 0..MAX_OWED {
            cs.deliver(id, b"a\n");
        }
        assert_eq!(cs.read(id, 100).lines.len(), 3);
        assert_eq!(
            cs.poll_interest().count(),
            1,
            "read again once not owed too much"
        );
    }

    #[test]
    fn partial_line_over_the_limit_is_caught_early() {
        let mut cs = Clients::new();
        let (id, mut peer) = pair(&mut cs);
        peer.write_all(&[b'x'; 50]).unwrap();
        let input = cs.read(id, 10);
        assert!(input.lines.is_empty());
        assert_eq!(input.too_long, Some((50, true)));
    }

    #[test]
    fn a_client_that_left_loses_its_answer_quietly() {
        let mut cs = Clients::new();
        let (id, peer) = pair(&mut cs);
        cs.expect_answer(id);
        drop(peer);
        cs.deliver(id, b"answer\n");
        cs.deliver(id, b"another\n");
        assert!(cs.is_empty());
        assert_eq!(
            cs.take_dropped(),
            vec!["Dropping data with Broken pipe: 7, 0"]
        );
        assert!(cs.take_dropped().is_empty());
    }
}
