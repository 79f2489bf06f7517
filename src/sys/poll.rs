//! `poll(2)` with deadlines instead of alarms: the caller passes the earliest deadline.
//!
//! EINTR is not an error here: it returns as "nothing ready" so the caller re-checks its
//! signal flags and deadlines.

use std::io;
use std::time::Instant;

use nix::errno::Errno;
use nix::poll::{PollFd, PollTimeout};

/// Milliseconds from now to `deadline` (rounded up, so a deadline is never missed by
/// waking 1 ms early), `None` = wait forever.
pub fn timeout_until(deadline: Option<Instant>) -> PollTimeout {
    match deadline {
        None => PollTimeout::NONE,
        Some(d) => {
            let now = Instant::now();
            if d <= now {
                PollTimeout::ZERO
            } else {
                let ms = (d - now).as_micros().div_ceil(1000);
                PollTimeout::try_from(ms.min(i32::MAX as u128) as i32).unwrap_or(PollTimeout::MAX)
            }
        }
    }
}

/// Block until an fd is ready or `deadline` passes. Returns the number of ready fds
/// (0 on timeout or interruption by a signal).
pub fn wait(fds: &mut [PollFd], deadline: Option<Instant>) -> io::Result<usize> {
    match nix::poll::poll(fds, timeout_until(deadline)) {
        Ok(n) => Ok(n as usize),
        Err(Errno::EINTR) => Ok(0),
        Err(e) => Err(io::Error::from(e)),
    }
}

/// [`wait`] on a caller-owned array of raw `pollfd`s: a loop that keeps one array and refills
/// it in place allocates nothing per wake-up.
pub fn wait_raw(fds: &mut [libc::pollfd], deadline: Option<Instant>) -> io::Result<usize> {
    let ms = i32::from(timeout_until(deadline));
    // SAFETY: `fds` is a valid, exclusively borrowed array of `fds.len()` pollfd structs.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    if n >= 0 {
        return Ok(n as usize);
    }
    let e = io::Error::last_os_error();
    if e.kind() == io::ErrorKind::Interrupted {
        Ok(0)
    } else {
        Err(e)
    }
}

/// The earliest of a set of optional deadlines.
pub fn earliest<I: IntoIterator<Item = Option<Instant>>>(deadlines: I) -> Option<Instant> {
    deadlines.into_iter().flatten().min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn earliest_ignores_none() {
        let now = Instant::now();
        let later = now + Duration::from_secs(5);
        assert_eq!(earliest([None, Some(later), Some(now), None]), Some(now));
        assert_eq!(earliest([None, None]), None);
    }

    #[test]
    fn past_deadline_is_zero_timeout() {
        let past = Instant::now() - Duration::from_secs(1);
        assert_eq!(timeout_until(Some(past)), PollTimeout::ZERO);
        assert_eq!(timeout_until(None), PollTimeout::NONE);
    }
}
