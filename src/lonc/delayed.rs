//! Delayed (store-and-forward) messages: which files a child replays, what each holds, and
//! the replay itself as a small state machine the child drives (spec §3.2, §7.4).
//!
//! lonnet writes one command per file into `<lonSockDir>/delayed/`, named `...<.hostid>`. The
//! child replays them after every (re)connect in **name order** (the names start with the
//! epoch, so this is oldest first; 1.29 used raw readdir order). Only the suffix is matched,
//! literally (1.29 interpolated the id into a regex unescaped). [`Replay`] decides what to send
//! and what a reply means (perm-log, delete the file, log); the child owns the socket and the
//! deadline.
//!
//! Order, so that no delivered message is unrecorded or sent twice: a message is sent only
//! when its perm-log record can be kept ([`Logger::perm_room`]: written, or queued in memory
//! within the bound while the perm log cannot be written, a full disk say); on its answer
//! the record is made first, then the file deleted. While the bound is reached the replay
//! stops, the rest waits on disk for the next connection, and the log says so.

use std::collections::VecDeque;
use std::fs;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::log::{shown, Logger};

/// Whether a directory entry named `name` is a delayed message for host `id`.
pub fn is_for_host(name: &str, id: &str) -> bool {
    name.len() > id.len() + 1
        && name.ends_with(id)
        && name.as_bytes()[name.len() - id.len() - 1] == b'.'
}

/// The delayed files for `id` in `dir`, sorted by name. A missing directory gives none.
/// Entries of any type are listed: one that is not a regular file (a directory, a FIFO) is
/// found unreadable by [`read_first_line`] and logged, not silently passed over.
pub fn pending_files(dir: &Path, id: &str) -> Vec<PathBuf> {
    let mut names: Vec<String> = match fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| is_for_host(n, id))
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names.into_iter().map(|n| dir.join(n)).collect()
}

/// What a delayed file holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Content {
    /// The first line, without its newline (Perl `chomp`).
    Line(Vec<u8>),
    /// The file is empty (or its first line is).
    Empty,
}

/// Read the first line of a delayed file. Anything but a regular file (after symlinks) is an
/// error; it is opened non-blocking so a FIFO without a writer cannot stall the child. A first
/// line over `max_line` bytes (newline not counted; a request's limit, `loncMaxLine`) is an
/// error too, found after reading at most `max_line + 1` bytes.
pub fn read_first_line(path: &Path, max_line: usize) -> io::Result<Content> {
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    let mut r = BufReader::new(file).take(max_line as u64 + 1);
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line)?;
    if line.last() == Some(&b'\n') {
        line.pop();
    }
    if line.len() > max_line {
        return Err(io::Error::other(format!(
            "first line is over loncMaxLine ({max_line})"
        )));
    }
    if line.is_empty() {
        Ok(Content::Empty)
    } else {
        Ok(Content::Line(line))
    }
}

/// One message sent and waiting for its answer.
struct InFlight {
    path: PathBuf,
    /// The line as read from the file (the perm-log record keeps it, `encrypt:` and all).
    original: Vec<u8>,
    /// The line as sent (encrypted for `encrypt:` lines).
    sent: Vec<u8>,
}

/// The replay of one connection's delayed messages.
pub struct Replay {
    id: String,
    /// `loncMaxLine`: a delayed message is a request and gets the same limit.
    max_line: usize,
    files: VecDeque<PathBuf>,
    current: Option<InFlight>,
}

impl Replay {
    /// The files waiting for host `id` in `dir`, oldest first; lines over `max_line` bytes
    /// are not sent.
    pub fn new(dir: &Path, id: &str, max_line: usize) -> Replay {
        Replay {
            id: id.to_string(),
            max_line,
            files: pending_files(dir, id).into(),
            current: None,
        }
    }

    /// The next line to send (without newline; the caller adds exactly one), or `None` when
    /// every file has been tried. Empty or unreadable files are logged and left in place.
    /// `encrypt` turns the text after `encrypt:` into an `enc:` line.
    pub fn next(
        &mut self,
        log: &mut Logger,
        encrypt: &dyn Fn(&[u8]) -> Vec<u8>,
    ) -> Option<Vec<u8>> {
        if !self.files.is_empty() && !log.perm_room() {
            log.log(&format!(
                "WARNING: {} delayed messages for {} held back: {} perm-log records wait in memory for the perm log to take them",
                self.files.len(),
                self.id,
                log.perm_pending()
            ));
            self.files.clear();
            return None;
        }
        while let Some(path) = self.files.pop_front() {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            log.status(&format!("Sending delayed {} {name}", self.id));
            log.log(&format!("Sending {}", path.display()));
            let line = match read_first_line(&path, self.max_line) {
                Ok(Content::Line(l)) => l,
                Ok(Content::Empty) => {
                    log.log(&format!(
                        "WARNING: Delayed message {} is empty, left in place",
                        path.display()
                    ));
                    continue;
                }
                Err(e) => {
                    log.log(&format!(
                        "WARNING: Cannot read delayed message {}: {e}; left in place",
                        path.display()
                    ));
                    continue;
                }
            };
            let sent = match line.strip_prefix(b"encrypt:") {
                Some(cmd) => encrypt(cmd),
                None => line.clone(),
            };
            self.current = Some(InFlight {
                path,
                original: line,
                sent: sent.clone(),
            });
            return Some(sent);
        }
        None
    }

    /// Whether a message is waiting for its answer.
    pub fn waiting(&self) -> bool {
        self.current.is_some()
    }

    /// The answer (without newline) to the message in flight. A non-empty answer, whatever it
    /// says, means delivered (as 1.29): the file goes, the log and the perm log say so. An
    /// empty answer leaves the file for the next connection.
    pub fn answer(&mut self, answer: &[u8], log: &mut Logger) {
        let Some(msg) = self.current.take() else {
            log.log(&format!(
                "WARNING: Unexpected line from {}: >{}<",
                self.id,
                shown(answer)
            ));
            return;
        };
        if answer.is_empty() {
            log.log(&format!(
                "WARNING: Delayed {} to {}: empty answer, {} kept",
                shown(&msg.sent),
                self.id,
                msg.path.display()
            ));
            return;
        }
        // The record first (kept in memory if the perm log cannot take it now), then the
        // file: a crash in between sends the message again rather than leave it unrecorded.
        log.perm(&format!(
            "S:{}:{}",
            self.id,
            String::from_utf8_lossy(&msg.original)
        ));
        if let Err(e) = fs::remove_file(&msg.path) {
            log.log(&format!(
                "WARNING: Cannot remove {}: {e}",
                msg.path.display()
            ));
        }
        log.log(&format!(
            "Delayed {} to {}: >{}<",
            shown(&msg.sent),
            self.id,
            shown(answer)
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffix_match_is_literal() {
        assert!(is_for_host("1014652091.ping.msul1", "msul1"));
        assert!(!is_for_host("1014652091.ping.xmsul1", "msul1"));
        assert!(!is_for_host("msul1", "msul1"));
        assert!(!is_for_host(".msul1x", "msul1"));
        assert!(is_for_host("1.a.b", "a.b"));
        assert!(
            !is_for_host("1.aXb", "a.b"),
            "a dot in the id is not a wildcard"
        );
    }

    #[test]
    fn files_sorted_and_first_line_read() {
        let dir = std::env::temp_dir().join(format!("lonc-delayed-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("200.b.h1"), "second\nignored\n").unwrap();
        fs::write(dir.join("100.a.h1"), "first").unwrap();
        fs::write(dir.join("150.c.h2"), "other host\n").unwrap();
        fs::write(dir.join("300.d.h1"), "").unwrap();
        let files = pending_files(&dir, "h1");
        let names: Vec<_> = files
            .iter()
            .map(|p| p.file_name().unwrap().to_str().unwrap())
            .collect();
        assert_eq!(names, vec!["100.a.h1", "200.b.h1", "300.d.h1"]);
        assert_eq!(
            read_first_line(&files[0], 100).unwrap(),
            Content::Line(b"first".to_vec())
        );
        assert_eq!(
            read_first_line(&files[1], 100).unwrap(),
            Content::Line(b"second".to_vec())
        );
        assert_eq!(read_first_line(&files[2], 100).unwrap(), Content::Empty);
        fs::create_dir(dir.join("400.dir.h1")).unwrap();
        nix::unistd::mkfifo(
            &dir.join("500.fifo.h1"),
            nix::sys::stat::Mode::from_bits_truncate(0o600),
        )
        .unwrap();
        let files = pending_files(&dir, "h1");
        assert_eq!(files.len(), 5, "{files:?}");
        // The limit counts the line without its newline; only max + 1 bytes are read.
        fs::write(
            dir.join("600.long.h1"),
            format!("{}\n{}", "a".repeat(10), "b".repeat(99)),
        )
        .unwrap();
        let long = dir.join("600.long.h1");
        assert_eq!(
            read_first_line(&long, 10).unwrap(),
            Content::Line(b"aaaaaaaaaa".to_vec())
        );
        let e = read_first_line(&long, 9).unwrap_err();
        assert_eq!(e.to_string(), "first line is over loncMaxLine (9)");
        fs::remove_file(&long).unwrap();
        for odd in &files[3..] {
            let e = read_first_line(odd, 100).unwrap_err();
            assert_eq!(e.to_string(), "not a regular file", "{odd:?}");
        }
        assert!(pending_files(&dir.join("nope"), "h1").is_empty());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn replay_sends_in_order_deletes_on_answer_and_keeps_on_empty() {
        let dir = std::env::temp_dir().join(format!("lonc-replay-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("1.a.h1"), "ping\n").unwrap();
        fs::write(dir.join("2.b.h1"), "encrypt:secret\n").unwrap();
        fs::write(dir.join("3.c.h1"), "\n").unwrap();
        fs::write(dir.join("4.d.h1"), "echo:x\n").unwrap();
        let mut log = Logger::new(dir.join("lonc.log"), dir.join("perm.log"), None);
        let enc = |c: &[u8]| [b"ENC(".as_slice(), c, b")"].concat();
        let mut r = Replay::new(&dir, "h1", 100);
        assert_eq!(r.next(&mut log, &enc).unwrap(), b"ping");
        assert!(r.waiting());
        r.answer(b"h1", &mut log);
        assert!(!dir.join("1.a.h1").exists());
        assert_eq!(r.next(&mut log, &enc).unwrap(), b"ENC(secret)");
        r.answer(b"", &mut log);
        assert!(
            dir.join("2.b.h1").exists(),
            "an empty answer keeps the file"
        );
        // 3.c.h1 is empty: skipped with a warning.
        assert_eq!(r.next(&mut log, &enc).unwrap(), b"echo:x");
        r.answer(b"x", &mut log);
        assert_eq!(r.next(&mut log, &enc), None);
        let text = fs::read_to_string(dir.join("lonc.log")).unwrap();
        assert!(text.contains("Delayed ping to h1: >h1<"), "{text}");
        assert!(
            text.contains("Delayed ENC(secret) to h1: empty answer"),
            "{text}"
        );
        assert!(text.contains("3.c.h1 is empty, left in place"), "{text}");
        let perm = fs::read_to_string(dir.join("perm.log")).unwrap();
        assert!(
            perm.contains(":S:h1:ping:") && perm.contains(":S:h1:echo:x:"),
            "{perm}"
        );
        assert!(!perm.contains("secret"));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_unwritable_perm_log_holds_the_replay_back_at_the_queue_bound() {
        let dir = std::env::temp_dir().join(format!("lonc-replay-full-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("logs")).unwrap();
        for n in 1..=4 {
            fs::write(dir.join(format!("{n}.m.h1")), format!("echo:{n}\n")).unwrap();
        }
        // The perm log's directory is missing: every write fails, as on a full disk.
        let perm = dir.join("gone/perm.log");
        let mut log = Logger::new(dir.join("logs/lonc.log"), perm.clone(), None);
        log.set_perm_limit(2, 1 << 20);
        let enc = |c: &[u8]| c.to_vec();
        let mut r = Replay::new(&dir, "h1", 100);
        for n in 1..=2 {
            assert_eq!(
                r.next(&mut log, &enc).unwrap(),
                format!("echo:{n}").as_bytes()
            );
            r.answer(b"ok", &mut log);
            assert!(
                !dir.join(format!("{n}.m.h1")).exists(),
                "delivered: deleted"
            );
        }
        assert_eq!(log.perm_pending(), 2);
        assert!(log.status_line().contains("(perm log: 2 records pending)"));
        assert_eq!(
            r.next(&mut log, &enc),
            None,
            "the bound holds the rest back"
        );
        assert!(dir.join("3.m.h1").exists() && dir.join("4.m.h1").exists());
        let text = fs::read_to_string(dir.join("logs/lonc.log")).unwrap();
        assert_eq!(text.matches("cannot write").count(), 1, "said once: {text}");
        assert!(
            text.contains("2 delayed messages for h1 held back"),
            "{text}"
        );
        // Space returns: the records are written in order, once, and the replay goes on.
        fs::create_dir_all(dir.join("gone")).unwrap();
        let mut r = Replay::new(&dir, "h1", 100);
        assert_eq!(r.next(&mut log, &enc).unwrap(), b"echo:3");
        assert_eq!(log.perm_pending(), 0);
        r.answer(b"ok", &mut log);
        let recs = fs::read_to_string(&perm).unwrap();
        let order: Vec<_> = recs.lines().map(|l| l.split(':').nth(4).unwrap()).collect();
        assert_eq!(order, ["1", "2", "3"], "{recs}");
        assert!(fs::read_to_string(dir.join("logs/lonc.log"))
            .unwrap()
            .contains("2 records that waited in memory written"));
        fs::remove_dir_all(&dir).unwrap();
    }
}
