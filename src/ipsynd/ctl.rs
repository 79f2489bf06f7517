//! Control requests to the running ipsynd (`ipsynd -f [CLIENT]`, `ipsynd -k CLIENT`): the
//! command writes a request file into `x/ctl`, a directory only ipsynd's user (and root) can
//! write, and sends SIGUSR1; the daemon acts on it, deletes it and answers in a file beside
//! it, which the command reads and deletes.
//!
//! Files plus a signal rather than a control socket: who may send a command is decided by
//! the directory's owner and mode alone (the same StrictModes check as the other
//! directories, no peer-credential code), the daemon's loop gains no listening socket and no
//! connection state (it already wakes on USR1 and rescans on a timer, which also finds a
//! request whose signal was lost), and an operator can see and remove a request with `ls`
//! and `rm`. Nothing edits the queue or the flags behind the daemon's back: it does all the
//! work itself, in its own loop.
//!
//! Request: one line, `force`, `force CLIENT` or `kill CLIENT`, in `req.<id>` (written as a
//! dot file, then renamed, so the daemon never reads half of one). Answer: one line,
//! `ok <message>` or `error <message>`, in `ans.<id>`. `<id>` is `<pid>.<nanoseconds>` of
//! the sender.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::sys::fsutil::atomic_write;

/// The request directory, below the FIP root.
pub const DIR: &str = "x/ctl";

/// What a command asks the daemon to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Retry now, without waiting `timeout:`: every waiting record, or the client's.
    Force(Option<String>),
    /// End the client's running attempt as maxtime would.
    Kill(String),
}

impl Request {
    /// Parse one request line; client names are uppercased.
    pub fn parse(text: &str) -> Result<Request, String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        match words.as_slice() {
            ["force"] => Ok(Request::Force(None)),
            ["force", c] => Ok(Request::Force(Some(c.to_ascii_uppercase()))),
            ["kill", c] => Ok(Request::Kill(c.to_ascii_uppercase())),
            _ => Err(format!(
                "not a request: {:?}",
                text.chars().take(80).collect::<String>()
            )),
        }
    }
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Request::Force(None) => write!(f, "force"),
            Request::Force(Some(c)) => write!(f, "force {c}"),
            Request::Kill(c) => write!(f, "kill {c}"),
        }
    }
}

/// The daemon's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Done(String),
    Refused(String),
}

impl Answer {
    fn encode(&self) -> String {
        match self {
            Answer::Done(m) => format!("ok {m}\n"),
            Answer::Refused(m) => format!("error {m}\n"),
        }
    }

    fn parse(text: &str) -> Answer {
        let line = text.lines().next().unwrap_or("");
        match line.split_once(' ') {
            Some(("ok", m)) => Answer::Done(m.to_string()),
            Some(("error", m)) => Answer::Refused(m.to_string()),
            _ if line == "ok" => Answer::Done(String::new()),
            _ => Answer::Refused(format!("unreadable answer {line:?}")),
        }
    }
}

/// The longest request read (a request is one short line).
const MAX_REQUEST: u64 = 1024;

/// Command side: write `req` into `dir`; returns the id to wait for the answer with.
pub fn send(dir: &Path, req: &Request) -> io::Result<String> {
    let nanos = crate::sys::clock::epoch_nanos(SystemTime::now());
    let id = format!("{}.{nanos}", std::process::id());
    let tmp = dir.join(format!(".req.{id}"));
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)?;
    f.write_all(format!("{req}\n").as_bytes())?;
    drop(f);
    fs::rename(&tmp, dir.join(format!("req.{id}"))).inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })?;
    Ok(id)
}

/// Command side: the answer to request `id`, if it is there (and then deleted).
pub fn take_answer(dir: &Path, id: &str) -> Option<Answer> {
    let path = dir.join(format!("ans.{id}"));
    let text = fs::read_to_string(&path).ok()?;
    let _ = fs::remove_file(&path);
    Some(Answer::parse(&text))
}

/// Command side: withdraw a request nobody answered (it stays only if already taken).
pub fn withdraw(dir: &Path, id: &str) {
    let _ = fs::remove_file(dir.join(format!("req.{id}")));
}

/// Daemon side: take every waiting request, oldest name first (each file is deleted once
/// read). A request that cannot be read comes back as its error.
pub fn take_requests(dir: &Path) -> Vec<(String, Result<Request, String>)> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut ids: Vec<String> = rd
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter_map(|n| n.strip_prefix("req.").map(String::from))
        .collect();
    ids.sort();
    ids.into_iter()
        .map(|id| {
            let path = dir.join(format!("req.{id}"));
            let read = OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
                .open(&path)
                .and_then(|f| {
                    let mut text = String::new();
                    f.take(MAX_REQUEST).read_to_string(&mut text)?;
                    Ok(text)
                });
            let _ = fs::remove_file(&path);
            let req = read
                .map_err(|e| format!("unreadable request: {e}"))
                .and_then(|t| Request::parse(&t));
            (id, req)
        })
        .collect()
}

/// Daemon side: answer request `id`.
pub fn answer(dir: &Path, id: &str, ans: &Answer) -> io::Result<()> {
    atomic_write(&dir.join(format!("ans.{id}")), ans.encode().as_bytes())
}

/// Daemon side: remove answers (and half-written requests) older than `age`: their
/// command gave up waiting or was killed.
pub fn sweep(dir: &Path, age: Duration) {
    let Ok(rd) = fs::read_dir(dir) else {
        return;
    };
    let now = SystemTime::now();
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !(name.starts_with("ans.") || name.starts_with(".req.")) {
            continue;
        }
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|d| d > age);
        if old {
            let _ = fs::remove_file(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_and_print_alike() {
        for r in [
            Request::Force(None),
            Request::Force(Some("JUKEBOX".into())),
            Request::Kill("JUKEBOX".into()),
        ] {
            assert_eq!(Request::parse(&format!("{r}\n")), Ok(r));
        }
        assert_eq!(
            Request::parse("kill jukebox"),
            Ok(Request::Kill("JUKEBOX".into()))
        );
        assert!(Request::parse("kill").is_err());
        assert!(Request::parse("rm -rf /").is_err());
        assert!(Request::parse("").is_err());
    }

    #[test]
    fn a_request_goes_and_its_answer_comes_back() {
        let dir = std::env::temp_dir().join(format!("ipsynd-ctl-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let id = send(&dir, &Request::Kill("A".into())).unwrap();
        fs::write(dir.join("req.zzz"), "nonsense\n").unwrap();
        let got = take_requests(&dir);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], (id.clone(), Ok(Request::Kill("A".into()))));
        assert!(got[1].1.is_err());
        assert!(take_requests(&dir).is_empty(), "each request is taken once");
        assert_eq!(take_answer(&dir, &id), None);
        answer(
            &dir,
            &id,
            &Answer::Refused("A has no running attempt".into()),
        )
        .unwrap();
        assert_eq!(
            take_answer(&dir, &id),
            Some(Answer::Refused("A has no running attempt".into()))
        );
        assert_eq!(
            take_answer(&dir, &id),
            None,
            "the answer is deleted once read"
        );
        answer(&dir, "old", &Answer::Done("x".into())).unwrap();
        sweep(&dir, Duration::from_secs(3600));
        assert!(dir.join("ans.old").exists());
        sweep(&dir, Duration::ZERO);
        std::thread::sleep(Duration::from_millis(20));
        sweep(&dir, Duration::ZERO);
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
        fs::remove_dir_all(&dir).unwrap();
    }
}
