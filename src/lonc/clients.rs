//! The Unix-socket clients of one lonc child: accept, read lines (with the `loncMaxLine`
//! limit), owe answers, write them without blocking, and forget clients that left.
//!
//! One entry per connection: the stream, the partial line read so far, the bytes not yet
//! written and how many answers it is still owed. An idle client has empty buffers and costs a
//! few hundred bytes. Writes never raise SIGPIPE (Rust ignores it); a failed write means the
//! client left, and its later answers are dropped. Queueing and relaying belong to `child`.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::{UnixListener, UnixStream};

use nix::poll::PollFlags;

use super::linebuf::{chomp, LineBuf, OutBuf};

/// A client's id within its child (never reused).
pub type ClientId = u64;

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
}

/// What one read from a client produced.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Input {
    /// Complete requests, without their newline, in order.
    pub lines: Vec<Vec<u8>>,
    /// A request over the limit: its length so far and whether it was still incomplete.
    pub too_long: Option<(usize, bool)>,
}

/// How an accept pass ended.
pub enum Accepted {
    /// Accepted this many; nothing more is waiting.
    Done(usize),
    /// `accept` failed (out of fds, typically) after accepting this many.
    Failed(usize, io::Error),
}

/// Every connected client of one child.
#[derive(Default)]
pub struct Clients {
    map: HashMap<ClientId, Client>,
    next: ClientId,
}

impl Clients {
    pub fn new() -> Clients {
        Clients::default()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Accept everything waiting on `listener` (at most 64 per call, to stay fair).
    pub fn accept_from(&mut self, listener: &UnixListener) -> Accepted {
        let mut n = 0;
        for _ in 0..64 {
            match listener.accept() {
                Ok((stream, _)) => {
                    if stream.set_nonblocking(true).is_err() {
                        continue;
                    }
                    self.next += 1;
                    let client = Client {
                        stream,
                        inbuf: LineBuf::new(),
                        out: OutBuf::new(),
                        read_closed: false,
                        pending: 0,
                        refused: false,
                    };
                    self.map.insert(self.next, client);
                    n += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Accepted::Failed(n, e),
            }
        }
        Accepted::Done(n)
    }

    /// The fds to poll and for what; clients with nothing to do are left out (a hung-up
    /// client waiting for its answer would otherwise wake the loop forever).
    pub fn poll_interest(&self) -> impl Iterator<Item = (ClientId, BorrowedFd<'_>, PollFlags)> {
        self.map.iter().filter_map(|(&id, c)| {
            let mut ev = PollFlags::empty();
            if !c.read_closed && !c.refused {
                ev |= PollFlags::POLLIN;
            }
            if !c.out.is_empty() {
                ev |= PollFlags::POLLOUT;
            }
            (!ev.is_empty()).then(|| (id, c.stream.as_fd(), ev))
        })
    }

    /// Read what the client sent: complete lines up to the first one over `max_line` bytes.
    pub fn read(&mut self, id: ClientId, max_line: usize) -> Input {
        let mut input = Input::default();
        let Some(c) = self.map.get_mut(&id) else {
            return input;
        };
        if c.read_closed || c.refused {
            return input;
        }
        let mut buf = [0u8; 8192];
        for _ in 0..16 {
            match c.stream.read(&mut buf) {
                Ok(0) => {
                    c.read_closed = true;
                    break;
                }
                Ok(n) => {
                    let drained = n < buf.len();
                    c.inbuf.push(&buf[..n]);
                    while let Some(l) = c.inbuf.next_line() {
                        let req = chomp(&l);
                        if req.len() > max_line {
                            input.too_long = Some((req.len(), false));
                            break;
                        }
                        input.lines.push(req.to_vec());
                    }
                    if input.too_long.is_none() && c.inbuf.partial_len() > max_line {
                        input.too_long = Some((c.inbuf.partial_len(), true));
                    }
                    // A short read emptied the socket: the next would only say EAGAIN.
                    if input.too_long.is_some() || drained {
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
                Err(_) => {
                    // EPIPE/ECONNRESET: the client left; we live on.
                    self.map.remove(&id);
                    return;
                }
            }
        }
    }

    /// Close a client that will neither send nor receive anything more.
    pub fn close_if_done(&mut self, id: ClientId) {
        if let Some(c) = self.map.get(&id) {
            if (c.read_closed || c.refused) && c.pending == 0 && c.out.is_empty() {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(clients: &mut Clients) -> (ClientId, UnixStream) {
        let dir = std::env::temp_dir().join(format!(
            "lonc-clients-{}-{}",
            std::process::id(),
            clients.next
        ));
        let _ = std::fs::remove_file(&dir);
        let l = UnixListener::bind(&dir).unwrap();
        let peer = UnixStream::connect(&dir).unwrap();
        l.set_nonblocking(true).unwrap();
        assert!(matches!(clients.accept_from(&l), Accepted::Done(1)));
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
    }
}
