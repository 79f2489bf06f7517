//! The child's life as one value: serving, stopping until a moment (TERM's grace period), or
//! backing off until a moment before it exits (spec §3.1's failure path). Plus the back-off's
//! length, pure.

use std::time::{Duration, Instant};

/// Where the child's life stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Life {
    /// Connecting, replaying or serving: the normal life.
    Serving,
    /// TERM, INT or the parent's death: no new work; the exchanges in flight may finish until
    /// then, and the child exits as soon as none is left.
    Stopping { until: Instant },
    /// Gave up on the peer: nothing open, exit at that moment.
    BackingOff { until: Instant },
}

impl Life {
    pub fn serving(self) -> bool {
        self == Life::Serving
    }

    pub fn stopping(self) -> bool {
        matches!(self, Life::Stopping { .. })
    }

    /// The moment this life ends by itself (the poll loop's deadline).
    pub fn deadline(self) -> Option<Instant> {
        match self {
            Life::Serving => None,
            Life::Stopping { until } | Life::BackingOff { until } => Some(until),
        }
    }

    /// Whether that moment has come at `now`.
    pub fn over(self, now: Instant) -> bool {
        self.deadline().is_some_and(|t| now >= t)
    }
}

/// A back-off in [`lo`, `hi`] from the random number `r`: whole seconds when both bounds are
/// whole seconds (1.29: `120 + int(rand(240))`, logged as `(218 secs)`), else milliseconds.
pub fn pick_backoff(lo: Duration, hi: Duration, r: u64) -> Duration {
    let hi = hi.max(lo);
    if lo.subsec_nanos() == 0 && hi.subsec_nanos() == 0 {
        let span = hi.as_secs() - lo.as_secs();
        return lo + Duration::from_secs(r % (span + 1));
    }
    let span = (hi - lo).as_millis() as u64;
    lo + Duration::from_millis(r % (span + 1))
}

/// Seconds for log messages: `120` for whole seconds, `0.25` otherwise.
pub fn fmt_secs(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        d.as_secs().to_string()
    } else {
        let s = format!("{:.3}", d.as_secs_f64());
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// xorshift64: plenty for spreading restarts; no crate needed.
pub fn next_random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_whole_seconds_for_whole_second_bounds() {
        let (lo, hi) = (Duration::from_secs(120), Duration::from_secs(360));
        let mut seen = std::collections::BTreeSet::new();
        for r in [0u64, 1, 240, 241, 218_727, u64::MAX, 0x9e37_79b9_7f4a_7c15] {
            let d = pick_backoff(lo, hi, r);
            assert_eq!(d.subsec_nanos(), 0, "{d:?}");
            assert!(d >= lo && d <= hi, "{d:?}");
            assert!(!fmt_secs(d).contains('.'));
            seen.insert(d);
        }
        assert!(seen.len() > 3);
        assert_eq!(pick_backoff(lo, hi, 240), hi);
        let (lo, hi) = (Duration::from_millis(100), Duration::from_millis(200));
        for r in 0..500 {
            let d = pick_backoff(lo, hi, r);
            assert!(d >= lo && d <= hi);
        }
        assert_eq!(pick_backoff(hi, lo, 7), hi, "max below min: min");
    }

    #[test]
    fn secs_formatting() {
        assert_eq!(fmt_secs(Duration::from_secs(120)), "120");
        assert_eq!(fmt_secs(Duration::from_millis(250)), "0.25");
        assert_eq!(fmt_secs(Duration::from_millis(1500)), "1.5");
    }

    #[test]
    fn a_life_ends_at_its_moment_serving_never() {
        let t = Instant::now();
        let later = t + Duration::from_secs(5);
        assert!(!Life::Serving.over(later));
        assert_eq!(Life::Serving.deadline(), None);
        let s = Life::Stopping { until: later };
        assert!(s.stopping() && !s.serving());
        assert!(!s.over(t));
        assert!(s.over(later));
        let b = Life::BackingOff { until: later };
        assert!(!b.stopping() && !b.serving());
        assert_eq!(b.deadline(), Some(later));
    }

    #[test]
    fn random_numbers_move() {
        let mut s = 1u64;
        let a = next_random(&mut s);
        let b = next_random(&mut s);
        assert_ne!(a, b);
        assert_ne!(a, 0);
    }
}
