//! ipsynd scheduling decisions, pure: which route an attempt uses (tryalt), which physical
//! port to take, and the service order. (What follows a failed attempt is
//! `record::after_failure`.)

use std::cmp::Ordering;
use std::collections::HashMap;
use std::time::SystemTime;

use crate::fip::tables::{PhysPort, PortsTable, TryAlt};

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
