//! The logrotate configs as installed, pointed at a temporary tree (paths and `su` user
//! rewritten, nothing else), run with `logrotate -f` and a state file of their own while
//! lonc and ipsynd write lines: no line is lost or doubled across the rotations (so no
//! copytruncate, and no signal is needed), the rotated files are where logrotate's settings
//! say, lonnet.perm.log keeps its mode, and only per-attempt logs older than 30 days go.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::ipsynd_common::Fip;
use crate::lonc_common::{peer, Setup};
use crate::pkg_common::{run, wait_for, TempTree, WAIT};

/// Lines in `base` and its rotated copies (`base.1`, `base.2.gz`, ...) containing `needle`.
fn count_all(base: &Path, needle: &str) -> usize {
    let mut n = 0;
    let dir = base.parent().unwrap();
    let name = base.file_name().unwrap().to_string_lossy().into_owned();
    for e in fs::read_dir(dir).unwrap().flatten() {
        let f = e.file_name().to_string_lossy().into_owned();
        if f != name && !f.starts_with(&format!("{name}.")) {
            continue;
        }
        let text = if f.ends_with(".gz") {
            match Command::new("gzip").arg("-dc").arg(e.path()).output() {
                Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
                _ => continue, // being written by logrotate right now
            }
        } else {
            fs::read_to_string(e.path()).unwrap_or_default()
        };
        n += text.lines().filter(|l| l.contains(needle)).count();
    }
    n
}

fn user_and_group() -> (String, String) {
    let u = nix::unistd::User::from_uid(nix::unistd::getuid())
        .unwrap()
        .unwrap();
    let g = nix::unistd::Group::from_gid(nix::unistd::getgid())
        .unwrap()
        .unwrap();
    (u.name, g.name)
}

/// Send `sig` to `pid` `n` times, each time waiting until the line it causes is logged
/// (signals of one kind sent faster than they are handled would merge into one).
fn poke(pid: i32, sig: i32, n: usize, log: PathBuf, needle: &'static str, stop: Arc<AtomicBool>) {
    for i in 1..=n {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        // SAFETY: plain kill(2).
        unsafe { libc::kill(pid, sig) };
        if !wait_for(WAIT, || count_all(&log, needle) >= i) {
            return; // the main thread's final count says what went missing
        }
    }
}

#[test]
fn logrotate_loses_no_line_of_running_daemons() {
    const N: usize = 60;
    let t = TempTree::new("logrotate");
    t.install_here();
    let s = Setup::new("logrotate", &[peer("alpha")]);
    let mut fip = Fip::new("logrotate");
    let (user, group) = user_and_group();

    // The installed configs, pointed at the test's trees.
    let lonc_conf = fs::read_to_string(t.path("etc/logrotate.d/lonc"))
        .unwrap()
        .replace(
            "/home/httpd/perl/logs",
            &s.dir.join("logs").to_string_lossy(),
        )
        .replace("su www-data www-data", &format!("su {user} {group}"));
    let ipsynd_conf = fs::read_to_string(t.path("etc/logrotate.d/ipsynd"))
        .unwrap()
        .replace(
            &t.path("fip").to_string_lossy().into_owned(),
            &fip.root.to_string_lossy(),
        )
        .replace("su fip fip", &format!("su {user} {group}"));
    let directive = |c: &str| {
        c.lines()
            .any(|l| l.trim_start().starts_with("copytruncate"))
    };
    assert!(!directive(&lonc_conf) && !directive(&ipsynd_conf));
    let conf = t.path("logrotate.conf");
    fs::write(&conf, format!("{lonc_conf}\n{ipsynd_conf}")).unwrap();
    let state = t.path("logrotate.state");

    // lonnet.perm.log as lonc creates it (0600), with a record in it.
    let perm = s.perm_path();
    fs::write(&perm, "1764582000:S:alpha:ping:Mon Dec  1 10:00:00 2026\n").unwrap();
    fs::set_permissions(&perm, fs::Permissions::from_mode(0o600)).unwrap();
    // Per-attempt logs, old and young, and the status files beside them.
    let syn = fip.path("log/syn");
    let old = ["OLDC.01Oct26.10.00", "OLDC_01Oct26_1000"];
    let young = ["NEWC.30Nov26.23.59", "NEWC_30Nov26_2359"];
    for f in old.iter().chain(young.iter()) {
        fs::write(syn.join(f), "attempt\n").unwrap();
    }
    for f in old {
        let (code, out) = run(Command::new("touch")
            .args(["-d", "40 days ago"])
            .arg(syn.join(f)));
        assert_eq!(code, Some(0), "{out}");
    }

    let lonc = s.start_daemon();
    assert!(s.wait_online("alpha"), "{}", s.log());
    let ipsynd = fip.start();
    let stop = Arc::new(AtomicBool::new(false));
    const L: &str = "USR1: Trying to establish connections again";
    const I: &str = "SIGHUP: re-reading the tables";
    let base_l = count_all(&s.log_path(), L);
    assert_eq!(base_l, 0);
    let (lp, lst) = (s.log_path(), stop.clone());
    let lonc_pid = lonc.pid;
    let tl = std::thread::spawn(move || poke(lonc_pid, libc::SIGUSR1, N, lp, L, lst));
    let (ip, ist) = (fip.path("log/ipsynd.log"), stop.clone());
    let ti = std::thread::spawn(move || poke(ipsynd, libc::SIGHUP, N, ip, I, ist));

    // Three forced rotations while both daemons keep writing.
    for k in 1..=3 {
        assert!(
            wait_for(WAIT, || count_all(&s.log_path(), L) >= k * N / 4
                && count_all(&fip.path("log/ipsynd.log"), I) >= k * N / 4),
            "lines lost (or the daemons stopped logging) before rotation {k}"
        );
        let (code, out) = run(Command::new("logrotate")
            .arg("-f")
            .arg("-s")
            .arg(&state)
            .arg(&conf));
        assert_eq!(
            (code, out.as_str()),
            (Some(0), ""),
            "logrotate -f, rotation {k}"
        );
    }
    let done = wait_for(WAIT, || {
        count_all(&s.log_path(), L) >= N && count_all(&fip.path("log/ipsynd.log"), I) >= N
    });
    stop.store(true, Ordering::SeqCst);
    tl.join().unwrap();
    ti.join().unwrap();
    assert!(done, "lines were lost");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(count_all(&s.log_path(), L), N, "lonc.log lines, all files");
    assert_eq!(
        count_all(&fip.path("log/ipsynd.log"), I),
        N,
        "ipsynd.log lines, all files"
    );

    // Rotated as configured: .1 plain (delaycompress), older ones compressed; the current
    // log was created anew and the daemons write into it.
    for base in [s.log_path(), fip.path("log/ipsynd.log")] {
        let b = base.display();
        assert!(Path::new(&format!("{b}.1")).exists(), "{b}.1");
        assert!(Path::new(&format!("{b}.2.gz")).exists(), "{b}.2.gz");
        assert!(Path::new(&format!("{b}.3.gz")).exists(), "{b}.3.gz");
    }
    // SAFETY: plain kill(2).
    unsafe { libc::kill(lonc.pid, libc::SIGUSR1) };
    assert!(wait_for(WAIT, || fs::read_to_string(s.log_path())
        .unwrap_or_default()
        .contains(L)));
    fip.signal(libc::SIGHUP);
    assert!(fip.wait_log(I));

    // The perm log: rotated (forced), its record kept in .1, the new file still 0600.
    let p = perm.display();
    assert!(fs::read_to_string(format!("{p}.1"))
        .unwrap()
        .contains(":S:alpha:ping:"));
    assert_eq!(
        fs::metadata(&perm).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // Attempt logs: the old ones gone, the young ones and the status files kept.
    for f in old {
        assert!(!syn.join(f).exists(), "{f} should be gone");
    }
    for f in young {
        assert!(syn.join(f).exists(), "{f} should stay");
    }
    assert!(wait_for(WAIT, || syn.join("ipsynd.status").exists()));
    drop(lonc);
}
