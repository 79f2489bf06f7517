//! `ipsynd`: the FIP syndication daemon. Runs in the foreground.
//!
//! Usage (`ipsynd -h`): `ipsynd [-q] [-r ROOT]` runs the daemon; `-n` checks the tables and
//! directories; `-s [--json]` shows the running daemon's queue; `-f [CLIENT]` and
//! `-k CLIENT` ask it to retry now or to end an attempt; `-v`/`--version` prints the version
//! (the manual's only option). `-r` overrides `$FIP_ROOT` (default `/fip`); `-q` stops
//! echoing log lines to stderr.

use std::path::PathBuf;
use std::process::exit;

use loncsyn::fip;
use loncsyn::ipsynd::ctl::Request;
use loncsyn::ipsynd::daemon::{self, Options, EXIT_OK, EXIT_USAGE};
use loncsyn::ipsynd::{check, cli};
use loncsyn::sys::stdio::Out;

const USAGE: &str = "\
usage: ipsynd [-q] [-r ROOT]              run the daemon (in the foreground)
       ipsynd -n [-r ROOT]                check the tables and directories, start nothing
       ipsynd -s [-r ROOT] [--json]       show the running daemon's queue
       ipsynd -f [CLIENT] [-r ROOT]       retry now: every waiting record, or CLIENT's
       ipsynd -k CLIENT [-r ROOT]         end CLIENT's running attempt as maxtime would
       ipsynd -v | --version              print the version
       ipsynd -h | --help                 print this text
ROOT defaults to $FIP_ROOT, else /fip.
";

/// What the command line asks for.
enum Mode {
    Run,
    Check,
    Status,
    Force(Option<String>),
    Kill(String),
}

fn main() {
    let mut root = fip::root();
    let mut echo = true;
    let mut json = false;
    let mut mode = Mode::Run;
    let mut modes = 0;
    let mut args = std::env::args().skip(1).peekable();
    while let Some(a) = args.next() {
        match a.as_str() {
            "-v" | "--version" => {
                Out::stdout().text(&format!("ipsynd version {}\n", daemon::VERSION));
                exit(EXIT_OK);
            }
            "-h" | "--help" => {
                Out::stdout().text(USAGE);
                exit(EXIT_OK);
            }
            "-q" => echo = false,
            "--json" => json = true,
            "-r" => match args.next() {
                Some(r) => root = PathBuf::from(r),
                None => usage("-r needs a directory"),
            },
            "-n" => {
                mode = Mode::Check;
                modes += 1;
            }
            "-s" => {
                mode = Mode::Status;
                modes += 1;
            }
            "-f" => {
                // The client is optional: the next word, unless it is an option.
                let client = args.next_if(|n| !n.starts_with('-'));
                mode = Mode::Force(client);
                modes += 1;
            }
            "-k" => match args.next_if(|n| !n.starts_with('-')) {
                Some(c) => {
                    mode = Mode::Kill(c);
                    modes += 1;
                }
                None => usage("-k needs a CLIENT"),
            },
            other => usage(&format!("unknown option {other}")),
        }
    }
    if modes > 1 {
        usage("-n, -s, -f and -k exclude each other");
    }
    if json && !matches!(mode, Mode::Status) {
        usage("--json goes with -s");
    }
    let code = match mode {
        Mode::Run => {
            // Still one thread: the title block may be taken over now (`ps` then shows
            // `ipsynd: <n> running, <m> waiting`).
            loncsyn::sys::proctitle::init();
            daemon::run(&Options { root, echo })
        }
        Mode::Check => check::run(&root),
        Mode::Status => cli::status(&root, json),
        Mode::Force(c) => cli::request(&root, &Request::Force(c.map(|c| c.to_ascii_uppercase()))),
        Mode::Kill(c) => cli::request(&root, &Request::Kill(c.to_ascii_uppercase())),
    };
    exit(code);
}

fn usage(msg: &str) -> ! {
    Out::stderr().text(&format!("ipsynd: {msg}\n{USAGE}"));
    exit(EXIT_USAGE);
}
