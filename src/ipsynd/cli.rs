//! The commands that talk to a running ipsynd: `ipsynd -s [--json]` (a fresh status: USR1,
//! then the status file the daemon writes after it), `ipsynd -f [CLIENT]` and
//! `ipsynd -k CLIENT` (a request file and USR1, see `ctl.rs`). None of them touches the
//! queue, the flags or the status itself: the daemon does the work, or nothing happens.
//!
//! Exit codes follow LSB `status`: 0 running (the request was done), 1 not running but its
//! pid file names a dead process, 3 not running, 4 no answer in time; a request the daemon
//! refused exits 1, a request that cannot be written 111.

use std::fs;
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use nix::fcntl::{Flock, FlockArg};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::ctl::{self, Answer, Request};
use super::daemon::{Paths, EXIT_SYSTEM};
use super::queueview;
use super::status::{self, Doc};
use crate::sys::fsutil::{pid_alive, process_name};
use crate::sys::stdio::Out;

pub const EXIT_RUNNING: i32 = 0;
pub const EXIT_DEAD: i32 = 1;
pub const EXIT_NOT_RUNNING: i32 = 3;
pub const EXIT_NO_ANSWER: i32 = 4;
/// `-f`/`-k`: the daemon refused the request (no such record, nothing running).
pub const EXIT_REFUSED: i32 = 1;

/// How long a command waits for the daemon's answer or fresh status.
pub const ANSWER_WAIT: Duration = Duration::from_secs(10);

/// Whether `pid` is a live (not zombie: `pid_alive` says so) ipsynd.
fn live_ipsynd(pid: i32) -> bool {
    pid_alive(pid) && process_name(pid).is_some_and(|n| n.starts_with("ipsynd"))
}

/// Whether some process holds the pid file's lock (the daemon keeps it while it runs; a
/// dead one, zombie or not, has released it, unless a child it forked has not yet exec'd).
fn pidfile_locked(path: &Path) -> bool {
    let Ok(f) = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
    else {
        return false;
    };
    match Flock::lock(f, FlockArg::LockSharedNonblock) {
        Ok(_lock) => false,
        Err((_, e)) => e == nix::errno::Errno::EWOULDBLOCK,
    }
}

/// The running daemon's pid, or the exit code and message saying it does not run.
pub fn running_pid(paths: &Paths) -> Result<i32, (i32, String)> {
    let pidfile = &paths.pidfile;
    let text = match fs::read_to_string(pidfile) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err((EXIT_NOT_RUNNING, "ipsynd is not running".into()))
        }
        Err(e) => {
            return Err((
                EXIT_NO_ANSWER,
                format!("cannot read {}: {e}", pidfile.display()),
            ))
        }
    };
    let Ok(pid) = text.trim().parse::<i32>() else {
        return Err((EXIT_NOT_RUNNING, "ipsynd is not running".into()));
    };
    // Both: the lock alone could be held for a moment by a child between its fork and its
    // exec after the daemon died (kill -9), and the pid alone could have been reused by
    // another ipsynd (on another root).
    if pid > 0 && live_ipsynd(pid) && pidfile_locked(pidfile) {
        return Ok(pid);
    }
    Err((
        EXIT_DEAD,
        format!(
            "ipsynd is not running, but {} names pid {pid}",
            pidfile.display()
        ),
    ))
}

/// Poll `f` every 20 ms until it gives a value or [`ANSWER_WAIT`] passes.
fn wait_for<T>(mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + ANSWER_WAIT;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn print_doc(doc: &Doc, json: bool) {
    let text = if json {
        serde_json::to_string_pretty(doc).unwrap_or_default() + "\n"
    } else {
        let now = crate::sys::clock::epoch_secs(SystemTime::now());
        let today = chrono::Local::now().format("%Y-%m-%d").to_string();
        queueview::render(doc, now, &today)
    };
    // A reader that went away (`| head -0`) is no error of ours.
    Out::stdout().text(&text);
}

/// `ipsynd -s [--json]`.
pub fn status(root: &Path, json: bool) -> i32 {
    let paths = Paths::new(root);
    let pid = match running_pid(&paths) {
        Ok(pid) => pid,
        Err((code, msg)) => {
            let last = status::read_json(&paths.logsyn);
            match (&last, json) {
                (Some(doc), true) => print_doc(doc, true),
                (Some(doc), false) if doc.stopped.is_some() => {
                    let at = doc.stopped.as_deref().unwrap_or("");
                    Out::stdout().text(&format!("{msg} (pid {} stopped {at})\n", doc.pid));
                }
                _ => {
                    Out::stdout().text(&format!("{msg}\n"));
                }
            }
            return code;
        }
    };
    let seen = status::read_json(&paths.logsyn)
        .filter(|d| d.pid == pid as u32)
        .map_or(0, |d| d.serial);
    if let Err(e) = kill(Pid::from_raw(pid), Signal::SIGUSR1) {
        Out::stderr().text(&format!("ipsynd: cannot signal pid {pid}: {e}\n"));
        return EXIT_NO_ANSWER;
    }
    let fresh = wait_for(|| {
        status::read_json(&paths.logsyn).filter(|d| d.pid == pid as u32 && d.serial > seen)
    });
    match fresh {
        Some(doc) => {
            print_doc(&doc, json);
            EXIT_RUNNING
        }
        None => {
            Out::stderr().text(&format!(
                "ipsynd: pid {pid} wrote no status within {}s\n",
                ANSWER_WAIT.as_secs()
            ));
            EXIT_NO_ANSWER
        }
    }
}

/// `ipsynd -f [CLIENT]`, `ipsynd -k CLIENT`.
pub fn request(root: &Path, req: &Request) -> i32 {
    let paths = Paths::new(root);
    let pid = match running_pid(&paths) {
        Ok(pid) => pid,
        Err((code, msg)) => {
            Out::stderr().text(&format!("{msg}\n"));
            return code;
        }
    };
    let id = match ctl::send(&paths.ctl, req) {
        Ok(id) => id,
        Err(e) => {
            Out::stderr().text(&format!(
                "ipsynd: cannot write the request into {}: {e} (only ipsynd's user or root can)\n",
                paths.ctl.display()
            ));
            return EXIT_SYSTEM;
        }
    };
    if let Err(e) = kill(Pid::from_raw(pid), Signal::SIGUSR1) {
        ctl::withdraw(&paths.ctl, &id);
        Out::stderr().text(&format!("ipsynd: cannot signal pid {pid}: {e}\n"));
        return EXIT_NO_ANSWER;
    }
    match wait_for(|| ctl::take_answer(&paths.ctl, &id)) {
        Some(Answer::Done(m)) => {
            Out::stdout().text(&format!("ipsynd: {m}\n"));
            EXIT_RUNNING
        }
        Some(Answer::Refused(m)) => {
            Out::stderr().text(&format!("ipsynd: {m}\n"));
            EXIT_REFUSED
        }
        None => {
            ctl::withdraw(&paths.ctl, &id);
            Out::stderr().text(&format!(
                "ipsynd: no answer from pid {pid} within {}s\n",
                ANSWER_WAIT.as_secs()
            ));
            EXIT_NO_ANSWER
        }
    }
}
