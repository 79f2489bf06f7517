//! Which file a control record is, the states a record is in, and the pure decision taken
//! after a failed attempt (retry later or give up). The record itself is `core::Rec`.

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, SystemTime};

/// Which file a control record is: its inode number and, where the file system keeps one,
/// its birth time. The inode alone is not enough: ext4 gives a file created right after a
/// delete the same inode number, so a request re-created while the transmitter ends would
/// look like the old record still there (a failure) instead of a success plus a new request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordId {
    pub ino: u64,
    /// The birth time in nanoseconds since the epoch, 0 when the file system keeps none
    /// (a number, not a `SystemTime`: ten thousand records each hold one).
    pub born: u64,
}

impl RecordId {
    pub fn of(md: &Metadata) -> RecordId {
        RecordId {
            ino: md.ino(),
            born: md
                .created()
                .ok()
                .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
                .map_or(0, |d| (d.as_nanos() as u64).max(1)),
        }
    }
}

/// Where a record stands (the status shows it as [`RecordState::word`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordState {
    /// Due, not yet looked at by a dispatch.
    Ready,
    /// Its attempt runs.
    Running,
    /// Waiting for its next attempt's time.
    RetryWait,
    /// Due, but every port of its route is in use.
    WaitingPort,
    /// Its client file is missing or unreadable.
    NoClient,
    /// Its client transmits already (another record, or a flag with a live pid).
    BusyElsewhere,
    /// Never to run: see [`Record::blocked`].
    Blocked,
}

impl RecordState {
    /// The status file's word for it.
    pub fn word(self) -> &'static str {
        match self {
            RecordState::Ready => "ready",
            RecordState::Running => "running",
            RecordState::RetryWait => "retry-wait",
            RecordState::WaitingPort => "waiting-port",
            RecordState::NoClient => "no-client",
            RecordState::BusyElsewhere => "busy-elsewhere",
            RecordState::Blocked => "blocked",
        }
    }
}

/// What to do after attempt number `attempts` (1-based, already counted) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    RetryIn(Duration),
    GiveUp,
}

/// `retry` is the total number of attempts; the next one comes `timeout` seconds later.
pub fn after_failure(attempts: u32, retry: u32, timeout_secs: u64) -> AfterFailure {
    if attempts >= retry.max(1) {
        AfterFailure::GiveUp
    } else {
        AfterFailure::RetryIn(Duration::from_secs(timeout_secs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_counts_all_attempts() {
        assert_eq!(
            after_failure(1, 3, 90),
            AfterFailure::RetryIn(Duration::from_secs(90))
        );
        assert_eq!(
            after_failure(2, 3, 0),
            AfterFailure::RetryIn(Duration::ZERO)
        );
        assert_eq!(after_failure(3, 3, 90), AfterFailure::GiveUp);
        assert_eq!(after_failure(1, 1, 90), AfterFailure::GiveUp);
        assert_eq!(after_failure(1, 0, 90), AfterFailure::GiveUp);
        // The default retry:11 means eleven attempts in all.
        let tries = (1..=20)
            .take_while(|&k| after_failure(k, 11, 90) != AfterFailure::GiveUp)
            .count();
        assert_eq!(tries + 1, 11);
    }

    #[test]
    fn a_new_file_with_a_reused_inode_is_another_record() {
        let dir = std::env::temp_dir().join(format!("ipsynd-recid-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("R");
        std::fs::write(&p, "").unwrap();
        let first = RecordId::of(&std::fs::metadata(&p).unwrap());
        assert_eq!(first, RecordId::of(&std::fs::metadata(&p).unwrap()));
        std::fs::remove_file(&p).unwrap();
        std::fs::write(&p, "").unwrap();
        let second = RecordId::of(&std::fs::metadata(&p).unwrap());
        if first.born != 0 {
            assert_ne!(first, second, "same name, new file");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
