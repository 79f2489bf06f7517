//! Shared Unix plumbing used by both daemons; no product logic lives here.
//!
//! `sys` never imports `lonc` or `ipsynd`. Everything here is small, synchronous and
//! single-threaded, because both daemons fork from their main loop.

pub mod clock;
pub mod decimal;
pub mod fsutil;
pub mod logfile;
pub mod pidfile;
pub mod poll;
pub mod proctitle;
pub mod reap;
pub mod safedir;
pub mod sig;
pub mod stdio;
pub mod syslog;
