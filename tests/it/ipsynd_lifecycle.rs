//! ipsynd's life: pid file, signals (USR1, HUP, TERM), restart while transmitters run,
//! maxtime with SIGTERM, with maxkill, and with a maxkill that does not kill or hangs.

use std::fs;
use std::process::Command;

use crate::ipsynd_common::*;

// `alive`: a zombie is dead for our purposes.
use crate::lonc_common::alive;

/// Live (non-zombie) processes whose process group is `pgid`.
fn group_members(pgid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    for ent in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = ent.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let stat = fs::read_to_string(ent.path().join("stat")).unwrap_or_default();
        let Some((_, after)) = stat.rsplit_once(')') else {
            continue;
        };
        let f: Vec<&str> = after.split_whitespace().collect();
        // After the comm: state, ppid, pgrp.
        if f.len() > 2 && f[0] != "Z" && f[2] == pgid.to_string() {
            out.push(pid);
        }
    }
    out
}

#[test]
fn second_instance_refuses_to_start() {
    let mut fip = Fip::new("twice");
    let pid = fip.start();
    let out = Command::new(IPSYND)
        .env("FIP_ROOT", &fip.root)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(111));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("another ipsynd (pid {pid})")),
        "{err}"
    );
    assert_eq!(
        fs::read_to_string(fip.path("x/ipsynd.pid")).unwrap().trim(),
        pid.to_string()
    );
    assert_eq!(fip.stop_with(libc::SIGTERM), Some(0));
    assert!(!fip.exists("x/ipsynd.pid"));
    // -r overrides FIP_ROOT.
    let out = Command::new(IPSYND)
        .args(["-r", "/etc/passwd/root"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(111));
}

#[test]
fn usr1_writes_status_and_hup_rereads_tables() {
    let mut fip = Fip::new("signals");
    fip.client("LATER", "");
    fip.start();
    // Both files: the text is written first, the JSON right after it.
    assert!(wait_for(WAIT, || fip.exists("log/syn/ipsynd.status")
        && fip.exists("log/syn/ipsynd.status.json")));
    fs::remove_file(fip.path("log/syn/ipsynd.status")).unwrap();
    fs::remove_file(fip.path("log/syn/ipsynd.status.json")).unwrap();
    fip.signal(libc::SIGUSR1);
    assert!(wait_for(WAIT, || fip.exists("log/syn/ipsynd.status")
        && fip.exists("log/syn/ipsynd.status.json")));
    fip.signal(libc::SIGHUP);
    assert!(fip.wait_log("SIGHUP: re-reading the tables"));
    assert_eq!(fip.stop_with(libc::SIGINT), Some(0));
    assert!(fip.log().contains("stopping on SIGINT"));
}

#[test]
fn term_leaves_transmitters_and_restart_does_not_double_start() {
    let mut fip = Fip::new("restart");
    fip.ports("route:r host:h port:9\n");
    fip.client("LONG", "route:r\ntimeout:0\n");
    // LONG runs until released, so every state below holds until the test ends it.
    fip.knob("LONG", "HOLD=1\n");
    fip.client("QUEUED", "route:r\n");
    fip.start();
    let ctrl = fip.record("LONG");
    let c = fip.wait_calls("LONG", 1).remove(0);
    assert_eq!(fip.stop_with(libc::SIGTERM), Some(0));
    assert!(fip
        .log()
        .contains("stopping on SIGTERM; 1 transmission(s) left running"));
    assert!(alive(c.pid), "the transmitter was left alone");
    assert_eq!(fip.flags().len(), 1);
    // A new ipsynd sees the live flag: no second LONG, and the port stays counted.
    fip.start();
    fip.record("QUEUED");
    assert!(
        fip.wait_status(|s| s.contains("LONG busy-elsewhere")
            && s.contains("QUEUED waiting-port")
            && s.contains("LONG foreign")),
        "{}",
        fip.status()
    );
    assert!(fip.calls("QUEUED").is_empty());
    // When the old transmitter finishes (deleting flag and record), QUEUED goes.
    fip.release("LONG");
    fip.wait_calls("QUEUED", 1);
    assert!(!ctrl.exists());
    fip.expect_log("QUEUED attempt 1 done");
    assert_eq!(
        fip.calls("LONG").len(),
        1,
        "never a second transmission for LONG"
    );
}

#[test]
fn maxtime_terms_the_process_group_and_counts_a_failure() {
    let mut fip = Fip::new("maxtime");
    fip.client_knob("SLOW", "maxtime:1\nretry:2\ntimeout:0\n", "SLEEP=60\n");
    fip.start();
    let ctrl = fip.record("SLOW");
    fip.expect_log("SLOW gave up after 2 attempts");
    let calls = fip.calls("SLOW");
    assert_eq!(calls.len(), 2);
    assert_eq!(fip.log_count("SIGTERM sent to its process group"), 2);
    for c in &calls {
        assert!(!alive(c.pid));
        assert!(c.end.is_none(), "killed before it finished");
    }
    assert!(
        fip.flags().is_empty(),
        "ipsynd removes the flag of an attempt it killed"
    );
    assert!(!ctrl.exists());
    // The sleep child of the script went too (the whole process group was signalled).
    for c in &calls {
        assert!(
            wait_for(WAIT, || group_members(c.pid).is_empty()),
            "members of group {} survived: {:?}",
            c.pid,
            group_members(c.pid)
        );
    }
}

#[test]
fn maxkill_gets_the_pid_and_a_useless_one_is_followed_by_sigkill() {
    let mut fip = Fip::new("maxkill");
    let killer = fip.path("local/killer");
    write_exec(
        &killer,
        &format!(
            "#!/bin/sh\necho \"$@\" >> {}/killer.args\nkill -KILL -- -\"$3\"\n",
            fip.root.display()
        ),
    );
    let useless = fip.path("local/useless");
    write_exec(
        &useless,
        &format!(
            "#!/bin/sh\necho \"$@\" >> {}/useless.args\n",
            fip.root.display()
        ),
    );
    // The transmitter ignores TERM, so only SIGKILL ends it.
    fip.client_knob(
        "KILLME",
        &format!(
            "maxtime:1\nretry:1\nmaxkill:{} \\$S \\C9\nC9:ninety\n",
            killer.display()
        ),
        "SLEEP=60\n",
    );
    fip.client_knob(
        "STUBBORN",
        &format!("maxtime:1\nretry:1\nmaxkill:{}\n", useless.display()),
        "trap '' TERM\nSLEEP=60\n",
    );
    let pid = fip.start();
    fip.record("KILLME");
    fip.record("STUBBORN");
    fip.expect_log("KILLME gave up after 1 attempts");
    let c = fip.calls("KILLME").remove(0);
    let args = fs::read_to_string(fip.path("killer.args")).unwrap();
    let w: Vec<&str> = args.split_whitespace().collect();
    assert_eq!(w.len(), 3, "{args}");
    assert_eq!(w[0].len(), 3, "\\$S is the 3-digit sequence");
    assert_eq!(w[1], "ninety");
    assert_eq!(w[2], c.pid.to_string(), "pid appended as the last word");
    fip.expect_log("STUBBORN gave up after 1 attempts");
    let s = fip.calls("STUBBORN").remove(0);
    assert_eq!(
        fs::read_to_string(fip.path("useless.args")).unwrap().trim(),
        s.pid.to_string()
    );
    assert!(
        fip.log().contains("still alive: SIGKILL sent"),
        "{}",
        fip.log()
    );
    assert!(!alive(s.pid));
    assert!(fip.flags().is_empty());
    // No busy loop during the grace periods (a past maxtime deadline must not spin poll).
    let used = cpu_ms(pid);
    assert!(used < 700, "ipsynd used {used} ms of CPU");
}

#[test]
fn ftp_attempt_left_by_a_stopped_ipsynd_is_cleaned_up() {
    let mut fip = Fip::new("ftporphan");
    // A stand-in "ftp" that records each call and holds its first until released.
    let ftp = fip.path("local/slowftp");
    write_exec(
        &ftp,
        &format!(
            "#!/bin/bash\nR={}\necho call >> $R/ftp.calls\ncat > /dev/null\nif [ ! -e $R/ftp.second ]; then touch $R/ftp.second; n=0; while [ ! -e $R/release/FTPO ] && [ $n -lt 1200 ]; do sleep 0.05; n=$((n+1)); done; fi\n",
            fip.root.display()
        ),
    );
    fip.client(
        "FTPO",
        &format!(
            "useftp:{}\nftpline:user a,secret\ntimeout:600\n",
            ftp.display()
        ),
    );
    fip.queue_file("ftpo", "f1", "x");
    fip.start();
    let ctrl = fip.record("FTPO");
    assert!(wait_for(WAIT, || fip.exists("ftp.calls")));
    let cmdfiles = |fip: &Fip| -> Vec<String> {
        fs::read_dir(fip.path("x"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("SYNFTP|"))
            .collect()
    };
    let first = cmdfiles(&fip);
    assert_eq!(first.len(), 1);
    assert_eq!(fip.stop_with(libc::SIGTERM), Some(0));
    fip.start();
    // While that ftp runs, its flag is a live foreign one and nothing is cleaned up.
    assert!(
        fip.wait_status(|s| s.contains("FTPO foreign")),
        "{}",
        fip.status()
    );
    assert!(fip.exists(&format!("x/{}", first[0])));
    fip.release("FTPO");
    fip.expect_log("of an earlier ipsynd has ended");
    assert!(
        !fip.exists(&format!("x/{}", first[0])),
        "command file with the password removed"
    );
    assert!(!fip.exists(&format!("x/{}", first[0].replacen("SYNFTP|", "SYN|", 1))));
    // The record was kept and tried again by the new ipsynd.
    assert!(wait_for(WAIT, || fs::read_to_string(fip.path("ftp.calls"))
        .unwrap_or_default()
        .lines()
        .count()
        == 2));
    assert!(ctrl.exists());
}

#[test]
fn a_closed_stderr_does_not_stop_the_daemon() {
    let fip = Fip::new("nostderr");
    fip.client("QUIET", "");
    // stderr is a pipe whose reader is gone: every echoed log line gets EPIPE.
    let (r, w) = std::os::unix::net::UnixStream::pair().unwrap();
    drop(r);
    let mut child = Command::new(IPSYND)
        .env("FIP_ROOT", &fip.root)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::from(std::os::fd::OwnedFd::from(w)))
        .spawn()
        .unwrap();
    assert!(fip.wait_log("started"));
    let ctrl = fip.record("QUIET");
    fip.expect_log("QUIET attempt 1 done");
    assert!(!ctrl.exists());
    assert_eq!(child.try_wait().unwrap(), None, "still running");
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

#[test]
fn hup_rereads_a_client_file_changed_behind_inotify() {
    use std::io::Write;
    let mut fip = Fip::new("hup");
    // The safety-net rescan must not run while the file is being rewritten (its mtime is
    // new for a moment), so it is pushed out of the test's way.
    fip.ipsynd_table(&format!("ipsyn:{}\nrescan:600\n", fip.standin.display()));
    // The client file is a hard link; writing through the other name raises no inotify
    // event in tables/syn/client, and size and mtime are kept, so only HUP can notice.
    let side = fip.path("side-HUPPY");
    let standin = fip.standin.display().to_string();
    let text = |v: &str| format!("C1:{v}\nscript:{standin} \\C1\n");
    fs::write(&side, text("aaaa")).unwrap();
    let mtime = fs::metadata(&side).unwrap().modified().unwrap();
    fs::hard_link(&side, fip.path("tables/syn/client/HUPPY")).unwrap();
    fip.start();
    fip.record("HUPPY");
    assert_eq!(fip.wait_calls("HUPPY", 1)[0].argv[1], "aaaa");
    // Each new request only once the previous transmission has ended (record gone and
    // transmitter reaped), so every call is attempt 1 of its own request.
    assert!(
        fip.wait_log_count("HUPPY attempt 1 done", 1),
        "{}",
        fip.log()
    );
    let mut f = fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&side)
        .unwrap();
    f.write_all(text("bbbb").as_bytes()).unwrap();
    f.set_modified(mtime).unwrap();
    drop(f);
    fip.record("HUPPY");
    assert_eq!(
        fip.wait_calls("HUPPY", 2)[1].argv[1],
        "aaaa",
        "no event, no re-read"
    );
    assert!(
        fip.wait_log_count("HUPPY attempt 1 done", 2),
        "{}",
        fip.log()
    );
    fip.signal(libc::SIGHUP);
    assert!(fip.wait_log("SIGHUP: re-reading the tables"));
    fip.record("HUPPY");
    assert_eq!(
        fip.wait_calls("HUPPY", 3)[2].argv[1],
        "bbbb",
        "HUP re-read the file"
    );
    assert!(
        fip.wait_log_count("HUPPY attempt 1 done", 3),
        "{}",
        fip.log()
    );
    assert_eq!(fip.log_count("failed"), 0, "{}", fip.log());
}

#[test]
fn a_grandchild_that_ignores_term_gets_sigkill_after_the_grace() {
    let mut fip = Fip::new("grandchild");
    fip.client("GRAND", "maxtime:1\nretry:1\n");
    // The stand-in leaves a grandchild in its process group that ignores SIGTERM.
    fip.knob(
        "GRAND",
        &format!(
            "(trap '' TERM; exec sleep 60) &\necho $! > {}/grand.pid\nSLEEP=60\n",
            fip.root.display()
        ),
    );
    fip.start();
    fip.record("GRAND");
    fip.expect_log("GRAND gave up after 1 attempts");
    let c = fip.calls("GRAND").remove(0);
    let grand: i32 = fs::read_to_string(fip.path("grand.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    fip.expect_log(&format!(
        "process group {} still alive: SIGKILL sent",
        c.pid
    ));
    assert!(
        wait_for(WAIT, || !alive(grand)),
        "grandchild {grand} survived"
    );
    assert!(wait_for(WAIT, || group_members(c.pid).is_empty()));
}

#[test]
fn a_maxkill_that_cannot_start_means_sigkill_at_once() {
    let mut fip = Fip::new("nokiller");
    fip.client(
        "NOKILL",
        &format!(
            "maxtime:1\nretry:1\nmaxkill:{} \\$S\n",
            fip.path("local/absent-killer").display()
        ),
    );
    // Ignores TERM: only the SIGKILL that follows the failed maxkill ends it.
    fip.knob("NOKILL", "trap '' TERM\nSLEEP=60\n");
    fip.start();
    fip.record("NOKILL");
    fip.expect_log("NOKILL gave up after 1 attempts");
    assert!(
        fip.log().contains("maxkill could not start"),
        "{}",
        fip.log()
    );
    let c = fip.calls("NOKILL").remove(0);
    assert!(!alive(c.pid));
    assert!(c.end.is_none());
    assert!(fip.flags().is_empty());
    assert!(wait_for(WAIT, || group_members(c.pid).is_empty()));
}

#[test]
fn a_fork_that_fails_is_not_an_attempt() {
    let mut fip = Fip::new("nofork");
    // A transmitter that never forks (bash builtins, then exec): it waits for one line on
    // a FIFO, then removes its record and flag. Under RLIMIT_NPROC=2 for ipsynd's user,
    // ipsynd plus one such transmitter is all there may be: a second fork fails (EAGAIN).
    let fifo = fip.path("go");
    let c = std::ffi::CString::new(fifo.to_string_lossy().as_bytes()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o666) }, 0);
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&fifo, fs::Permissions::from_mode(0o666)).unwrap(); // past the umask
    let t = fip.path("local/onefork");
    write_exec(
        &t,
        &format!(
            "#!/bin/bash\nwhile [ $# -gt 0 ]; do case \"$1\" in -r) f=$2;; -z) z=$2;; esac; shift; done\n\
             echo started >> {root}/started\nexec 3<>{fifo}\nread -t 30 -u 3\nexec rm -f \"$z\" \"$f\"\n",
            root = fip.root.display(),
            fifo = fifo.display()
        ),
    );
    fip.ipsynd_table(&format!("ipsyn:{}\nrescan:1\n", t.display()));
    fip.client("ONE", "retry:1\ntimeout:1\n");
    fip.client("TWO", "retry:1\ntimeout:1\n");
    // RLIMIT_NPROC counts every process of the user: a uid of this test process's own, so
    // another run of this test at the same time (another worktree's suite) cannot use up
    // its limit.
    fip.start_as(unshared_uid(), Some(2));
    fip.record("ONE");
    fip.record("TWO");
    fip.expect_log("could not fork");
    let started = || {
        fs::read_to_string(fip.path("started"))
            .unwrap_or_default()
            .lines()
            .count()
    };
    assert!(wait_for(WAIT, || started() == 1), "{}", started());
    assert!(!fip.log().contains("gave up"), "{}", fip.log());
    assert!(!fip.log().contains("Execlp"), "{}", fip.log());
    // Let the transmitters go, one line each: both records are served.
    // Opened read-write: the FIFO keeps a reader (the test) between the two transmitters,
    // so a line written while neither holds it waits in the FIFO instead of EPIPE.
    let mut w = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&fifo)
        .unwrap();
    use std::io::Write;
    for _ in 0..2 {
        w.write_all(b"go\n").unwrap();
    }
    fip.expect_log("ONE attempt 1 done");
    fip.expect_log("TWO attempt 1 done");
    assert!(!fip.log().contains("gave up"), "{}", fip.log());
}

#[test]
fn term_during_the_kill_grace_finishes_the_kill() {
    let mut fip = Fip::new("termgrace");
    // A long grace, and a transmitter that ignores SIGTERM: only SIGKILL ends it.
    fip.ipsynd_table(&format!(
        "ipsyn:{}\nrescan:1\ngrace:600\n",
        fip.standin.display()
    ));
    fip.ports("route:r host:h port:4\n");
    fip.client_knob("TOUGH", "route:r\nmaxtime:1\n", "trap '' TERM\nSLEEP=60\n");
    fip.start();
    let ctrl = fip.record("TOUGH");
    fip.expect_log("SIGTERM sent to its process group");
    let c = fip.calls("TOUGH").remove(0);
    assert!(alive(c.pid));
    // ipsynd stops while it waits for the grace to pass: the kill it began is finished
    // (else the TERM-proof transmitter and its flag, locking the port, would stay).
    assert_eq!(fip.stop_with(libc::SIGTERM), Some(0));
    assert!(
        wait_for(WAIT, || group_members(c.pid).is_empty()),
        "{:?}",
        group_members(c.pid)
    );
    assert!(fip.flags().is_empty(), "{:?}", fip.flags());
    assert!(
        fip.log()
            .contains("stopping on SIGTERM; 0 transmission(s) left running"),
        "{}",
        fip.log()
    );
    assert!(ctrl.exists(), "the record stays for the next ipsynd");
}

#[test]
fn ftp_attempt_over_maxtime_is_killed_judged_and_cleaned_up() {
    let mut fip = Fip::new("ftpslow");
    // An "ftp" that reads its commands, then hangs.
    let ftp = fip.path("local/hangftp");
    write_exec(&ftp, "#!/bin/bash\ncat > /dev/null\nsleep 60\n");
    fip.client(
        "FTPSLOW",
        &format!(
            "useftp:{}\nftpline:user a,secret\nmaxtime:1\nretry:1\n",
            ftp.display()
        ),
    );
    fip.queue_file("ftpslow", "f1", "x");
    fip.start();
    let ctrl = fip.record("FTPSLOW");
    fip.expect_log("FTPSLOW gave up after 1 attempts (killed after maxtime");
    let log = fip.log();
    assert!(log.contains("SIGTERM sent to its process group"), "{log}");
    assert!(log.contains("FTPSLOW ftp: 1 files, 0 sent"), "{log}");
    assert!(fip.exists("spool/syn/ftpslow/f1"), "unsent file kept");
    assert!(!ctrl.exists());
    let left: Vec<String> = fs::read_dir(fip.path("x"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("SYN"))
        .collect();
    assert!(left.is_empty(), "flag and command file removed: {left:?}");
}

#[test]
fn a_maxkill_that_hangs_is_killed_with_its_group_after_the_grace() {
    let mut fip = Fip::new("hangkill");
    // A maxkill that leaves a child in its group and then waits forever (TERM ignored).
    let hang = fip.path("local/hangkill");
    write_exec(
        &hang,
        &format!(
            "#!/bin/bash\ntrap '' TERM\necho $$ > {root}/hang.pid\nsleep 60 &\necho $! > {root}/hangchild.pid\nwait\nsleep 60\n",
            root = fip.root.display()
        ),
    );
    fip.client_knob(
        "HANGKILL",
        &format!("maxtime:1\nretry:1\nmaxkill:{}\n", hang.display()),
        "trap '' TERM\nSLEEP=60\n",
    );
    fip.start();
    fip.record("HANGKILL");
    fip.expect_log("HANGKILL gave up after 1 attempts");
    // Written by the hanging maxkill: wait until the number is complete.
    let read_pid = |f: &str| -> i32 {
        let mut pid = 0;
        assert!(
            wait_for(WAIT, || {
                pid = fs::read_to_string(fip.path(f))
                    .ok()
                    .and_then(|t| t.trim().parse().ok())
                    .unwrap_or(0);
                pid > 0
            }),
            "{f}"
        );
        pid
    };
    let killer = read_pid("hang.pid");
    let child = read_pid("hangchild.pid");
    fip.expect_log(&format!(
            "maxkill command pid {killer} still running after the grace: SIGKILL sent to its process group"
        ));
    // Reaped by the daemon's one waitpid loop, its group's other member gone too.
    fip.expect_log("HANGKILL maxkill command ended (signal 9)");
    assert!(wait_for(WAIT, || !alive(killer) && !alive(child)));
    assert!(wait_for(WAIT, || group_members(killer).is_empty()));
    let c = fip.calls("HANGKILL").remove(0);
    assert!(wait_for(WAIT, || group_members(c.pid).is_empty()));
    assert!(fip.flags().is_empty());
}
