//! ipsynd scheduling decisions, pure: which route an attempt uses (tryalt), what happens
//! after a failed attempt (retry), which physical port to take, and the service order.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use super::tables::{PhysPort, PortsTable, TryAlt};

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

/// What comes after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Start the next attempt at this instant.
    RetryAt(Instant),
    /// `retry` attempts failed: give up.
    GiveUp,
}

/// Retry bookkeeping of one control record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RetryState {
    /// Attempts made so far (started ones count once they end).
    pub attempts: u32,
    /// When the next attempt may start; `None` = at once.
    pub next_at: Option<Instant>,
}

impl RetryState {
    pub fn new() -> RetryState {
        RetryState::default()
    }

    /// The number (1-based) the next attempt will carry.
    pub fn next_attempt(&self) -> u32 {
        self.attempts + 1
    }

    /// Whether the next attempt may start at `now`.
    pub fn ready(&self, now: Instant) -> bool {
        self.next_at.is_none_or(|t| t <= now)
    }

    /// Record a failed attempt ending at `now`. `timeout` is seconds between attempts,
    /// `retry` the attempts allowed in all.
    pub fn on_failure(&mut self, now: Instant, timeout: u64, retry: u32) -> Next {
        self.attempts += 1;
        if self.attempts >= retry.max(1) {
            self.next_at = None;
            Next::GiveUp
        } else {
            let at = now + Duration::from_secs(timeout);
            self.next_at = Some(at);
            Next::RetryAt(at)
        }
    }
}

/// The first port of `ports` (in order) whose in-use count is below its capacity.
pub fn pick_port(
    ports: &[PhysPort],
    in_use: &HashMap<PhysPort, u32>,
    table: &PortsTable,
) -> Option<PhysPort> {
    ports
        .iter()
        .find(|p| in_use.get(*p).copied().unwrap_or(0) < table.capacity(p))
        .cloned()
}

/// A control record ready to start, as far as ordering goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub prior: u32,
    /// The control record's modification time (its age).
    pub mtime: SystemTime,
    /// The control record's file name.
    pub name: String,
}

/// Service order: `prior` ascending, then older records first, then name.
pub fn cmp_candidates(a: &Candidate, b: &Candidate) -> Ordering {
    a.prior
        .cmp(&b.prior)
        .then(a.mtime.cmp(&b.mtime))
        .then_with(|| a.name.cmp(&b.name))
}

/// Sort candidates into service order (see [`cmp_candidates`]).
pub fn order(records: &mut [Candidate]) {
    records.sort_by(cmp_candidates);
}

#[cfg(test)]
mod tests;
