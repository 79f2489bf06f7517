//! Wall-clock time since the epoch: whole seconds, the form the status files, the flags
//! and the queue view carry, and nanoseconds for unique names. Functions of the time given,
//! so a pure core may use them too (the clock is read by the caller).

use std::time::SystemTime;

/// `t` in whole epoch seconds; 0 for a time before the epoch.
pub fn epoch_secs(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `t` in nanoseconds since the epoch (unique names); 0 for a time before the epoch.
pub fn epoch_nanos(t: SystemTime) -> u128 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn whole_seconds_and_zero_before_the_epoch() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_999);
        assert_eq!(epoch_secs(t), 1_700_000_000);
        assert_eq!(epoch_nanos(t), 1_700_000_000_999_000_000);
        assert_eq!(
            epoch_secs(SystemTime::UNIX_EPOCH - Duration::from_secs(5)),
            0
        );
    }
}
