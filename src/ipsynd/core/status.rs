//! When the status files are written: at once when forced, else at most once a second
//! while things change (spec §11.3).

use std::time::{Duration, Instant};

use super::Core;

/// The shortest time between two status writes caused by changes (spec §11.3).
pub const STATUS_EVERY: Duration = Duration::from_secs(1);

impl Core {
    /// Whether the status must be written now: at once when `force` (USR1, `-s`, start),
    /// else when something changed and the last write is a second old; a change within the
    /// second arms a deadline (spec §11.3). The shell writes, then calls
    /// [`Core::status_written`].
    pub fn status_now(&mut self, now: Instant, force: bool) -> bool {
        if force {
            return true;
        }
        if !self.dirty {
            self.status_due = None;
            return false;
        }
        match self
            .status_at
            .map(|t| t + STATUS_EVERY)
            .filter(|t| *t > now)
        {
            Some(at) => {
                self.status_due = Some(at);
                false
            }
            None => true,
        }
    }

    /// The status was written at `now`.
    pub fn status_written(&mut self, now: Instant) {
        self.dirty = false;
        self.status_at = Some(now);
        self.status_due = None;
    }

    /// Whether the status has unwritten changes.
    pub fn status_dirty(&self) -> bool {
        self.dirty
    }
}
