//! `ipsyn`: the default transmitter started by ipsynd (see `loncsyn::ipsyn`).
//!
//! `ipsyn -v`/`--version` prints the version, `-h`/`--help` the usage (each as the only
//! argument). Exit codes: 0 everything sent, 1 not everything sent, 100 usage, 111 local failure,
//! 128+N stopped by signal N. The in-use flag (`-r`) is deleted in every case.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use loncsyn::fip;
use loncsyn::ipsyn::args;
use loncsyn::ipsyn::conn::STOP_SIGNALS;
use loncsyn::ipsyn::send::{self, exit, Log};
use loncsyn::sys::sig::SignalPipe;
use loncsyn::sys::stdio::{self, Out};

/// Removes the in-use flag when dropped: on every return path and on a panic.
struct FlagGuard(Option<PathBuf>);

impl Drop for FlagGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            match fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => stdio::Out::stderr().text(&format!(
                    "ipsyn: cannot delete in-use flag {}: {e}\n",
                    p.display()
                )),
            }
        }
    }
}

fn main() {
    // Signals first: a SIGTERM from here on still lets the flag go.
    let sig = match SignalPipe::new(&STOP_SIGNALS) {
        Ok(s) => s,
        Err(e) => {
            stdio::Out::stderr().text(&format!("ipsyn: cannot set up signals: {e}\n"));
            std::process::exit(exit::SYSTEM);
        }
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    // Only as the sole word: a script: line may pass ipsyn extra words, which are ignored.
    if argv.len() == 1 {
        match argv[0].as_str() {
            "-v" | "--version" => {
                Out::stdout().text(&format!("ipsyn {}\n", env!("CARGO_PKG_VERSION")));
                return;
            }
            "-h" | "--help" => {
                Out::stdout().text(&format!("{}\n", args::USAGE));
                return;
            }
            _ => {}
        }
    }
    let guard = FlagGuard(args::flag_of(&argv));
    let code = run(&argv, &sig);
    drop(guard);
    std::process::exit(code);
}

fn run(argv: &[String], sig: &SignalPipe) -> i32 {
    let a = match args::parse(argv) {
        Ok(a) => a,
        Err(m) => {
            Out::stderr().text(&format!("ipsyn: {m}\n{}\n", args::USAGE));
            return exit::USAGE;
        }
    };
    let root = fip::root();
    let log_path = a
        .log
        .clone()
        .unwrap_or_else(|| send::default_log(&root, &a.client));
    let mut log = Log::open(Some(Path::new(&log_path)), &a.client);
    send::run(&a, &root, sig, &mut log)
}
