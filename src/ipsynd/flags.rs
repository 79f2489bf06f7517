//! In-use flags `x/SYN|<nnn>|<CLIENT>`: one per running transmission, holding
//! `<ROUTE> <host> <port> <pid> <start>` (spec §10.1).
//!
//! ipsynd creates a flag with `O_EXCL` before it forks (that claims the port), the child writes
//! the pid into the already open file before its program runs, and the transmitter deletes the
//! flag when it ends. Readers treat `nnn` as opaque. Nothing here ever re-creates a flag.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::sys::fsutil::pid_alive;

/// File-name prefix of every in-use flag.
pub const PREFIX: &str = "SYN|";

/// What one flag file says, as found by [`scan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagInfo {
    pub path: PathBuf,
    pub client: String,
    pub route: String,
    /// Lowercase host, `-` when the route has no PORTS entry.
    pub host: String,
    pub port: u16,
    /// 0 when the flag is empty or unreadable (e.g. written by another program).
    pub pid: i32,
    pub start: u64,
}

impl FlagInfo {
    /// The flag at `path` of `client` from its text; an unreadable or foreign text gives
    /// `-` route and host and zero pid, port and start (a flag of someone else's).
    pub fn from_text(path: PathBuf, client: String, text: &str) -> FlagInfo {
        let (route, host, port, pid, start) =
            parse_content(text).unwrap_or_else(|| ("-".into(), "-".into(), 0, 0, 0));
        FlagInfo {
            path,
            client,
            route,
            host,
            port,
            pid,
            start,
        }
    }

    /// Whether the flag names a port from PORTS (and so locks it).
    pub fn has_port(&self) -> bool {
        self.host != "-"
    }
    /// A flag whose pid is dead (a zombie counts as dead; or unknown) and which nobody removed. A live pid that
    /// started well after the flag was written is a reused pid (after a reboot, say): the
    /// flag's own process is gone, so the flag is stale too.
    pub fn is_stale(&self) -> bool {
        if !pid_alive(self.pid) {
            return true;
        }
        match (self.start, process_start_epoch(self.pid)) {
            (0, _) | (_, None) => false,
            (flag, Some(proc_start)) => proc_start > flag + START_SLACK_SECS,
        }
    }
}

/// How much later than the flag's start time its process may have started (the flag is
/// written just before the fork; clock ticks round down).
const START_SLACK_SECS: u64 = 5;

/// The boot time in epoch seconds (`btime` of `/proc/stat`), read once: it does not change,
/// and `/proc/stat` is long on machines with many CPUs while every turn checks every flag.
fn boot_time() -> Option<u64> {
    static BTIME: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    *BTIME.get_or_init(|| {
        fs::read_to_string("/proc/stat")
            .ok()?
            .lines()
            .find_map(|l| l.strip_prefix("btime ").and_then(|v| v.trim().parse().ok()))
    })
}

/// When process `pid` started, in epoch seconds (Linux `/proc`), if it can be told.
pub fn process_start_epoch(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Field 22 (starttime, clock ticks since boot) counted after the ")" closing comm.
    let after = stat.rsplit_once(')')?.1;
    let ticks: u64 = after.split_whitespace().nth(19)?.parse().ok()?;
    let btime = boot_time()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz <= 0 {
        return None;
    }
    Some(btime + ticks / hz as u64)
}

/// The flag name for sequence `seq` and `client`.
pub fn flag_name(seq: u32, client: &str) -> String {
    format!("{PREFIX}{:03}|{client}", seq % 1000)
}

/// The client named by a flag file name, `None` if it is not a flag.
pub fn client_of_flag(name: &str) -> Option<String> {
    let rest = name.strip_prefix(PREFIX)?;
    let (_, client) = rest.split_once('|')?;
    if client.is_empty() {
        None
    } else {
        Some(client.to_string())
    }
}

/// The text before the pid: `ROUTE host port ` (route `-` when none).
pub fn content_prefix(route: Option<&str>, host: Option<&str>, port: u16) -> String {
    format!(
        "{} {} {} ",
        route.unwrap_or("-").to_uppercase(),
        host.map(|h| h.to_lowercase()).unwrap_or_else(|| "-".into()),
        port
    )
}

/// Parse the one line of a flag: `ROUTE host port pid start`.
pub fn parse_content(text: &str) -> Option<(String, String, u16, i32, u64)> {
    let mut w = text.split_whitespace();
    let route = w.next()?.to_string();
    let host = w.next()?.to_string();
    let port = w.next()?.parse().ok()?;
    let pid = w.next()?.parse().ok()?;
    let start = w.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    Some((route, host, port, pid, start))
}

/// Create a new flag exclusively, trying the next sequence numbers when a name is taken.
/// Returns the open file (close-on-exec, for the child to write the pid into), its path and
/// the sequence number used.
pub fn create(xdir: &Path, client: &str, seq: &mut u32) -> io::Result<(File, PathBuf, u32)> {
    for _ in 0..1000 {
        *seq = (*seq + 1) % 1000;
        let path = xdir.join(flag_name(*seq, client));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&path)
        {
            Ok(f) => return Ok((f, path, *seq)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("all 1000 flag names for {client} are taken"),
    ))
}

/// Every flag in `xdir`. Unreadable or malformed flags still count, with pid 0 (stale) and
/// no port, so an odd file never crashes the daemon nor frees a port it may describe. A
/// directory that cannot be listed, or a flag that cannot be read for lack of file
/// descriptors, is an error: the flags are then unknown, not absent (absent would free every
/// port, and a live FTP attempt's flag read as empty would look orphaned).
pub fn scan(xdir: &Path) -> io::Result<Vec<FlagInfo>> {
    let mut out = Vec::new();
    for ent in fs::read_dir(xdir)? {
        let ent = ent?;
        let name = ent.file_name().to_string_lossy().into_owned();
        let Some(client) = client_of_flag(&name) else {
            continue;
        };
        let path = ent.path();
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if super::spawn::lacks_resources(&e) => return Err(e),
            Err(_) => String::new(),
        };
        out.push(FlagInfo::from_text(path, client, &text));
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(flag_name(7, "JUKEBOX"), "SYN|007|JUKEBOX");
        assert_eq!(
            client_of_flag("SYN|123|JUKEBOX").as_deref(),
            Some("JUKEBOX")
        );
        assert_eq!(client_of_flag("ipsynd.pid"), None);
        assert_eq!(client_of_flag("SYN|123|"), None);
    }

    #[test]
    fn content_round_trip() {
        let p = content_prefix(Some("funnycomms"), Some("ObNoxious"), 9191);
        assert_eq!(p, "FUNNYCOMMS obnoxious 9191 ");
        let line = format!("{p}4242 1700000000\n");
        assert_eq!(
            parse_content(&line),
            Some((
                "FUNNYCOMMS".into(),
                "obnoxious".into(),
                9191,
                4242,
                1700000000
            ))
        );
        assert_eq!(content_prefix(None, None, 0), "- - 0 ");
        assert_eq!(parse_content(""), None);
    }

    #[test]
    fn reused_pid_makes_a_flag_stale() {
        let me = std::process::id() as i32;
        let started = process_start_epoch(me).expect("own start time");
        let now = crate::sys::clock::epoch_secs(std::time::SystemTime::now());
        assert!(started <= now + 1 && started + 3600 > now);
        let mut f = FlagInfo {
            path: PathBuf::from("x/SYN|001|A"),
            client: "A".into(),
            route: "-".into(),
            host: "-".into(),
            port: 0,
            pid: me,
            start: started,
        };
        assert!(!f.is_stale(), "own process, flag written at its start");
        f.start = 0;
        assert!(!f.is_stale(), "no start time: trust the pid");
        f.start = started - 3600;
        assert!(
            f.is_stale(),
            "process started an hour after the flag: pid reused"
        );
        f.pid = 0;
        assert!(f.is_stale());
    }

    #[test]
    fn create_is_exclusive_and_scan_reads_back() {
        let dir = std::env::temp_dir().join(format!("ipsynd-flags-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let mut seq = 0;
        let (_f1, p1, s1) = create(&dir, "A", &mut seq).unwrap();
        seq = 0; // force a collision: the next free number must be used
        let (_f2, p2, s2) = create(&dir, "A", &mut seq).unwrap();
        assert_ne!(p1, p2);
        assert_eq!((s1, s2), (1, 2));
        fs::write(&p1, "R h 1 1 5\n").unwrap();
        let flags = scan(&dir).unwrap();
        assert!(scan(&dir.join("nope")).is_err(), "unknown, not empty");
        assert_eq!(flags.len(), 2);
        assert_eq!(flags[0].pid, 1);
        assert_eq!(flags[1].pid, 0);
        assert!(flags[1].is_stale());
        fs::remove_dir_all(&dir).unwrap();
    }
}
