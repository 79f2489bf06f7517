//! `lonc [-c CONFIG] [-f] [-n]`, `lonc -v`: the LON-CAPA connection daemon (rev 1.29
//! behaviour). Argument parsing only; everything else is in `loncsyn::lonc::startup`.

use std::path::PathBuf;

use loncsyn::lonc::startup::{self, Options, EXIT_OK, EXIT_USAGE};

/// 1.29 read its variables from this file; `-c` names another (e.g. `loncapa.conf`).
const DEFAULT_CONFIG: &str = "/etc/httpd/conf/access.conf";

const USAGE: &str = "usage: lonc [-c CONFIG] [-f] [-n]\n       lonc -v\n\
  -c CONFIG  read PerlSetVar lines from CONFIG (default /etc/httpd/conf/access.conf)\n\
  -f         stay in the foreground (log lines also go to stderr)\n\
  -n         check the configuration and hosts.tab, say what would start, exit\n\
  -v         print the version and exit";

fn main() {
    // First, while single-threaded: `ps` shows the parent's and each child's title.
    loncsyn::sys::proctitle::init();
    let mut config = PathBuf::from(DEFAULT_CONFIG);
    let (mut foreground, mut check, mut version) = (false, false, false);
    let mut args = std::env::args_os().skip(1);
    while let Some(a) = args.next() {
        match a.to_str() {
            Some("-c") => match args.next() {
                Some(p) => config = PathBuf::from(p),
                None => usage("-c needs a file name"),
            },
            Some("-f") => foreground = true,
            Some("-n") => check = true,
            Some("-v") => version = true,
            Some("-h") | Some("--help") => {
                println!("{USAGE}");
                std::process::exit(EXIT_OK);
            }
            _ => usage(&format!("unknown argument {:?}", a)),
        }
    }
    if version {
        println!(
            "lonc {} (loncsyn; behaviour of LON-CAPA lonc rev 1.29)",
            env!("CARGO_PKG_VERSION")
        );
        std::process::exit(EXIT_OK);
    }
    let code = if check {
        startup::check(&config)
    } else {
        startup::run(&Options { config, foreground })
    };
    std::process::exit(code);
}

fn usage(msg: &str) -> ! {
    eprintln!("lonc: {msg}\n{USAGE}");
    std::process::exit(EXIT_USAGE);
}
