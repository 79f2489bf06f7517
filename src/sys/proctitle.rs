//! Process titles: what `ps` and `/proc/<pid>/cmdline` show, as Postfix's and LON-CAPA's later
//! daemons set theirs (`lonc: msul1 idle 0 clients`).
//!
//! The technique of PostgreSQL's `ps_status.c` and nginx's `ngx_setproctitle.c`: the kernel
//! shows the bytes of the process's original argument strings, which sit in one block, followed
//! at once by the environment strings. [`init`] measures that block (argv and the environment
//! strings that follow it without a gap), copies every argument and environment string to the
//! heap and points `argv[]` and `environ` at the copies; from then on the block is ours and
//! [`set`] writes the title into it, padded with NUL bytes. When the title runs past the
//! original arguments the kernel's setproctitle rule applies (the last argv byte is not NUL, so
//! `/proc/<pid>/cmdline` reads to the first NUL).
//!
//! Where the block cannot be found (not glibc, no `.init_array` arguments, [`init`] not
//! called) [`set`] falls back to `prctl(PR_SET_NAME)` alone: the 15-byte `comm` that `top` and
//! `ps -o comm` show. Otherwise `comm` is left alone, so `pgrep -x lonc`, `killall` and
//! `start-stop-daemon --name` still find the daemon by its name.
//!
//! Rules for callers: call [`init`] once, early in `main`, while the process has one thread (it
//! replaces `environ`). [`set`] allocates nothing and takes no lock, so it is safe in a child
//! right after `fork`. `std::env::args` keeps working after [`init`] (it reads `argv[]`, which
//! then points at the copies).

use std::ffi::{c_char, c_int};
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

/// `argc`, `argv` and `envp` as the C runtime gave them to `.init_array` functions.
static ARGC: AtomicUsize = AtomicUsize::new(0);
static ARGV: AtomicPtr<*mut c_char> = AtomicPtr::new(std::ptr::null_mut());
static ENVP: AtomicPtr<*mut c_char> = AtomicPtr::new(std::ptr::null_mut());

/// The title block found by [`init`] and its length (NUL bytes included).
static AREA: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());
static AREA_LEN: AtomicUsize = AtomicUsize::new(0);
/// The length of the title [`set`] wrote last (everything after it in the block is NUL);
/// `usize::MAX` before the first (the block still holds the old strings).
static WRITTEN: AtomicUsize = AtomicUsize::new(usize::MAX);

/// glibc calls `.init_array` functions with `(argc, argv, envp)`, a glibc extension that Rust's
/// own `std::env::args` relies on too; other C libraries pass nothing, hence the gate.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[used]
#[link_section = ".init_array.00098"]
static RECORD_ARGS: extern "C" fn(c_int, *mut *mut c_char, *mut *mut c_char) = record_args;

#[cfg(all(target_os = "linux", target_env = "gnu"))]
extern "C" fn record_args(argc: c_int, argv: *mut *mut c_char, envp: *mut *mut c_char) {
    // Only remember them: nothing is moved unless a daemon asks for titles.
    ARGC.store(argc.max(0) as usize, Ordering::Relaxed);
    ARGV.store(argv, Ordering::Relaxed);
    ENVP.store(envp, Ordering::Relaxed);
}

extern "C" {
    static mut environ: *mut *mut c_char;
}

/// Take over the argument block for titles. True if [`set`] will rewrite it; false if only
/// `comm` can be set. Idempotent. Call while single-threaded (it replaces `environ`).
pub fn init() -> bool {
    if !AREA.load(Ordering::Relaxed).is_null() {
        return true;
    }
    // The reference keeps the `.init_array` entry's object file in the link.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    std::hint::black_box(&RECORD_ARGS);
    let argc = ARGC.load(Ordering::Relaxed);
    let argv = ARGV.load(Ordering::Relaxed);
    let envp = ENVP.load(Ordering::Relaxed);
    if argc == 0 || argv.is_null() {
        return false;
    }
    // SAFETY: argv[0..argc] and envp (NULL-terminated) are the C runtime's arrays of
    // NUL-terminated strings; they live for the whole process.
    unsafe {
        let args: Vec<*const c_char> = (0..argc).map(|i| *argv.add(i) as *const c_char).collect();
        let mut envs = Vec::new();
        let mut i = 0;
        while !envp.is_null() && !(*envp.add(i)).is_null() {
            envs.push(*envp.add(i) as *const c_char);
            i += 1;
        }
        let Some(len) = block_len(&args, &envs) else {
            return false;
        };
        // Copies first: nothing may point into the block once it is overwritten.
        for i in 0..argc {
            let copy = libc::strdup(*argv.add(i));
            if copy.is_null() {
                return false;
            }
            *argv.add(i) = copy;
        }
        if !move_environ() {
            return false;
        }
        AREA.store(args[0] as *mut u8, Ordering::Relaxed);
        AREA_LEN.store(len, Ordering::Relaxed);
    }
    true
}

/// Point `environ` at heap copies of every string it lists (the originals are in the block).
///
/// # Safety
/// Single-threaded; `environ` is a valid NULL-terminated array.
unsafe fn move_environ() -> bool {
    let old = environ;
    let mut n = 0;
    while !old.is_null() && !(*old.add(n)).is_null() {
        n += 1;
    }
    let new = libc::malloc((n + 1) * std::mem::size_of::<*mut c_char>()) as *mut *mut c_char;
    if new.is_null() {
        return false;
    }
    for i in 0..n {
        let copy = libc::strdup(*old.add(i));
        if copy.is_null() {
            return false;
        }
        *new.add(i) = copy;
    }
    *new.add(n) = std::ptr::null_mut();
    environ = new;
    true
}

/// The length of the title block: from `args[0]` to the NUL ending the last string that follows
/// the one before it without a gap (arguments first, then the environment), NUL included.
/// `None` when there is no first argument.
///
/// # Safety
/// Every pointer is a NUL-terminated string.
unsafe fn block_len(args: &[*const c_char], envs: &[*const c_char]) -> Option<usize> {
    let start = *args.first()?;
    if start.is_null() {
        return None;
    }
    let mut end = start.add(libc::strlen(start)); // the NUL of the last string in the block
    for &s in args[1..].iter().chain(envs) {
        // A string elsewhere (one moved by setenv, say) is not part of the block.
        if s == end.add(1) {
            end = s.add(libc::strlen(s));
        }
    }
    Some(end.offset_from(start) as usize + 1)
}

/// Show `title` as this process's command line (cut to the block; without [`init`], or when
/// it found no block, as the 15-byte `comm`). No allocation, no lock: safe after `fork`.
pub fn set(title: &str) {
    let area = AREA.load(Ordering::Relaxed);
    let len = AREA_LEN.load(Ordering::Relaxed);
    if area.is_null() || len < 2 {
        set_comm(title);
        return;
    }
    // SAFETY: init() measured [area, area+len) and moved everything that pointed into it.
    let block = unsafe { std::slice::from_raw_parts_mut(area, len) };
    let prev = match WRITTEN.load(Ordering::Relaxed) {
        usize::MAX => None,
        n => Some(n),
    };
    let n = write_title(block, title.as_bytes(), prev);
    WRITTEN.store(n, Ordering::Relaxed);
}

/// Write `title` (cut to leave one NUL) into `block`, NUL-padded. `prev` is the length of the
/// title written last, past which the block is NUL already: only the bytes up to it are
/// cleared (the block runs on over the environment, often kilobytes, and a child's title
/// changes twice per request). `None`: the block still holds the original strings. The bytes
/// of the title kept.
fn write_title(block: &mut [u8], title: &[u8], prev: Option<usize>) -> usize {
    let n = title.len().min(block.len() - 1);
    // NUL bytes would end the title early in `ps`; show them as spaces.
    for (b, &t) in block.iter_mut().zip(&title[..n]) {
        *b = if t == 0 { b' ' } else { t };
    }
    let end = prev.map_or(block.len(), |p| p.min(block.len()));
    if end > n {
        block[n..end].fill(0);
    }
    n
}

/// `prctl(PR_SET_NAME)`: the kernel keeps 15 bytes and a NUL.
fn set_comm(title: &str) {
    let mut name = [0u8; 16];
    for (d, &s) in name[..15].iter_mut().zip(title.as_bytes()) {
        *d = if s == 0 { b' ' } else { s };
    }
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes from `name`.
    unsafe {
        libc::prctl(libc::PR_SET_NAME, name.as_ptr() as libc::c_ulong, 0, 0, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake argument block: the strings one after another, NUL-terminated, as the kernel
    /// lays them out; returns pointers to each.
    fn layout(buf: &mut Vec<u8>, strings: &[&str]) -> Vec<*const c_char> {
        let mut offsets = Vec::new();
        for s in strings {
            offsets.push(buf.len());
            buf.extend_from_slice(s.as_bytes());
            buf.push(0);
        }
        offsets
            .into_iter()
            .map(|o| unsafe { buf.as_ptr().add(o) } as *const c_char)
            .collect()
    }

    #[test]
    fn block_spans_the_arguments_and_the_environment_after_them() {
        let mut buf = Vec::with_capacity(256);
        let p = layout(&mut buf, &["lonc", "-c", "/x", "HOME=/", "PATH=/bin"]);
        let len = unsafe { block_len(&p[..3], &p[3..]) };
        assert_eq!(len, Some(buf.len()));
        // Without the environment: the arguments alone.
        assert_eq!(unsafe { block_len(&p[..3], &[]) }, Some(11));
    }

    #[test]
    fn a_string_elsewhere_ends_the_block() {
        let mut buf = Vec::with_capacity(256);
        let p = layout(&mut buf, &["lonc", "-f", "A=1", "OLD=1", "B=2"]);
        let other = c"NEW=1".as_ptr();
        // An environment string replaced (setenv) before init: the block stops before its
        // old place, and the strings after that gap are not part of it either.
        let len = unsafe { block_len(&p[..2], &[p[2], other, p[4]]) };
        assert_eq!(len, Some("lonc\0-f\0A=1\0".len()));
        // An argument not right after the one before: only argv[0] is ours.
        let len = unsafe { block_len(&[p[0], other], &[]) };
        assert_eq!(len, Some(5));
        assert_eq!(unsafe { block_len(&[], &[]) }, None);
    }

    #[test]
    fn the_fallback_sets_the_15_byte_comm() {
        // PR_SET_NAME names the calling thread: this test's own, nobody else's.
        set_comm("lonc: h1 busy 1 clients");
        let comm = std::fs::read_to_string("/proc/thread-self/comm").unwrap();
        assert_eq!(comm.trim_end(), "lonc: h1 busy 1");
    }

    #[test]
    fn titles_are_cut_and_padded_over_what_the_last_one_covered() {
        let mut block = *b"lonc\0-c\0/etc/access.conf\0";
        let n = write_title(&mut block, b"lonc: parent 2 children", None);
        assert_eq!(n, 23);
        assert_eq!(&block[..23], b"lonc: parent 2 children");
        assert!(block[23..].iter().all(|&b| b == 0));
        // Shorter: the rest is NUL, so nothing of the old title shows.
        assert_eq!(write_title(&mut block, b"lonc: h1 idle", Some(n)), 13);
        assert_eq!(&block[..13], b"lonc: h1 idle");
        assert!(block[13..].iter().all(|&b| b == 0));
        // Longer again, then shorter: nothing of either shows past the new end.
        assert_eq!(
            write_title(&mut block, b"lonc: h1 busy 10 clients", Some(13)),
            24
        );
        write_title(&mut block, b"lonc: h1 idle", Some(24));
        assert_eq!(&block[..13], b"lonc: h1 idle");
        assert!(block[13..].iter().all(|&b| b == 0));
        // Too long: cut, and the last byte stays NUL.
        let long = [b'x'; 100];
        let cut = write_title(&mut block, &long, Some(13));
        assert_eq!(cut, block.len() - 1);
        assert_eq!(block[block.len() - 1], 0);
        // A NUL inside would hide the rest from ps.
        write_title(&mut block, b"a\0b", Some(cut));
        assert_eq!(&block[..4], b"a b\0");
        assert!(block[3..].iter().all(|&b| b == 0));
        // The first write pads the whole block, even when the original bytes match.
        let mut fresh = *b"ab\0cd\0";
        write_title(&mut fresh, b"ab", None);
        assert_eq!(
            &fresh, b"ab\0\0\0\0",
            "first write pads even when the prefix matches"
        );
    }
}
