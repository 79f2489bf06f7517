//! The logrotate configs as installed, pointed at a temporary tree (paths and `su` user
//! rewritten, nothing else), run with `logrotate -f` and a state file of their own while
//! lonc and ipsynd write lines: no line is lost or doubled across the rotations (so no
//! copytruncate, and no signal is needed), the rotated files are where logrotate's settings
//! say, lonnet.perm.log keeps its mode and is not re-created by logrotate (`nocreate`), and only per-attempt logs older than 30 days go.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::ipsynd_common::Fip;
use crate::lonc_common::{peer, Setup};
use crate::pkg_common::{run, wait_for, TempTree, WAIT};

/// Lines in `base` and its rotated copies (`base.1`, `base.2.gz`, ...) containing `needle`.
/// Read while logrotate works on them, so never counting a line twice matters: the files
/// are read oldest first (content only moves towards older names, so a rename between two
/// reads can hide lines from this count but never show them twice), and of `base.N` and
/// `base.N.gz` only the plain one while it exists (logrotate deletes it only once the
/// compressed copy is complete). An undercount only makes the caller look again.
fn count_all(base: &Path, needle: &str) -> usize {
    let dir = base.parent().unwrap();
    let name = base.file_name().unwrap().to_string_lossy().into_owned();
    let mut indices: Vec<u32> = fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let f = e.file_name().to_string_lossy().into_owned();
            if f == name {
                return Some(0);
            }
            let rest = f.strip_prefix(&format!("{name}."))?;
            rest.strip_suffix(".gz").unwrap_or(rest).parse().ok()
        })
        .collect();
    indices.sort_unstable();
    indices.dedup();
    let mut n = 0;
    for i in indices.into_iter().rev() {
        let plain = if i == 0 {
            base.to_path_buf()
        } else {
            dir.join(format!("{name}.{i}"))
        };
        if let Ok(text) = fs::read_to_string(&plain) {
            n += text.lines().filter(|l| l.contains(needle)).count();
        } else if i > 0 {
            n += count_gz(&dir.join(format!("{name}.{i}.gz")), needle).unwrap_or(0);
        }
    }
    n
}

/// Lines of a complete compressed log containing `needle`, remembered by name, size and
/// mtime (a finished .gz never changes; decompressing them on every poll would cost more
/// than the daemons' work); `None` while it cannot be read whole.
fn count_gz(gz: &Path, needle: &str) -> Option<usize> {
    type Key = (PathBuf, u64, std::time::SystemTime, String);
    static CACHE: Mutex<Option<HashMap<Key, usize>>> = Mutex::new(None);
    let md = fs::metadata(gz).ok()?;
    let key = (
        gz.to_path_buf(),
        md.len(),
        md.modified().ok()?,
        needle.to_string(),
    );
    if let Some(n) = CACHE
        .lock()
        .unwrap()
        .get_or_insert_with(HashMap::new)
        .get(&key)
    {
        return Some(*n);
    }
    let o = Command::new("gzip").arg("-dc").arg(gz).output().ok()?;
    if !o.status.success() {
        return None;
    }
    let n = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| l.contains(needle))
        .count();
    CACHE
        .lock()
        .unwrap()
        .get_or_insert_with(HashMap::new)
        .insert(key, n);
    Some(n)
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

/// Send `sig` to `pid` `n` times, each time waiting until the last line it causes is
/// logged (signals of one kind sent faster than they are handled would merge into one),
/// and never beyond `limit`, which the main thread raises after each rotation (so each
/// rotation has new lines to rotate).
fn poke(
    pid: i32,
    sig: i32,
    n: usize,
    log: PathBuf,
    last: String,
    limit: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) {
    let base = count_all(&log, &last);
    for i in 1..=n {
        if !wait_for(WAIT, || {
            i <= limit.load(Ordering::SeqCst) || stop.load(Ordering::SeqCst)
        }) || stop.load(Ordering::SeqCst)
        {
            return;
        }
        // SAFETY: plain kill(2).
        unsafe { libc::kill(pid, sig) };
        if !wait_for(WAIT, || count_all(&log, &last) >= base + i) {
            return; // the main thread's final count says what went missing
        }
    }
}

#[test]
fn logrotate_loses_no_line_of_running_daemons() {
    const N: usize = 70;
    const ROTATIONS: usize = 6; // lonc.log and ipsynd.log keep 8
    const STEP: usize = N / (ROTATIONS + 1);
    let t = TempTree::new("logrotate");
    t.install_here();
    let s = Setup::new("logrotate", &[peer("alpha")]);
    let mut fip = Fip::new("logrotate");
    // Every HUP makes ipsynd log each bad PORTS line again: a burst of lines as fast as it
    // writes them, which is when a copy-and-truncate rotation would lose some.
    const BAD: usize = 1000;
    let ports: String = (0..BAD)
        .map(|i| format!("route:r{i} host:h port:x{i}\n"))
        .collect();
    fip.ports(&ports);
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
    let limit = Arc::new(AtomicUsize::new(STEP + STEP / 2));
    const L: &str = "USR1: Trying to establish connections again";
    const I: &str = "SIGHUP: re-reading the tables";
    let base_l = count_all(&s.log_path(), L);
    assert_eq!(base_l, 0);
    let (lp, lst) = (s.log_path(), stop.clone());
    let lonc_pid = lonc.pid;
    let lim = limit.clone();
    let tl = std::thread::spawn(move || poke(lonc_pid, libc::SIGUSR1, N, lp, L.into(), lim, lst));
    let (ip, ist) = (fip.path("log/ipsynd.log"), stop.clone());
    // The burst's last line: the last bad PORTS line (logged once at start already).
    let last = format!("PORTS:{BAD}:");
    fip.expect_log(&last);
    let lim = limit.clone();
    let ti = std::thread::spawn(move || poke(ipsynd, libc::SIGHUP, N, ip, last, lim, ist));

    // Forced rotations while both daemons keep writing.
    for k in 1..=ROTATIONS {
        assert!(
            wait_for(WAIT, || count_all(&s.log_path(), L) >= k * STEP
                && count_all(&fip.path("log/ipsynd.log"), I) >= k * STEP),
            "lines lost (or the daemons stopped logging) before rotation {k}: lonc {} of {}, \
             ipsynd {} of {}; lonc log files {:?}",
            count_all(&s.log_path(), L),
            k * STEP,
            count_all(&fip.path("log/ipsynd.log"), I),
            k * STEP,
            fs::read_dir(s.dir.join("logs"))
                .unwrap()
                .flatten()
                .map(|e| e.file_name())
                .collect::<Vec<_>>()
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
        // At most STEP/2 lines were past the checkpoint, the next one is STEP further on.
        limit.store(((k + 1) * STEP + STEP / 2).min(N), Ordering::SeqCst);
    }
    limit.store(N, Ordering::SeqCst);
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
        for i in 2..=ROTATIONS {
            assert!(Path::new(&format!("{b}.{i}.gz")).exists(), "{b}.{i}.gz");
        }
    }
    // SAFETY: plain kill(2).
    unsafe { libc::kill(lonc.pid, libc::SIGUSR1) };
    assert!(wait_for(WAIT, || fs::read_to_string(s.log_path())
        .unwrap_or_default()
        .contains(L)));
    fip.signal(libc::SIGHUP);
    assert!(fip.wait_log(I));

    // The perm log: rotated (forced), its record kept in .1, still 0600; no new file made by
    // logrotate (nocreate: lonc creates the next one 0600 itself with its next record, as
    // sys_files tests).
    let p = perm.display();
    let rotated = format!("{p}.1");
    assert!(fs::read_to_string(&rotated)
        .unwrap()
        .contains(":S:alpha:ping:"));
    assert_eq!(
        fs::metadata(&rotated).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(
        !perm.exists(),
        "logrotate made a new perm log (create instead of nocreate)"
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
