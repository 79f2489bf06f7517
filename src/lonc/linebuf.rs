//! Newline framing for byte streams (Unix clients and the TCP link), pure and I/O-free.
//!
//! A line is everything up to and including `\n`; every other byte (1..255, `\r`, NUL) is
//! data and passes unchanged. A partial line stays buffered until its newline arrives. An
//! idle buffer holds no allocation, so thousands of idle clients cost almost nothing.

/// Bytes received but not yet returned as complete lines.
#[derive(Debug, Default)]
pub struct LineBuf {
    buf: Vec<u8>,
    /// Bytes at the start of `buf` already searched for a newline (avoids rescanning a long
    /// partial line on every read).
    scanned: usize,
}

impl LineBuf {
    pub fn new() -> LineBuf {
        LineBuf::default()
    }

    /// Append freshly read bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete line, including its `\n`.
    pub fn next_line(&mut self) -> Option<Vec<u8>> {
        let pos = self.buf[self.scanned..].iter().position(|&b| b == b'\n');
        match pos {
            Some(p) => {
                let end = self.scanned + p + 1;
                let rest = self.buf.split_off(end);
                let line = std::mem::replace(&mut self.buf, rest);
                self.scanned = 0;
                if self.buf.is_empty() {
                    self.buf = Vec::new(); // give the capacity back while idle
                }
                Some(line)
            }
            None => {
                self.scanned = self.buf.len();
                None
            }
        }
    }

    /// Length of the buffered partial line (call after `next_line` returned `None`).
    pub fn partial_len(&self) -> usize {
        self.buf.len()
    }

    /// Drop everything buffered.
    pub fn clear(&mut self) {
        self.buf = Vec::new();
        self.scanned = 0;
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
    fn idle_buffer_has_no_capacity() {
        let mut b = LineBuf::new();
        b.push(b"abc\n");
        b.next_line().unwrap();
        assert_eq!(b.buf.capacity(), 0);
    }
}
