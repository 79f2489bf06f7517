//! lond-standin: the lond stand-in of `loncsyn::lonc::standin` as a process, for demo and bench.
//!
//! `lond-standin [--listen ADDR] [--host-id ID] [--peer-id ID] [--buildkey KEY]
//!  [--refuse-handshake] [--port-file FILE] [--record] [--verbose]`, `-h`, `-v`.
//! Runs until SIGTERM, SIGINT or SIGHUP, then closes every connection and removes the port file.
//! Nothing here panics on a closed stdout or stderr.

use loncsyn::lonc::standin::{Standin, StandinOptions, DEFAULT_BUILDKEY};
use loncsyn::sys::fsutil::atomic_write;
use loncsyn::sys::stdio::{say, warn};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: lond-standin [--listen ADDR] [--host-id ID] [--peer-id ID] \
[--buildkey KEY] [--refuse-handshake] [--port-file FILE] [--record] [--verbose]\n       \
lond-standin -v | --version\n       lond-standin -h | --help";

/// What the command line asks for.
enum Parsed {
    Serve(Args),
    Help,
    Version,
}

struct Args {
    listen: SocketAddr,
    opts: StandinOptions,
    port_file: Option<PathBuf>,
}

fn parse_args(mut argv: impl Iterator<Item = String>) -> Result<Parsed, String> {
    let mut listen: SocketAddr = "127.0.0.1:0".parse().map_err(|e| format!("{e}"))?;
    let mut opts = StandinOptions::new("standin", "lonc");
    opts.buildkey = DEFAULT_BUILDKEY.to_string();
    // Recording every request costs memory in long runs; tests in-process use the library.
    opts.record = false;
    let mut port_file = None;
    while let Some(arg) = argv.next() {
        let mut value = |name: &str| argv.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--listen" => {
                let v = value("--listen")?;
                listen = v.parse().map_err(|e| format!("--listen {v:?}: {e}"))?;
            }
            "--host-id" => opts.host_id = value("--host-id")?,
            "--peer-id" => opts.peer_id = value("--peer-id")?,
            "--buildkey" => opts.buildkey = value("--buildkey")?,
            "--port-file" => port_file = Some(PathBuf::from(value("--port-file")?)),
            "--refuse-handshake" => opts.refuse_handshake = true,
            "--record" => opts.record = true,
            "--verbose" => opts.verbose = true,
            "-h" | "--help" => return Ok(Parsed::Help),
            "-v" | "--version" => return Ok(Parsed::Version),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Parsed::Serve(Args {
        listen,
        opts,
        port_file,
    }))
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Parsed::Serve(a)) => a,
        Ok(Parsed::Help) => {
            say(USAGE);
            return ExitCode::SUCCESS;
        }
        Ok(Parsed::Version) => {
            say(&format!(
                "lond-standin {} (loncsyn test and demo peer)",
                env!("CARGO_PKG_VERSION")
            ));
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            warn(&format!("lond-standin: {msg}\n{USAGE}"));
            return ExitCode::from(64);
        }
    };
    // Register the signals before announcing the port, so a prompt TERM is never lost.
    let mut signals = match signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP]) {
        Ok(s) => s,
        Err(e) => {
            warn(&format!("lond-standin: signals: {e}"));
            return ExitCode::from(1);
        }
    };
    let standin = match Standin::start(args.listen, args.opts.clone()) {
        Ok(s) => s,
        Err(e) => {
            warn(&format!(
                "lond-standin: can't listen on {}: {e}",
                args.listen
            ));
            return ExitCode::from(1);
        }
    };
    let addr = standin.local_addr();
    if let Some(path) = &args.port_file {
        // Atomic, so a reader polling for the file never sees it half-written.
        if let Err(e) = atomic_write(path, format!("{}\n", addr.port()).as_bytes()) {
            warn(&format!(
                "lond-standin: can't write {}: {e}",
                path.display()
            ));
            return ExitCode::from(1);
        }
    }
    warn(&format!(
        "lond-standin: {} listening on {addr} (peer {})",
        args.opts.host_id, args.opts.peer_id
    ));
    let sig = signals.forever().next();
    standin.stop();
    if let Some(path) = &args.port_file {
        let _ = std::fs::remove_file(path);
    }
    warn(&format!(
        "lond-standin: stopped (signal {})",
        sig.unwrap_or(0)
    ));
    ExitCode::SUCCESS
}
