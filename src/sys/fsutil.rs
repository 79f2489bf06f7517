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
    let mut t = TempFile::new(path, mode)?;
    t.file().write_all(data)?;
    t.rename()
}

/// A new version of a file being written beside it (see [`atomic_write_mode`]): filled
/// through [`file`](Self::file), in pieces if it is large, then put in place whole by
/// [`rename`](Self::rename) or [`swap_in`](Self::swap_in). Dropped before that, it is
/// removed and the file stays as it was.
pub struct TempFile {
    /// Where it goes, and the temporary name it has until then.
    path: PathBuf,
    tmp: PathBuf,
    file: fs::File,
    /// Renamed into place: nothing is left under the temporary name.
    placed: bool,
}

impl TempFile {
    /// The temporary file beside `path`, created `O_EXCL|O_NOFOLLOW` with `mode`. A name
    /// taken (a left-over of a crash, or something planted) is passed over, not reused.
    pub fn new(path: &Path, mode: u32) -> io::Result<TempFile> {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let dir = path.parent().unwrap_or(Path::new("."));
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut last = None;
        for _ in 0..8 {
            let seq = SEQ.fetch_add(1, Ordering::Relaxed);
            let tmp: PathBuf = dir.join(format!(".{name}.tmp.{}.{seq}", std::process::id()));
            let opened = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(mode)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(&tmp);
            match opened {
                Ok(f) => {
                    return Ok(TempFile {
                        path: path.to_path_buf(),
                        tmp,
                        file: f,
                        placed: false,
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| io::ErrorKind::AlreadyExists.into()))
    }

    /// The file to fill.
    pub fn file(&mut self) -> &mut fs::File {
        &mut self.file
    }

    /// Put it in place with `rename` (over whatever is at the path; a symlink is replaced,
    /// never followed).
    pub fn rename(mut self) -> io::Result<()> {
        // On an error, drop removes the temporary file.
        fs::rename(&self.tmp, &self.path)?;
        self.placed = true;
        Ok(())
    }

    /// Put it in place for a large file rewritten often and not precious (a status file):
    /// swapped with the file at the path by `renameat2(RENAME_EXCHANGE)`, and the old
    /// version unlinked under the temporary name. A rename over an existing file makes
    /// ext4 (`auto_da_alloc`) start writing the new file's data out at once, at every
    /// rewrite: megabytes of disk writes a second for a big status, and most of the
    /// kernel's share of the write. Readers still open the old file or the new one, whole.
    /// With no regular file at the path (none, or a symlink, which is replaced, never
    /// followed) or on a filesystem that cannot exchange, a plain [`rename`](Self::rename).
    pub fn swap_in(self) -> io::Result<()> {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        if fs::symlink_metadata(&self.path).is_ok_and(|m| m.file_type().is_file()) {
            use nix::fcntl::{renameat2, RenameFlags};
            if renameat2(
                None,
                &self.tmp,
                None,
                &self.path,
                RenameFlags::RENAME_EXCHANGE,
            )
            .is_ok()
            {
                // The old version is under the temporary name now; drop removes it (failing
                // that leaves a hidden file behind, not a wrong path).
                return Ok(());
            }
        }
        self.rename()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        // After a swap or a failure the temporary name holds what must not stay.
        if !self.placed {
            let _ = fs::remove_file(&self.tmp);
        }
    }
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
    fn a_temp_file_dropped_unfinished_leaves_the_old_file_and_no_temp() {
        let dir = std::env::temp_dir().join(format!("fsutil-fill-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join("status");
        atomic_write(&p, b"old").unwrap();
        let mut t = TempFile::new(&p, 0o644).unwrap();
        t.file().write_all(b"half").unwrap();
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 2);
        drop(t); // the render failed
        assert_eq!(fs::read_to_string(&p).unwrap(), "old");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1, "no temp file left");
        let mut t = TempFile::new(&p, 0o644).unwrap();
        t.file().write_all(b"in ").unwrap();
        t.file().write_all(b"pieces").unwrap();
        t.rename().unwrap();
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1, "no temp file left");
        assert_eq!(fs::read_to_string(&p).unwrap(), "in pieces");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_replaced_file_is_swapped_whole_and_the_old_one_goes() {
        use std::io::Read;
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let dir = std::env::temp_dir().join(format!("fsutil-swap-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join("status");
        let swap = |data: &[&[u8]]| {
            let mut t = TempFile::new(&p, 0o640)?;
            for d in data {
                t.file().write_all(d)?;
            }
            t.swap_in()
        };
        // Nothing there yet: created.
        swap(&[b"one"]).unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "one");
        let mut reader = fs::File::open(&p).unwrap();
        let first = fs::metadata(&p).unwrap().ino();
        swap(&[b"two, ", b"in pieces"]).unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "two, in pieces");
        assert_ne!(
            fs::metadata(&p).unwrap().ino(),
            first,
            "a new file, not rewritten"
        );
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o640
        );
        // Whoever had the old one open reads it whole.
        let mut old = String::new();
        reader.read_to_string(&mut old).unwrap();
        assert_eq!(old, "one");
        assert_eq!(
            fs::read_dir(&dir).unwrap().count(),
            1,
            "no temp, no old version left"
        );
        // A symlink planted at the path is replaced, its target untouched.
        let victim = dir.join("victim");
        fs::write(&victim, "precious").unwrap();
        fs::remove_file(&p).unwrap();
        std::os::unix::fs::symlink(&victim, &p).unwrap();
        swap(&[b"three"]).unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        assert!(!fs::symlink_metadata(&p).unwrap().file_type().is_symlink());
        assert_eq!(fs::read_to_string(&p).unwrap(), "three");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 2);
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
