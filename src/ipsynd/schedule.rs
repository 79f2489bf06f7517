//! ipsynd scheduling decision, pure: which route an attempt uses (tryalt). (The port taken
//! and the service order are the core's indexes, `core::index`; what follows a failed
//! attempt is `record::after_failure`.)

use crate::fip::tables::TryAlt;

/// Whether attempt `attempt` (1-based) uses the alternate route: with `Every(N)`, N normal
/// attempts then one alternate (`attempt % (N+1) == 0`); with `Even`, every even attempt.
/// Never without an `alt:`. This is the one place the rule lives (spec §6.3).
pub fn use_alt(attempt: u32, tryalt: TryAlt, has_alt: bool) -> bool {
    if !has_alt || attempt == 0 {
        return false;
    }
    match tryalt {
        TryAlt::Every(n) => attempt.is_multiple_of(n.max(1) + 1),
        TryAlt::Even => attempt.is_multiple_of(2),
    }
}

#[cfg(test)]
mod tests;
