//! lonc configuration: `PerlSetVar NAME VALUE` lines into a validated [`LoncConfig`].
//!
//! The parse is 1.29's for ordinary lines (spec §1): every line that contains `PerlSetVar`
//! sets field 2 to field 3 of its whitespace split, later lines win, a value stops at its first
//! blank. Two deliberate differences (settled detail 5), each reported as a warning naming
//! `file:line`: a line whose first non-blank character is `#` sets nothing (1.29 applied
//! `#PerlSetVar name value`), and an indented line is read as meant (1.29 stored
//! `PerlSetVar => name` instead). Problems that make the config unusable (missing required key,
//! bad number) are `fatal`; `parse` then returns [`ConfigError::Invalid`] with all problems.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One finding in a config or hosts.tab file. `line` is 1-based; 0 means "the file as a whole"
/// (for example a required key that no line sets), and then Display omits it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    pub line: usize,
    pub msg: String,
    pub fatal: bool,
}

impl Problem {
    /// Control characters in `msg` (quoted from the file) are escaped: lonc's log, like
    /// 1.29's, writes messages as they are, and `-n` prints them to a terminal.
    pub fn warning(file: &Path, line: usize, msg: impl Into<String>) -> Problem {
        let msg: String = msg.into();
        let msg = if msg.contains(char::is_control) {
            msg.chars()
                .map(|c| match c.is_control() {
                    true => c.escape_default().to_string(),
                    false => c.to_string(),
                })
                .collect()
        } else {
            msg
        };
        Problem {
            file: file.to_path_buf(),
            line,
            msg,
            fatal: false,
        }
    }

    pub fn fatal(file: &Path, line: usize, msg: impl Into<String>) -> Problem {
        Problem {
            fatal: true,
            ..Problem::warning(file, line, msg)
        }
    }
}

impl Problem {
    /// `error` for a fatal problem, else `warning`.
    pub fn severity(&self) -> &'static str {
        if self.fatal {
            "error"
        } else {
            "warning"
        }
    }

    /// `file:line: error: message` (or `warning`), as `lonc -n` prints it.
    pub fn report(&self) -> String {
        let at = if self.line == 0 {
            format!("{}", self.file.display())
        } else {
            format!("{}:{}", self.file.display(), self.line)
        };
        format!("{at}: {}: {}", self.severity(), self.msg)
    }
}

/// The `lonTabDir` a config names, even when the config is otherwise unusable (so `-n` can
/// still check hosts.tab).
pub fn lon_tab_dir_of(text: &str, path: &Path) -> Option<PathBuf> {
    let (vars, _) = read_vars(text, path);
    vars.get("lonTabDir")
        .map(|s| PathBuf::from(&s.value))
        .filter(|p| !p.as_os_str().is_empty())
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.msg)
        } else {
            write!(f, "{}:{}: {}", self.file.display(), self.line, self.msg)
        }
    }
}

/// Why a config (or hosts.tab) could not be used.
#[derive(Debug)]
pub enum ConfigError {
    /// The file could not be read at all.
    Read { path: PathBuf, source: io::Error },
    /// The file was read but has fatal problems (all problems, warnings included, in order).
    Invalid(Vec<Problem>),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Read { path, source } => {
                write!(f, "can't read {}: {source}", path.display())
            }
            ConfigError::Invalid(problems) => {
                let fatal: Vec<String> = problems
                    .iter()
                    .filter(|p| p.fatal)
                    .map(|p| p.to_string())
                    .collect();
                write!(f, "{}", fatal.join("; "))
            }
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::Read { source, .. } => Some(source),
            ConfigError::Invalid(_) => None,
        }
    }
}

/// Everything lonc takes from the config, checked. `vars` holds every variable set, including
/// ones lonc does not use.
#[derive(Debug, Clone, PartialEq)]
pub struct LoncConfig {
    pub path: PathBuf,
    pub vars: BTreeMap<String, String>,
    pub lon_daemons: PathBuf,
    pub lon_tab_dir: PathBuf,
    pub lon_sock_dir: PathBuf,
    pub lond_port: u16,
    pub lon_host_id: String,
    pub lon_doc_root: PathBuf,
    pub adm_email: Option<String>,
    pub sys_email: Option<String>,
    /// `loncUser`: the user lonc must run as (default `www`).
    pub user: String,
    /// `loncProbePort`: TCP port of the reachability probe (default 7, echo).
    pub probe_port: u16,
    /// `loncProbeTimeout`: connect timeout of the probe (default 20 s).
    pub probe_timeout: Duration,
    /// `loncMaxAttempts`: restarts of a host's child before it is abandoned (default 5).
    pub max_attempts: u32,
    /// `loncPongDelay`: pause between `ok` and `pong` (default 5 s).
    pub pong_delay: Duration,
    /// `loncInitTimeout`: bound on the whole handshake (default 60 s).
    pub init_timeout: Duration,
    /// `loncReplyTimeout`: bound on one request's answer (default 300 s).
    pub reply_timeout: Duration,
    /// `loncBackoffMin`/`loncBackoffMax`: random sleep after a failed connect (120/360 s).
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// `loncMaxLine`: longest request in bytes, without its newline (default 16 MiB).
    pub max_line: usize,
    /// `loncMaxAnswer`: longest answer line from lond in bytes, without its newline (default
    /// 64 MiB). Past it the link is treated as lost, so a peer cannot fill our memory.
    pub max_answer: usize,
    /// `loncSyslog`: also log to syslog, on this Unix socket. An absolute path names the
    /// socket; any other value that is set, non-empty and not `0`/`no`/`off`/`false` means
    /// the system's `/dev/log`.
    pub syslog: Option<PathBuf>,
    /// `loncRecheck`: period on which unreachable and abandoned hosts are probed again, their
    /// attempts reset as USR1 does (default 600 s; 0 = never, as 1.29: only USR1 does it).
    pub recheck: Duration,
    /// `loncLinks`: most TCP links to the peer (1-64, default 1 = 1.29's one link).
    pub links: usize,
    /// `loncLinkIdle`: an extra link (not the first) unused this long is closed (default 300 s).
    pub link_idle: Duration,
}

pub const DEFAULT_USER: &str = "www";
pub const DEFAULT_PROBE_PORT: u16 = 7;
pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(20);
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;
pub const DEFAULT_PONG_DELAY: Duration = Duration::from_secs(5);
pub const DEFAULT_INIT_TIMEOUT: Duration = Duration::from_secs(60);
pub const DEFAULT_REPLY_TIMEOUT: Duration = Duration::from_secs(300);
pub const DEFAULT_BACKOFF_MIN: Duration = Duration::from_secs(120);
pub const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(360);
pub const DEFAULT_RECHECK: Duration = Duration::from_secs(600);
pub const DEFAULT_LINKS: usize = 1;
/// Most links per peer: each is a lond child on the peer, so more would be a denial of service.
pub const MAX_LINKS: usize = 64;
pub const DEFAULT_LINK_IDLE: Duration = Duration::from_secs(300);
pub const DEFAULT_MAX_LINE: usize = 16 * 1024 * 1024;
/// Answers are not tied to requests in size (a short `dump` request can fetch megabytes), and
/// an encrypted answer is hex, twice its plain text: so four times the request limit, which no
/// real lond answer comes near, while one child still cannot be made to hold more than that.
pub const DEFAULT_MAX_ANSWER: usize = 64 * 1024 * 1024;

/// Longest duration accepted (about 31 years): keeps `Duration` arithmetic far from overflow.
const MAX_DURATION_SECS: f64 = 1e9;

/// A variable as set, with the line that set it (for messages about its value).
struct Setting {
    value: String,
    line: usize,
}

/// The raw result of reading lines: every variable (later lines win) plus warnings.
fn read_vars(text: &str, path: &Path) -> (BTreeMap<String, Setting>, Vec<Problem>) {
    let mut vars = BTreeMap::new();
    let mut problems = Vec::new();
    for (idx, raw) in text.lines().enumerate() {
        let lineno = idx + 1;
        if !raw.contains("PerlSetVar") {
            continue;
        }
        let fields: Vec<&str> = raw.split_whitespace().collect();
        let indented = raw.starts_with(|c: char| c.is_whitespace());
        if fields.first().is_some_and(|f| f.starts_with('#')) {
            // 1.29 split the raw line, so `#PerlSetVar name value` (no indentation) set
            // `name`. Other comments that merely mention PerlSetVar stored junk keys; no noise.
            if !indented && fields[0].trim_start_matches('#') == "PerlSetVar" && fields.len() >= 2 {
                problems.push(Problem::warning(
                    path,
                    lineno,
                    format!(
                        "commented-out line ignored; lonc 1.29 would have set {} = {:?}",
                        fields[1],
                        fields.get(2).copied().unwrap_or("")
                    ),
                ));
            }
            continue;
        }
        if fields.len() < 2 {
            problems.push(Problem::warning(
                path,
                lineno,
                "PerlSetVar without a name; line ignored",
            ));
            continue;
        }
        if fields[0] != "PerlSetVar" {
            problems.push(Problem::warning(
                path,
                lineno,
                format!(
                    "line mentions PerlSetVar but starts with {:?}; read as 1.29 did",
                    fields[0]
                ),
            ));
        }
        if indented {
            problems.push(Problem::warning(
                path,
                lineno,
                format!(
                    "indented PerlSetVar read as meant ({}); lonc 1.29 would have misread it",
                    fields[1]
                ),
            ));
        }
        let value = match fields.get(2) {
            Some(v) => v.to_string(),
            None => {
                problems.push(Problem::warning(
                    path,
                    lineno,
                    format!(
                        "PerlSetVar {} has no value; set to the empty string",
                        fields[1]
                    ),
                ));
                String::new()
            }
        };
        if fields.len() > 3 {
            problems.push(Problem::warning(
                path,
                lineno,
                format!(
                    "value of {} has more than one word; only {:?} is used (as 1.29)",
                    fields[1], value
                ),
            ));
        }
        vars.insert(
            fields[1].to_string(),
            Setting {
                value,
                line: lineno,
            },
        );
    }
    (vars, problems)
}

/// Whole seconds or a decimal fraction (`"0.2"`), non-negative.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let valid = !s.is_empty()
        && s.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && s.bytes().filter(|&b| b == b'.').count() <= 1
        && s.bytes().any(|b| b.is_ascii_digit());
    if !valid {
        return None;
    }
    let secs: f64 = s.parse().ok()?;
    if !secs.is_finite() || !(0.0..=MAX_DURATION_SECS).contains(&secs) {
        return None;
    }
    Some(Duration::from_secs_f64(secs))
}

fn parse_uint<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Typed lookups that record a problem instead of failing early, so `-n` lists them all.
struct Lookup<'a> {
    vars: &'a BTreeMap<String, Setting>,
    path: &'a Path,
    problems: Vec<Problem>,
}

impl Lookup<'_> {
    fn required(&mut self, key: &str) -> String {
        match self.vars.get(key) {
            Some(s) if !s.value.is_empty() => s.value.clone(),
            Some(s) => {
                self.problems.push(Problem::fatal(
                    self.path,
                    s.line,
                    format!("{key} is empty; it is required"),
                ));
                String::new()
            }
            None => {
                self.problems.push(Problem::fatal(
                    self.path,
                    0,
                    format!("no PerlSetVar {key} line; it is required"),
                ));
                String::new()
            }
        }
    }

    fn optional(&self, key: &str) -> Option<String> {
        self.vars
            .get(key)
            .map(|s| s.value.clone())
            .filter(|v| !v.is_empty())
    }

    fn typed<T>(&mut self, key: &str, default: T, what: &str, parse: fn(&str) -> Option<T>) -> T {
        let Some(s) = self.vars.get(key) else {
            return default;
        };
        match parse(&s.value) {
            Some(v) => v,
            None => {
                self.problems.push(Problem::fatal(
                    self.path,
                    s.line,
                    format!("{key} {:?} is not {what}", s.value),
                ));
                default
            }
        }
    }

    fn port(&mut self, key: &str, default: u16) -> u16 {
        self.typed(key, default, "a port number (1-65535)", |s| {
            parse_uint::<u16>(s).filter(|&p| p != 0)
        })
    }

    fn required_port(&mut self, key: &str) -> u16 {
        if self.vars.contains_key(key) {
            self.port(key, 0)
        } else {
            self.required(key);
            0
        }
    }

    fn duration(&mut self, key: &str, default: Duration) -> Duration {
        self.typed(key, default, "a number of seconds", parse_duration)
    }

    /// A size limit; 0 would refuse everything.
    fn bytes(&mut self, key: &str, default: usize) -> usize {
        self.typed(key, default, "a positive number of bytes", |s| {
            parse_uint::<usize>(s).filter(|&n| n > 0)
        })
    }

    /// Where syslog copies go: an absolute path names the socket, any other true value means
    /// the system's socket, unset or false means none.
    fn syslog(&mut self, key: &str) -> Option<PathBuf> {
        let v = self.optional(key).filter(|v| truthy(v))?;
        if v.starts_with('/') {
            return Some(PathBuf::from(v));
        }
        if v.contains('/') {
            let line = self.vars.get(key).map_or(0, |s| s.line);
            self.problems.push(Problem::warning(
                self.path,
                line,
                format!(
                    "{key} {v:?} is not an absolute path; using {}",
                    crate::sys::syslog::SYSTEM_SOCKET
                ),
            ));
        }
        Some(PathBuf::from(crate::sys::syslog::SYSTEM_SOCKET))
    }

    /// A timeout of 0 would fail every probe, handshake or request at once.
    fn timeout(&mut self, key: &str, default: Duration) -> Duration {
        self.typed(key, default, "a number of seconds above 0", |s| {
            parse_duration(s).filter(|d| !d.is_zero())
        })
    }
}

fn truthy(v: &str) -> bool {
    !v.is_empty() && !["0", "no", "off", "false"].contains(&v.to_ascii_lowercase().as_str())
}

impl LoncConfig {
    /// Reads and parses `path`. Warnings come back with the config; fatal problems as
    /// [`ConfigError::Invalid`].
    pub fn load(path: &Path) -> Result<(LoncConfig, Vec<Problem>), ConfigError> {
        let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        LoncConfig::parse(&String::from_utf8_lossy(&bytes), path)
    }

    /// Parses config text; `path` is used for messages and [`LoncConfig::path`].
    pub fn parse(text: &str, path: &Path) -> Result<(LoncConfig, Vec<Problem>), ConfigError> {
        let (settings, mut problems) = read_vars(text, path);
        let mut l = Lookup {
            vars: &settings,
            path,
            problems: Vec::new(),
        };
        let lon_daemons = PathBuf::from(l.required("lonDaemons"));
        let lon_tab_dir = PathBuf::from(l.required("lonTabDir"));
        let lon_sock_dir = PathBuf::from(l.required("lonSockDir"));
        let lond_port = l.required_port("londPort");
        let lon_host_id = l.required("lonHostID");
        let lon_doc_root = PathBuf::from(l.required("lonDocRoot"));
        let adm_email = l.optional("lonAdmEMail");
        let sys_email = l.optional("lonSysEMail");
        let user = l
            .optional("loncUser")
            .unwrap_or_else(|| DEFAULT_USER.to_string());
        let probe_port = l.port("loncProbePort", DEFAULT_PROBE_PORT);
        let probe_timeout = l.timeout("loncProbeTimeout", DEFAULT_PROBE_TIMEOUT);
        let max_attempts = l.typed(
            "loncMaxAttempts",
            DEFAULT_MAX_ATTEMPTS,
            "a whole number",
            parse_uint::<u32>,
        );
        let pong_delay = l.duration("loncPongDelay", DEFAULT_PONG_DELAY);
        let init_timeout = l.timeout("loncInitTimeout", DEFAULT_INIT_TIMEOUT);
        let reply_timeout = l.timeout("loncReplyTimeout", DEFAULT_REPLY_TIMEOUT);
        let backoff_min = l.duration("loncBackoffMin", DEFAULT_BACKOFF_MIN);
        let backoff_max = l.duration("loncBackoffMax", DEFAULT_BACKOFF_MAX);
        let max_line = l.bytes("loncMaxLine", DEFAULT_MAX_LINE);
        let max_answer = l.bytes("loncMaxAnswer", DEFAULT_MAX_ANSWER);
        let syslog = l.syslog("loncSyslog");
        let recheck = l.duration("loncRecheck", DEFAULT_RECHECK);
        let links = l.typed(
            "loncLinks",
            DEFAULT_LINKS,
            "a whole number from 1 to 64",
            |s| parse_uint::<usize>(s).filter(|n| (1..=MAX_LINKS).contains(n)),
        );
        let link_idle = l.timeout("loncLinkIdle", DEFAULT_LINK_IDLE);
        if backoff_min > backoff_max {
            let line = settings
                .get("loncBackoffMax")
                .or_else(|| settings.get("loncBackoffMin"))
                .map_or(0, |s| s.line);
            l.problems.push(Problem::fatal(
                path,
                line,
                format!(
                    "loncBackoffMin ({} s) is greater than loncBackoffMax ({} s)",
                    backoff_min.as_secs_f64(),
                    backoff_max.as_secs_f64()
                ),
            ));
        }
        if lon_host_id.contains('/') || lon_host_id == "." || lon_host_id == ".." {
            let line = settings.get("lonHostID").map_or(0, |s| s.line);
            l.problems.push(Problem::fatal(
                path,
                line,
                format!("lonHostID {lon_host_id:?} cannot name a socket file"),
            ));
        }
        problems.append(&mut l.problems);
        if problems.iter().any(|p| p.fatal) {
            return Err(ConfigError::Invalid(problems));
        }
        let vars = settings
            .into_iter()
            .map(|(k, s)| (k, s.value))
            .collect::<BTreeMap<_, _>>();
        let config = LoncConfig {
            path: path.to_path_buf(),
            vars,
            lon_daemons,
            lon_tab_dir,
            lon_sock_dir,
            lond_port,
            lon_host_id,
            lon_doc_root,
            adm_email,
            sys_email,
            user,
            probe_port,
            probe_timeout,
            max_attempts,
            pong_delay,
            init_timeout,
            reply_timeout,
            backoff_min,
            backoff_max,
            max_line,
            max_answer,
            syslog,
            recheck,
            links,
            link_idle,
        };
        Ok((config, problems))
    }

    /// `<lonTabDir>/hosts.tab`
    pub fn hosts_tab(&self) -> PathBuf {
        self.lon_tab_dir.join("hosts.tab")
    }

    /// `<lonDaemons>/logs/lonc.pid`
    pub fn pid_file(&self) -> PathBuf {
        self.lon_daemons.join("logs").join("lonc.pid")
    }

    /// `<lonDaemons>/logs/lonc.log`
    pub fn log_file(&self) -> PathBuf {
        self.lon_daemons.join("logs").join("lonc.log")
    }

    /// `<lonDaemons>/logs/lonnet.perm.log`
    pub fn perm_log_file(&self) -> PathBuf {
        self.lon_daemons.join("logs").join("lonnet.perm.log")
    }

    /// `<lonDocRoot>/lon-status/loncstatus.txt`
    pub fn status_txt(&self) -> PathBuf {
        self.lon_doc_root.join("lon-status").join("loncstatus.txt")
    }

    /// `<lonDocRoot>/lon-status/loncstatus.json`
    pub fn status_json(&self) -> PathBuf {
        self.lon_doc_root.join("lon-status").join("loncstatus.json")
    }

    /// `<lonSockDir>/<host_id>`
    pub fn socket_path(&self, host_id: &str) -> PathBuf {
        self.lon_sock_dir.join(host_id)
    }

    /// `<lonSockDir>/delayed`
    pub fn delayed_dir(&self) -> PathBuf {
        self.lon_sock_dir.join("delayed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_in_problems_are_escaped() {
        let p = Problem::warning(Path::new("/c"), 2, "name \u{1b}[2J\r\u{1} é \"q\"");
        assert_eq!(p.to_string(), "/c:2: name \\u{1b}[2J\\r\\u{1} é \"q\"");
        assert_eq!(Problem::fatal(Path::new("/c"), 1, "a\tb").msg, "a\\tb");
    }

    const BASE: &str = "\
# LON-CAPA access.conf excerpt
PerlSetVar lonDaemons /home/httpd/perl
PerlSetVar lonTabDir  /home/httpd/lonTabs
PerlSetVar lonSockDir /home/httpd/sockets
PerlSetVar londPort   5663
PerlSetVar lonHostID  msul1
PerlSetVar lonDocRoot /home/httpd/html
";

    fn path() -> &'static Path {
        Path::new("/etc/httpd/conf/access.conf")
    }

    fn parse(text: &str) -> Result<(LoncConfig, Vec<Problem>), ConfigError> {
        LoncConfig::parse(text, path())
    }

    fn invalid(text: &str) -> Vec<Problem> {
        match parse(text) {
            Err(ConfigError::Invalid(p)) => p,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn defaults_and_paths() {
        let (c, warnings) = parse(BASE).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(c.lon_daemons, Path::new("/home/httpd/perl"));
        assert_eq!(c.lond_port, 5663);
        assert_eq!(c.lon_host_id, "msul1");
        assert_eq!(c.user, "www");
        assert_eq!(c.probe_port, 7);
        assert_eq!(c.probe_timeout, Duration::from_secs(20));
        assert_eq!(c.max_attempts, 5);
        assert_eq!(c.pong_delay, Duration::from_secs(5));
        assert_eq!(c.init_timeout, Duration::from_secs(60));
        assert_eq!(c.reply_timeout, Duration::from_secs(300));
        assert_eq!(c.backoff_min, Duration::from_secs(120));
        assert_eq!(c.backoff_max, Duration::from_secs(360));
        assert_eq!(c.max_line, 16 * 1024 * 1024);
        assert_eq!(c.syslog, None);
        assert_eq!(c.recheck, Duration::from_secs(600));
        assert_eq!(c.links, 1, "1.29: one link per peer");
        assert_eq!(c.link_idle, Duration::from_secs(300));
        assert_eq!(c.adm_email, None);
        assert_eq!(c.hosts_tab(), Path::new("/home/httpd/lonTabs/hosts.tab"));
        assert_eq!(c.pid_file(), Path::new("/home/httpd/perl/logs/lonc.pid"));
        assert_eq!(c.log_file(), Path::new("/home/httpd/perl/logs/lonc.log"));
        assert_eq!(
            c.perm_log_file(),
            Path::new("/home/httpd/perl/logs/lonnet.perm.log")
        );
        assert_eq!(
            c.status_txt(),
            Path::new("/home/httpd/html/lon-status/loncstatus.txt")
        );
        assert_eq!(
            c.status_json(),
            Path::new("/home/httpd/html/lon-status/loncstatus.json")
        );
        assert_eq!(
            c.socket_path("msua3"),
            Path::new("/home/httpd/sockets/msua3")
        );
        assert_eq!(c.delayed_dir(), Path::new("/home/httpd/sockets/delayed"));
        assert_eq!(c.path, path());
        assert_eq!(c.vars.len(), 6);
    }

    #[test]
    fn extension_keys_and_fractions() {
        let text = format!(
            "{BASE}PerlSetVar loncUser alice\nPerlSetVar loncProbePort 4711\n\
             PerlSetVar loncProbeTimeout 0.5\nPerlSetVar loncMaxAttempts 2\n\
             PerlSetVar loncPongDelay 0\nPerlSetVar loncInitTimeout 3\n\
             PerlSetVar loncReplyTimeout .25\nPerlSetVar loncBackoffMin 0.1\n\
             PerlSetVar loncBackoffMax 0.2\nPerlSetVar loncMaxLine 100\n\
             PerlSetVar loncMaxAnswer 200\nPerlSetVar loncRecheck 0\n\
             PerlSetVar loncSyslog yes\nPerlSetVar lonAdmEMail adm@example.org\n\
             PerlSetVar loncLinks 4\nPerlSetVar loncLinkIdle 2.5\n\
             PerlSetVar lonSysEMail sys@example.org\r\n"
        );
        let (c, w) = parse(&text).unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(c.user, "alice");
        assert_eq!(c.probe_port, 4711);
        assert_eq!(c.probe_timeout, Duration::from_millis(500));
        assert_eq!(c.max_attempts, 2);
        assert_eq!(c.pong_delay, Duration::ZERO);
        assert_eq!(c.init_timeout, Duration::from_secs(3));
        assert_eq!(c.reply_timeout, Duration::from_millis(250));
        assert_eq!(c.backoff_min, Duration::from_millis(100));
        assert_eq!(c.backoff_max, Duration::from_millis(200));
        assert_eq!(c.max_line, 100);
        assert_eq!(c.max_answer, 200);
        assert_eq!(c.recheck, Duration::ZERO, "0 turns the recheck off");
        assert_eq!(c.links, 4);
        assert_eq!(c.link_idle, Duration::from_millis(2500));
        assert_eq!(c.syslog.as_deref(), Some(Path::new("/dev/log")));
        assert_eq!(c.adm_email.as_deref(), Some("adm@example.org"));
        // A trailing \r is dropped, as Perl's split on \s+ did.
        assert_eq!(c.sys_email.as_deref(), Some("sys@example.org"));
    }

    #[test]
    fn later_lines_win() {
        let text = format!("{BASE}PerlSetVar lonHostID msua3\nPerlSetVar londPort 6000\n");
        let (c, _) = parse(&text).unwrap();
        assert_eq!(c.lon_host_id, "msua3");
        assert_eq!(c.lond_port, 6000);
    }

    #[test]
    fn syslog_switch_values_and_socket_path() {
        for (v, want) in [
            ("1", Some("/dev/log")),
            ("yes", Some("/dev/log")),
            ("0", None),
            ("no", None),
            ("OFF", None),
            ("/run/test/log.sock", Some("/run/test/log.sock")),
        ] {
            let text = format!("{BASE}PerlSetVar loncSyslog {v}\n");
            let (c, w) = parse(&text).unwrap();
            assert_eq!(c.syslog.as_deref(), want.map(Path::new), "{v}");
            assert!(w.is_empty(), "{v}: {w:?}");
        }
        let text = format!("{BASE}PerlSetVar loncSyslog run/log.sock\n");
        let (c, w) = parse(&text).unwrap();
        assert_eq!(c.syslog.as_deref(), Some(Path::new("/dev/log")));
        assert_eq!(w.len(), 1, "{w:?}");
        assert_eq!(w[0].line, 8);
    }

    #[test]
    fn commented_perlsetvar_warns_with_file_and_line() {
        let text = format!("{BASE}#PerlSetVar lonHostID evil\n# PerlSetVar lonHostID x\n");
        let (c, w) = parse(&text).unwrap();
        assert_eq!(c.lon_host_id, "msul1", "a comment sets nothing");
        assert_eq!(w.len(), 1, "{w:?}");
        assert_eq!(w[0].line, 8);
        assert!(!w[0].fatal);
        let shown = w[0].to_string();
        assert!(
            shown.starts_with("/etc/httpd/conf/access.conf:8: "),
            "{shown}"
        );
        assert!(shown.contains("lonHostID"), "{shown}");
    }

    #[test]
    fn indented_line_is_read_as_meant_with_warning() {
        let text = format!("{BASE}   PerlSetVar lonHostID msua3\n\tPerlSetVar loncUser bob\n");
        let (c, w) = parse(&text).unwrap();
        assert_eq!(c.lon_host_id, "msua3");
        assert_eq!(c.user, "bob");
        assert_eq!(w.iter().map(|p| p.line).collect::<Vec<_>>(), vec![8, 9]);
        assert!(w[0].msg.contains("1.29"), "{}", w[0].msg);
    }

    #[test]
    fn value_cut_at_first_blank_and_unusual_lines() {
        let text =
            format!("{BASE}PerlSetVar lonAdmEMail a@x b@y\nFoo PerlSetVar loncUser\nPerlSetVar\n");
        let (c, w) = parse(&text).unwrap();
        assert_eq!(c.adm_email.as_deref(), Some("a@x"));
        // "Foo PerlSetVar loncUser" sets PerlSetVar = loncUser, as 1.29 did; user stays default.
        assert_eq!(
            c.vars.get("PerlSetVar").map(String::as_str),
            Some("loncUser")
        );
        assert_eq!(c.user, "www");
        let lines: Vec<usize> = w.iter().map(|p| p.line).collect();
        assert_eq!(lines, vec![8, 9, 10], "{w:?}");
    }

    #[test]
    fn bad_numbers_are_fatal_with_file_and_line() {
        for (key, value) in [
            ("londPort", "56x3"),
            ("londPort", "70000"),
            ("londPort", "0"),
            ("loncProbePort", "-1"),
            ("loncProbeTimeout", "1e3"),
            ("loncReplyTimeout", "1.2.3"),
            ("loncPongDelay", "."),
            ("loncMaxAttempts", "five"),
            ("loncMaxLine", "0"),
            ("loncMaxAnswer", "0"),
            ("loncMaxAnswer", "64M"),
            ("loncBackoffMin", "nan"),
            ("loncInitTimeout", "0"),
            ("loncRecheck", "10m"),
            ("loncReplyTimeout", "0.0"),
            ("loncProbeTimeout", "0"),
            ("loncLinks", "0"),
            ("loncLinks", "65"),
            ("loncLinks", "two"),
            ("loncLinkIdle", "0"),
            ("loncLinkIdle", "5m"),
        ] {
            let text = format!("{BASE}PerlSetVar {key} {value}\n");
            let p = invalid(&text);
            let fatal: Vec<&Problem> = p.iter().filter(|p| p.fatal).collect();
            assert_eq!(fatal.len(), 1, "{key} {value}: {p:?}");
            assert_eq!(fatal[0].line, 8, "{key} {value}");
            assert!(fatal[0].to_string().contains(key));
            assert!(fatal[0]
                .to_string()
                .starts_with("/etc/httpd/conf/access.conf:8: "));
        }
    }

    #[test]
    fn reports_say_error_or_warning_and_tab_dir_survives_fatal_errors() {
        let text = format!("{BASE}PerlSetVar londPort x\n#PerlSetVar a b\n");
        let p = invalid(&text);
        let shown: Vec<String> = p.iter().map(Problem::report).collect();
        assert!(shown.contains(&"/etc/httpd/conf/access.conf:8: error: londPort \"x\" is not a port number (1-65535)".to_string()), "{shown:?}");
        assert!(
            shown
                .iter()
                .any(|s| s.starts_with("/etc/httpd/conf/access.conf:9: warning: ")),
            "{shown:?}"
        );
        assert_eq!(
            lon_tab_dir_of(&text, path()),
            Some(PathBuf::from("/home/httpd/lonTabs"))
        );
        assert_eq!(lon_tab_dir_of("PerlSetVar lonTabDir\n", path()), None);
    }

    #[test]
    fn backoff_order_checked() {
        let text = format!("{BASE}PerlSetVar loncBackoffMin 10\nPerlSetVar loncBackoffMax 5\n");
        let p = invalid(&text);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].line, 9);
    }

    #[test]
    fn missing_required_keys_are_fatal() {
        let p = invalid("PerlSetVar lonHostID msul1\n#PerlSetVar londPort 5663\n");
        let fatal: Vec<String> = p
            .iter()
            .filter(|p| p.fatal)
            .map(|p| p.msg.clone())
            .collect();
        assert_eq!(fatal.len(), 5, "{fatal:?}");
        for key in [
            "lonDaemons",
            "lonTabDir",
            "lonSockDir",
            "londPort",
            "lonDocRoot",
        ] {
            assert!(fatal.iter().any(|m| m.contains(key)), "{key}: {fatal:?}");
        }
        // The comment warning is kept alongside the fatal problems.
        assert!(p.iter().any(|p| !p.fatal && p.line == 2));
        let missing = p.iter().find(|p| p.line == 0).unwrap();
        assert_eq!(
            missing.to_string(),
            format!("/etc/httpd/conf/access.conf: {}", missing.msg)
        );
        let err = parse("").unwrap_err();
        assert!(err.to_string().contains("lonDaemons"), "{err}");
    }

    #[test]
    fn empty_required_value_and_bad_host_id() {
        let p = invalid(&format!("{BASE}PerlSetVar lonHostID\n"));
        assert!(p.iter().any(|p| p.fatal && p.line == 8), "{p:?}");
        let p = invalid(&format!("{BASE}PerlSetVar lonHostID ../x\n"));
        assert!(p.iter().any(|p| p.fatal && p.line == 8), "{p:?}");
    }

    #[test]
    fn example_config_parses_cleanly() {
        let text = include_str!("../../etc/lonc/access.conf");
        let (c, w) = parse(text).unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(c.lon_host_id, "msul1");
        assert_eq!(c.lond_port, 5663);
        assert_eq!(c.user, DEFAULT_USER);
        assert_eq!(c.probe_port, DEFAULT_PROBE_PORT);
        assert_eq!(c.probe_timeout, DEFAULT_PROBE_TIMEOUT);
        assert_eq!(c.max_attempts, DEFAULT_MAX_ATTEMPTS);
        assert_eq!(c.pong_delay, DEFAULT_PONG_DELAY);
        assert_eq!(c.init_timeout, DEFAULT_INIT_TIMEOUT);
        assert_eq!(c.reply_timeout, DEFAULT_REPLY_TIMEOUT);
        assert_eq!(c.backoff_min, DEFAULT_BACKOFF_MIN);
        assert_eq!(c.backoff_max, DEFAULT_BACKOFF_MAX);
        assert_eq!(c.max_line, DEFAULT_MAX_LINE);
        assert_eq!(c.max_answer, DEFAULT_MAX_ANSWER);
        assert_eq!(c.links, DEFAULT_LINKS);
        assert_eq!(c.link_idle, DEFAULT_LINK_IDLE);
        assert_eq!(c.syslog, None);
    }

    #[test]
    fn comment_that_mentions_perlsetvar_is_quiet() {
        let text = format!(
            "{BASE}# every PerlSetVar line sets a variable
##PerlSetVar a b
"
        );
        let (c, w) = parse(&text).unwrap();
        assert_eq!(w.len(), 1, "{w:?}");
        assert_eq!(w[0].line, 9);
        assert!(!c.vars.contains_key("a"));
    }

    #[test]
    fn load_reports_missing_file() {
        let err = LoncConfig::load(Path::new("/nonexistent/lonc/access.conf")).unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }));
        assert!(err.to_string().contains("/nonexistent/lonc/access.conf"));
    }

    #[test]
    fn load_reads_a_file() {
        let dir = std::env::temp_dir().join(format!("lonc-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("access.conf");
        std::fs::write(&file, BASE).unwrap();
        let (c, _) = LoncConfig::load(&file).unwrap();
        assert_eq!(c.path, file);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("0.2"), Some(Duration::from_millis(200)));
        assert_eq!(parse_duration("20"), Some(Duration::from_secs(20)));
        assert_eq!(parse_duration("5."), Some(Duration::from_secs(5)));
        for bad in ["", ".", "-1", "1e3", "inf", "1.2.3", "99999999999"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
