//! lonc: the LON-CAPA connection daemon (behaviour of rev 1.29, see `shared/spec/lonc.md`).
//!
//! Processes: `startup` (command line checks, daemonizing, pid file) hands over to
//! `supervisor` (the parent: probes, one child per reachable host, restarts, signals), which
//! forks one `child` per peer (its Unix clients in `clients`, its TCP link via `netconn`).
//! Logging is `log` (files, syslog through `sys::syslog`) with `logfmt` (formats); `status` is the
//! status page.
//!
//! Pure pieces (`config`, `hosts`, `cipher`, `logfmt`, `handshake`, `linebuf`, `delayed`,
//! `status`) carry their own unit tests; the process pieces (`supervisor`, `child`) are
//! covered by the integration tests in `tests/it/lonc_*.rs`, which talk to `standin`, a lond
//! stand-in that is test and demo code, compiled only with the `testkit` feature (the
//! integration tests, `make demo` and `make bench` turn it on; the daemons never do).

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
pub mod preflight;
pub mod process;
pub mod redact;
#[cfg(feature = "testkit")]
pub mod standin;
pub mod startup;
pub mod status;
pub mod statuscmd;
pub mod supervisor;
