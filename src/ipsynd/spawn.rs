//! Starting a transmitter (or ftp, or a maxkill command) as its own session and process group.
//!
//! Everything is prepared before the clone: the argv and environment as C strings, the
//! resolved program path, the bytes of the in-use flag, the child's three standard fds. The
//! child is made with `clone(CLONE_VM)` on a stack of its own: no copy of the daemon's page
//! tables (a fork of a daemon holding ten thousand records costs more than the
//! transmitter's exec), and, unlike glibc's `posix_spawn`, no `CLONE_VFORK`: ipsynd does not
//! sleep until the child has exec'd, it goes on with the next record (on two busy cores the
//! wait, and the wake-up after it, were most of the time per transmission). Whether the exec
//! worked comes back on a close-on-exec pipe ([`Spawning`]): end of file = the program runs;
//! four bytes first = the errno of what failed, and the child exits 127. The memory the child
//! reads is kept until that end of file. Sharing the daemon's memory while the daemon runs,
//! the child makes raw system calls only (`raw`: a libc wrapper would write the daemon's
//! `errno`), with every signal blocked until just before the exec and every handled signal
//! reset to its default. On an architecture without the raw calls here the clone keeps
//! `CLONE_VFORK` (the daemon waits, as before). The exec is `execve` of a path resolved as
//! `execlp` would, not `execvp`: glibc's `execvp` silently runs a file without `#!` through
//! `/bin/sh`; the original reported `Execlp error 8` (ENOEXEC) instead, and so do we. The
//! child's pid is reaped only by the daemon's one `waitpid` loop ([`spawn`] reaps a child
//! that could not exec itself).

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
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

/// Raw system calls for the child, which shares the daemon's memory (and so its
/// thread-local `errno`: a libc wrapper that failed in the child would overwrite the errno
/// the daemon may be about to read). Each returns the kernel's answer, `-errno` on failure.
#[cfg(target_arch = "x86_64")]
mod raw {
    /// The daemon runs on while the child prepares its exec (see [`super::start`]).
    pub const ASYNC: bool = true;

    #[inline(always)]
    pub unsafe fn sys(n: libc::c_long, a: [usize; 4]) -> isize {
        let ret: isize;
        // SAFETY: the caller passes a valid system call and arguments; `syscall` clobbers
        // rcx and r11 only.
        unsafe {
            std::arch::asm!(
                "syscall",
                inlateout("rax") n as isize => ret,
                in("rdi") a[0],
                in("rsi") a[1],
                in("rdx") a[2],
                in("r10") a[3],
                lateout("rcx") _,
                lateout("r11") _,
                options(nostack),
            );
        }
        ret
    }
}

/// Elsewhere: the libc wrapper, with the daemon suspended until the child has exec'd
/// (`CLONE_VFORK`), so the shared errno is the child's alone meanwhile.
#[cfg(not(target_arch = "x86_64"))]
mod raw {
    pub const ASYNC: bool = false;

    #[inline(always)]
    pub unsafe fn sys(n: libc::c_long, a: [usize; 4]) -> isize {
        // SAFETY: as the caller's.
        let r = unsafe { libc::syscall(n, a[0], a[1], a[2], a[3]) };
        if r < 0 {
            -(std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EINVAL) as isize)
        } else {
            r as isize
        }
    }
}

/// The kernel's `struct sigaction` (rt_sigaction), the same on x86_64 and the generic ABI.
#[repr(C)]
struct KSigaction {
    handler: usize,
    flags: libc::c_ulong,
    restorer: usize,
    mask: u64,
}

/// What the child needs, all prepared by the parent (the child shares its memory). Boxed,
/// so its address holds while the parent moves the [`Spawning`] around.
struct ChildMem {
    prog: CString,
    cwd: CString,
    /// Kept for `argv` and `envp`, which point into them.
    _args: Vec<CString>,
    _env: Vec<CString>,
    argv: Vec<*const libc::c_char>,
    envp: Vec<*const libc::c_char>,
    fds: [libc::c_int; 3],
    flag_fd: libc::c_int,
    prefix: Vec<u8>,
    suffix: Vec<u8>,
    /// The parent's signal mask, restored just before the exec.
    mask: libc::sigset_t,
    /// The highest signal number to reset.
    sigmax: libc::c_int,
    /// The write end of the error pipe (close-on-exec).
    err_fd: libc::c_int,
    stack: Stack,
}

/// The child's stack: pages of its own from `mmap`, given back with `munmap` once the child
/// is done with them. Not from the heap: stacks held while children exec, freed out of
/// order, would leave the daemon's heap fragmented and its resident size grown for good.
struct Stack {
    base: *mut libc::c_void,
}

impl Stack {
    fn new() -> io::Result<Stack> {
        // SAFETY: a fresh private anonymous mapping; no existing memory is touched.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                CHILD_STACK,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Stack { base })
    }

    /// The top (stacks grow down), 16-byte aligned as the ABI wants.
    fn top(&self) -> *mut libc::c_void {
        ((self.base as usize + CHILD_STACK) & !15) as *mut libc::c_void
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SAFETY: our own mapping, no longer used (see `Spawning`).
        unsafe { libc::munmap(self.base, CHILD_STACK) };
    }
}

/// The child, on its own stack, sharing the parent's memory until its exec. Only raw system
/// calls (no allocation, no libc state, nothing that can panic): the parent runs on.
extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the parent's ChildMem, kept alive until the error pipe reports EOF
    // (the exec closed it, or the child exited); only raw system calls below.
    unsafe {
        let a = &*(arg as *const ChildMem);
        let sys = |n: libc::c_long, x: [usize; 4]| raw::sys(n, x);
        let fail = |e: isize| -> libc::c_int {
            let errno: i32 = if e < 0 { -e as i32 } else { libc::EINVAL };
            let bytes = errno.to_ne_bytes();
            sys(
                libc::SYS_write,
                [a.err_fd as usize, bytes.as_ptr() as usize, 4, 0],
            );
            loop {
                sys(libc::SYS_exit_group, [127, 0, 0, 0]);
            }
        };
        // A handler of the daemon's must not run here; ignored signals stay ignored, as
        // across an exec, except SIGPIPE, which Rust ignores and a transmitter expects
        // default (as std's Command does).
        let mut sig = 1;
        while sig <= a.sigmax {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                let mut old = KSigaction {
                    handler: 0,
                    flags: 0,
                    restorer: 0,
                    mask: 0,
                };
                let got = sys(
                    libc::SYS_rt_sigaction,
                    [sig as usize, 0, &mut old as *mut KSigaction as usize, 8],
                );
                if got == 0
                    && (sig == libc::SIGPIPE
                        || (old.handler != libc::SIG_IGN && old.handler != libc::SIG_DFL))
                {
                    let dfl = KSigaction {
                        handler: libc::SIG_DFL,
                        flags: 0,
                        restorer: 0,
                        mask: 0,
                    };
                    sys(
                        libc::SYS_rt_sigaction,
                        [sig as usize, &dfl as *const KSigaction as usize, 0, 8],
                    );
                }
            }
            sig += 1;
        }
        let r = sys(libc::SYS_setsid, [0; 4]);
        if r < 0 {
            return fail(r);
        }
        let r = sys(libc::SYS_chdir, [a.cwd.as_ptr() as usize, 0, 0, 0]);
        if r < 0 {
            return fail(r);
        }
        // The pid into the flag before the streams move: should the flag's own fd be 0, 1
        // or 2 (the daemon run with a standard fd closed), a dup2 below replaces it.
        if a.flag_fd >= 0 {
            let mut buf = [0u8; 20];
            let pid = sys(libc::SYS_getpid, [0; 4]) as u64;
            // Pure arithmetic on the child's own stack: nothing shared is touched.
            let digits = crate::sys::decimal::digits(pid, &mut buf);
            let parts: [(*const u8, usize); 3] = [
                (a.prefix.as_ptr(), a.prefix.len()),
                (digits.as_ptr(), digits.len()),
                (a.suffix.as_ptr(), a.suffix.len()),
            ];
            for (mut p, mut len) in parts {
                while len > 0 {
                    let n = sys(libc::SYS_write, [a.flag_fd as usize, p as usize, len, 0]);
                    if n == -(libc::EINTR as isize) {
                        continue;
                    }
                    if n <= 0 {
                        return fail(n);
                    }
                    p = p.add(n as usize);
                    len -= n as usize;
                }
            }
        }
        // Through fds above 2 first, so a stream fd that is itself 0, 1 or 2 is not
        // overwritten before its turn (the daemon may run with a standard fd closed).
        let mut tmp = [-1isize; 3];
        for (t, fd) in tmp.iter_mut().zip(a.fds) {
            *t = sys(
                libc::SYS_fcntl,
                [fd as usize, libc::F_DUPFD_CLOEXEC as usize, 3, 0],
            );
            if *t < 0 {
                return fail(*t);
            }
        }
        for (i, fd) in tmp.iter().enumerate() {
            // dup3, not dup2 (absent on newer ABIs): the fds differ, being above 2.
            let r = sys(libc::SYS_dup3, [*fd as usize, i, 0, 0]);
            if r < 0 {
                return fail(r);
            }
        }
        sys(
            libc::SYS_rt_sigprocmask,
            [
                libc::SIG_SETMASK as usize,
                &a.mask as *const libc::sigset_t as usize,
                0,
                8,
            ],
        );
        let r = sys(
            libc::SYS_execve,
            [
                a.prog.as_ptr() as usize,
                a.argv.as_ptr() as usize,
                a.envp.as_ptr() as usize,
                0,
            ],
        );
        fail(r)
    }
}

/// The child's stack (it runs only until its exec).
const CHILD_STACK: usize = 64 * 1024;

/// A child started by [`start`], until its exec is known to have succeeded or failed.
///
/// The child shares the daemon's memory until its exec, so what it reads (this value's
/// `ChildMem`) lives until the error pipe reports end of file: the exec closed the pipe's
/// write end (close-on-exec), or the child exited. Dropping a `Spawning` still unresolved
/// waits for that (an exec is a matter of microseconds).
pub struct Spawning {
    pid: i32,
    pipe: Option<OwnedFd>,
    mem: Option<Box<ChildMem>>,
    /// The errno the child sent (it could not exec); 0: none so far.
    errno: i32,
    got: usize,
    buf: [u8; 4],
}

impl Spawning {
    /// The child's pid.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Whether the outcome is known: `None` while the child has neither exec'd nor exited;
    /// `Some(Ok)` once it exec'd (the program runs); `Some(Err)` with the errno of what
    /// failed (the child exits 127; it is the caller's to reap). Never blocks.
    pub fn check(&mut self) -> Option<io::Result<()>> {
        self.read(false)
    }

    /// The outcome, waiting for it.
    pub fn wait(&mut self) -> io::Result<()> {
        self.read(true).expect("blocking read resolves")
    }

    fn read(&mut self, block: bool) -> Option<io::Result<()>> {
        while let Some(fd) = &self.pipe {
            let fd = fd.as_raw_fd();
            // SAFETY: reading into our own buffer, within its bounds.
            let n = unsafe {
                libc::read(
                    fd,
                    self.buf.as_mut_ptr().add(self.got) as *mut libc::c_void,
                    4 - self.got.min(4),
                )
            };
            if n > 0 {
                self.got += n as usize;
                if self.got == 4 {
                    self.errno = i32::from_ne_bytes(self.buf);
                    self.got = 0;
                }
                continue;
            }
            if n == 0 {
                // End of file: the child's write end is gone (exec'd or exited), and with it
                // any use of our memory.
                self.pipe = None;
                self.mem = None;
                break;
            }
            match io::Error::last_os_error().raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EAGAIN) if block => {
                    let mut p = libc::pollfd {
                        fd,
                        events: libc::POLLIN,
                        revents: 0,
                    };
                    // SAFETY: one valid pollfd.
                    unsafe { libc::poll(&mut p, 1, -1) };
                }
                Some(libc::EAGAIN) => return None,
                _ => {
                    // Not expected on a pipe of ours; the child's state cannot be told, so
                    // the memory is kept for good rather than freed under it.
                    if let Some(m) = self.mem.take() {
                        std::mem::forget(m);
                    }
                    self.pipe = None;
                    break;
                }
            }
        }
        Some(if self.errno != 0 {
            Err(io::Error::from_raw_os_error(self.errno))
        } else {
            Ok(())
        })
    }
}

impl Drop for Spawning {
    fn drop(&mut self) {
        if self.pipe.is_some() {
            let _ = self.read(true);
        }
    }
}

/// Start `argv` (`argv[0]` = program) in a new session without waiting for its exec; the
/// [`Spawning`] tells later whether the exec worked. An error here (program not found on
/// `$PATH`, out of file descriptors, fork failed) means no child was made.
///
/// Everything is prepared before the clone; the daemon's stdio fds and the flag may be
/// closed once this returns (the child has its own copy of the fd table).
pub fn start(
    argv: &[String],
    stdio: Stdio3,
    flag: Option<FlagFill<'_>>,
    cwd: &Path,
) -> io::Result<Spawning> {
    if argv.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty command"));
    }
    let program = resolve_program(&argv[0])?;
    let args: Vec<CString> = argv
        .iter()
        .map(|a| cstring(a.as_bytes()))
        .collect::<io::Result<_>>()?;
    // The environment as it is now, copied: the child must not read `environ`, which the
    // parent may change meanwhile.
    let env: Vec<CString> = std::env::vars_os()
        .filter_map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).ok()
        })
        .collect();
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
        Some(f) => (
            f.file.as_raw_fd(),
            f.prefix.as_bytes().to_vec(),
            f.suffix.as_bytes().to_vec(),
        ),
        None => (-1, Vec::new(), Vec::new()),
    };
    let mut pfd = [-1; 2];
    // SAFETY: pipe2 fills the array on success.
    if unsafe { libc::pipe2(pfd.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both fds are ours, just made.
    let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(pfd[0]), OwnedFd::from_raw_fd(pfd[1])) };
    let mut mem = Box::new(ChildMem {
        prog: cstring(program.as_os_str().as_bytes())?,
        cwd: cstring(cwd.as_os_str().as_bytes())?,
        argv: args
            .iter()
            .map(|c| c.as_ptr())
            .chain([std::ptr::null()])
            .collect(),
        envp: env
            .iter()
            .map(|c| c.as_ptr())
            .chain([std::ptr::null()])
            .collect(),
        _args: args,
        _env: env,
        fds,
        flag_fd,
        prefix,
        suffix,
        // SAFETY: sigset_t is plain data.
        mask: unsafe { std::mem::zeroed() },
        sigmax: libc::SIGRTMAX(),
        err_fd: wr.as_raw_fd(),
        stack: Stack::new()?,
    });
    // SAFETY: single-threaded daemon. All signals are blocked around the clone, so no
    // handler runs in the child before it has reset them. The child reads only `mem`,
    // which lives until the pipe says it is done with it (see `Spawning`); without
    // CLONE_VFORK we run on meanwhile, so the child uses raw system calls only (`raw`).
    let pid = unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut mem.mask);
        let top = mem.stack.top();
        let vfork = if raw::ASYNC { 0 } else { libc::CLONE_VFORK };
        let arg = &*mem as *const ChildMem as *mut libc::c_void;
        let pid = libc::clone(child_main, top, libc::CLONE_VM | vfork | libc::SIGCHLD, arg);
        let clone_err = io::Error::last_os_error();
        libc::pthread_sigmask(libc::SIG_SETMASK, &mem.mask, std::ptr::null_mut());
        if pid < 0 {
            return Err(clone_err);
        }
        pid
    };
    // Our copies go; the child has its own fd table.
    drop((wr, stdio, null, flag));
    Ok(Spawning {
        pid,
        pipe: Some(rd),
        mem: Some(mem),
        errno: 0,
        got: 0,
        buf: [0; 4],
    })
}

/// Spawn `argv` and wait until its program runs; returns the child's pid. An exec failure
/// (missing program, ENOEXEC, permission) is returned as the error, with its errno (the
/// child is reaped here then).
pub fn spawn(
    argv: &[String],
    stdio: Stdio3,
    flag: Option<FlagFill<'_>>,
    cwd: &Path,
) -> io::Result<i32> {
    let mut s = start(argv, stdio, flag, cwd)?;
    let pid = s.pid();
    if let Err(e) = s.wait() {
        // It never ran the program: reap it here, nobody else knows it.
        let mut st = 0;
        // SAFETY: our own child.
        unsafe { libc::waitpid(pid, &mut st, 0) };
        return Err(e);
    }
    Ok(pid)
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
    fn an_exec_error_comes_back_on_the_pipe_after_start_returned_and_the_child_exits_127() {
        // start() does not wait for the exec: a program that cannot be executed is a
        // child all the same, whose Spawning then says why (the daemon counts it as a
        // failed attempt); the caller reaps it.
        let mut sp = start(&["/nonexistent/prog".into()], null3(), None, Path::new("/")).unwrap();
        let pid = sp.pid();
        assert!(pid > 0);
        let mut st = 0;
        // SAFETY: our own child.
        assert_eq!(unsafe { libc::waitpid(pid, &mut st, 0) }, pid);
        assert!(
            libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 127,
            "{st:#x}"
        );
        // Gone, so the outcome is there without blocking.
        let e = sp
            .check()
            .expect("known once the child is gone")
            .unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
        // A program that runs: Ok once it exec'd, whatever it does then.
        let mut sp = start(
            &["/bin/sh".into(), "-c".into(), "exit 3".into()],
            null3(),
            None,
            Path::new("/"),
        )
        .unwrap();
        assert!(sp.wait().is_ok());
        // SAFETY: our own child.
        assert_eq!(unsafe { libc::waitpid(sp.pid(), &mut st, 0) }, sp.pid());
        assert_eq!(libc::WEXITSTATUS(st), 3);
    }

    #[test]
    fn the_pid_goes_into_the_flag_before_the_streams_move_even_when_the_flag_is_fd_1() {
        // A daemon started with its stdout closed may get the flag as fd 1; the child's
        // dup2 of its stdout onto fd 1 must come after the pid is in the flag. Run in a
        // process of its own (this test binary again): fd 1 is moved there.
        const ENV: &str = "IPSYND_SPAWN_TEST_FLAG_ON_FD1";
        const NAME: &str =
            "ipsynd::spawn::tests::the_pid_goes_into_the_flag_before_the_streams_move_even_when_the_flag_is_fd_1";
        if let Some(dir) = std::env::var_os(ENV) {
            let dir = PathBuf::from(dir);
            let f = File::create(dir.join("flag")).unwrap();
            // SAFETY: fd 1 of this helper process only; nothing else runs here.
            assert_eq!(unsafe { libc::dup2(f.as_raw_fd(), 1) }, 1);
            drop(f);
            // SAFETY: fd 1 is now the flag, owned here.
            let flag = unsafe { File::from_raw_fd(1) };
            let stdio = Stdio3 {
                stdin: Io::Null,
                stdout: Io::from(File::create(dir.join("out")).unwrap()),
                stderr: Io::Null,
            };
            let fill = FlagFill {
                file: &flag,
                prefix: "R h 1 ".into(),
                suffix: " 5\n".into(),
            };
            let argv: Vec<String> = vec!["/bin/sh".into(), "-c".into(), "echo out".into()];
            let pid = spawn(&argv, stdio, Some(fill), &dir).unwrap();
            let mut st = 0;
            // SAFETY: our own child.
            unsafe { libc::waitpid(pid, &mut st, 0) };
            // The harness writes to fd 1 after this test: keep what the flag said now.
            let text = std::fs::read_to_string(dir.join("flag")).unwrap();
            std::fs::write(dir.join("seen"), format!("{pid}\n{text}")).unwrap();
            std::mem::forget(flag);
            return;
        }
        let dir = std::env::temp_dir().join(format!("ipsynd-spawn4-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let st = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", NAME, "--test-threads=1"])
            .env(ENV, &dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(st.success());
        let seen = std::fs::read_to_string(dir.join("seen")).unwrap();
        let (pid, flag) = seen.split_once('\n').unwrap();
        assert_eq!(flag, format!("R h 1 {pid} 5\n"), "the flag");
        assert_eq!(
            std::fs::read_to_string(dir.join("out")).unwrap(),
            "out\n",
            "the child's stdout"
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
