//! ipsyn, the default transmitter, and its receiver `ipsyn-recv`.
//!
//! ipsynd starts `ipsyn -c CLIENT -q queue [-s host -p port] -l LOG -r INUSE -z CTRL`.
//! ipsyn sends every regular non-dot file of `$FIP_ROOT/spool/syn/<queue>` (name order) to
//! `host:port` over TCP using the framing of [`wire`], deletes each file once the receiver
//! acknowledged it, deletes the control file when everything went, and always deletes the
//! in-use flag. `ipsyn-recv` is the other end: it stores each file atomically in a
//! directory and acknowledges it.

pub mod args;
pub mod conn;
pub mod recv;
pub mod send;
pub mod wire;

use std::path::PathBuf;

/// The FIP root: `$FIP_ROOT`, default `/fip`.
pub fn fip_root() -> PathBuf {
    std::env::var_os("FIP_ROOT")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/fip"))
}
