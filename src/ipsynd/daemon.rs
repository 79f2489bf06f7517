//! ipsynd's paths below the FIP root, its options and exit codes; the daemon itself is
//! the pure core (`core`) driven by the I/O shell (`shell::run`).

use std::path::{Path, PathBuf};

/// Version printed by `ipsynd -v`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Exit codes (README "Exit codes").
pub const EXIT_OK: i32 = 0;
pub const EXIT_USAGE: i32 = 100;
pub const EXIT_SYSTEM: i32 = 111;

/// Directories and files below the FIP root.
#[derive(Debug, Clone)]
pub struct Paths {
    pub root: PathBuf,
    pub control: PathBuf,
    pub x: PathBuf,
    pub logsyn: PathBuf,
    pub log: PathBuf,
    pub pidfile: PathBuf,
    /// Control requests (`ctl.rs`).
    pub ctl: PathBuf,
}

impl Paths {
    pub fn new(root: &Path) -> Paths {
        Paths {
            root: root.to_path_buf(),
            control: root.join("spool/syn/control"),
            x: root.join("x"),
            logsyn: root.join("log/syn"),
            log: root.join("log/ipsynd.log"),
            pidfile: root.join("x/ipsynd.pid"),
            ctl: root.join(super::ctl::DIR),
        }
    }
}

/// Command-line options.
#[derive(Debug, Clone)]
pub struct Options {
    pub root: PathBuf,
    /// Echo log lines to stderr.
    pub echo: bool,
}
