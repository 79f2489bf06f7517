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

/// Milliseconds from `now` to `deadline` for `poll` (rounded up; 0 if passed, -1 = forever),
/// in integer arithmetic: a loop that already read the clock passes that reading.
pub fn timeout_ms(deadline: Option<Instant>, now: Instant) -> i32 {
    let Some(d) = deadline else {
        return -1;
    };
    let left = d.saturating_duration_since(now);
    let ms = left
        .as_secs()
        .saturating_mul(1000)
        .saturating_add(u64::from(left.subsec_nanos().div_ceil(1_000_000)));
    ms.min(i32::MAX as u64) as i32
}

/// [`wait`] on a caller-owned array of raw `pollfd`s: a loop that keeps one array and refills
/// it in place allocates nothing per wake-up.
pub fn wait_raw(fds: &mut [libc::pollfd], deadline: Option<Instant>) -> io::Result<usize> {
    wait_raw_ms(fds, i32::from(timeout_until(deadline)))
}

/// [`wait_raw`] with the timeout in milliseconds (-1 = forever), see [`timeout_ms`].
pub fn wait_raw_ms(fds: &mut [libc::pollfd], ms: i32) -> io::Result<usize> {
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
    fn timeout_ms_rounds_up_and_never_wakes_early() {
        let now = Instant::now();
        assert_eq!(timeout_ms(None, now), -1);
        assert_eq!(timeout_ms(Some(now), now), 0);
        assert_eq!(timeout_ms(Some(now - Duration::from_secs(1)), now), 0);
        assert_eq!(timeout_ms(Some(now + Duration::from_micros(1)), now), 1);
        assert_eq!(
            timeout_ms(Some(now + Duration::from_millis(1500)), now),
            1500
        );
        assert_eq!(
            timeout_ms(Some(now + Duration::from_micros(2_000_001)), now),
            2001
        );
        let far = now + Duration::from_secs(100 * 24 * 3600);
        assert_eq!(timeout_ms(Some(far), now), i32::MAX);
    }

    #[test]
    fn past_deadline_is_zero_timeout() {
        let past = Instant::now() - Duration::from_secs(1);
        assert_eq!(timeout_until(Some(past)), PollTimeout::ZERO);
        assert_eq!(timeout_until(None), PollTimeout::NONE);
    }
}
