//! The FIP tree: what ipsynd and its transmitter `ipsyn` both know of a FingerPost
//! installation (see `shared/spec/ipsynd.md` §1-§4).
//!
//! - [`root`]: the FIP root, `$FIP_ROOT` or `/fip`.
//! - [`paths`]: the directory layout below it (`spool/syn/control`, the queues
//!   `spool/syn/<queue>`, `x/`, `log/syn`, `tables/syn/...`). Pure.
//! - [`queue`]: the listing of a queue directory (the files waiting to be sent). I/O.
//! - [`tables`]: the parsers of `tables/syn` (client files, `PORTS`, `IPSYND`). Pure: text
//!   in, value plus `file:line` problems out.
//!
//! Nothing here knows the daemon or the transmitter; both import it, it imports only
//! `crate::sys`.

pub mod paths;
pub mod queue;
pub mod tables;

use std::path::PathBuf;

/// The FIP root: `$FIP_ROOT` when set and not empty, else `/fip`.
pub fn root() -> PathBuf {
    std::env::var_os("FIP_ROOT")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/fip"))
}
