//! The one reaping loop: collect every exited child without blocking.

use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitKind {
    /// `exit(code)`.
    Code(i32),
    /// Killed by this signal number.
    Signal(i32),
}

impl std::fmt::Display for ExitKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitKind::Code(c) => write!(f, "exit status {c}"),
            ExitKind::Signal(s) => write!(f, "signal {s}"),
        }
    }
}

/// Reap all children that have exited so far; never blocks.
pub fn reap_all() -> Vec<(Pid, ExitKind)> {
    let mut out = Vec::new();
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) => out.push((pid, ExitKind::Code(code))),
            Ok(WaitStatus::Signaled(pid, sig, _)) => out.push((pid, ExitKind::Signal(sig as i32))),
            Ok(WaitStatus::StillAlive) => break,
            Ok(_) => continue, // stopped/continued: not an exit
            Err(Errno::EINTR) => continue,
            Err(_) => break, // ECHILD: nobody left
        }
    }
    out
}
