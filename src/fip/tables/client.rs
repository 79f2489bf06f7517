//! Client parameter files `tables/syn/client/<CLIENT>` (spec §3), and the two kinds
//! shared with the other tables: [`ArgStyle`] and [`TryAlt`]. Pure.
//!
//! Case rules (spec §3, §4): route/alt names are forced uppercase, script paths and field
//! values keep their case; keywords are case-insensitive.

use std::collections::BTreeMap;
use std::path::Path;

use super::line::{keyword_line, ranged, Problem};

/// When to use the alternate route (ipsynd's `schedule::use_alt` decides).
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

/// A parsed client parameter file (`tables/syn/client/<CLIENT>`). Its strings are boxed, not
/// `String`s: ipsynd keeps one per client, and a FIP site may have a client per waiting
/// record (ten thousand of them), so the struct stays in a smaller allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientParams {
    /// Client name, uppercase.
    pub name: Box<str>,
    /// Route name, uppercase.
    pub route: Option<Box<str>>,
    /// Alternate route name, uppercase.
    pub alt: Option<Box<str>>,
    /// Seconds between attempts (0..=86400).
    pub timeout: u64,
    pub tryalt: TryAlt,
    /// Attempts in all before giving up (1..=100).
    pub retry: u32,
    /// Priority, lowest first (1..=99).
    pub prior: u32,
    /// Seconds an attempt may run, 0 = no limit (0..=86400).
    pub maxtime: u64,
    pub maxkill: Option<Box<str>>,
    /// The raw `script:` value (expanded later, per attempt).
    pub script: Option<Box<str>>,
    /// The ftp command; `Some(DEFAULT_FTP)` when `useftp:` had no value.
    pub useftp: Option<Box<str>>,
    /// `ftpline:` values in file order.
    pub ftplines: Box<[String]>,
    /// Per-client `argstyle:`; `None` = the daemon's default.
    pub argstyle: Option<ArgStyle>,
    /// Two-character codes (`C1:...`), key uppercase, value as written.
    pub fields: BTreeMap<String, String>,
}

impl ClientParams {
    /// All defaults, for client `name`.
    pub fn defaults(name: &str) -> ClientParams {
        ClientParams {
            name: name.trim().to_ascii_uppercase().into(),
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
            ftplines: Box::default(),
            argstyle: None,
            fields: BTreeMap::new(),
        }
    }
}

/// Whether `k` is a two-character field code (letters or digits).
fn is_field_code(k: &str) -> bool {
    k.len() == 2 && k.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// State while reading one client file.
struct ClientReader<'a> {
    path: &'a Path,
    c: ClientParams,
    problems: Vec<Problem>,
    retry_given: bool,
    tryalt: Option<TryAlt>,
    script_line: usize,
    ftp_line: usize,
    /// `ftpline:` values so far (boxed into `c` at the end).
    ftplines: Vec<String>,
}

impl ClientReader<'_> {
    fn problem(&mut self, line: usize, msg: String) {
        self.problems.push(Problem::new(self.path, line, msg));
    }

    fn warn(&mut self, line: usize, msg: String) {
        self.problems.push(Problem::warning(self.path, line, msg));
    }

    /// A number in `lo..=hi` (see [`ranged`]).
    fn num(
        &mut self,
        v: &str,
        key: &str,
        range: (u64, u64),
        default: u64,
        line: usize,
    ) -> Option<u64> {
        let at = (self.path, line);
        ranged(v, key, range.0, range.1, default, at, &mut self.problems)
    }

    /// A route or alt name: uppercase; empty is logged and clears it.
    fn name(&mut self, key: &str, v: &str, line: usize) -> Option<Box<str>> {
        if v.is_empty() {
            self.problem(line, format!("{key}: has no value"));
            return None;
        }
        Some(v.to_ascii_uppercase().into())
    }

    /// Apply one `keyword:value` line.
    fn keyword(&mut self, key: &str, v: &str, line: usize) {
        let u = |r: (u32, u32)| (r.0 as u64, r.1 as u64);
        match key {
            "route" => self.c.route = self.name(key, v, line),
            "alt" => self.c.alt = self.name(key, v, line),
            "timeout" => {
                if let Some(n) = self.num(v, key, (0, TIMEOUT_MAX), TIMEOUT_DEFAULT, line) {
                    self.c.timeout = n;
                }
            }
            "maxtime" => {
                if let Some(n) = self.num(v, key, (0, MAXTIME_MAX), 0, line) {
                    self.c.maxtime = n;
                }
            }
            "retry" => {
                if let Some(n) = self.num(v, key, u(RETRY_RANGE), RETRY_DEFAULT as u64, line) {
                    self.c.retry = n as u32;
                    self.retry_given = true;
                }
            }
            "prior" => {
                if let Some(n) = self.num(v, key, u(PRIOR_RANGE), PRIOR_DEFAULT as u64, line) {
                    self.c.prior = n as u32;
                }
            }
            "tryalt" if v.eq_ignore_ascii_case("even") => self.tryalt = Some(TryAlt::Even),
            "tryalt" => {
                // The default depends on retry:, which may come later: settled at the end.
                if let Some(n) = self.num(v, key, u(TRYALT_RANGE), TRYALT_DEFAULT as u64, line) {
                    self.tryalt = Some(TryAlt::Every(n as u32));
                }
            }
            "maxkill" => self.c.maxkill = (!v.is_empty()).then(|| v.into()),
            "script" if v.is_empty() => self.problem(line, "script: has no value, ignored".into()),
            "script" => {
                self.c.script = Some(v.into());
                self.script_line = line;
            }
            "useftp" => {
                let cmd = if v.is_empty() { DEFAULT_FTP } else { v };
                self.c.useftp = Some(cmd.into());
                self.ftp_line = line;
            }
            "ftpline" => self.ftplines.push(v.to_string()),
            "argstyle" => match ArgStyle::parse(v) {
                Some(s) => self.c.argstyle = Some(s),
                None => self.problem(
                    line,
                    format!("argstyle:{v} is neither switches nor positional, ignored"),
                ),
            },
            // Only the transmitter reads the remote-system file.
            "remsys" => {}
            k if is_field_code(k) => {
                self.c.fields.insert(k.to_ascii_uppercase(), v.to_string());
            }
            k => self.warn(line, format!("unknown keyword {k}:, ignored")),
        }
    }

    /// Settle what depends on the whole file.
    fn finish(mut self) -> (ClientParams, Vec<Problem>) {
        let default = if self.retry_given {
            TryAlt::Every((self.c.retry / 2).max(2))
        } else {
            TryAlt::Every(TRYALT_DEFAULT)
        };
        self.c.tryalt = self.tryalt.unwrap_or(default);
        self.c.ftplines = std::mem::take(&mut self.ftplines).into_boxed_slice();
        if self.c.useftp.is_some() && self.c.script.is_some() {
            let line = self.script_line.max(self.ftp_line);
            self.warn(line, "both useftp: and script: given; useftp: wins".into());
        }
        (self.c, self.problems)
    }
}

/// Parse a client parameter file. `name` is the client name (uppercased here), `path` is
/// only used in problems.
pub fn parse_client(name: &str, text: &str, path: &Path) -> (ClientParams, Vec<Problem>) {
    let mut r = ClientReader {
        path,
        c: ClientParams::defaults(name),
        problems: Vec::new(),
        retry_given: false,
        tryalt: None,
        script_line: 0,
        ftp_line: 0,
        ftplines: Vec::new(),
    };
    for (idx, raw) in text.lines().enumerate() {
        match keyword_line(raw) {
            None => {}
            Some(Err(())) => r.problem(
                idx + 1,
                format!("not keyword:value, ignored: {}", raw.trim()),
            ),
            Some(Ok((key, v))) => r.keyword(&key, &v, idx + 1),
        }
    }
    r.finish()
}
