//! The system-wide monotonic clock in nanoseconds: the same time base in every process, so
//! stamps taken in different processes (a record's creator, the transmitter it starts) can be
//! subtracted.

/// CLOCK_MONOTONIC now, in nanoseconds.
pub fn mono_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec we own; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

#[cfg(test)]
mod tests {
    #[test]
    fn never_goes_back() {
        let a = super::mono_ns();
        let b = super::mono_ns();
        assert!(b >= a && a > 0);
    }
}
