//! ipsynd tables: the client parameter files, `PORTS` and the optional `IPSYND` file.
//!
//! Every parser is pure (text in, value plus problems out): a bad line never stops the
//! parse, it becomes a [`Problem`] naming `file:line` and the rest of the file is used.
//! Case rules (spec §3, §4): route/alt names are forced uppercase, host names lowercase,
//! script paths and field values keep their case; keywords are case-insensitive.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

mod ports;
pub use ports::{PhysPort, PortLine, PortsTable};

mod daemon_params;
pub use daemon_params::{parse_ipsynd, DaemonParams};

/// One complaint about one line of a table; logged by the daemon, never fatal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    pub line: usize,
    pub msg: String,
}

impl Problem {
    pub fn new(file: &Path, line: usize, msg: impl Into<String>) -> Problem {
        Problem {
            file: file.to_path_buf(),
            line,
            msg: msg.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.msg)
    }
}

/// When to use the alternate route (see [`crate::ipsynd::schedule::use_alt`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryAlt {
    /// N normal attempts, then one on the alternate route.
    Every(u32),
    /// Strict alternation, normal route first.
    Even,
}

/// Layout of the standard block of the transmitter's argv (spec §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ArgStyle {
    /// `-c CLIENT -q queue [-s host -p port] -l LOG -r INUSE -z CTRL`
    #[default]
    Switches,
    /// `CLIENT queue host port LOG INUSE CTRL`
    Positional,
}

impl ArgStyle {
    /// Parse `switches` / `positional` (case-insensitive).
    pub fn parse(s: &str) -> Option<ArgStyle> {
        match s.trim().to_ascii_lowercase().as_str() {
            "switches" | "switch" => Some(ArgStyle::Switches),
            "positional" => Some(ArgStyle::Positional),
            _ => None,
        }
    }
}

/// The default ftp command of `useftp:` with an empty value.
pub const DEFAULT_FTP: &str = "/usr/bin/ftp -dinv";

/// Defaults and ranges of the numeric client keywords (spec §3 and §10.3/§10.4).
pub const TIMEOUT_DEFAULT: u64 = 90;
pub const TIMEOUT_MAX: u64 = 86_400;
pub const RETRY_DEFAULT: u32 = 11;
pub const RETRY_RANGE: (u32, u32) = (1, 100);
pub const PRIOR_DEFAULT: u32 = 50;
pub const PRIOR_RANGE: (u32, u32) = (1, 99);
pub const TRYALT_DEFAULT: u32 = 5;
pub const TRYALT_RANGE: (u32, u32) = (2, 100);
pub const MAXTIME_MAX: u64 = 86_400;

/// A parsed client parameter file (`tables/syn/client/<CLIENT>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientParams {
    /// Client name, uppercase.
    pub name: String,
    /// Route name, uppercase.
    pub route: Option<String>,
    /// Alternate route name, uppercase.
    pub alt: Option<String>,
    /// Seconds between attempts (0..=86400).
    pub timeout: u64,
    pub tryalt: TryAlt,
    /// Attempts in all before giving up (1..=100).
    pub retry: u32,
    /// Priority, lowest first (1..=99).
    pub prior: u32,
    /// Seconds an attempt may run, 0 = no limit (0..=86400).
    pub maxtime: u64,
    pub maxkill: Option<String>,
    /// The raw `script:` value (expanded later, per attempt).
    pub script: Option<String>,
    /// The ftp command; `Some(DEFAULT_FTP)` when `useftp:` had no value.
    pub useftp: Option<String>,
    /// `ftpline:` values in file order.
    pub ftplines: Vec<String>,
    /// Per-client `argstyle:`; `None` = the daemon's default.
    pub argstyle: Option<ArgStyle>,
    /// Two-character codes (`C1:...`), key uppercase, value as written.
    pub fields: BTreeMap<String, String>,
}

impl ClientParams {
    /// All defaults, for client `name`.
    pub fn defaults(name: &str) -> ClientParams {
        ClientParams {
            name: name.trim().to_ascii_uppercase(),
            route: None,
            alt: None,
            timeout: TIMEOUT_DEFAULT,
            tryalt: TryAlt::Every(TRYALT_DEFAULT),
            retry: RETRY_DEFAULT,
            prior: PRIOR_DEFAULT,
            maxtime: 0,
            maxkill: None,
            script: None,
            useftp: None,
            ftplines: Vec::new(),
            argstyle: None,
            fields: BTreeMap::new(),
        }
    }
}

/// Split a table line into `(keyword lowercase, value trimmed)`; `None` for blank and `;` lines.
/// `Some(Err(()))` when the line has no colon.
fn keyword_line(raw: &str) -> Option<Result<(String, String), ()>> {
    let line = raw.trim();
    if line.is_empty() || line.starts_with(';') {
        return None;
    }
    Some(match line.split_once(':') {
        Some((k, v)) => Ok((k.trim().to_ascii_lowercase(), v.trim().to_string())),
        None => Err(()),
    })
}

/// Outcome of reading a number: the value (maybe clamped) or a fallback to the default.
enum Num {
    Ok(i128),
    NotANumber,
}

/// Parse an optionally signed decimal integer; absurdly long numbers saturate (they are
/// clamped afterwards anyway).
fn parse_num(v: &str) -> Num {
    let v = v.trim();
    let (neg, digits) = match v.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, v.strip_prefix('+').unwrap_or(v)),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Num::NotANumber;
    }
    let n = digits.parse::<i128>().unwrap_or(i128::MAX);
    Num::Ok(if neg { -n } else { n })
}

/// Read a number in `lo..=hi`: clamp and complain when outside, complain and use `default`
/// when not a number.
pub(crate) fn ranged(
    v: &str,
    key: &str,
    lo: u64,
    hi: u64,
    default: u64,
    at: (&Path, usize),
    problems: &mut Vec<Problem>,
) -> Option<u64> {
    match parse_num(v) {
        Num::Ok(n) if n < lo as i128 => {
            problems.push(Problem::new(
                at.0,
                at.1,
                format!("{key}:{v} is below {lo}, using {lo}"),
            ));
            Some(lo)
        }
        Num::Ok(n) if n > hi as i128 => {
            problems.push(Problem::new(
                at.0,
                at.1,
                format!("{key}:{v} is above {hi}, using {hi}"),
            ));
            Some(hi)
        }
        Num::Ok(n) => Some(n as u64),
        Num::NotANumber => {
            problems.push(Problem::new(
                at.0,
                at.1,
                format!("{key}:{v} is not a number, using the default {default}"),
            ));
            None
        }
    }
}

/// Whether `k` is a two-character field code (letters or digits).
fn is_field_code(k: &str) -> bool {
    k.len() == 2 && k.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Parse a client parameter file. `name` is the client name (uppercased here), `path` is
/// only used in problems.
pub fn parse_client(name: &str, text: &str, path: &Path) -> (ClientParams, Vec<Problem>) {
    let mut c = ClientParams::defaults(name);
    let mut problems = Vec::new();
    let mut retry_given = false;
    let mut tryalt: Option<TryAlt> = None;
    let mut script_line = 0usize;
    let mut ftp_line = 0usize;
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
            "route" | "alt" => {
                let val = if v.is_empty() {
                    problems.push(Problem::new(path, lineno, format!("{key}: has no value")));
                    None
                } else {
                    Some(v.to_ascii_uppercase())
                };
                if key == "route" {
                    c.route = val;
                } else {
                    c.alt = val;
                }
            }
            "timeout" => {
                if let Some(n) = ranged(
                    v,
                    "timeout",
                    0,
                    TIMEOUT_MAX,
                    TIMEOUT_DEFAULT,
                    at,
                    &mut problems,
                ) {
                    c.timeout = n;
                }
            }
            "maxtime" => {
                if let Some(n) = ranged(v, "maxtime", 0, MAXTIME_MAX, 0, at, &mut problems) {
                    c.maxtime = n;
                }
            }
            "retry" => {
                let (lo, hi) = RETRY_RANGE;
                let d = RETRY_DEFAULT as u64;
                if let Some(n) = ranged(v, "retry", lo as u64, hi as u64, d, at, &mut problems) {
                    c.retry = n as u32;
                    retry_given = true;
                }
            }
            "prior" => {
                let (lo, hi) = PRIOR_RANGE;
                let d = PRIOR_DEFAULT as u64;
                if let Some(n) = ranged(v, "prior", lo as u64, hi as u64, d, at, &mut problems) {
                    c.prior = n as u32;
                }
            }
            "tryalt" => {
                if v.eq_ignore_ascii_case("even") {
                    tryalt = Some(TryAlt::Even);
                } else {
                    let (lo, hi) = TRYALT_RANGE;
                    // The default depends on retry:, which may come later in the file.
                    let d = TRYALT_DEFAULT as u64;
                    if let Some(n) = ranged(v, "tryalt", lo as u64, hi as u64, d, at, &mut problems)
                    {
                        tryalt = Some(TryAlt::Every(n as u32));
                    }
                }
            }
            "maxkill" => c.maxkill = (!v.is_empty()).then(|| v.to_string()),
            "script" => {
                if v.is_empty() {
                    problems.push(Problem::new(path, lineno, "script: has no value, ignored"));
                } else {
                    c.script = Some(v.to_string());
                    script_line = lineno;
                }
            }
            "useftp" => {
                c.useftp = Some(if v.is_empty() {
                    DEFAULT_FTP.to_string()
                } else {
                    v.to_string()
                });
                ftp_line = lineno;
            }
            "ftpline" => c.ftplines.push(v.to_string()),
            "argstyle" => match ArgStyle::parse(v) {
                Some(s) => c.argstyle = Some(s),
                None => problems.push(Problem::new(
                    path,
                    lineno,
                    format!("argstyle:{v} is neither switches nor positional, ignored"),
                )),
            },
            // Only the transmitter reads the remote-system file.
            "remsys" => {}
            k if is_field_code(k) => {
                c.fields.insert(k.to_ascii_uppercase(), v.to_string());
            }
            k => problems.push(Problem::new(
                path,
                lineno,
                format!("unknown keyword {k}:, ignored"),
            )),
        }
    }
    c.tryalt = tryalt.unwrap_or(if retry_given {
        TryAlt::Every((c.retry / 2).max(2))
    } else {
        TryAlt::Every(TRYALT_DEFAULT)
    });
    if c.useftp.is_some() && c.script.is_some() {
        problems.push(Problem::new(
            path,
            script_line.max(ftp_line),
            "both useftp: and script: given; useftp: wins",
        ));
    }
    (c, problems)
}

/// Parse `yes`/`no` style booleans.
pub(crate) fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "yes" | "y" | "true" | "on" | "1" => Some(true),
        "no" | "n" | "false" | "off" | "0" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
