//! ipsyn's command line: the standard block ipsynd passes (spec §5), in switch style
//! `-c CLIENT -q queue [-s host -p port] -l LOG -r INUSE -z CTRL` or positional style
//! `CLIENT queue host port LOG INUSE CTRL`.
//!
//! Words before the block (from a `script:` line that runs ipsyn with extra words) are
//! tolerated: switches are read wherever they are and the last occurrence wins, because the
//! standard block always comes last. Without any `-c`, the last seven words are read as the
//! positional block.

use std::path::PathBuf;

/// What ipsyn was asked to do.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IpsynArgs {
    /// Client name, uppercase.
    pub client: String,
    /// Queue under `spool/syn`; default: the client in lowercase.
    pub queue: String,
    /// Receiver host, lowercase; `None` = look in the route file.
    pub host: Option<String>,
    /// Receiver port; `None` (or 0 given) = look in the route file.
    pub port: Option<u16>,
    pub log: Option<PathBuf>,
    pub inuse: Option<PathBuf>,
    pub ctrl: Option<PathBuf>,
    /// Seconds without progress before the connection is given up (`-t`, default 60).
    pub io_timeout: u64,
}

/// Default idle timeout on the connection, seconds.
pub const IO_TIMEOUT_DEFAULT: u64 = 60;

/// The usage text.
pub const USAGE: &str = "usage: ipsyn [-v] -c CLIENT [-q queue] [-s host -p port] [-l log] \
                         [-r inuse-flag] [-z control-file] [-t io-timeout-secs]\n       \
                         ipsyn CLIENT queue host port log inuse-flag control-file";

/// Parse ipsyn's arguments (without `argv[0]`). On error the message says why; the caller
/// still gets the flag path if one could be found (see [`flag_of`]).
pub fn parse(args: &[String]) -> Result<IpsynArgs, String> {
    let mut a = IpsynArgs {
        io_timeout: IO_TIMEOUT_DEFAULT,
        ..IpsynArgs::default()
    };
    let mut seen_c = false;
    let mut port_word: Option<String> = None;
    let mut timeout_word: Option<String> = None;
    let mut i = 0;
    while i < args.len() {
        let switch = |w: &str| matches!(w, "-c" | "-q" | "-s" | "-p" | "-l" | "-r" | "-z" | "-t");
        let sw = args[i].as_str();
        // A switch followed by another switch is a stray word too (a script: line ending in
        // `-t` must not take the standard block's `-c` as its value).
        if !switch(sw) || args.get(i + 1).is_some_and(|v| switch(v)) {
            i += 1; // an extra word from script:, ignored
            continue;
        }
        let Some(v) = args.get(i + 1) else {
            return Err(format!("{sw} needs a value"));
        };
        match sw {
            "-c" => {
                a.client = v.to_ascii_uppercase();
                seen_c = true;
            }
            "-q" => a.queue = v.clone(),
            "-s" => a.host = Some(v.to_ascii_lowercase()),
            "-p" => port_word = Some(v.clone()),
            "-l" => a.log = Some(PathBuf::from(v)),
            "-r" => a.inuse = Some(PathBuf::from(v)),
            "-z" => a.ctrl = Some(PathBuf::from(v)),
            _ => timeout_word = Some(v.clone()),
        }
        i += 2;
    }
    if !seen_c {
        if args.len() < 7 {
            return Err("no -c CLIENT and fewer than 7 positional words".into());
        }
        let p = &args[args.len() - 7..];
        a.client = p[0].to_ascii_uppercase();
        a.queue = p[1].clone();
        a.host = Some(p[2].to_ascii_lowercase());
        port_word = Some(p[3].clone());
        a.log = Some(PathBuf::from(&p[4]));
        a.inuse = Some(PathBuf::from(&p[5]));
        a.ctrl = Some(PathBuf::from(&p[6]));
    }
    if let Some(w) = port_word {
        let n = w
            .parse::<u16>()
            .map_err(|_| format!("port {w:?} is not a port number"))?;
        a.port = (n != 0).then_some(n);
    }
    if let Some(w) = timeout_word {
        a.io_timeout = w
            .parse::<u64>()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("-t {w}: not a positive number of seconds"))?;
    }
    if a.client.is_empty() {
        return Err("empty client name".into());
    }
    if a.queue.is_empty() {
        a.queue = a.client.to_ascii_lowercase();
    }
    // A hidden name is a queue like any other (ipsynd runs a client `.X`); `.` and `..` are not.
    if a.queue.contains('/') || a.queue == "." || a.queue == ".." {
        return Err(format!("queue {:?} must be a plain name", a.queue));
    }
    if a.queue == "control" {
        // spool/syn/control holds the control records: sending it would delete them.
        return Err("queue \"control\" is the control queue, not a client's queue".into());
    }
    if a.host.as_deref() == Some("-") || a.host.as_deref() == Some("") {
        a.host = None;
    }
    Ok(a)
}

/// The in-use flag named by the arguments, even when they are otherwise unusable: the flag
/// must go whatever happens.
pub fn flag_of(args: &[String]) -> Option<PathBuf> {
    // Same rule as `parse`: without -c the block is positional, whatever words precede it.
    if !args.iter().any(|w| w == "-c") {
        return (args.len() >= 7).then(|| PathBuf::from(&args[args.len() - 2]));
    }
    let i = args.iter().rposition(|w| w == "-r")?;
    args.get(i + 1).map(PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn switch_style() {
        let a = parse(&v(&[
            "-c",
            "jukebox",
            "-q",
            "jukebox",
            "-s",
            "SVR3",
            "-p",
            "1103",
            "-l",
            "/fip/log/syn/L",
            "-r",
            "/fip/x/SYN|123|JUKEBOX",
            "-z",
            "/fip/spool/syn/control/JUKEBOX",
        ]))
        .unwrap();
        assert_eq!(a.client, "JUKEBOX");
        assert_eq!(a.queue, "jukebox");
        assert_eq!(a.host.as_deref(), Some("svr3"));
        assert_eq!(a.port, Some(1103));
        assert_eq!(a.inuse, Some(PathBuf::from("/fip/x/SYN|123|JUKEBOX")));
        assert_eq!(a.io_timeout, IO_TIMEOUT_DEFAULT);
    }

    #[test]
    fn leading_script_words_tolerated_last_wins() {
        let a = parse(&v(&[
            "-1",
            "234",
            "-y",
            "SECRET",
            "-z",
            "BINGCROSBY",
            "-c",
            "JUKEBOX",
            "-q",
            "jukebox",
            "-l",
            "/l",
            "-r",
            "/r",
            "-z",
            "/z",
        ]))
        .unwrap();
        assert_eq!(a.ctrl, Some(PathBuf::from("/z")));
        assert_eq!((a.host, a.port), (None, None));
    }

    #[test]
    fn positional_style() {
        let a = parse(&v(&[
            "extra",
            "JUKEBOX",
            "jukebox",
            "spider3",
            "0",
            "/l",
            "/fip/x/SYN|1|JUKEBOX",
            "/z",
        ]))
        .unwrap();
        assert_eq!(a.client, "JUKEBOX");
        assert_eq!(a.host.as_deref(), Some("spider3"));
        assert_eq!(a.port, None, "port 0 means none");
        assert_eq!(a.ctrl, Some(PathBuf::from("/z")));
        assert_eq!(
            flag_of(&v(&["J", "j", "h", "0", "/l", "/flag", "/z"])),
            Some(PathBuf::from("/flag"))
        );
    }

    #[test]
    fn defaults_and_errors() {
        let a = parse(&v(&["-c", "Pop"])).unwrap();
        assert_eq!(a.queue, "pop");
        assert!(parse(&v(&["-c"])).is_err());
        // A script word that is a switch without its value does not eat the block's `-c`.
        let a = parse(&v(&["-t", "-c", "POP", "-q", "pop", "-r", "/f"])).unwrap();
        assert_eq!(
            (a.client.as_str(), a.io_timeout),
            ("POP", IO_TIMEOUT_DEFAULT)
        );
        let a = parse(&v(&["-c", "OTHER", "-q", "-c", "POP", "-q", "pop"])).unwrap();
        assert_eq!((a.client.as_str(), a.queue.as_str()), ("POP", "pop"));
        assert!(parse(&v(&["a", "b"])).is_err());
        assert!(parse(&v(&["-c", "X", "-p", "http"])).is_err());
        assert!(parse(&v(&["-c", "X", "-q", "../etc"])).is_err());
        assert!(parse(&v(&["-c", "X", "-q", ".."])).is_err());
        // ipsynd runs a client `.X` (queue `.x`): ipsyn must send it.
        assert_eq!(
            parse(&v(&["-c", ".X"])).map(|a| a.queue),
            Ok(".x".to_string())
        );
        assert!(parse(&v(&["-c", "X", "-q", "control"])).is_err());
        assert!(parse(&v(&["-c", "Control"])).is_err());
        assert!(parse(&v(&["-c", "X", "-q", "controls"])).is_ok());
        assert!(parse(&v(&["-c", "X", "-t", "0"])).is_err());
        assert_eq!(parse(&v(&["-c", "X", "-t", "5"])).unwrap().io_timeout, 5);
        // The flag is found even when the rest is bad.
        assert_eq!(
            flag_of(&v(&["-c", "X", "-p", "http", "-r", "/f"])),
            Some(PathBuf::from("/f"))
        );
        assert_eq!(flag_of(&v(&["-c", "X"])), None);
        // Positional block after script words holding -r: the block's flag.
        assert_eq!(
            flag_of(&v(&[
                "-r", "/wrong", "J", "j", "h", "0", "/l", "/flag", "/z"
            ])),
            Some(PathBuf::from("/flag"))
        );
    }
}
