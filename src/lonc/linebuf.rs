//! Newline framing for byte streams (Unix clients and the TCP link) and the matching output
//! buffer, pure and I/O-free.
//!
//! A line is everything up to and including `\n`; every other byte (1..255, `\r`, NUL) is
//! data and passes unchanged. A partial line stays buffered until its newline arrives. An
//! idle buffer holds no allocation, so thousands of idle clients cost almost nothing.

/// Bytes received but not yet returned as complete lines.
///
/// Lines are taken from the front by moving a start offset, so a read that brings many short
/// lines costs one copy per line, not one copy of the rest of the buffer per line; the consumed
/// front is dropped once no complete line is left.
#[derive(Debug, Default)]
pub struct LineBuf {
    buf: Vec<u8>,
    /// Bytes before this offset were already returned as lines.
    start: usize,
    /// Bytes before this offset were already searched for a newline (avoids rescanning a long
    /// partial line on every read).
    scanned: usize,
    /// Capacity kept when [`LineBuf::next_line_into`] empties the buffer (0: none, so an idle
    /// buffer holds no allocation).
    keep: usize,
}

impl LineBuf {
    pub fn new() -> LineBuf {
        LineBuf::default()
    }

    /// A buffer that keeps up to `keep` bytes of capacity when emptied by
    /// [`LineBuf::next_line_into`]: for a busy stream (a TCP link) that would otherwise
    /// allocate and free once per line.
    pub fn keeping(keep: usize) -> LineBuf {
        LineBuf {
            keep,
            ..LineBuf::default()
        }
    }

    /// Append freshly read bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.compact();
        self.buf.extend_from_slice(data);
    }

    /// The next complete line, including its `\n`.
    pub fn next_line(&mut self) -> Option<Vec<u8>> {
        let mut line = Vec::new();
        self.next_line_into(&mut line).then_some(line)
    }

    /// The next complete line, including its `\n`, copied into `out` (its old contents
    /// replaced): a caller that keeps `out` allocates nothing per line. False when no complete
    /// line is buffered.
    pub fn next_line_into(&mut self, out: &mut Vec<u8>) -> bool {
        let from = self.scanned.max(self.start);
        match self.buf[from..].iter().position(|&b| b == b'\n') {
            Some(p) => {
                let end = from + p + 1;
                out.clear();
                out.extend_from_slice(&self.buf[self.start..end]);
                self.start = end;
                self.scanned = end;
                if self.start == self.buf.len() {
                    self.empty();
                }
                true
            }
            None => {
                self.scanned = self.buf.len();
                self.compact();
                false
            }
        }
    }

    /// Hand `take` the complete lines buffered and then those in `data` (newline included),
    /// one by one, until it declines one (returns false): that line and everything after it
    /// stay buffered. True when every complete line was taken. With nothing buffered (the
    /// usual case: a whole request in one read) the lines are handed out of `data` itself and
    /// only a partial line left at its end is copied into the buffer.
    pub fn feed(&mut self, data: &[u8], mut take: impl FnMut(&[u8]) -> bool) -> bool {
        if data.is_empty() && self.start == self.buf.len() {
            return true;
        }
        if self.start < self.buf.len() || data.is_empty() {
            self.push(data);
            loop {
                let from = self.scanned.max(self.start);
                let Some(p) = self.buf[from..].iter().position(|&b| b == b'\n') else {
                    self.scanned = self.buf.len();
                    self.compact();
                    return true;
                };
                let end = from + p + 1;
                if !take(&self.buf[self.start..end]) {
                    // Searched up to its newline already; the next call starts from there.
                    self.scanned = end - 1;
                    return false;
                }
                self.start = end;
                self.scanned = end;
                if self.start == self.buf.len() {
                    self.empty();
                    return true;
                }
            }
        }
        let mut pos = 0;
        while let Some(p) = data[pos..].iter().position(|&b| b == b'\n') {
            let end = pos + p + 1;
            if !take(&data[pos..end]) {
                self.clear();
                self.buf.extend_from_slice(&data[pos..]);
                self.scanned = p;
                return false;
            }
            pos = end;
        }
        if pos < data.len() {
            self.clear();
            self.buf.extend_from_slice(&data[pos..]);
            self.scanned = self.buf.len();
        }
        true
    }

    /// Everything taken: the buffer is empty again, its capacity given back (while idle)
    /// beyond `keep`.
    fn empty(&mut self) {
        if self.buf.capacity() > self.keep {
            self.clear();
        } else {
            self.buf.clear();
            self.start = 0;
            self.scanned = 0;
        }
    }

    /// Drop the consumed front (one move of the partial line that is left).
    fn compact(&mut self) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.scanned -= self.start;
            self.start = 0;
        }
    }

    /// Length of the buffered partial line (call after `next_line` returned `None`).
    pub fn partial_len(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Drop everything buffered.
    pub fn clear(&mut self) {
        self.buf = Vec::new();
        self.start = 0;
        self.scanned = 0;
    }
}

/// Bytes waiting to be written to a non-blocking socket. What a partial write took is skipped
/// by an offset, not moved, so a big answer written in many pieces is never copied again per
/// piece; the sent front is dropped when it is at least half the buffer.
#[derive(Debug, Default)]
pub struct OutBuf {
    buf: Vec<u8>,
    sent: usize,
}

impl OutBuf {
    pub fn new() -> OutBuf {
        OutBuf::default()
    }

    /// Queue bytes behind what is waiting.
    pub fn extend(&mut self, data: &[u8]) {
        if self.sent > 0 && self.sent >= self.buf.len() / 2 {
            self.buf.drain(..self.sent);
            self.sent = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// What still has to be written.
    pub fn pending(&self) -> &[u8] {
        &self.buf[self.sent..]
    }

    pub fn is_empty(&self) -> bool {
        self.sent == self.buf.len()
    }

    /// `n` bytes of [`OutBuf::pending`] were written.
    pub fn consume(&mut self, n: usize) {
        self.sent = (self.sent + n).min(self.buf.len());
        if self.is_empty() {
            self.buf.clear();
            self.sent = 0;
            if self.buf.capacity() > 64 * 1024 {
                self.buf = Vec::new(); // a big answer went out: give the memory back
            }
        }
    }

    pub fn clear(&mut self) {
        self.buf = Vec::new();
        self.sent = 0;
    }
}

/// `line` without its trailing `\n` (Perl's `chomp`: only `\n`, a `\r` stays).
pub fn chomp(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\n").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines_and_keeps_partial() {
        let mut b = LineBuf::new();
        b.push(b"one\ntw");
        assert_eq!(b.next_line().unwrap(), b"one\n");
        assert_eq!(b.next_line(), None);
        assert_eq!(b.partial_len(), 2);
        b.push(b"o\n\nthree");
        assert_eq!(b.next_line().unwrap(), b"two\n");
        assert_eq!(b.next_line().unwrap(), b"\n");
        assert_eq!(b.next_line(), None);
        assert_eq!(b.partial_len(), 5);
    }

    #[test]
    fn every_byte_but_newline_is_data() {
        let mut b = LineBuf::new();
        let all: Vec<u8> = (0u8..=255).filter(|&c| c != b'\n').collect();
        let mut input = all.clone();
        input.push(b'\n');
        b.push(&input);
        let line = b.next_line().unwrap();
        assert_eq!(chomp(&line), &all[..]);
    }

    #[test]
    fn chomp_only_newline() {
        assert_eq!(chomp(b"ok\r\n"), b"ok\r");
        assert_eq!(chomp(b"ok"), b"ok");
        assert_eq!(chomp(b"\n"), b"");
    }

    #[test]
    fn many_lines_in_one_read_are_not_copied_around() {
        let mut b = LineBuf::new();
        b.push(b"a\nbb\nccc\npart");
        let base = b.buf.as_ptr();
        assert_eq!(b.next_line().unwrap(), b"a\n");
        assert_eq!(b.next_line().unwrap(), b"bb\n");
        // The rest was not moved or reallocated to take a line off the front.
        assert_eq!(b.buf.as_ptr(), base);
        assert_eq!(b.start, 5);
        assert_eq!(b.next_line().unwrap(), b"ccc\n");
        assert_eq!(b.next_line(), None);
        assert_eq!(b.partial_len(), 4);
        b.push(b"ial\n");
        assert_eq!(b.next_line().unwrap(), b"partial\n");
    }

    #[test]
    fn out_buffer_skips_what_was_written() {
        let mut o = OutBuf::new();
        assert!(o.is_empty());
        o.extend(&[b'x'; 1000]);
        let base = o.pending().as_ptr();
        o.consume(100);
        // A partial write moves nothing: the rest is where it was.
        assert_eq!(o.pending().as_ptr(), unsafe { base.add(100) });
        assert_eq!(o.pending().len(), 900);
        o.extend(b"y\n");
        assert_eq!(o.pending().len(), 902);
        o.consume(600);
        o.extend(b"z"); // more than half sent: the front goes now
        assert_eq!(o.pending().len(), 303);
        assert!(o.pending().ends_with(b"y\nz"));
        o.consume(303);
        assert!(o.is_empty());
        assert_eq!(o.pending(), b"");
    }

    /// `feed` with a taker that accepts at most `n` lines, collecting them.
    fn feed_upto(b: &mut LineBuf, data: &[u8], n: usize, got: &mut Vec<Vec<u8>>) -> bool {
        b.feed(data, |l| {
            if got.len() == n {
                return false;
            }
            got.push(l.to_vec());
            true
        })
    }

    #[test]
    fn feed_hands_out_lines_and_keeps_the_partial_one() {
        let mut b = LineBuf::new();
        let mut got = Vec::new();
        assert!(feed_upto(&mut b, b"one\ntw", 9, &mut got));
        assert_eq!(got, vec![b"one\n".to_vec()]);
        assert_eq!(b.partial_len(), 2);
        assert!(feed_upto(&mut b, b"o\n\nthree", 9, &mut got));
        assert_eq!(got[1..], [b"two\n".to_vec(), b"\n".to_vec()]);
        assert_eq!(b.partial_len(), 5);
        assert!(feed_upto(&mut b, b"\n", 9, &mut got));
        assert_eq!(got[3], b"three\n");
        assert_eq!(b.partial_len(), 0);
        assert_eq!(b.buf.capacity(), 0, "an idle buffer holds nothing");
    }

    #[test]
    fn feed_of_whole_lines_into_an_empty_buffer_buffers_nothing() {
        let mut b = LineBuf::new();
        let mut got = Vec::new();
        assert!(feed_upto(&mut b, b"a\nbb\n", 9, &mut got));
        assert_eq!(got, vec![b"a\n".to_vec(), b"bb\n".to_vec()]);
        assert_eq!(b.buf.capacity(), 0);
    }

    #[test]
    fn a_declined_line_and_the_rest_wait_for_the_next_feed() {
        for first in [&b""[..], b"x"] {
            let mut b = LineBuf::new();
            let mut got = Vec::new();
            // With and without a partial line buffered before.
            assert!(feed_upto(&mut b, first, 9, &mut got));
            assert!(!feed_upto(&mut b, b"1\n2\n3\n4", 1, &mut got));
            assert_eq!(got.len(), 1);
            assert!(!feed_upto(&mut b, b"", 2, &mut got), "still declining");
            assert!(feed_upto(&mut b, b"\n", 9, &mut got));
            let mut want = first.to_vec();
            want.extend_from_slice(b"1\n");
            assert_eq!(
                got,
                vec![want, b"2\n".to_vec(), b"3\n".to_vec(), b"4\n".to_vec()]
            );
            assert_eq!(b.partial_len(), 0);
        }
    }

    #[test]
    fn a_kept_buffer_reuses_its_capacity() {
        let mut b = LineBuf::keeping(1024);
        let mut line = Vec::new();
        b.push(b"answer\n");
        assert!(b.next_line_into(&mut line));
        assert_eq!(line, b"answer\n");
        assert!(b.buf.capacity() > 0, "kept for the next line");
        b.push(b"more\n");
        assert!(b.next_line_into(&mut line));
        assert_eq!(line, b"more\n", "the old contents replaced");
        assert!(!b.next_line_into(&mut line));
        b.push(&[b'x'; 2000]);
        b.push(b"\n");
        assert!(b.next_line_into(&mut line));
        assert_eq!(b.buf.capacity(), 0, "a big line's capacity goes back");
    }

    #[test]
    fn idle_buffer_has_no_capacity() {
        let mut b = LineBuf::new();
        b.push(b"abc\n");
        b.next_line().unwrap();
        assert_eq!(b.buf.capacity(), 0);
    }
}
