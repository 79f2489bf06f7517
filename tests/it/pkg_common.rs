//! Shared harness for the packaging tests: a temporary tree, the project installed into it by
//! `scripts/install.sh` (what `make install` runs) with the binaries of the profile under test,
//! and running the installed shell scripts with a bounded wait.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Generous: several helpers build and test on two cores at once.
pub const WAIT: Duration = Duration::from_secs(30);

pub const LONC: &str = env!("CARGO_BIN_EXE_lonc");
pub const IPSYND: &str = env!("CARGO_BIN_EXE_ipsynd");

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The source tree (scripts/, etc/).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where cargo put the binaries of the profile under test.
pub fn bin_dir() -> PathBuf {
    Path::new(LONC).parent().unwrap().to_path_buf()
}

/// A fresh temporary directory, removed on drop.
pub struct TempTree {
    pub root: PathBuf,
}

impl TempTree {
    pub fn new(name: &str) -> TempTree {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let root = std::env::temp_dir().join(format!("pkg-it-{}-{n}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).unwrap();
        TempTree { root }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Install with every path inside this tree (no DESTDIR), so the installed scripts,
    /// units and defaults name files in it: PREFIX=<root>/usr, SYSCONFDIR=<root>/etc,
    /// FIP_ROOT=<root>/fip.
    pub fn install_here(&self) -> String {
        let r = self.root.display();
        run_install(
            "install",
            &[
                ("PREFIX", format!("{r}/usr")),
                ("SYSCONFDIR", format!("{r}/etc")),
                ("FIP_ROOT", format!("{r}/fip")),
            ],
        )
    }
}

impl Drop for TempTree {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

/// `scripts/install.sh ACTION` with these settings and this profile's binaries; panics
/// (with the output) unless it exits 0; returns its output.
pub fn run_install(action: &str, vars: &[(&str, String)]) -> String {
    let mut cmd = Command::new("bash");
    cmd.arg(repo().join("scripts/install.sh")).arg(action);
    cmd.env("BUILD_DIR", bin_dir());
    for v in ["DESTDIR", "PREFIX", "SYSCONFDIR", "FIP_ROOT"] {
        cmd.env_remove(v);
    }
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let (code, out) = run(&mut cmd);
    assert_eq!(code, Some(0), "install.sh {action} failed:\n{out}");
    out
}

/// Run a command to its end (bounded by [`WAIT`]); its exit code and stdout+stderr.
pub fn run(cmd: &mut Command) -> (Option<i32>, String) {
    let dir = std::env::temp_dir();
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let outp = dir.join(format!("pkg-it-out-{}-{n}", std::process::id()));
    let f = fs::File::create(&outp).unwrap();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(f.try_clone().unwrap())
        .stderr(f)
        .spawn()
        .expect("spawn");
    let end = Instant::now() + WAIT;
    let code = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st.code();
        }
        if Instant::now() >= end {
            let _ = child.kill();
            let _ = child.wait();
            let mut s = String::new();
            let _ = fs::File::open(&outp).and_then(|mut f| f.read_to_string(&mut s));
            let _ = fs::remove_file(&outp);
            panic!("{cmd:?} did not finish within {WAIT:?}; output so far:\n{s}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut s = String::new();
    let _ = fs::File::open(&outp).and_then(|mut f| f.read_to_string(&mut s));
    let _ = fs::remove_file(&outp);
    (code, s)
}

/// Run an installed shell script with arguments.
pub fn script(path: &Path, args: &[&str]) -> (Option<i32>, String) {
    run(Command::new(path).args(args))
}

/// The one bounded wait of the integration tests.
pub use crate::lonc_common::wait_for;

/// Every file and directory below `root`, as relative paths, sorted.
pub fn list_tree(root: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(rd) = fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(base).unwrap().to_string_lossy().into_owned();
            let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
            out.push(if is_dir { format!("{rel}/") } else { rel });
            if is_dir {
                walk(base, &p, out);
            }
        }
    }
    let mut v = Vec::new();
    walk(root, root, &mut v);
    v.sort();
    v
}

/// The pid in a pid file, if it holds one.
pub fn pid_in(path: &Path) -> Option<i32> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// True while `pid` is a process that has not exited (a zombie has).
pub use crate::lonc_common::alive;

/// Kills, on drop, whatever live process a pid file names (and its process group): the
/// daemons the init scripts start are nobody's children, so no other handle ends them
/// when a test fails half-way.
pub struct KillOnDrop(pub PathBuf);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(pid) = pid_in(&self.0) {
            if alive(pid) && pid > 1 {
                // SAFETY: plain kill(2) calls.
                unsafe {
                    libc::kill(-pid, libc::SIGKILL);
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        }
    }
}

/// Write the site settings file `etc/default/<name>` of an installed tree.
pub fn write_defaults(tree: &TempTree, name: &str, text: &str) {
    fs::write(tree.path(&format!("etc/default/{name}")), text).unwrap();
}

/// The uid of a running process (from /proc).
pub fn uid_of(pid: i32) -> Option<u32> {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}
