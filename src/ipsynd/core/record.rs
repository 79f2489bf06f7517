//! One control record as the core keeps it: small (its name is the key of the record map,
//! its client and port are numbers), so ten thousand waiting records stay well below a
//! KiB each.

use std::time::{Instant, SystemTime};

use super::super::record::{RecordId, RecordState};
use super::index::{ClientId, PortId, RouteId};

pub use crate::sys::clock::epoch_secs;

/// Which index holds a record now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// None: running, starting, blocked, or being moved.
    None,
    /// Due, to be dispatched.
    Ready,
    /// Waiting for its next attempt's time (`Rec::next_at`).
    Timer,
    /// Waiting for a port of this route.
    Route(RouteId),
    /// Waiting for its client to end a transmission.
    Client,
    /// Waiting for its client file (to be read, or to appear).
    Held,
}

/// The per-record state (the record file itself is the durable part).
#[derive(Debug, Clone)]
pub struct Rec {
    pub client: ClientId,
    /// The client's `prior` when the record was placed (its key in the indexes).
    pub prior: u8,
    pub state: RecordState,
    /// The "client file missing" problem was logged already.
    pub missing_reported: bool,
    pub attempts: u32,
    pub retry: u32,
    pub mtime: SystemTime,
    /// The record file at the start of the running attempt (see `record::RecordId`).
    pub id: RecordId,
    pub next_at: Option<Instant>,
    /// The next attempt's wall-clock time in epoch seconds (0: none), for the status.
    pub next_wall: u64,
    /// pid of the running attempt.
    pub running: Option<i32>,
    /// The port of the running or last attempt.
    pub port: Option<PortId>,
    /// It never runs: `control::refusal` of its client says why.
    pub blocked: bool,
    pub place: Place,
}

impl Rec {
    pub fn new(client: ClientId, mtime: SystemTime, id: RecordId, blocked: bool) -> Rec {
        Rec {
            client,
            prior: 0,
            state: if blocked {
                RecordState::Blocked
            } else {
                RecordState::Ready
            },
            missing_reported: false,
            attempts: 0,
            retry: 0,
            mtime,
            id,
            next_at: None,
            next_wall: 0,
            running: None,
            port: None,
            blocked,
            place: Place::None,
        }
    }
}
