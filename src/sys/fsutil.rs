//! File helpers: atomic replace, and the liveness checks behind pid files and flags (not
//! fooled by reused pids, and a zombie is not alive).

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// Write `data` to `path` atomically with mode 0644 (see [`atomic_write_mode`]).
pub fn atomic_write(path: &Path, data: &[u8]) -> io::Result<()> {
    atomic_write_mode(path, data, 0o644)
}

/// Write `data` to `path` atomically: a new temporary file in the same directory, created
/// `O_EXCL|O_NOFOLLOW` with `mode` (so nothing planted there is written through), then
/// `rename` over `path` (which replaces a symlink at `path`, never follows it). fsync-free:
/// status and pid files are rewritten often and are not precious.
pub fn atomic_write_mode(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    atomic_write_with(path, mode, |f| f.write_all(data))
}

/// [`atomic_write_mode`] with the contents written by `fill` into the temporary file, so a
/// large file is written in pieces as it is made, never held whole in memory. An error of
/// `fill` removes the temporary file and leaves `path` as it was.
pub fn atomic_write_with(
    path: &Path,
    mode: u32,
    fill: impl FnOnce(&mut fs::File) -> io::Result<()>,
) -> io::Result<()> {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut last = None;
    // A name taken (a left-over of a crash, or something planted) is passed over, not reused.
    for _ in 0..8 {
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let tmp: PathBuf = dir.join(format!(".{name}.tmp.{}.{seq}", std::process::id()));
        let opened = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp);
        let mut f = match opened {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                last = Some(e);
                continue;
            }
            Err(e) => return Err(e),
        };
        let written = fill(&mut f);
        drop(f);
        return written
            .and_then(|()| fs::rename(&tmp, path))
            .inspect_err(|_| {
                let _ = fs::remove_file(&tmp);
            });
    }
    Err(last.unwrap_or_else(|| io::ErrorKind::AlreadyExists.into()))
}

/// Whether process `pid` exists and is not a zombie: signal 0 succeeds (or fails with
/// EPERM: it exists, owned by another user), and `/proc/<pid>/stat` does not say `Z` (exited,
/// not yet reaped: under an init that reaps late, or never, a dead daemon's pid stays).
pub fn pid_alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    let exists = match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
        Ok(()) => true,
        Err(nix::errno::Errno::EPERM) => true,
        Err(_) => false,
    };
    exists && !matches!(process_state(pid), Some('Z') | Some('X'))
}

/// The state letter of `/proc/<pid>/stat` (`R`, `S`, `Z`...), if readable.
pub fn process_state(pid: i32) -> Option<char> {
    let stat = fs::read(format!("/proc/{pid}/stat")).ok()?;
    proc_stat_field(&stat, 0).and_then(|f| f.chars().next())
}

/// Field `n` after the `(comm)` of a `/proc/<pid>/stat` line (0 = state, 2 = pgrp). The
/// command name may hold spaces and parentheses, so fields are counted from the last `)`.
fn proc_stat_field(stat: &[u8], n: usize) -> Option<String> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    let rest = String::from_utf8_lossy(&stat[close + 1..]).into_owned();
    rest.split_whitespace().nth(n).map(str::to_string)
}

/// Whether process group `pgid` has a member that is not a zombie. A group whose members
/// have all exited but are not yet reaped is dead: nothing of it can still act.
pub fn group_alive(pgid: i32) -> bool {
    if pgid <= 0 {
        return false;
    }
    if nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid), None).is_err() {
        return false;
    }
    let Ok(rd) = fs::read_dir("/proc") else {
        return true; // no /proc: signal 0 is all we can tell
    };
    let want = pgid.to_string();
    rd.filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        })
        .filter_map(|e| fs::read(e.path().join("stat")).ok())
        .any(|st| {
            proc_stat_field(&st, 2).as_deref() == Some(want.as_str())
                && proc_stat_field(&st, 0).as_deref() != Some("Z")
        })
}

/// The executable base name of a live process (`/proc/<pid>/exe`, else `comm`), if readable.
pub fn process_name(pid: i32) -> Option<String> {
    if let Ok(target) = fs::read_link(format!("/proc/{pid}/exe")) {
        if let Some(n) = target.file_name() {
            // A replaced binary shows as "name (deleted)".
            let s = n.to_string_lossy();
            return Some(s.trim_end_matches(" (deleted)").to_string());
        }
    }
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    #[test]
    fn atomic_write_replaces() {
        let dir = std::env::temp_dir().join(format!("fsutil-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join("status");
        atomic_write(&p, b"one").unwrap();
        atomic_write(&p, b"two").unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "two");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1, "no temp file left");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_fill_leaves_the_old_file_and_no_temp() {
        let dir = std::env::temp_dir().join(format!("fsutil-fill-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join("status");
        atomic_write(&p, b"old").unwrap();
        let e = atomic_write_with(&p, 0o644, |f| {
            f.write_all(b"half")?;
            Err(io::Error::other("render failed"))
        })
        .unwrap_err();
        assert_eq!(e.to_string(), "render failed");
        assert_eq!(fs::read_to_string(&p).unwrap(), "old");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1, "no temp file left");
        atomic_write_with(&p, 0o644, |f| {
            f.write_all(b"in ")?;
            f.write_all(b"pieces")
        })
        .unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "in pieces");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn atomic_write_never_writes_through_a_symlink() {
        let dir = std::env::temp_dir().join(format!("fsutil-link-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let victim = dir.join("victim");
        fs::write(&victim, "precious").unwrap();
        let p = dir.join("status");
        std::os::unix::fs::symlink(&victim, &p).unwrap();
        atomic_write_mode(&p, b"new", 0o600).unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(fs::read_to_string(&p).unwrap(), "new");
        assert!(!fs::symlink_metadata(&p).unwrap().file_type().is_symlink());
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_zombie_is_not_alive_and_neither_is_its_group() {
        // A child of our own that exits and is not reaped yet.
        let mut child = std::process::Command::new("sh")
            .args(["-c", "exit 0"])
            .process_group(0)
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let t = std::time::Instant::now();
        while process_state(pid) != Some('Z') {
            assert!(t.elapsed().as_secs() < 10, "child never became a zombie");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok(),
            "signal 0 alone calls a zombie alive"
        );
        assert!(!pid_alive(pid));
        assert!(!group_alive(pid));
        child.wait().unwrap();
        assert!(pid_alive(std::process::id() as i32));
        assert!(group_alive(nix::unistd::getpgrp().as_raw()));
    }
}
