//! ipsynd: the FingerPost FIP syndication daemon (see `shared/spec/ipsynd.md`).
//!
//! What the daemon shares with its transmitter lives outside it: the FIP root, its directory
//! layout, queue listing and the `tables/syn` parsers are [`crate::fip`]; the default
//! transmitter `ipsyn` and its receiver are [`crate::ipsyn`]. ipsynd imports `crate::fip` and
//! `crate::sys`, never `crate::ipsyn` or `crate::lonc`.
//!
//! Pure (no file system, no processes, no clock reads; time comes in as an argument), each
//! with its own unit tests: `control` (record name to client, names that must never run),
//! `fipseq` (FipSeq expansion, word splitting), `argv` (the transmitter's argv), `schedule`
//! (tryalt, port choice), `ftpscript` (the FTP command file and judging its output),
//! `record` (what is remembered of a record and the decision after a failure; it takes the
//! record's metadata as read by the caller), `queueview` (`ipsynd -s` as a table).
//!
//! I/O: the daemon loop `daemon` with `dispatch`, `attempt`, `kill`, `watch`, `report` and
//! `commands`; `spawn` (fork/exec), `flags` (in-use flags in `x/`), `ftp` (FTP mode),
//! `tablecache` (reading the tables), `status` (renders, then writes the status files),
//! `log`, `strict` (StrictModes check of the tree), `ctl` (control requests in `x/ctl`).
//! They have unit tests where they can and are covered end to end by
//! `tests/it/ipsynd_*.rs`. The commands beside the daemon: `check` (`ipsynd -n`) and `cli`
//! (`-s`, `-f`, `-k`, talking to the running daemon through `ctl`).

pub mod argv;
pub mod attempt;
pub mod check;
pub mod cli;
pub mod commands;
pub mod control;
pub mod ctl;
pub mod daemon;
pub mod dispatch;
pub mod fipseq;
pub mod flags;
pub mod ftp;
pub mod ftpscript;
pub mod kill;
pub mod log;
pub mod queueview;
pub mod record;
pub mod report;
pub mod schedule;
pub mod spawn;
pub mod status;
pub mod strict;
pub mod tablecache;
pub mod watch;
