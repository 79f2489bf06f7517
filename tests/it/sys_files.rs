//! The files both daemons write (`sys::logfile`, `sys::pidfile`, `sys::fsutil`): never
//! through a planted symlink, logs that follow a rename (logrotate without copytruncate), a
//! zombie's pid file that does not block a new start, and a full disk that loses no perm-log
//! record in silence.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::ipsynd_common::{write_exec, Fip};
use crate::lonc_common::*;

const VICTIM: &str = "precious: nothing may write here\n";

/// A victim file outside the daemon's tree and a symlink to it at each of `paths`.
fn plant(dir: &Path, paths: &[PathBuf]) -> PathBuf {
    let victim = dir.join("victim");
    fs::write(&victim, VICTIM).unwrap();
    for p in paths {
        if let Some(d) = p.parent() {
            fs::create_dir_all(d).unwrap();
        }
        let _ = fs::remove_file(p);
        symlink(&victim, p).unwrap();
    }
    victim
}

/// Run `cmd` to its end, at most [`WAIT`] (a daemon that should have refused to start, but
/// started, is killed): its exit code (`None` when killed) and its stderr.
fn run_bounded(cmd: &mut Command) -> (Option<i32>, String) {
    let err = std::env::temp_dir().join(format!(
        "sys-files-stderr-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let mut code = None;
    if !wait_for(WAIT, || match child.try_wait() {
        Ok(Some(st)) => {
            code = st.code();
            true
        }
        _ => false,
    }) {
        let _ = child.kill();
        let _ = child.wait();
    }
    let text = fs::read_to_string(&err).unwrap_or_default();
    let _ = fs::remove_file(&err);
    (code, text)
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn lonc_refuses_a_symlinked_log_and_writes_nothing_through_it() {
    let s = Setup::new("symlog", &[peer("h1")]);
    let victim = plant(&s.dir.join("html"), &[s.log_path()]);
    let (code, err) = run_bounded(
        Command::new(env!("CARGO_BIN_EXE_lonc"))
            .arg("-c")
            .arg(&s.config)
            .arg("-f"),
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "cannot write {}: a symbolic link, not followed",
            s.log_path().display()
        )),
        "{err}"
    );
    assert_eq!(fs::read_to_string(&victim).unwrap(), VICTIM);
}

#[test]
fn lonc_writes_no_file_through_a_planted_symlink() {
    let s = Setup::new("symlinks", &[peer("h1")]);
    // The perm log's records wait in memory (and are said to) rather than follow the link.
    let planted = [s.perm_path(), s.pid_path(), s.status_txt(), s.status_json()];
    // The victim sits outside every directory lonc writes to.
    let victim = plant(&s.dir.join("tabs"), &planted);
    fs::write(s.delayed_dir().join("100.echo.h1"), "echo:kept\n").unwrap();
    let mut l = s.start();
    assert!(s.wait_online("h1"));
    assert!(s.wait_log("Delayed echo:kept to h1: >kept<"), "{}", s.log());
    assert!(
        s.wait_log(&format!(
            "WARNING: cannot write {}: a symbolic link, not followed; 1 records kept in memory",
            s.perm_path().display()
        )),
        "{}",
        s.log()
    );
    l.signal(Signal::SIGUSR1);
    assert!(wait_for(WAIT, || fs::read_to_string(s.status_txt())
        .unwrap_or_default()
        .contains("(perm log: 1 records pending)")));
    assert!(wait_for(WAIT, || s.status_json().is_file()
        && !fs::symlink_metadata(s.status_json())
            .unwrap()
            .file_type()
            .is_symlink()));
    l.signal(Signal::SIGTERM);
    assert!(l.wait_exit(WAIT).is_some());
    assert_eq!(fs::read_to_string(&victim).unwrap(), VICTIM);
    // What lonc wrote instead is a file of its own (the pid file replaced the link).
    assert!(
        s.log().contains("1 records for") && s.log().contains("lost at exit"),
        "{}",
        s.log()
    );
    assert!(mode(&s.log_path()) & !0o640 == 0, "lonc.log at most 0640");
}

#[test]
fn lonc_logs_follow_a_rename_and_the_perm_log_is_0600() {
    let s = Setup::new("rotate", &[peer("h1")]);
    fs::write(s.delayed_dir().join("100.echo.h1"), "echo:one\n").unwrap();
    let l = s.start();
    assert!(s.wait_online("h1"));
    assert!(wait_for(WAIT, || s.perm_path().exists()));
    assert_eq!(mode(&s.perm_path()), 0o600, "the perm log holds traffic");
    // logrotate without copytruncate: rename, and the next lines go to a new file.
    let old = s.dir.join("logs/lonc.log.1");
    let old_perm = s.dir.join("logs/lonnet.perm.log.1");
    fs::rename(s.log_path(), &old).unwrap();
    fs::rename(s.perm_path(), &old_perm).unwrap();
    l.signal(Signal::SIGUSR1);
    assert!(
        s.wait_log("USR1: Trying to establish connections again"),
        "no line in the new lonc.log; the old one has:\n{}",
        fs::read_to_string(&old).unwrap()
    );
    assert!(!fs::read_to_string(&old).unwrap().contains("USR1"));
    fs::write(s.delayed_dir().join("200.echo.h1"), "echo:two\n").unwrap();
    s.standin("h1").disconnect_all();
    assert!(wait_for(WAIT, || fs::read_to_string(s.perm_path())
        .unwrap_or_default()
        .contains(":S:h1:echo:two:")));
    assert!(!fs::read_to_string(&old_perm).unwrap().contains("echo:two"));
    assert_eq!(mode(&s.perm_path()), 0o600);
}

#[test]
fn a_zombie_lonc_in_the_pid_file_does_not_block_a_new_start() {
    let s = Setup::new("zombie", &[peer("h1")]);
    let mut first = s.spawn();
    assert!(s.wait_log("Done starting initial servers"));
    assert!(wait_for(WAIT, || fs::read_to_string(s.pid_path())
        .is_ok_and(|t| t.trim() == first.pid.to_string())));
    // kill -9 and not reaped (we are its parent and do not wait): a zombie named lonc.
    first.signal(Signal::SIGKILL);
    assert!(wait_for(WAIT, || !alive(first.pid)));
    assert!(
        fs::read_to_string(format!("/proc/{}/stat", first.pid)).is_ok(),
        "the zombie must still exist for this test"
    );
    let before = s.log_count("Done starting initial servers");
    let mut second = s.spawn();
    assert!(
        s.wait_log_n("Done starting initial servers", before + 1),
        "{}",
        s.log()
    );
    assert_eq!(
        second.wait_exit(Duration::from_millis(200)),
        None,
        "still running"
    );
    assert!(!s.log().contains("lonc already running"), "{}", s.log());
    assert!(s.wait_online("h1"));
    drop(second);
    let _ = first.wait_exit(WAIT);
}

#[test]
fn a_zombie_ipsynd_does_not_block_a_new_start() {
    let mut f = Fip::new("zombie");
    let pid = f.start();
    unsafe { libc::kill(pid, libc::SIGKILL) };
    assert!(wait_for(WAIT, || !alive(pid)));
    assert!(fs::read_to_string(format!("/proc/{pid}/stat")).is_ok());
    assert_eq!(
        fs::read_to_string(f.path("x/ipsynd.pid")).unwrap().trim(),
        pid.to_string()
    );
    // The first one stays unreaped (Fip reaps it when dropped).
    let before = f.log_count("started, version");
    let second = f.start();
    assert!(
        wait_for(WAIT, || f.log_count("started, version") > before),
        "{}",
        fs::read_to_string(f.path("ipsynd.stderr1")).unwrap_or_default()
    );
    assert_ne!(second, pid);
}

/// A transmitter that writes nothing itself (the test stand-in appends to its log with the
/// shell's `>>`, which would follow the link): it removes its flag and control record.
const QUIET_TRANSMITTER: &str = r#"#!/bin/sh
flag= ctrl=
while [ $# -gt 0 ]; do
  case "$1" in -r) flag=$2 ;; -z) ctrl=$2 ;; esac
  shift
done
rm -f "$ctrl" "$flag"
exit 0
"#;

#[test]
fn ipsynd_writes_no_file_through_a_planted_symlink() {
    let mut f = Fip::new("symlinks");
    let quiet = f.path("local/quiet");
    write_exec(&quiet, QUIET_TRANSMITTER);
    f.ipsynd_table(&format!("ipsyn:{}\nrescan:1\ngrace:1\n", quiet.display()));
    f.client("POP", "retry:1\ntimeout:0\n");
    // Per-attempt logs are named CLIENT.ddMonyy.HH.MM: plant this minute's and the next.
    let now = chrono::Local::now();
    let mut planted = vec![
        f.path("x/ipsynd.pid"),
        f.path("log/syn/ipsynd.status"),
        f.path("log/syn/ipsynd.status.json"),
    ];
    for m in 0..3 {
        let t = now + chrono::Duration::minutes(m);
        planted.push(f.path(&format!("log/syn/POP.{}", t.format("%d%b%y.%H.%M"))));
    }
    let victim = plant(&f.path("local"), &planted);
    // The pid file first: refused, nothing written, exit 111.
    let (code, err) = run_bounded(
        Command::new(env!("CARGO_BIN_EXE_ipsynd"))
            .arg("-r")
            .arg(&f.root),
    );
    assert_eq!(code, Some(111), "{err}");
    assert!(err.contains("symbolic link"), "{err}");
    assert_eq!(fs::read_to_string(&victim).unwrap(), VICTIM);
    fs::remove_file(f.path("x/ipsynd.pid")).unwrap();
    // The log too, then the rest with the log a file again.
    symlink(&victim, f.path("log/ipsynd.log")).unwrap();
    // TERM once it said (on stderr) that it started.
    let errf = f.path("local/ipsynd.stderr");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ipsynd"))
        .arg("-r")
        .arg(&f.root)
        .stdin(Stdio::null())
        .stderr(fs::File::create(&errf).unwrap())
        .spawn()
        .unwrap();
    let started = wait_for(WAIT, || {
        fs::read_to_string(&errf)
            .unwrap_or_default()
            .contains("started, version")
    });
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    if !wait_for(WAIT, || matches!(child.try_wait(), Ok(Some(_)))) {
        let _ = child.kill();
    }
    let _ = child.wait();
    let err = fs::read_to_string(&errf).unwrap_or_default();
    assert!(started, "{err}");
    assert!(
        err.contains("WARNING: unable to write") && err.contains("symbolic link"),
        "{err}"
    );
    assert_eq!(
        err.matches("WARNING: unable to write").count(),
        1,
        "said once: {err}"
    );
    assert_eq!(fs::read_to_string(&victim).unwrap(), VICTIM);
    fs::remove_file(f.path("log/ipsynd.log")).unwrap();

    f.start();
    f.record("POP");
    assert!(f.wait_log("unable to write"), "{}", f.log());
    assert!(
        wait_for(WAIT, || !f.exists("spool/syn/control/POP")),
        "{}",
        f.log()
    );
    f.signal(libc::SIGUSR1);
    assert!(wait_for(WAIT, || f
        .path("log/syn/ipsynd.status.json")
        .is_file()
        && !fs::symlink_metadata(f.path("log/syn/ipsynd.status.json"))
            .unwrap()
            .file_type()
            .is_symlink()));
    assert_eq!(f.stop_with(libc::SIGTERM), Some(0));
    assert_eq!(fs::read_to_string(&victim).unwrap(), VICTIM);
    assert!(mode(&f.path("log/ipsynd.log")) & !0o640 == 0);
}

#[test]
fn ipsynd_attempt_logs_are_0600_and_its_log_follows_a_rename() {
    let mut f = Fip::new("modes");
    f.client("POP", "retry:1\ntimeout:0\n");
    f.start();
    f.record("POP");
    f.wait_calls("POP", 1);
    let log = fs::read_dir(f.path("log/syn"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("POP."))
        .expect("a per-attempt log");
    assert_eq!(mode(&log), 0o600, "per-attempt logs hold traffic");
    fs::rename(f.path("log/ipsynd.log"), f.path("log/ipsynd.log.1")).unwrap();
    f.signal(libc::SIGHUP);
    assert!(f.wait_log("SIGHUP"), "no line in the new ipsynd.log");
    assert!(!fs::read_to_string(f.path("log/ipsynd.log.1"))
        .unwrap()
        .contains("SIGHUP"));
}

/// A small tmpfs mounted over a directory of the test's tree; unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        let st = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(dir)
            .status()
            .expect("mount");
        assert!(
            st.success(),
            "mounting a tmpfs needs root (CI runs as root)"
        );
        Tmpfs(dir.to_path_buf())
    }

    /// Fill it up; returns the filler file.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let p = self.0.join("filler");
        let mut f = fs::File::create(&p).unwrap();
        let chunk = [b'x'; 4096];
        while f.write_all(&chunk).is_ok() {}
        let _ = f.write_all(b"x"); // the last bytes of a partly filled page
        p
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: lonc may still hold lonc.log open while it stops.
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_delays_perm_records_but_loses_none_and_sends_nothing_twice() {
    let s = Setup::new("fulldisk", &[peer("h1")]);
    let _disk = Tmpfs::mount(&s.dir.join("logs"), "256k");
    let stderr = s.dir.join("lonc.stderr");
    let child = Command::new(env!("CARGO_BIN_EXE_lonc"))
        .arg("-c")
        .arg(&s.config)
        .arg("-f")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let _guard = KillOnDrop(child);
    assert!(s.wait_online("h1"), "{}", s.log());
    let filler = _disk.fill();
    let msg = s.delayed_dir().join("100.echo.h1");
    fs::write(&msg, "echo:while the disk is full\n").unwrap();
    s.standin("h1").disconnect_all();
    assert!(wait_got(s.standin("h1"), b"echo:while the disk is full", 1));
    assert!(wait_for(WAIT, || !msg.exists()), "delivered: its file goes");
    let err = || fs::read_to_string(&stderr).unwrap_or_default();
    assert!(
        wait_for(WAIT, || {
            err().contains(&format!(
            "WARNING: cannot write {}: No space left on device; 1 records kept in memory until it can be",
            s.perm_path().display()
        ))
        }),
        "{}",
        err()
    );
    // The status page (elsewhere) says so too.
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGUSR1).unwrap();
    assert!(wait_for(WAIT, || fs::read_to_string(s.status_txt())
        .unwrap_or_default()
        .contains("(perm log: 1 records pending)")));
    assert!(!fs::read_to_string(s.perm_path())
        .unwrap_or_default()
        .contains("echo:while"));
    // Space returns: the record is written, once, without anything else happening.
    fs::remove_file(&filler).unwrap();
    assert!(
        wait_for(WAIT, || fs::read_to_string(s.perm_path())
            .unwrap_or_default()
            .contains(":S:h1:echo:while the disk is full:")),
        "{}",
        err()
    );
    assert!(wait_for(WAIT, || s
        .log()
        .contains("1 records that waited in memory written")));
    // Another reconnect sends nothing again, and the record stays single.
    s.standin("h1").disconnect_all();
    assert!(s.wait_online("h1"));
    assert_eq!(ask(&s.sock("h1"), "ping"), "h1");
    let got = s.standin("h1").received();
    assert_eq!(
        got.iter()
            .filter(|r| r.as_slice() == b"echo:while the disk is full")
            .count(),
        1
    );
    let perm = fs::read_to_string(s.perm_path()).unwrap();
    assert_eq!(
        perm.matches("echo:while the disk is full").count(),
        1,
        "{perm}"
    );
}

/// Ends a lonc started by hand: TERM, then KILL of its process group.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let pid = self.0.id() as i32;
        unsafe { libc::kill(pid, libc::SIGTERM) };
        if !wait_for(WAIT, || matches!(self.0.try_wait(), Ok(Some(_)))) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
