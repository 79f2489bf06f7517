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
//! The scheduler: `core`, pure (records, ports, clients, running attempts; one `step` from
//! event to actions, unit-tested rule by rule), driven by `shell`, the I/O loop (inotify,
//! rescan, reaping, signals; it carries out the core's actions). `daemon` holds the paths,
//! options and exit codes.
//!
//! I/O beside the shell: `spawn` (fork/exec), `flags` (in-use flags in `x/`), `ftp` (FTP mode),
//! `tablecache` (reading the tables), `status` (renders, then writes the status files),
//! `log`, `strict` (StrictModes check of the tree), `ctl` (control requests in `x/ctl`).
//! They have unit tests where they can and are covered end to end by
//! `tests/it/ipsynd_*.rs`. The commands beside the daemon: `check` (`ipsynd -n`) and `cli`
//! (`-s`, `-f`, `-k`, talking to the running daemon through `ctl`).

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
pub mod log;
pub mod queueview;
pub mod record;
pub mod schedule;
pub mod shell;
pub mod spawn;
pub mod status;
pub mod strict;
pub mod tablecache;
