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
//!
//! The per-request path does no searching: clients live in slots of a `Vec` (a freed slot is
//! reused), a [`ClientId`] names its slot, and the child's `poll` array is kept here, one entry
//! per slot after the child's own `head` entries, each brought up to date whenever what its
//! client waits for changes (never rebuilt per wake-up). A slot whose client waits for
//! nothing, or holds none, has fd -1, which `poll` skips.

use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};

use super::linebuf::{chomp, LineBuf, OutBuf};

/// A client's id within its child (never reused): its accept number in the high 32 bits,
/// its slot in the low 32.
pub type ClientId = u64;

fn slot_of(id: ClientId) -> usize {
    (id & 0xffff_ffff) as usize
}

/// Most answers one client may be owed (queued or in flight) before it is read no further.
pub const MAX_OWED: usize = 16;
/// Most bytes of answers a client may leave unread before it is read no further.
pub const MAX_UNSENT: usize = 64 * 1024;

struct Client {
    id: ClientId,
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

    /// Move complete lines from `inbuf`, then from `data`, to `input` while the client is not
    /// busy. False when reading must stop here (busy: `held` is set; or a line over
    /// `max_line`). What is not taken stays in `inbuf`.
    fn take_lines(&mut self, data: &[u8], input: &mut Input, max_line: usize) -> bool {
        let (pending, unsent) = (self.pending, self.out.pending().len());
        let mut busy = false;
        let all = self.inbuf.feed(data, |l| {
            if pending + input.lines.len() >= MAX_OWED || unsent > MAX_UNSENT {
                busy = true;
                return false;
            }
            // The request is the line without its newline, in a buffer of its own.
            let line = chomp(l);
            if line.len() > max_line {
                input.too_long = Some((line.len(), false));
                return false;
            }
            input.take_line(line);
            true
        });
        if busy {
            self.held = true;
        }
        if !all {
            return false;
        }
        if self.inbuf.partial_len() > max_line {
            input.too_long = Some((self.inbuf.partial_len(), true));
            return false;
        }
        true
    }

    /// What `poll` should wait for on this client; empty when nothing.
    fn interest(&self) -> i16 {
        let mut ev = 0;
        if !self.read_closed && !self.refused && !self.held {
            ev |= libc::POLLIN;
        }
        if !self.out.is_empty() {
            ev |= libc::POLLOUT;
        }
        ev
    }
}

/// What one read from a client produced (kept by the caller and reused: [`Clients::read_into`]).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Input {
    /// Complete requests, without their newline, in order.
    pub lines: Vec<Vec<u8>>,
    /// A request over the limit: its length so far and whether it was still incomplete.
    pub too_long: Option<(usize, bool)>,
    /// Buffers of requests answered, for the next requests (see [`Input::recycle`]).
    spare: Vec<Vec<u8>>,
}

impl Input {
    /// Most buffers kept, and the largest one kept.
    const SPARE: usize = 16;
    const SPARE_CAPACITY: usize = 1024;

    /// A request's buffer, its answer delivered: kept for a later request (one allocation
    /// less per request), unless enough are kept or it is big.
    pub fn recycle(&mut self, mut buf: Vec<u8>) {
        if self.spare.len() < Self::SPARE && buf.capacity() <= Self::SPARE_CAPACITY {
            buf.clear();
            self.spare.push(buf);
        }
    }

    /// `line` in a buffer of its own, a spare one if there is one.
    fn take_line(&mut self, line: &[u8]) {
        let mut buf = self.spare.pop().unwrap_or_default();
        buf.extend_from_slice(line);
        self.lines.push(buf);
    }
}

/// How an accept pass went (the ids of the clients it kept: [`Clients::accepted`]).
#[derive(Debug, Default)]
pub struct Accepted {
    /// Clients accepted and kept.
    pub accepted: usize,
    /// Clients accepted on the reserve fd only to be told `con_lost` (out of fds).
    pub refused: usize,
    /// `accept` failed and the reserve could not help (no reserve, or accept failed anyway):
    /// the caller should stop polling the listener for a moment.
    pub error: Option<io::Error>,
}

/// Most clients one accept pass takes (to stay fair to the clients already served).
pub const MAX_ACCEPT: usize = 64;

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

/// The client `id` names, if it is still there (a freed slot may hold a newer client).
fn find_mut(slots: &mut [Option<Client>], id: ClientId) -> Option<&mut Client> {
    slots
        .get_mut(slot_of(id))
        .and_then(Option::as_mut)
        .filter(|c| c.id == id)
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

/// Slots whose room is kept while no client is connected.
const KEEP_SLOTS: usize = 64;

/// A `pollfd` that `poll` skips.
const NO_FD: libc::pollfd = libc::pollfd {
    fd: -1,
    events: 0,
    revents: 0,
};

/// Every connected client of one child.
#[derive(Default)]
pub struct Clients {
    /// Slot `i` holds the client whose id names slot `i`, or none.
    slots: Vec<Option<Client>>,
    /// The `poll` array: `head` entries the child fills, then one per slot.
    pfds: Vec<libc::pollfd>,
    head: usize,
    /// Free slots below `slots.len()` (entries at or beyond it are stale and skipped).
    free: Vec<usize>,
    /// Clients connected.
    count: usize,
    /// The number of the last client accepted.
    next: u64,
    /// The clients the last accept pass kept, in order.
    accepted: Vec<ClientId>,
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
    /// No clients yet; the `poll` array starts with `head` entries for the caller.
    pub fn new(head: usize) -> Clients {
        Clients {
            reserve: open_reserve(),
            scratch: vec![0; 8192],
            pfds: vec![NO_FD; head],
            head,
            ..Clients::default()
        }
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Every client's id.
    pub fn ids(&self) -> Vec<ClientId> {
        self.slots.iter().flatten().map(|c| c.id).collect()
    }

    fn get(&self, id: ClientId) -> Option<&Client> {
        self.slots
            .get(slot_of(id))
            .and_then(Option::as_ref)
            .filter(|c| c.id == id)
    }

    fn get_mut(&mut self, id: ClientId) -> Option<&mut Client> {
        find_mut(&mut self.slots, id)
    }

    /// The `poll` array: the caller's `head` entries (which it fills before each `poll`),
    /// then the clients'. Entries of clients that wait for nothing have fd -1.
    pub fn poll_array(&mut self) -> &mut [libc::pollfd] {
        &mut self.pfds
    }

    /// After `poll`: the clients whose entry has events, with them, into `out` (cleared
    /// first). Taken before any handler runs, so a slot freed and reused meanwhile is never
    /// mistaken for the client it held.
    /// `max` is how many entries (clients' or not) `poll` said have events: the scan stops
    /// once that many are found.
    pub fn ready(&self, out: &mut Vec<(ClientId, i16)>, max: usize) {
        out.clear();
        let mut left = max.saturating_sub(
            self.pfds[..self.head]
                .iter()
                .filter(|p| p.revents != 0)
                .count(),
        );
        for (slot, p) in self.pfds[self.head..].iter().enumerate() {
            if left == 0 {
                break;
            }
            if p.revents != 0 {
                left -= 1;
                if let Some(c) = &self.slots[slot] {
                    out.push((c.id, p.revents));
                }
            }
        }
    }

    /// Bring the client's `poll` entry up to date with what it waits for now.
    fn sync(&mut self, id: ClientId) {
        let slot = slot_of(id);
        let entry = match self.get(id) {
            Some(c) => match c.interest() {
                0 => NO_FD,
                events => libc::pollfd {
                    fd: c.stream.as_raw_fd(),
                    events,
                    revents: 0,
                },
            },
            None => return,
        };
        self.pfds[self.head + slot] = entry;
    }

    /// Close a client: its slot is free for the next one.
    fn remove(&mut self, id: ClientId) {
        if self.get(id).is_none() {
            return;
        }
        let slot = slot_of(id);
        self.slots[slot] = None;
        self.pfds[self.head + slot] = NO_FD;
        self.count -= 1;
        if self.count == 0 {
            // The last one left: the arrays start again; a big capacity (after a burst of
            // many clients) goes back, a small one is kept for the next client (with lonnet's
            // connection per request, the count drops to 0 after every request).
            self.slots.clear();
            self.pfds.truncate(self.head);
            self.free.clear();
            if self.slots.capacity() > KEEP_SLOTS {
                self.slots = Vec::new();
                self.pfds.shrink_to_fit();
                self.free = Vec::new();
            }
        } else if slot + 1 == self.slots.len() {
            while self.slots.last().is_some_and(Option::is_none) {
                self.slots.pop();
            }
            self.pfds.truncate(self.head + self.slots.len());
        } else {
            self.free.push(slot);
        }
    }

    /// Put a newly accepted client in a free slot (or a new one); its id.
    fn insert(&mut self, stream: UnixStream) -> ClientId {
        let slot = loop {
            match self.free.pop() {
                Some(s) if s < self.slots.len() => break s,
                Some(_) => {} // beyond a trimmed end: stale
                None => {
                    self.slots.push(None);
                    self.pfds.push(NO_FD);
                    break self.slots.len() - 1;
                }
            }
        };
        self.next += 1;
        let id = (self.next << 32) | slot as u64;
        self.slots[slot] = Some(Client {
            id,
            stream,
            inbuf: LineBuf::new(),
            out: OutBuf::new(),
            read_closed: false,
            pending: 0,
            refused: false,
            held: false,
        });
        self.count += 1;
        self.sync(id);
        id
    }

    /// The ids of the clients the last accept pass kept, in the order they were accepted.
    pub fn accepted(&self) -> &[ClientId] {
        &self.accepted
    }

    /// Accept everything waiting on `listener` (at most [`MAX_ACCEPT`] per call, to stay fair).
    pub fn accept_from(&mut self, listener: &UnixListener) -> Accepted {
        self.accept_up_to(listener, MAX_ACCEPT)
    }

    /// Accept at most `max` clients waiting on `listener`. Out of file descriptors, each
    /// waiting client is accepted on the reserve descriptor, told `con_lost` and closed; the
    /// reserve is then left spent until [`Clients::restore_reserve`]. A pass that took `max`
    /// stops there without the `accept` that would only say EAGAIN: the poll loop comes back
    /// at once if more wait. The new clients' ids: [`Clients::accepted`].
    pub fn accept_up_to(&mut self, listener: &UnixListener, max: usize) -> Accepted {
        let max = max.min(MAX_ACCEPT);
        let mut pass = Accepted::default();
        self.accepted.clear();
        if self.reserve.is_none() {
            self.reserve = open_reserve();
        }
        while pass.accepted + pass.refused < max {
            match accept_nonblocking(listener) {
                Ok(stream) => {
                    let id = self.insert(stream);
                    self.accepted.push(id);
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

    /// Read what the client sent: complete lines up to the first one over `max_line` bytes,
    /// lines held back earlier first, and no more than back-pressure allows.
    pub fn read(&mut self, id: ClientId, max_line: usize) -> Input {
        let mut input = Input::default();
        self.read_into(id, max_line, &mut input);
        input
    }

    /// [`Clients::read`] into `input` (cleared first), so a caller that keeps one allocates
    /// nothing for it per request.
    pub fn read_into(&mut self, id: ClientId, max_line: usize, input: &mut Input) {
        input.lines.clear();
        input.too_long = None;
        self.read_client(id, max_line, input);
        if self.get(id).is_some_and(|c| c.held) {
            self.some_held = true;
        }
        self.sync(id);
    }

    fn read_client(&mut self, id: ClientId, max_line: usize, input: &mut Input) {
        if self.scratch.len() < 8192 {
            self.scratch.resize(8192, 0); // a `Clients::default()` has none yet
        }
        let scratch = &mut self.scratch;
        let Some(c) = find_mut(&mut self.slots, id) else {
            return;
        };
        if c.refused {
            return;
        }
        c.held = false;
        if !c.take_lines(&[], input, max_line) || c.read_closed {
            return;
        }
        // One scratch buffer for every client: zeroed once, not per read.
        let buf = &mut scratch[..];
        for _ in 0..16 {
            match c.stream.read(buf) {
                Ok(0) => {
                    c.read_closed = true;
                    break;
                }
                Ok(n) => {
                    // A short read emptied the socket: the next would only say EAGAIN.
                    if !c.take_lines(&buf[..n], input, max_line) || n < buf.len() {
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
    }

    /// Clients that were held back and may be read again now.
    pub fn released(&mut self) -> Vec<ClientId> {
        if !self.some_held {
            return Vec::new();
        }
        self.some_held = self.slots.iter().flatten().any(|c| c.held);
        self.slots
            .iter()
            .flatten()
            .filter(|c| c.released())
            .map(|c| c.id)
            .collect()
    }

    /// Whether [`Clients::released`] has anything (the poll loop must not sleep then).
    pub fn any_released(&self) -> bool {
        self.some_held && self.slots.iter().flatten().any(Client::released)
    }

    /// The client owes one more answer (its request was queued).
    pub fn expect_answer(&mut self, id: ClientId) {
        if let Some(c) = self.get_mut(id) {
            c.pending += 1;
        }
    }

    /// Queue bytes for the client that are not an owed answer (e.g. `con_lost` while stopping).
    pub fn send(&mut self, id: ClientId, bytes: &[u8]) {
        if let Some(c) = self.get_mut(id) {
            c.out.extend(bytes);
        }
        self.flush(id);
    }

    /// Hand over an owed answer (with its newline); a client that left just loses it.
    pub fn deliver(&mut self, id: ClientId, answer: &[u8]) {
        if let Some(c) = self.get_mut(id) {
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
        if let Some(c) = self.get_mut(id) {
            c.refused = true;
            c.inbuf.clear();
            if c.pending == 0 {
                c.out.extend(b"refused\n");
            }
        }
        self.flush(id); // brings its poll entry up to date too
        self.close_if_done(id);
    }

    /// Before the listener closes: a client not owed anything and still sending gets
    /// `con_lost`, so whatever it asks next is answered instead of meeting a bare end of file.
    pub fn con_lost_idle(&mut self) {
        for id in self.ids() {
            if let Some(c) = self.get_mut(id) {
                if !c.refused && !c.read_closed && c.pending == 0 {
                    c.out.extend(b"con_lost\n");
                }
            }
            self.flush(id);
        }
    }

    /// Write as much as the socket takes now; a write error removes the client.
    pub fn flush(&mut self, id: ClientId) {
        let Some(c) = find_mut(&mut self.slots, id) else {
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
                    self.remove(id);
                    return;
                }
            }
        }
        self.sync(id);
    }

    /// The `Dropping data` lines collected since the last call.
    pub fn take_dropped(&mut self) -> Vec<String> {
        std::mem::take(&mut self.dropped)
    }

    /// Close a client that will neither send nor receive anything more.
    pub fn close_if_done(&mut self, id: ClientId) {
        if let Some(c) = self.get(id) {
            if (c.read_closed || c.refused) && !c.held && c.pending == 0 && c.out.is_empty() {
                self.remove(id);
            }
        }
    }

    /// One write attempt for every client (right before exit or back-off).
    pub fn flush_all(&mut self) {
        for id in self.ids() {
            self.flush(id);
        }
    }

    /// Close every client.
    pub fn clear(&mut self) {
        for id in self.ids() {
            self.remove(id);
        }
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
        let pass = clients.accept_from(&l);
        assert_eq!(pass.accepted, 1);
        let _ = std::fs::remove_file(&dir);
        (clients.accepted()[0], peer)
    }

    /// How many client entries of the poll array `poll` would look at.
    fn polled(cs: &mut Clients) -> usize {
        cs.poll_array()[2..].iter().filter(|p| p.fd >= 0).count()
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
        let mut cs = Clients::new(2);
        let pass = cs.accept_up_to(&l, 1);
        assert_eq!(pass.accepted, 1, "the second waits for the next wake-up");
        let first = cs.accepted()[0];
        // Non-blocking from accept4: a read with nothing sent says WouldBlock at once.
        assert!(cs.read(first, 100).lines.is_empty());
        assert_eq!(cs.accept_up_to(&l, 64).accepted, 1);
        assert_eq!(cs.accepted().len(), 1);
        assert!(cs.accepted()[0] != first);
        assert_eq!(cs.accept_up_to(&l, 64).accepted, 0);
        assert_eq!(cs.len(), 2);
        let _ = std::fs::remove_file(&dir);
    }

    #[test]
    fn lines_limit_and_refusal_after_owed_answers() {
        let mut cs = Clients::new(2);
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
        let mut cs = Clients::new(2);
        let (id, mut peer) = pair(&mut cs);
        peer.write_all(&b"r\n".repeat(MAX_OWED + 4)).unwrap();
        let input = cs.read(id, 100);
        assert_eq!(input.lines.len(), MAX_OWED);
        for _ in 0..MAX_OWED {
            cs.expect_answer(id);
        }
        assert_eq!(polled(&mut cs), 0, "not read while owed {MAX_OWED}");
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
        assert_eq!(polled(&mut cs), 1, "read again once not owed too much");
    }

    #[test]
    fn a_freed_slot_is_reused_under_a_new_id_and_the_poll_array_follows() {
        let mut cs = Clients::new(2);
        let (a, _pa) = pair(&mut cs);
        let (b, pb) = pair(&mut cs);
        let (c, _pc) = pair(&mut cs);
        assert_eq!(cs.poll_array().len(), 2 + 3);
        assert_eq!(polled(&mut cs), 3);
        // b leaves: read sees its end of file, and with nothing owed it is closed.
        drop(pb);
        assert!(cs.read(b, 100).lines.is_empty());
        cs.close_if_done(b);
        assert_eq!(cs.len(), 2);
        assert_eq!(polled(&mut cs), 2, "its entry is skipped");
        let (d, mut pd) = pair(&mut cs);
        assert_eq!(slot_of(d), slot_of(b), "the slot is reused");
        assert!(d != b && ![a, c].contains(&d));
        // The old id names nobody: nothing meant for b reaches d.
        cs.expect_answer(b);
        cs.deliver(b, b"for b\n");
        cs.expect_answer(d);
        cs.deliver(d, b"for d\n");
        let mut buf = [0u8; 64];
        let n = pd.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"for d\n");
        // Poll reports an event in d's entry: it is d's, under d's id.
        let p = cs.poll_array()[2 + slot_of(d)];
        assert_eq!(p.fd, find_mut(&mut cs.slots, d).unwrap().stream.as_raw_fd());
        cs.poll_array()[2 + slot_of(d)].revents = libc::POLLIN;
        let mut ready = Vec::new();
        cs.ready(&mut ready, 1);
        assert_eq!(ready, vec![(d, libc::POLLIN)]);
        cs.ready(&mut ready, 0);
        assert!(ready.is_empty(), "poll said none");
        cs.clear();
        assert!(cs.is_empty());
        assert_eq!(
            cs.poll_array().len(),
            2,
            "only the caller's entries are left"
        );
    }

    #[test]
    fn partial_line_over_the_limit_is_caught_early() {
        let mut cs = Clients::new(2);
        let (id, mut peer) = pair(&mut cs);
        peer.write_all(&[b'x'; 50]).unwrap();
        let input = cs.read(id, 10);
        assert!(input.lines.is_empty());
        assert_eq!(input.too_long, Some((50, true)));
    }

    #[test]
    fn a_client_that_left_loses_its_answer_quietly() {
        let mut cs = Clients::new(2);
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
