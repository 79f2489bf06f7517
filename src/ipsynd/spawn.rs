//! Starting a transmitter (or ftp, or a maxkill command) as its own session and process group.
//!
//! Everything is prepared before the fork: the argv as C strings, the resolved program path,
//! the bytes of the in-use flag. In the child only async-signal-safe calls run (`setsid`,
//! `write`, `execv`). The exec is done by us with `execv`, not by std's `execvp`, because glibc's
//! `execvp` silently runs a file without `#!` through `/bin/sh`; the original reported
//! `Execlp error 8` (ENOEXEC) instead, and so do we: the errno comes back as the spawn error.
//! The returned pid is reaped only by the daemon's one `waitpid` loop.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The flag the child completes with its pid before its program runs (spec §10.1).
pub struct FlagFill<'a> {
    pub file: &'a File,
    /// `ROUTE host port ` (see `flags::content_prefix`).
    pub prefix: String,
    /// ` <start>\n`.
    pub suffix: String,
}

/// Where the child's standard streams go.
pub struct Stdio3 {
    pub stdin: Stdio,
    pub stdout: Stdio,
    pub stderr: Stdio,
}

/// Resolve a program name the way `execlp` would: names with a `/` as they are, others
/// through `$PATH` (first executable regular file).
pub fn resolve_program(name: &str) -> PathBuf {
    if name.contains('/') {
        return PathBuf::from(name);
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    for dir in std::env::split_paths(&path) {
        let cand = dir.join(name);
        if let Ok(md) = std::fs::metadata(&cand) {
            use std::os::unix::fs::PermissionsExt;
            if md.is_file() && md.permissions().mode() & 0o111 != 0 {
                return cand;
            }
        }
    }
    PathBuf::from(name)
}

fn cstring(s: &[u8]) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL byte in argv"))
}

/// Spawn `argv` (`argv[0]` = program) in a new session; returns the child's pid. An exec
/// failure (missing program, ENOEXEC, permission) is returned as the error, with its errno.
pub fn spawn(
    argv: &[String],
    stdio: Stdio3,
    flag: Option<FlagFill<'_>>,
    cwd: &Path,
) -> io::Result<i32> {
    if argv.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty command"));
    }
    let program = resolve_program(&argv[0]);
    let c_prog = cstring(program.as_os_str().as_bytes())?;
    let c_args: Vec<CString> = argv
        .iter()
        .map(|a| cstring(a.as_bytes()))
        .collect::<io::Result<_>>()?;
    // Raw pointers are not Send; keep them as integers. The CStrings move into the closure
    // with them, and their heap buffers (which the pointers address) never move.
    let mut ptrs: Vec<usize> = c_args.iter().map(|c| c.as_ptr() as usize).collect();
    ptrs.push(0);
    let prog_ptr = c_prog.as_ptr() as usize;
    let (flag_fd, prefix, suffix) = match &flag {
        Some(f) => (
            f.file.as_raw_fd(),
            f.prefix.clone().into_bytes(),
            f.suffix.clone().into_bytes(),
        ),
        None => (-1, Vec::new(), Vec::new()),
    };

    let mut cmd = Command::new(&program);
    cmd.args(&argv[1..])
        .current_dir(cwd)
        .stdin(stdio.stdin)
        .stdout(stdio.stdout)
        .stderr(stdio.stderr);
    let keep = (c_prog, c_args);
    // SAFETY: the closure runs in the forked child of a single-threaded parent and uses only
    // async-signal-safe calls on memory prepared before the fork.
    unsafe {
        cmd.pre_exec(move || {
            let _ = &keep;
            if libc::setsid() < 0 {
                return Err(io::Error::last_os_error());
            }
            if flag_fd >= 0 {
                let mut digits = [0u8; 12];
                let mut n = libc::getpid() as u32;
                let mut i = digits.len();
                loop {
                    i -= 1;
                    digits[i] = b'0' + (n % 10) as u8;
                    n /= 10;
                    if n == 0 {
                        break;
                    }
                }
                for part in [&prefix[..], &digits[i..], &suffix[..]] {
                    if write_all(flag_fd, part) < 0 {
                        return Err(io::Error::last_os_error());
                    }
                }
            }
            libc::execv(
                prog_ptr as *const libc::c_char,
                ptrs.as_ptr() as *const *const libc::c_char,
            );
            Err(io::Error::last_os_error())
        });
    }
    let child = cmd.spawn()?;
    // Not waited here: the daemon's reaping loop collects it (dropping a Child neither
    // kills nor waits).
    Ok(child.id() as i32)
}

/// `write(2)` until done; -1 on error. Async-signal-safe.
fn write_all(fd: i32, mut buf: &[u8]) -> isize {
    while !buf.is_empty() {
        // SAFETY: buf is valid for buf.len() bytes.
        let n = unsafe { libc::write(fd, buf.as_ptr() as *const libc::c_void, buf.len()) };
        if n < 0 {
            if io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return -1;
        }
        buf = &buf[n as usize..];
    }
    0
}

/// Whether an error says the system is short of processes, memory or file descriptors
/// (fork's EAGAIN or ENOMEM, open's or pipe's EMFILE or ENFILE): a problem of the machine,
/// not of a client, to wait out without counting an attempt.
pub fn lacks_resources(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EAGAIN) | Some(libc::ENOMEM) | Some(libc::EMFILE) | Some(libc::ENFILE)
    )
}

/// Whether it is the file descriptors that ran out (EMFILE: this process; ENFILE: the
/// system).
pub fn out_of_fds(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE))
}

/// Signal a whole process group (the transmitter's session); false if it no longer exists.
pub fn kill_group(pgid: i32, sig: nix::sys::signal::Signal) -> bool {
    nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid), sig).is_ok()
}

/// Whether any process of group `pgid` still lives (zombies do not count: `sys::fsutil`).
pub fn group_alive(pgid: i32) -> bool {
    crate::sys::fsutil::group_alive(pgid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn null3() -> Stdio3 {
        Stdio3 {
            stdin: Stdio::null(),
            stdout: Stdio::null(),
            stderr: Stdio::null(),
        }
    }

    #[test]
    fn missing_program_is_an_error_with_errno() {
        let e = spawn(&["/nonexistent/prog".into()], null3(), None, Path::new("/")).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
    }

    #[test]
    fn script_without_shebang_is_enoexec() {
        let dir = std::env::temp_dir().join(format!("ipsynd-spawn-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("noshebang");
        std::fs::write(&p, "echo hi\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        let e = spawn(&[p.to_string_lossy().into()], null3(), None, &dir).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOEXEC));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn resolve_searches_path() {
        assert!(resolve_program("sh").is_absolute());
        assert_eq!(resolve_program("./x"), PathBuf::from("./x"));
    }
}
