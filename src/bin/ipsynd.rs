//! `ipsynd`: the FIP syndication daemon. Runs in the foreground.
//!
//! Usage: `ipsynd [-v] [-r ROOT] [-q]`. `-v` prints the version; `-r` overrides `$FIP_ROOT`
//! (default `/fip`); `-q` stops echoing log lines to stderr.

use std::path::PathBuf;
use std::process::exit;

use loncsyn::ipsynd::daemon::{self, Options, EXIT_OK, EXIT_USAGE};

fn main() {
    let mut root = std::env::var_os("FIP_ROOT")
        .filter(|r| !r.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/fip"));
    let mut echo = true;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "-v" => {
                println!("ipsynd version {}", daemon::VERSION);
                exit(EXIT_OK);
            }
            "-q" => echo = false,
            "-r" => match args.next() {
                Some(r) => root = PathBuf::from(r),
                None => usage("-r needs a directory"),
            },
            other => usage(&format!("unknown option {other}")),
        }
    }
    exit(daemon::run(&Options { root, echo }));
}

fn usage(msg: &str) -> ! {
    eprintln!("ipsynd: {msg}\nusage: ipsynd [-v] [-r ROOT] [-q]");
    exit(EXIT_USAGE);
}
