//! The line grammar every table of `tables/syn` shares: `keyword:value` lines, `;`
//! comments, numbers in a range, booleans, and the [`Problem`] a bad line becomes. Pure.

use std::fmt;
use std::path::{Path, PathBuf};

/// One complaint about one line of a table; logged by the daemon, never fatal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    pub line: usize,
    pub msg: String,
    /// How `ipsynd -n` rates it.
    pub severity: Severity,
}

/// `error`: the line, or its value, is not used as written (skipped, or the default used
/// instead). `warning`: it is used, adjusted or with a caveat (a number clamped into its
/// range, an unknown keyword ignored, one of two conflicting keywords winning).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn word(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

impl Problem {
    /// An error (see [`Severity`]).
    pub fn new(file: &Path, line: usize, msg: impl Into<String>) -> Problem {
        Problem {
            file: file.to_path_buf(),
            line,
            msg: msg.into(),
            severity: Severity::Error,
        }
    }

    /// A warning (see [`Severity`]).
    pub fn warning(file: &Path, line: usize, msg: impl Into<String>) -> Problem {
        Problem {
            severity: Severity::Warning,
            ..Problem::new(file, line, msg)
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.msg)
    }
}

/// Split a table line into `(keyword lowercase, value trimmed)`; `None` for blank and `;` lines.
/// `Some(Err(()))` when the line has no colon.
pub(super) fn keyword_line(raw: &str) -> Option<Result<(String, String), ()>> {
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
pub(super) fn ranged(
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
            problems.push(Problem::warning(
                at.0,
                at.1,
                format!("{key}:{v} is below {lo}, using {lo}"),
            ));
            Some(lo)
        }
        Num::Ok(n) if n > hi as i128 => {
            problems.push(Problem::warning(
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

/// Parse `yes`/`no` style booleans.
pub(super) fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "yes" | "y" | "true" | "on" | "1" => Some(true),
        "no" | "n" | "false" | "off" | "0" => Some(false),
        _ => None,
    }
}
