//! `lonc [-c CONFIG] [-f]`, `lonc -n`, `lonc -s [--json]`, `lonc -v`, `lonc -h`: the LON-CAPA
//! connection daemon (rev 1.29 behaviour). Argument parsing only; everything else is in
//! `loncsyn::lonc::startup` and `loncsyn::lonc::statuscmd`. Nothing here panics on a closed
//! stdout or stderr.

use std::path::PathBuf;

use loncsyn::lonc::startup::{self, Options, EXIT_OK, EXIT_USAGE};
use loncsyn::lonc::statuscmd;
use loncsyn::sys::stdio::{say, warn};

/// 1.29 read its variables from this file; `-c` names another (e.g. `loncapa.conf`).
const DEFAULT_CONFIG: &str = "/etc/httpd/conf/access.conf";

const USAGE: &str = "usage: lonc [-c CONFIG] [-f]\n       lonc [-c CONFIG] -n\n       \
lonc [-c CONFIG] -s [--json]\n       lonc -v | --version\n       lonc -h | --help\n\
  -c CONFIG  read PerlSetVar lines from CONFIG (default /etc/httpd/conf/access.conf)\n\
  -f         stay in the foreground (log lines also go to stderr)\n\
  -n         check the configuration, hosts.tab, the user and the directories; say what\n\
             would start; exit 0 (no errors) or 1\n\
  -s         ask the running lonc for its status (USR1) and print it; exit 0 running,\n\
             1 dead with a pid file left, 3 not running, 4 unknown\n\
  --json     with -s: print the status as JSON\n\
  -v         print the version and exit\n\
  -h         print this help and exit";

#[derive(PartialEq)]
enum Mode {
    Run,
    Check,
    Status,
}

fn main() {
    // First, while single-threaded: `ps` shows the parent's and each child's title.
    loncsyn::sys::proctitle::init();
    let mut config = PathBuf::from(DEFAULT_CONFIG);
    let mut foreground = false;
    let mut json = false;
    let mut mode = Mode::Run;
    let mut args = std::env::args_os().skip(1);
    while let Some(a) = args.next() {
        match a.to_str() {
            Some("-c") => match args.next() {
                Some(p) => config = PathBuf::from(p),
                None => usage("-c needs a file name"),
            },
            Some("-f") => foreground = true,
            Some("-n") => set_mode(Mode::Check, "-n", &mut mode),
            Some("-s") => set_mode(Mode::Status, "-s", &mut mode),
            Some("--json") => json = true,
            Some("-v") | Some("--version") => {
                say(&format!(
                    "lonc {} (loncsyn; behaviour of LON-CAPA lonc rev 1.29)",
                    env!("CARGO_PKG_VERSION")
                ));
                std::process::exit(EXIT_OK);
            }
            Some("-h") | Some("--help") => {
                say(USAGE);
                std::process::exit(EXIT_OK);
            }
            _ => usage(&format!("unknown argument {:?}", a)),
        }
    }
    if json && mode != Mode::Status {
        usage("--json goes with -s");
    }
    if foreground && mode != Mode::Run {
        usage("-f starts the daemon; it cannot be combined with -n or -s");
    }
    let code = match mode {
        Mode::Check => startup::check(&config),
        Mode::Status => statuscmd::run(&config, json),
        Mode::Run => startup::run(&Options { config, foreground }),
    };
    std::process::exit(code);
}

/// `-n` and `-s` exclude each other.
fn set_mode(m: Mode, flag: &str, mode: &mut Mode) {
    if *mode != Mode::Run && *mode != m {
        usage(&format!("{flag} cannot be combined with -n or -s"));
    }
    *mode = m;
}

fn usage(msg: &str) -> ! {
    warn(&format!("lonc: {msg}\n{USAGE}"));
    std::process::exit(EXIT_USAGE);
}
