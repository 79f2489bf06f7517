//! Pid files, for both daemons: written without ever following a symlink planted at the
//! path, and read with a liveness check that a reused pid or a zombie does not fool.
//!
//! Two ways to hold one, as the two daemons did: lonc [`write`]s `logs/lonc.pid` by
//! temp-and-rename (1.29 wrote it and checked the pid named in it), ipsynd [`lock`]s
//! `x/ipsynd.pid` with `flock` and writes into the locked file, opened `O_NOFOLLOW` (the kernel
//! drops the lock when the process ends, zombie or not).

use std::fs::{self, File};
use std::io::{self, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::fcntl::{Flock, FlockArg};

use super::fsutil::{atomic_write_mode, pid_alive, process_name};
use super::logfile::explain_loop;

/// Mode of a pid file: anyone may read which pid runs.
pub const PID_MODE: u32 = 0o644;

/// Write this process's pid into `path` (temp file in the same directory, then rename).
pub fn write(path: &Path) -> io::Result<()> {
    atomic_write_mode(
        path,
        format!("{}\n", std::process::id()).as_bytes(),
        PID_MODE,
    )
}

/// The pid a pid file names, if it holds one.
pub fn read(path: &Path) -> Option<i32> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Read a pid file and return the pid if it names a live (not zombie) process called
/// `name` other than this one. A missing, unparsable or stale pid file gives `None`.
pub fn live_pid_in(pidfile: &Path, name: &str) -> Option<i32> {
    let pid = read(pidfile)?;
    if !pid_alive(pid) || pid == std::process::id() as i32 {
        return None;
    }
    match process_name(pid) {
        Some(n) if n == name || n.starts_with(name) => Some(pid),
        Some(_) => None,   // the pid was reused by another program
        None => Some(pid), // cannot tell: err on the side of "running"
    }
}

/// A pid file held with an exclusive `flock` for as long as this value lives.
pub struct Locked {
    _lock: Flock<File>,
}

/// Why [`lock`] failed.
#[derive(Debug)]
pub enum LockError {
    /// Another live process holds the lock; the pid its file names (as text, maybe empty).
    Held(String),
    /// The file could not be opened (a symlink, not a regular file, permissions...).
    Open(io::Error),
}

/// Take `path` with an exclusive non-blocking `flock` and write this process's pid into it.
/// The file is opened `O_NOFOLLOW`, so a symlink planted there is refused, never written
/// through; it is truncated only once the lock is ours.
pub fn lock(path: &Path) -> Result<Locked, LockError> {
    let f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(PID_MODE)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| LockError::Open(explain_loop(e)))?;
    match f.metadata() {
        Ok(m) if m.is_file() => {}
        Ok(_) => return Err(LockError::Open(io::Error::other("not a regular file"))),
        Err(e) => return Err(LockError::Open(e)),
    }
    match Flock::lock(f, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => {
            let mut f: &File = &lock;
            let _ = f.set_len(0);
            let _ = f.seek(io::SeekFrom::Start(0));
            let _ = writeln!(f, "{}", std::process::id());
            Ok(Locked { _lock: lock })
        }
        Err((_, _)) => Err(LockError::Held(
            fs::read_to_string(path)
                .unwrap_or_default()
                .trim()
                .to_string(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("pidfile-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn own_pid_is_not_another_instance() {
        let dir = tmpdir("own");
        let p = dir.join("x.pid");
        write(&p).unwrap();
        assert_eq!(read(&p), Some(std::process::id() as i32));
        assert_eq!(live_pid_in(&p, "whatever"), None);
        fs::write(&p, "garbage").unwrap();
        assert_eq!(live_pid_in(&p, "whatever"), None);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn neither_way_writes_through_a_symlink() {
        let dir = tmpdir("link");
        let victim = dir.join("victim");
        fs::write(&victim, "precious").unwrap();
        let a = dir.join("a.pid");
        let b = dir.join("b.pid");
        std::os::unix::fs::symlink(&victim, &a).unwrap();
        std::os::unix::fs::symlink(&victim, &b).unwrap();
        write(&a).unwrap();
        assert!(matches!(lock(&b), Err(LockError::Open(_))));
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(read(&a), Some(std::process::id() as i32));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_lock_is_exclusive_and_names_its_holder() {
        let dir = tmpdir("lock");
        let p = dir.join("d.pid");
        fs::write(&p, "12345678\nold junk\n").unwrap();
        let held = lock(&p).unwrap();
        assert_eq!(
            fs::read_to_string(&p).unwrap(),
            format!("{}\n", std::process::id())
        );
        match lock(&p) {
            Err(LockError::Held(pid)) => assert_eq!(pid, std::process::id().to_string()),
            _ => panic!("a second lock must fail"),
        }
        drop(held);
        assert!(lock(&p).is_ok());
        fs::remove_dir_all(&dir).unwrap();
    }
}
