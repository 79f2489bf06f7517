//! ipsynd: the FingerPost FIP syndication daemon (see `shared/spec/ipsynd.md`).
//!
//! Pure pieces (`tables`, `fipseq`, `argv`, `schedule`, `ftpscript`, `control`, `record`,
//! `status`, `queueview`) carry their own unit tests; the process pieces (`daemon` with
//! `dispatch`, `attempt`, `kill`, `watch`, `report`, `commands`; `spawn`, `flags`, `ftp`,
//! `tablecache`, `log`, `strict`, `ctl`) have unit tests where they can and are covered end
//! to end by `tests/it/ipsynd_*.rs`. The commands beside the daemon: `check` (`ipsynd -n`)
//! and `cli` (`-s`, `-f`, `-k`, talking to the running daemon through `ctl`). `ipsyn` is the
//! default transmitter and its receiver (binaries `ipsyn`, `ipsyn-recv`).

pub mod argv;
pub mod check;
pub mod cli;
pub mod control;
pub mod core;
pub mod ctl;
pub mod daemon;
pub mod fipseq;
pub mod flags;
pub mod ftp;
pub mod ftpscript;
pub mod ipsyn;
pub mod log;
pub mod queueview;
pub mod record;
pub mod schedule;
pub mod shell;
pub mod spawn;
pub mod status;
pub mod strict;
pub mod tablecache;
pub mod tables;
