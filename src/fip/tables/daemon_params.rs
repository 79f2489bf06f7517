//! The optional `tables/syn/IPSYND` file: ipsynd's own parameters (spec §9).
//!
//! Same `keyword:value` syntax as the client files; a missing file means all defaults.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::client::ArgStyle;
use super::line::{keyword_line, parse_bool, ranged, Problem};

/// Default rescan interval, seconds.
pub const RESCAN_DEFAULT: u64 = 5;
/// Default grace between SIGTERM (or maxkill) and SIGKILL, seconds.
pub const GRACE_DEFAULT: u64 = 5;

/// ipsynd's own parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonParams {
    /// Safety-net rescan of the control directory (1..=3600 s).
    pub rescan: Duration,
    /// The default transmitter; `None` = `$FIP_ROOT/bin/ipsyn`.
    pub ipsyn: Option<PathBuf>,
    /// Host for the positional argv when the route has no PORTS entry (lowercase);
    /// `None` = the local host name.
    pub defhost: Option<String>,
    /// Default argv style for clients without `argstyle:`.
    pub argstyle: ArgStyle,
    /// Free ports held by flags whose pid is dead.
    pub unlockstale: bool,
    /// Seconds between TERM and KILL (0..=600 s).
    pub grace: Duration,
    /// Running as root is meant (`root:yes`): no warning at start.
    pub root: bool,
    /// `syslog:` (the values `loncSyslog` takes): copy every log line to this syslog socket;
    /// `None` = off (the default).
    pub syslog: Option<PathBuf>,
}

impl Default for DaemonParams {
    fn default() -> Self {
        DaemonParams {
            rescan: Duration::from_secs(RESCAN_DEFAULT),
            ipsyn: None,
            defhost: None,
            argstyle: ArgStyle::Switches,
            unlockstale: false,
            grace: Duration::from_secs(GRACE_DEFAULT),
            root: false,
            syslog: None,
        }
    }
}

/// `syslog:` as `loncSyslog`: yes/no, or an absolute path naming the socket (a relative path
/// is warned about and means the system's socket).
fn syslog_value(
    v: &str,
    path: &Path,
    lineno: usize,
    problems: &mut Vec<Problem>,
) -> Option<PathBuf> {
    if !v.contains('/') {
        return match parse_bool(v) {
            Some(true) => Some(PathBuf::from(crate::sys::syslog::SYSTEM_SOCKET)),
            Some(false) => None,
            None => {
                problems.push(Problem::new(
                    path,
                    lineno,
                    format!("syslog:{v} is neither yes, no nor an absolute path, using no"),
                ));
                None
            }
        };
    }
    match crate::sys::syslog::socket_for(v) {
        Ok(p) => Some(p),
        Err(w) => {
            problems.push(Problem::warning(path, lineno, format!("syslog: {w}")));
            Some(PathBuf::from(crate::sys::syslog::SYSTEM_SOCKET))
        }
    }
}

/// Parse `tables/syn/IPSYND`.
pub fn parse_ipsynd(text: &str, path: &Path) -> (DaemonParams, Vec<Problem>) {
    let mut d = DaemonParams::default();
    let mut problems = Vec::new();
    for (idx, raw) in text.lines().enumerate() {
        let lineno = idx + 1;
        let at = (path, lineno);
        let (key, v) = match keyword_line(raw) {
            None => continue,
            Some(Err(())) => {
                problems.push(Problem::new(
                    path,
                    lineno,
                    format!("not keyword:value, ignored: {}", raw.trim()),
                ));
                continue;
            }
            Some(Ok(kv)) => kv,
        };
        let v = v.as_str();
        match key.as_str() {
            "rescan" => {
                if let Some(n) = ranged(v, "rescan", 1, 3600, RESCAN_DEFAULT, at, &mut problems) {
                    d.rescan = Duration::from_secs(n);
                }
            }
            "grace" => {
                if let Some(n) = ranged(v, "grace", 0, 600, GRACE_DEFAULT, at, &mut problems) {
                    d.grace = Duration::from_secs(n);
                }
            }
            "ipsyn" => d.ipsyn = (!v.is_empty()).then(|| PathBuf::from(v)),
            "defhost" => d.defhost = (!v.is_empty()).then(|| v.to_ascii_lowercase()),
            "argstyle" => match ArgStyle::parse(v) {
                Some(s) => d.argstyle = s,
                None => problems.push(Problem::new(
                    path,
                    lineno,
                    format!("argstyle:{v} is neither switches nor positional, using switches"),
                )),
            },
            "unlockstale" => match parse_bool(v) {
                Some(b) => d.unlockstale = b,
                None => problems.push(Problem::new(
                    path,
                    lineno,
                    format!("unlockstale:{v} is neither yes nor no, using no"),
                )),
            },
            "syslog" => d.syslog = syslog_value(v, path, lineno, &mut problems),
            "root" => match parse_bool(v) {
                Some(b) => d.root = b,
                None => problems.push(Problem::new(
                    path,
                    lineno,
                    format!("root:{v} is neither yes nor no, using no"),
                )),
            },
            k => problems.push(Problem::warning(
                path,
                lineno,
                format!("unknown keyword {k}:, ignored"),
            )),
        }
    }
    (d, problems)
}
