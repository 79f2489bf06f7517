//! `ipsyn-recv --listen ADDR --dir DIR [--port-file F] [--reject-after N] [--idle SECS]`:
//! receives what ipsyn sends and stores each file atomically in DIR (see
//! `loncsyn::ipsyn::wire`). Prints nothing; errors go to stderr. `-h`/`--help`
//! prints the usage, `-v`/`--version` the version.
//!
//! Exit codes: 0 stopped by SIGTERM/SIGINT, 100 usage, 111 cannot listen or serve.

use std::path::PathBuf;
use std::time::Duration;

use loncsyn::ipsyn::recv::{serve, RecvOptions};
use loncsyn::sys::sig::SignalPipe;
use loncsyn::sys::stdio::Out;

const USAGE: &str = "usage: ipsyn-recv --listen ADDR --dir DIR [--port-file F] [--reject-after N] [--idle SECS]\n       ipsyn-recv -v | --version | -h | --help";

fn parse(args: &[String]) -> Result<RecvOptions, String> {
    let mut listen = None;
    let mut dir = None;
    let mut port_file = None;
    let mut reject_after = None;
    let mut idle = Duration::from_secs(120);
    let mut it = args.iter();
    while let Some(k) = it.next() {
        let mut val = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{k} needs a value"))
        };
        match k.as_str() {
            "--listen" => listen = Some(val()?),
            "--dir" => dir = Some(PathBuf::from(val()?)),
            "--port-file" => port_file = Some(PathBuf::from(val()?)),
            "--reject-after" => {
                let v = val()?;
                reject_after = Some(
                    v.parse()
                        .map_err(|_| format!("--reject-after {v}: not a number"))?,
                )
            }
            "--idle" => {
                let v = val()?;
                let n: u64 = v
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or(format!("--idle {v}: not a positive number"))?;
                idle = Duration::from_secs(n);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(RecvOptions {
        listen: listen.ok_or("--listen is required")?,
        dir: dir.ok_or("--dir is required")?,
        port_file,
        reject_after,
        idle,
    })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(a) = args
        .iter()
        .find(|a| matches!(a.as_str(), "-h" | "--help" | "-v" | "--version"))
    {
        let text = if a.starts_with("-h") || a == "--help" {
            format!("{USAGE}\n")
        } else {
            format!("ipsyn-recv {}\n", env!("CARGO_PKG_VERSION"))
        };
        Out::stdout().text(&text);
        return;
    }
    let opts = match parse(&args) {
        Ok(o) => o,
        Err(m) => {
            Out::stderr().text(&format!("ipsyn-recv: {m}\n{USAGE}\n"));
            std::process::exit(100);
        }
    };
    let sig = match SignalPipe::new(&[libc::SIGTERM, libc::SIGINT, libc::SIGHUP]) {
        Ok(s) => s,
        Err(e) => {
            Out::stderr().text(&format!("ipsyn-recv: cannot set up signals: {e}\n"));
            std::process::exit(111);
        }
    };
    if let Err(e) = serve(opts, &sig) {
        Out::stderr().text(&format!("ipsyn-recv: {e}\n"));
        std::process::exit(111);
    }
}
