//! What ipsynd remembers about one control record between attempts, and the pure decision
//! taken after a failed attempt (retry later or give up).

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant, SystemTime};

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

/// The per-record state kept by the daemon (the record file itself is the durable part).
#[derive(Debug, Clone)]
pub struct Record {
    pub name: String,
    pub client: String,
    pub mtime: SystemTime,
    /// The record file at the start of the running attempt: a record deleted and re-created
    /// under the same name while the transmitter ran is a success plus a new request.
    pub id: RecordId,
    pub attempts: u32,
    pub retry: u32,
    pub next_at: Option<Instant>,
    pub next_wall: Option<SystemTime>,
    /// pid of the running attempt (transmitter or ftp).
    pub running: Option<i32>,
    /// The "client file missing" problem was logged already.
    pub missing_reported: bool,
    pub state: RecordState,
    /// `host:port` of the running or last attempt.
    pub port: String,
    /// Why this record never runs (its client name is unusable, see `control::refusal`).
    pub blocked: Option<&'static str>,
}

impl Record {
    pub fn new(name: &str, client: &str, mtime: SystemTime, id: RecordId) -> Record {
        let blocked = super::control::refusal(client);
        Record {
            name: name.to_string(),
            client: client.to_string(),
            mtime,
            id,
            attempts: 0,
            retry: 0,
            next_at: None,
            next_wall: None,
            running: None,
            missing_reported: false,
            state: if blocked.is_some() {
                RecordState::Blocked
            } else {
                RecordState::Ready
            },
            port: String::new(),
            blocked,
        }
    }

    /// Wait `d` from `now` before the next attempt (the status shows the wall-clock time).
    pub fn retry_in(&mut self, now: Instant, d: Duration) {
        self.next_at = Some(now + d);
        self.next_wall = Some(SystemTime::now() + d);
        self.state = RecordState::RetryWait;
    }

    /// Whether the record may start an attempt at `now`.
    pub fn due(&self, now: Instant) -> bool {
        self.blocked.is_none() && self.running.is_none() && self.next_at.is_none_or(|t| t <= now)
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

    #[test]
    fn due_when_not_running_and_time_reached() {
        let now = Instant::now();
        let id = RecordId { ino: 1, born: 0 };
        let mut r = Record::new("A", "A", SystemTime::now(), id);
        assert!(r.due(now));
        r.next_at = Some(now + Duration::from_secs(5));
        assert!(!r.due(now));
        r.next_at = Some(now);
        r.running = Some(3);
        assert!(!r.due(now));
    }

    #[test]
    fn a_record_for_the_control_queue_is_blocked_for_good() {
        let id = RecordId { ino: 1, born: 0 };
        let r = Record::new("SYN_CONTROL", "CONTROL", SystemTime::now(), id);
        assert_eq!(r.state, RecordState::Blocked);
        assert!(r.blocked.is_some());
        assert!(!r.due(Instant::now()));
        assert_eq!(Record::new("A", "A", SystemTime::now(), id).blocked, None);
    }
}
