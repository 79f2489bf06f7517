//! File helpers: atomic replace, pid files with a liveness check that is not fooled by
//! reused pids.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Write `data` to `path` atomically: a temporary file in the same directory, fsync-free
/// (status files are rewritten often and are not precious), then `rename`.
pub fn atomic_write(path: &Path, data: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp: PathBuf = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(data)?;
    }
    fs::rename(&tmp, path).inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })
}

/// Whether process `pid` exists (signal 0 succeeds or fails with EPERM).
pub fn pid_alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
        Ok(()) => true,
        Err(nix::errno::Errno::EPERM) => true,
        Err(_) => false,
    }
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

/// Read a pid file and return the pid if it names a live process called `name`.
/// A missing, unparsable or stale pid file gives `None`.
pub fn live_pid_in(pidfile: &Path, name: &str) -> Option<i32> {
    let text = fs::read_to_string(pidfile).ok()?;
    let pid: i32 = text.trim().parse().ok()?;
    if !pid_alive(pid) || pid == std::process::id() as i32 {
        return None;
    }
    match process_name(pid) {
        Some(n) if n == name || n.starts_with(name) => Some(pid),
        Some(_) => None,   // the pid was reused by another program
        None => Some(pid), // cannot tell: err on the side of "running"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn own_pid_is_not_another_instance() {
        let dir = std::env::temp_dir().join(format!("fsutil-pid-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join("x.pid");
        fs::write(&p, format!("{}\n", std::process::id())).unwrap();
        assert_eq!(live_pid_in(&p, "whatever"), None);
        fs::write(&p, "garbage").unwrap();
        assert_eq!(live_pid_in(&p, "whatever"), None);
        fs::remove_dir_all(&dir).unwrap();
    }
}
