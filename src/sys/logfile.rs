//! The one way either daemon appends to a file: logs, the perm log, per-attempt logs, the
//! lines children add to a status page. Plus "say it once until it changes", the dedup the
//! daemons use for a problem that repeats on every turn.
//!
//! Every open is `O_WRONLY|O_APPEND|O_CREAT|O_NOFOLLOW|O_CLOEXEC|O_NONBLOCK`: a symlink
//! planted at the path is refused (`ELOOP`), never followed; a FIFO planted there cannot stall
//! the daemon (`ENXIO`, or refused as not a regular file); the fd never leaks into a program
//! the daemon runs. Files are created with the caller's mode ([`LOG_MODE`], or
//! [`SECRET_MODE`] for files holding traffic or secrets), further narrowed by the umask.
//!
//! [`LogFile`] opens the file for every line and closes it again, as Perl lonc 1.29's
//! `logthis` did: after logrotate renamed or removed the file (no `copytruncate` needed) the
//! next line goes to a new file at the path, and no process holds a log fd between lines, so
//! nothing is inherited across `fork` and the fd budget the EMFILE handling counts on stays
//! whole. The other way, keeping the file open and `lstat`ing the path before each line to
//! notice a rename, saves an open and a close per line (a few microseconds, measured once
//! while choosing; nothing at the rate the daemons log) at the price of an fd in every process.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Mode for a new log file (at most; the umask may narrow it).
pub const LOG_MODE: u32 = 0o640;
/// Mode for a new file that holds secrets or traffic: the perm log, per-attempt logs, FTP
/// command files.
pub const SECRET_MODE: u32 = 0o600;

/// Mode for a file others are meant to read: lonc's status page, which Apache serves.
pub const PUBLIC_MODE: u32 = 0o644;

/// Open `path` for appending, never through a symlink, creating it with `mode`. Anything but a
/// regular file there is an error.
pub fn open_append(path: &Path, mode: u32) -> io::Result<File> {
    let f = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)
        .map_err(explain_loop)?;
    let md = f.metadata()?;
    if !md.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    // A file that exists with more permission bits than this daemon would create it with is
    // narrowed to `mode`: Perl lonc 1.29 left lonnet.perm.log, which holds whole requests,
    // readable by everybody (0644). Only its owner (or root) can; failing that, the line is
    // still written, since a lost record is worse.
    let have = md.permissions().mode() & 0o777;
    if have & !mode != 0 {
        let _ = f.set_permissions(std::fs::Permissions::from_mode(have & mode));
    }
    Ok(f)
}

/// `ELOOP` from `O_NOFOLLOW` reads "Too many levels of symbolic links"; say what it means.
pub fn explain_loop(e: io::Error) -> io::Error {
    if e.raw_os_error() == Some(libc::ELOOP) {
        io::Error::new(e.kind(), "a symbolic link, not followed")
    } else {
        e
    }
}

/// Append `data` to `path` once (open, one write, close): for files written now and then,
/// like the lines children add to a status page.
pub fn append_to(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    open_append(path, mode)?.write_all(data)
}

/// An append-only file at a path, opened for each line: see the module doc.
pub struct LogFile {
    path: PathBuf,
    mode: u32,
}

impl LogFile {
    /// A log at `path`, created with `mode` when missing; nothing is opened until the first
    /// line.
    pub fn new(path: impl Into<PathBuf>, mode: u32) -> LogFile {
        LogFile {
            path: path.into(),
            mode,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Write to another path from the next line on.
    pub fn set_path(&mut self, path: impl Into<PathBuf>) {
        self.path = path.into();
    }

    /// Append `data` with one `write` (O_APPEND: lines of processes sharing the file do not
    /// interleave).
    pub fn append(&mut self, data: &[u8]) -> io::Result<()> {
        self.append_counted(data).1
    }

    /// Like [`append`](Self::append), also saying how many bytes went in: a full disk can
    /// take part of a line, and a caller that retries must not write that part twice.
    pub fn append_counted(&mut self, data: &[u8]) -> (usize, io::Result<()>) {
        let mut file = match open_append(&self.path, self.mode) {
            Ok(f) => f,
            Err(e) => return (0, Err(e)),
        };
        let mut done = 0;
        while done < data.len() {
            match file.write(&data[done..]) {
                Ok(0) => return (done, Err(io::ErrorKind::WriteZero.into())),
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return (done, Err(e)),
            }
        }
        (done, Ok(()))
    }
}

/// An OS error as a person reads it: `No space left on device`, without ` (os error 28)`.
pub fn err_text(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// "Log once until it changes": a repeated problem is said the first time, and again only
/// when its text changes or after it went away.
#[derive(Debug, Default)]
pub struct Once {
    last: Option<String>,
}

impl Once {
    /// Whether `msg` is new (differs from what was said last); remembers it.
    pub fn first(&mut self, msg: &str) -> bool {
        if self.last.as_deref() == Some(msg) {
            return false;
        }
        self.last = Some(msg.to_string());
        true
    }

    /// The problem went away; returns whether one was being remembered (so that "it works
    /// again" can be said exactly once).
    pub fn clear(&mut self) -> bool {
        self.last.take().is_some()
    }

    /// Whether a problem is being remembered.
    pub fn active(&self) -> bool {
        self.last.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("logfile-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn follows_the_path_after_a_rename() {
        let d = tmpdir("rotate");
        let p = d.join("x.log");
        let mut l = LogFile::new(&p, LOG_MODE);
        l.append(b"one\n").unwrap();
        fs::rename(&p, d.join("x.log.1")).unwrap();
        l.append(b"two\n").unwrap();
        assert_eq!(fs::read_to_string(d.join("x.log.1")).unwrap(), "one\n");
        assert_eq!(fs::read_to_string(&p).unwrap(), "two\n");
        fs::remove_file(&p).unwrap();
        l.append(b"three\n").unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "three\n");
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn modes_and_no_symlinks_and_no_fifos() {
        let d = tmpdir("nofollow");
        let mut l = LogFile::new(d.join("a.log"), LOG_MODE);
        l.append(b"x").unwrap();
        let mut s = LogFile::new(d.join("perm.log"), SECRET_MODE);
        s.append(b"x").unwrap();
        // The umask may narrow the mode further (it is process-wide: not changed here).
        let mode = |n: &str| fs::metadata(d.join(n)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode("a.log") & !0o640, 0, "at most 0640");
        assert_eq!(mode("perm.log"), 0o600);

        let victim = d.join("victim");
        fs::write(&victim, "precious").unwrap();
        std::os::unix::fs::symlink(&victim, d.join("b.log")).unwrap();
        let e = LogFile::new(d.join("b.log"), LOG_MODE)
            .append(b"evil")
            .unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert!(append_to(&d.join("b.log"), b"evil", LOG_MODE).is_err());
        // Swapped in after the first line: refused on the next open.
        fs::remove_file(d.join("a.log")).unwrap();
        std::os::unix::fs::symlink(&victim, d.join("a.log")).unwrap();
        assert!(l.append(b"evil").is_err());
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");

        nix::unistd::mkfifo(
            &d.join("fifo.log"),
            nix::sys::stat::Mode::from_bits_truncate(0o600),
        )
        .unwrap();
        // No reader: ENXIO at once instead of blocking in open.
        assert!(LogFile::new(d.join("fifo.log"), LOG_MODE)
            .append(b"x")
            .is_err());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn fds_are_close_on_exec() {
        let d = tmpdir("cloexec");
        let f = open_append(&d.join("c.log"), LOG_MODE).unwrap();
        use std::os::fd::AsRawFd;
        let flags = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_GETFD) };
        assert!(flags & libc::FD_CLOEXEC != 0);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn once_until_it_changes() {
        let mut o = Once::default();
        assert!(!o.active());
        assert!(o.first("disk full"));
        assert!(!o.first("disk full"));
        assert!(o.first("permission denied"));
        assert!(o.active());
        assert!(o.clear());
        assert!(!o.clear());
        assert!(o.first("permission denied"));
    }

    /// Many lines through one `LogFile` (one open, write and close each) arrive whole and in
    /// order. What that costs against keeping the file open is a bench question, not a test's.
    #[test]
    fn many_lines_arrive_whole_and_in_order() {
        let d = tmpdir("many");
        let mut l = LogFile::new(d.join("reopened.log"), LOG_MODE);
        let n = 2_000;
        for i in 0..n {
            l.append(format!("line {i}\n").as_bytes()).unwrap();
        }
        let text = fs::read_to_string(d.join("reopened.log")).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), n);
        assert!(lines
            .iter()
            .enumerate()
            .all(|(i, l)| *l == format!("line {i}")));
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn an_existing_file_readable_by_others_is_narrowed_to_the_mode() {
        let d = std::env::temp_dir().join(format!("logfile-narrow-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let p = d.join("lonnet.perm.log");
        std::fs::write(&p, "old record\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        append_to(&p, b"new record\n", SECRET_MODE).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "old record\nnew record\n"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }
}
