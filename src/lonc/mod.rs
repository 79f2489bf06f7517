//! lonc: the LON-CAPA connection daemon (behaviour of rev 1.29, see `shared/spec/lonc.md`).
//!
//! Pure pieces (`config`, `hosts`, `cipher`, `logfmt`, `handshake`, `linebuf`, `delayed`,
//! `status`) carry their own unit tests; the process pieces (`supervisor`, `child`) are
//! covered by the integration tests in `tests/lonc_*.rs`.

pub mod child;
pub mod cipher;
pub mod clients;
pub mod config;
pub mod delayed;
pub mod handshake;
pub mod hosts;
pub mod linebuf;
pub mod log;
pub mod logfmt;
pub mod netconn;
pub mod standin;
pub mod startup;
pub mod status;
pub mod supervisor;
pub mod syslog;
