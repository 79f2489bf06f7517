//! Faithful Rust re-implementations of two classic Unix daemons, shipped as one project.
//!
//! The binaries in `src/bin/` are thin: they parse arguments and call into these modules.

/// Shared Unix plumbing: signal self-pipe, poll with deadlines, reaping, pid/status files.
pub mod sys;

/// lonc, the LON-CAPA connection daemon (rev 1.29 behaviour; see `../shared/spec/lonc.md`).
pub mod lonc;

/// The FIP tree both ipsynd and ipsyn know: root, directory layout, queues, tables.
pub mod fip;

/// ipsynd, the FingerPost FIP syndication daemon (see `../shared/spec/ipsynd.md`).
pub mod ipsynd;

/// ipsyn, ipsynd's default transmitter, and its receiver `ipsyn-recv`.
pub mod ipsyn;

/// Bench instruments for `make bench` (test code: only with the `testkit` feature).
#[cfg(feature = "testkit")]
pub mod bench;
