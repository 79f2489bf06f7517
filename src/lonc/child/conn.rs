//! One TCP link to the peer's lond and everything that belongs to it: the socket, the bytes
//! read and not yet taken as lines, the bytes not yet written, the cipher, where the link
//! stands (handshake, delayed replay, free, a request in flight), its deadline, the pong pause
//! and when it was last used. Dropping a `Conn` closes the link; nothing about a link lives
//! outside it, so replacing one is one assignment.
//!
//! I/O here never calls back: a failed write or read is returned to the caller, which decides
//! what the loss means (see `link`).

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Instant;

use socket2::Socket;

use crate::lonc::cipher::LineCipher;
use crate::lonc::clients::ClientId;
use crate::lonc::delayed::Replay;
use crate::lonc::handshake::Phase as Hs;
use crate::lonc::linebuf::{LineBuf, OutBuf};
use crate::lonc::log::err_text;
use crate::lonc::netconn;

/// A request sent on a link and waiting for its answer.
pub struct InFlight {
    pub cid: ClientId,
    pub request: Vec<u8>,
}

/// Where one link stands.
pub enum Phase {
    /// Connecting (`Hs::Connecting`) or in lond's handshake.
    Handshake(Hs),
    /// The first link replays delayed messages before it serves.
    Delayed(Replay),
    /// Free for the next request.
    Ready,
    /// A request is out.
    Busy(InFlight),
}

pub struct Conn {
    /// Which link of the child: 0 is the first, persistent one.
    pub slot: usize,
    /// Never reused within the child: poll results name the connection they are for.
    pub serial: u64,
    sock: Socket,
    inbuf: LineBuf,
    out: OutBuf,
    pub cipher: Option<LineCipher>,
    pub phase: Phase,
    /// The end of the current wait: handshake (`loncInitTimeout`), a delayed answer, a reply.
    pub deadline: Option<Instant>,
    /// The end of the pause before `pong`.
    pub pong_at: Option<Instant>,
    /// When the link last became free (for `loncLinkIdle`).
    pub idle_since: Instant,
    /// Set once the link is found lost: nothing more is read from it before it is dropped.
    pub down: bool,
    scratch: Vec<u8>,
}

impl Conn {
    /// Start connecting; `Ok((conn, true))` when the connect completed at once.
    pub fn open(
        slot: usize,
        serial: u64,
        addr: SocketAddr,
        deadline: Instant,
        now: Instant,
    ) -> io::Result<(Conn, bool)> {
        let (sock, done) = netconn::start_connect(addr)?;
        Ok((
            Conn {
                slot,
                serial,
                sock,
                // Its capacity kept between answers (up to a size that a big answer exceeds).
                inbuf: LineBuf::keeping(64 * 1024),
                out: OutBuf::new(),
                cipher: None,
                phase: Phase::Handshake(Hs::Connecting),
                deadline: Some(deadline),
                pong_at: None,
                idle_since: now,
                down: false,
                scratch: vec![0; 8192],
            },
            done,
        ))
    }

    pub fn fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }

    /// The TCP connect was started and has not completed yet.
    pub fn connecting(&self) -> bool {
        matches!(self.phase, Phase::Handshake(Hs::Connecting))
    }

    /// Still connecting or in the handshake.
    pub fn opening(&self) -> bool {
        matches!(self.phase, Phase::Handshake(_))
    }

    pub fn ready(&self) -> bool {
        matches!(self.phase, Phase::Ready)
    }

    /// A request or a delayed message is out and its answer not yet back.
    pub fn in_flight(&self) -> bool {
        match &self.phase {
            Phase::Busy(_) => true,
            Phase::Delayed(r) => r.waiting(),
            _ => false,
        }
    }

    /// The client whose request is out on this link.
    pub fn client(&self) -> Option<ClientId> {
        match &self.phase {
            Phase::Busy(f) => Some(f.cid),
            _ => None,
        }
    }

    /// Poll for writability too: connecting, or bytes wait.
    pub fn wants_write(&self) -> bool {
        self.connecting() || !self.out.is_empty()
    }

    /// The connect's outcome, once the socket polled ready.
    pub fn finish_connect(&self) -> io::Result<()> {
        netconn::finish_connect(&self.sock)
    }

    /// Queue one line (a newline added if it has none).
    pub fn queue_line(&mut self, bytes: &[u8]) {
        self.out.extend(bytes);
        if !bytes.ends_with(b"\n") {
            self.out.extend(b"\n");
        }
    }

    /// Write as much as the socket takes; `Err(reason)` when the link failed.
    pub fn flush(&mut self) -> Result<(), String> {
        while !self.out.is_empty() {
            match self.sock.write(self.out.pending()) {
                Ok(n) => self.out.consume(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(err_text(&e)),
            }
        }
        Ok(())
    }

    /// Read what lond sent: at most 64 reads of 8 KiB (512 KiB) per wake-up, so one chatty
    /// peer cannot starve the clients. `Err(reason)` if the link ended (lines read before the
    /// end are still there to take).
    pub fn read(&mut self) -> Result<(), String> {
        // The link's own buffer: zeroed once when the link opened, not per read.
        let buf = &mut self.scratch[..];
        for _ in 0..64 {
            match self.sock.read(buf) {
                Ok(0) => return Err("closed by peer".into()),
                Ok(n) => {
                    self.inbuf.push(&buf[..n]);
                    // A short read emptied the socket: the next would only say EAGAIN.
                    if n < buf.len() {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(err_text(&e)),
            }
        }
        Ok(())
    }

    /// The next complete line read, newline included, into `line`; false when none is.
    pub fn next_line_into(&mut self, line: &mut Vec<u8>) -> bool {
        self.inbuf.next_line_into(line)
    }

    /// Bytes of a line still without its newline.
    pub fn partial_len(&self) -> usize {
        self.inbuf.partial_len()
    }

    /// Forget what was read (an over-long answer is not kept while the link closes).
    pub fn clear_input(&mut self) {
        self.inbuf.clear();
    }
}
