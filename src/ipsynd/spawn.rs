//! Starting a transmitter (or ftp, or a maxkill command) as its own session and process group.
//!
//! Everything is prepared before the clone: the argv as C strings, the resolved program path,
//! the bytes of the in-use flag, the child's three standard fds. The child is made with
//! `clone(CLONE_VM | CLONE_VFORK)` on a stack of its own, as glibc's `posix_spawn` does: no
//! copy of the daemon's page tables (a fork of a daemon holding ten thousand records costs
//! more than the transmitter's exec), and ipsynd resumes only once the child has exec'd or
//! failed, so an exec error comes back synchronously with its errno. In the child only
//! async-signal-safe calls run (`sigaction`, `setsid`, `chdir`, `dup2`, `write`, `execv`),
//! with every signal blocked until just before the exec and every handled signal reset to
//! its default (a handler of the daemon's must never run in the child, which shares its
//! memory). The exec is `execv`, not `execvp`: glibc's `execvp` silently runs a file without
//! `#!` through `/bin/sh`; the original reported `Execlp error 8` (ENOEXEC) instead, and so
//! do we. The returned pid is reaped only by the daemon's one `waitpid` loop.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The flag the child completes with its pid before its program runs (spec §10.1).
pub struct FlagFill<'a> {
    pub file: &'a File,
    /// `ROUTE host port ` (see `flags::content_prefix`).
    pub prefix: String,
    /// ` <start>\n`.
    pub suffix: String,
}

/// One of the child's standard streams.
pub enum Io {
    /// `/dev/null`.
    Null,
    /// This file (its fd is duplicated onto the stream).
    Fd(OwnedFd),
}

impl From<File> for Io {
    fn from(f: File) -> Io {
        Io::Fd(f.into())
    }
}

/// Where the child's standard streams go.
pub struct Stdio3 {
    pub stdin: Io,
    pub stdout: Io,
    pub stderr: Io,
}

/// Resolve a program name the way `execlp` would: names with a `/` as they are, others
/// through `$PATH` (first executable regular file). A bare name found nowhere on `$PATH` is
/// ENOENT, and EACCES when a file of that name exists there but none is executable, as
/// `execlp` reports; never the name itself, which `execv` would look up in the current
/// directory (the FIP root) and so run a file there that `execlp` never would.
pub fn resolve_program(name: &str) -> io::Result<PathBuf> {
    if name.contains('/') {
        return Ok(PathBuf::from(name));
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    let mut denied = false;
    for dir in std::env::split_paths(&path) {
        let cand = dir.join(name);
        if let Ok(md) = std::fs::metadata(&cand) {
            use std::os::unix::fs::PermissionsExt;
            if md.is_file() && md.permissions().mode() & 0o111 != 0 {
                return Ok(cand);
            }
            denied = true;
        }
    }
    Err(io::Error::from_raw_os_error(if denied {
        libc::EACCES
    } else {
        libc::ENOENT
    }))
}

fn cstring(s: &[u8]) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL byte in argv"))
}

/// What the child needs, all prepared by the parent (the child shares its memory).
struct ChildArgs {
    prog: *const libc::c_char,
    argv: *const *const libc::c_char,
    cwd: *const libc::c_char,
    fds: [libc::c_int; 3],
    flag_fd: libc::c_int,
    prefix: *const u8,
    prefix_len: usize,
    suffix: *const u8,
    suffix_len: usize,
    /// The parent's signal mask, restored just before the exec.
    mask: *const libc::sigset_t,
    /// Where the child leaves the errno of what failed (0: it exec'd).
    err: *mut libc::c_int,
}

/// The child, on its own stack, sharing the parent's memory until its exec.
extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the parent's ChildArgs, alive while the parent is suspended (vfork
    // semantics); only async-signal-safe calls below.
    unsafe {
        let a = &*(arg as *const ChildArgs);
        let fail = |a: &ChildArgs| -> libc::c_int {
            *a.err = *libc::__errno_location();
            if *a.err == 0 {
                *a.err = libc::EINVAL;
            }
            libc::_exit(127)
        };
        // A handler of the daemon's must not run here; ignored signals stay ignored, as
        // across an exec, except SIGPIPE, which Rust ignores and a transmitter expects
        // default (as std's Command does).
        for sig in 1..=libc::SIGRTMAX() {
            if sig == libc::SIGKILL || sig == libc::SIGSTOP {
                continue;
            }
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, std::ptr::null(), &mut old) != 0 {
                continue;
            }
            if sig == libc::SIGPIPE
                || (old.sa_sigaction != libc::SIG_IGN && old.sa_sigaction != libc::SIG_DFL)
            {
                let mut dfl: libc::sigaction = std::mem::zeroed();
                dfl.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(sig, &dfl, std::ptr::null_mut());
            }
        }
        if libc::setsid() < 0 {
            return fail(a);
        }
        if libc::chdir(a.cwd) != 0 {
            return fail(a);
        }
        // The pid into the flag before the streams move: should the flag's own fd be 0, 1
        // or 2 (the daemon run with a standard fd closed), a dup2 below replaces it.
        if a.flag_fd >= 0 {
            let mut digits = [0u8; 12];
            let mut n = libc::syscall(libc::SYS_getpid) as u32;
            let mut i = digits.len();
            loop {
                i -= 1;
                digits[i] = b'0' + (n % 10) as u8;
                n /= 10;
                if n == 0 {
                    break;
                }
            }
            let prefix = std::slice::from_raw_parts(a.prefix, a.prefix_len);
            let suffix = std::slice::from_raw_parts(a.suffix, a.suffix_len);
            for part in [prefix, &digits[i..], suffix] {
                if write_all(a.flag_fd, part) < 0 {
                    return fail(a);
                }
            }
        }
        // Through fds above 2 first, so a stream fd that is itself 0, 1 or 2 is not
        // overwritten before its turn (the daemon may run with a standard fd closed).
        let mut tmp = [-1; 3];
        for (i, fd) in a.fds.iter().enumerate() {
            tmp[i] = libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, 3);
            if tmp[i] < 0 {
                return fail(a);
            }
        }
        for (i, fd) in tmp.iter().enumerate() {
            if libc::dup2(*fd, i as libc::c_int) < 0 {
                return fail(a);
            }
        }
        libc::sigprocmask(libc::SIG_SETMASK, a.mask, std::ptr::null_mut());
        libc::execv(a.prog, a.argv);
        fail(a)
    }
}

/// The child's stack (it runs only until its exec, the parent suspended meanwhile).
const CHILD_STACK: usize = 64 * 1024;

/// Spawn `argv` (`argv[0]` = program) in a new session; returns the child's pid. An exec
/// failure (missing program, ENOEXEC, permission) is returned as the error, with its errno
/// (the child is reaped here then).
pub fn spawn(
    argv: &[String],
    stdio: Stdio3,
    flag: Option<FlagFill<'_>>,
    cwd: &Path,
) -> io::Result<i32> {
    if argv.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty command"));
    }
    let program = resolve_program(&argv[0])?;
    let c_prog = cstring(program.as_os_str().as_bytes())?;
    let c_cwd = cstring(cwd.as_os_str().as_bytes())?;
    let c_args: Vec<CString> = argv
        .iter()
        .map(|a| cstring(a.as_bytes()))
        .collect::<io::Result<_>>()?;
    let mut ptrs: Vec<*const libc::c_char> = c_args.iter().map(|c| c.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    // /dev/null once for the streams that want it (EMFILE here: out of fds, as std said).
    let null = if [&stdio.stdin, &stdio.stdout, &stdio.stderr]
        .iter()
        .any(|s| matches!(s, Io::Null))
    {
        Some(
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/null")?,
        )
    } else {
        None
    };
    let fd_of = |s: &Io| match s {
        Io::Fd(f) => f.as_raw_fd(),
        Io::Null => null.as_ref().map_or(-1, |n| n.as_raw_fd()),
    };
    let fds = [
        fd_of(&stdio.stdin),
        fd_of(&stdio.stdout),
        fd_of(&stdio.stderr),
    ];
    let (flag_fd, prefix, suffix) = match &flag {
        Some(f) => (f.file.as_raw_fd(), f.prefix.as_bytes(), f.suffix.as_bytes()),
        None => (-1, &[][..], &[][..]),
    };
    let mut stack = vec![0u8; CHILD_STACK];
    let mut err: libc::c_int = 0;
    // SAFETY: sigset_t is plain data; the calls below only read and write it.
    let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    let args = ChildArgs {
        prog: c_prog.as_ptr(),
        argv: ptrs.as_ptr(),
        cwd: c_cwd.as_ptr(),
        fds,
        flag_fd,
        prefix: prefix.as_ptr(),
        prefix_len: prefix.len(),
        suffix: suffix.as_ptr(),
        suffix_len: suffix.len(),
        mask: &old,
        err: &mut err,
    };
    // SAFETY: single-threaded daemon. All signals are blocked around the clone, so no
    // handler runs in the child before it has reset them; CLONE_VFORK suspends us until the
    // child has exec'd or exited, so `args`, `stack` and `err` outlive its use of them. The
    // stack top is 16-byte aligned as the ABI wants.
    let pid = unsafe {
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let top = stack.as_mut_ptr().add(CHILD_STACK);
        let top = (top as usize & !15) as *mut libc::c_void;
        let pid = libc::clone(
            child_main,
            top,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            &args as *const ChildArgs as *mut libc::c_void,
        );
        let clone_err = io::Error::last_os_error();
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        if pid < 0 {
            return Err(clone_err);
        }
        pid
    };
    drop(stack);
    // SAFETY: the child is gone or exec'd: nothing writes `err` any more.
    let err = unsafe { std::ptr::read_volatile(&err) };
    if err != 0 {
        // It never ran the program: reap it here, nobody else knows it.
        let mut st = 0;
        // SAFETY: our own child.
        unsafe { libc::waitpid(pid, &mut st, 0) };
        return Err(io::Error::from_raw_os_error(err));
    }
    drop((c_prog, c_cwd, c_args, stdio, null));
    Ok(pid)
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
            stdin: Io::Null,
            stdout: Io::Null,
            stderr: Io::Null,
        }
    }

    #[test]
    fn missing_program_is_an_error_with_errno() {
        let e = spawn(&["/nonexistent/prog".into()], null3(), None, Path::new("/")).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
    }

    #[test]
    fn a_bare_name_not_on_path_is_enoent_even_when_the_cwd_has_it() {
        // execlp never looks in the current directory; execv of the bare name would run
        // the file the FIP root happens to hold.
        let dir = std::env::temp_dir().join(format!("ipsynd-spawn3-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let name = "ipsynd-spawn-test-cwd-only";
        let marker = dir.join("ran");
        std::fs::write(
            dir.join(name),
            format!("#!/bin/sh\ntouch {}\n", marker.display()),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.join(name), std::fs::Permissions::from_mode(0o755)).unwrap();
        let r = spawn(&[name.into()], null3(), None, &dir);
        if let Ok(pid) = r {
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
        }
        assert_eq!(r.unwrap_err().raw_os_error(), Some(libc::ENOENT));
        assert!(!marker.exists(), "the cwd's file ran");
        std::fs::remove_dir_all(&dir).unwrap();
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
    fn the_child_has_its_session_its_streams_the_pid_in_its_flag_and_default_sigpipe() {
        let dir = std::env::temp_dir().join(format!("ipsynd-spawn2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let input = dir.join("in");
        std::fs::write(&input, "hello\n").unwrap();
        let out = dir.join("out");
        let flag_path = dir.join("flag");
        let flag = File::create(&flag_path).unwrap();
        let script = "read x; echo \"$x\"; echo \"$$ $(cut -d' ' -f6 /proc/$$/stat)\"; \
                      cat \"$1\"; echo; grep SigIgn /proc/$$/status; pwd";
        let argv: Vec<String> = ["/bin/sh", "-c", script, "sh", &flag_path.to_string_lossy()]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let o = File::create(&out).unwrap();
        let stdio = Stdio3 {
            stdin: Io::from(File::open(&input).unwrap()),
            stdout: Io::from(o.try_clone().unwrap()),
            stderr: Io::from(o),
        };
        let fill = FlagFill {
            file: &flag,
            prefix: "R h 1 ".into(),
            suffix: " 5\n".into(),
        };
        let pid = spawn(&argv, stdio, Some(fill), &dir).unwrap();
        let mut st = 0;
        // SAFETY: our own child.
        assert_eq!(unsafe { libc::waitpid(pid, &mut st, 0) }, pid);
        let text = std::fs::read_to_string(&out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "hello", "{text}");
        assert_eq!(lines[1], format!("{pid} {pid}"), "its own session: {text}");
        assert_eq!(lines[2], format!("R h 1 {pid} 5"), "{text}");
        let ign = u64::from_str_radix(lines[4].split_whitespace().nth(1).unwrap(), 16).unwrap();
        assert_eq!(
            ign & (1 << (libc::SIGPIPE - 1)),
            0,
            "SIGPIPE default: {text}"
        );
        assert_eq!(
            std::path::Path::new(lines[5]).canonicalize().unwrap(),
            dir.canonicalize().unwrap()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn resolve_searches_path() {
        assert!(resolve_program("sh").unwrap().is_absolute());
        assert_eq!(resolve_program("./x").unwrap(), PathBuf::from("./x"));
        let e = resolve_program("no-such-program-on-path-7f3a").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
    }
}
