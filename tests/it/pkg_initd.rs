//! The SysV init scripts, installed into a temporary tree, driving the real binaries of the
//! profile under test: every action and its LSB exit code, a pid file that names a dead
//! daemon, a zombie or an unrelated process is not "running", a start that fails says why,
//! and the daemon runs as the user the site settings name. The scripts take every path from
//! their /etc/default file, which the test points at its own trees and binaries.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::ipsynd_common::Fip;
use crate::lonc_common::{peer, Setup};
use crate::pkg_common::{
    alive, pid_in, script, uid_of, wait_for, write_defaults, KillOnDrop, TempTree, IPSYND, LONC,
    WAIT,
};

fn initd(t: &TempTree, name: &str) -> PathBuf {
    t.path(&format!("etc/init.d/{name}"))
}

fn kill9(pid: i32) {
    // SAFETY: plain kill(2).
    unsafe { libc::kill(pid, libc::SIGKILL) };
    assert!(wait_for(WAIT, || !alive(pid)), "pid {pid} survived SIGKILL");
}

/// Until init has reaped it, a killed daemon is a zombie; lonc itself (as 1.29) counts
/// only a pid that no process has any more as free.
fn wait_reaped(pid: i32) {
    assert!(
        wait_for(WAIT, || !Path::new(&format!("/proc/{pid}")).exists()),
        "pid {pid} was never reaped"
    );
}

/// `name` not running yet: `status` says so (3), `start` succeeds (0) and says the pid that
/// `pidfile` now names; gives that pid.
fn first_start(sh: &Path, name: &str, pidfile: &Path) -> i32 {
    assert_not_running_status(sh, name);
    let (code, out) = script(sh, &["start"]);
    assert_eq!(code, Some(0), "{out}");
    let pid = pid_in(pidfile).expect("pid file");
    assert_eq!(out, format!("{name} started (pid {pid})\n"));
    pid
}

/// After `old` died: `start` succeeds (0) and `pidfile` names a new pid; gives it.
fn start_anew(sh: &Path, pidfile: &Path, old: i32) -> i32 {
    let (code, out) = script(sh, &["start"]);
    assert_eq!(code, Some(0), "{out}");
    let pid = pid_in(pidfile).unwrap();
    assert_ne!(pid, old);
    pid
}

/// `name` runs as `pid`: `status` says so (0) and a second `start` is a no-op (0).
fn assert_running(sh: &Path, name: &str, pid: i32) {
    assert_eq!(
        script(sh, &["status"]),
        (Some(0), format!("{name} is running (pid {pid})\n"))
    );
    assert_eq!(
        script(sh, &["start"]),
        (Some(0), format!("{name} is already running (pid {pid})\n"))
    );
}

/// A pid file naming a dead `name`: `status` is 1 and says so.
fn assert_dead_pid_status(sh: &Path, name: &str) {
    let (code, out) = script(sh, &["status"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains(&format!("names no live {name}")), "{out}");
}

/// `status` of a `name` that is not running: 3.
fn assert_not_running_status(sh: &Path, name: &str) {
    assert_eq!(
        script(sh, &["status"]),
        (Some(3), format!("{name} is not running\n"))
    );
}

/// `name` runs as `pid`: `stop` stops it (0) and says so; then `status` is 3 and a second
/// `stop` a no-op (0).
fn assert_stops(sh: &Path, name: &str, pid: i32) {
    assert_eq!(
        script(sh, &["stop"]),
        (Some(0), format!("{name} (pid {pid}) stopped\n"))
    );
    assert!(!alive(pid));
    assert_not_running_status(sh, name);
    assert_eq!(
        script(sh, &["stop"]),
        (Some(0), format!("{name} is not running\n"))
    );
}

fn lonc_tree() -> (TempTree, Setup, PathBuf) {
    let t = TempTree::new("initd-lonc");
    t.install_here();
    let s = Setup::new("initd", &[peer("alpha")]);
    write_defaults(
        &t,
        "lonc",
        &format!(
            "LONC_CONFIG={}\nLONC_OPTS=\"\"\nLONC_USER=\"\"\nLONC_PIDFILE=\"\"\nDAEMON={LONC}\n",
            s.config.display()
        ),
    );
    let pidfile = s.pid_path();
    (t, s, pidfile)
}

#[test]
fn lonc_init_script_starts_stops_reloads_and_reports_as_the_lsb_says() {
    let (t, s, pidfile) = lonc_tree();
    let _guard = KillOnDrop(pidfile.clone());
    let sh = initd(&t, "lonc");

    let pid = first_start(&sh, "lonc", &pidfile);
    assert!(alive(pid));
    assert!(s.wait_online("alpha"), "{}", s.log());
    assert_running(&sh, "lonc", pid);

    for (n, action) in ["reload", "force-reload"].iter().enumerate() {
        let (code, out) = script(&sh, &[action]);
        assert_eq!(
            (code, out),
            (Some(0), format!("lonc (pid {pid}): sent HUP\n"))
        );
        assert!(s.wait_log_n("CRITICAL: Restarting", n + 1), "{}", s.log());
    }
    assert_eq!(pid_in(&pidfile), Some(pid), "HUP keeps the pid");

    // Killed: the pid file stays and names a dead process (a zombie until init reaps it).
    kill9(pid);
    assert_dead_pid_status(&sh, "lonc");
    let (code, out) = script(&sh, &["reload"]);
    assert_eq!((code, out.as_str()), (Some(7), "lonc is not running\n"));
    wait_reaped(pid);
    let pid2 = start_anew(&sh, &pidfile, pid);

    let (code, out) = script(&sh, &["restart"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.starts_with(&format!("lonc (pid {pid2}) stopped\n")),
        "{out}"
    );
    assert!(!alive(pid2));
    let pid3 = pid_in(&pidfile).unwrap();
    assert!(
        out.ends_with(&format!("lonc started (pid {pid3})\n")),
        "{out}"
    );

    assert_stops(&sh, "lonc", pid3);
    assert!(!pidfile.exists(), "lonc removes its pid file on TERM");
    assert!(s.log().contains("CRITICAL: Shutting down"));

    let (code, out) = script(&sh, &["bogus"]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("usage:"), "{out}");
}

#[test]
fn lonc_init_script_does_not_take_a_zombie_or_a_stranger_for_lonc() {
    let (t, s, pidfile) = lonc_tree();
    let _guard = KillOnDrop(pidfile.clone());
    let sh = initd(&t, "lonc");

    // A zombie lonc: a lonc process that has exited and that nobody reaped (its parent
    // here is this test, which waits for it only at the end).
    let mut zombie = Command::new(LONC)
        .arg("-v")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let zpid = zombie.id() as i32;
    assert!(wait_for(WAIT, || !alive(zpid)));
    assert!(
        Path::new(&format!("/proc/{zpid}")).exists(),
        "still a zombie"
    );
    fs::write(&pidfile, format!("{zpid}\n")).unwrap();
    let (code, out) = script(&sh, &["status"]);
    assert_eq!(code, Some(1), "a zombie is not running: {out}");
    let (code, out) = script(&sh, &["stop"]);
    assert_eq!((code, out.as_str()), (Some(0), "lonc is not running\n"));
    assert!(
        Path::new(&format!("/proc/{zpid}")).exists(),
        "stop must not touch it"
    );
    zombie.wait().unwrap();

    // A live process that is not lonc (a reused pid).
    let mut stranger = Command::new("sleep").arg("60").spawn().unwrap();
    let spid = stranger.id() as i32;
    fs::write(&pidfile, format!("{spid}\n")).unwrap();
    let (code, out) = script(&sh, &["status"]);
    assert_eq!(code, Some(1), "another program is not lonc: {out}");
    let (code, out) = script(&sh, &["stop"]);
    assert_eq!((code, out.as_str()), (Some(0), "lonc is not running\n"));
    assert!(alive(spid), "stop must not signal a stranger");
    let (code, out) = script(&sh, &["start"]);
    assert_eq!(code, Some(0), "{out}");
    let pid = pid_in(&pidfile).unwrap();
    assert_ne!(pid, spid);
    assert!(s.wait_online("alpha"), "{}", s.log());
    let _ = stranger.kill();
    let _ = stranger.wait();

    // Garbage in the pid file is not a pid.
    let (code, _) = script(&sh, &["stop"]);
    assert_eq!(code, Some(0));
    fs::write(&pidfile, "not a pid\n").unwrap();
    let (code, out) = script(&sh, &["status"]);
    assert_eq!(code, Some(1), "{out}");
}

#[test]
fn lonc_init_script_reports_a_broken_configuration() {
    let (t, mut s, pidfile) = lonc_tree();
    let _guard = KillOnDrop(pidfile.clone());
    let sh = initd(&t, "lonc");
    s.set("londPort", "many");
    let (code, out) = script(&sh, &["start"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("londPort") && out.contains("failed to start (lonc exit 1)"),
        "{out}"
    );
    // Not configured at all.
    write_defaults(
        &t,
        "lonc",
        &format!("LONC_CONFIG=/nonexistent\nDAEMON={LONC}\n"),
    );
    let (code, out) = script(&sh, &["start"]);
    assert_eq!(code, Some(6), "{out}");
    let (code, _) = script(&sh, &["status"]);
    assert_eq!(code, Some(4));
    // Not installed.
    write_defaults(&t, "lonc", "DAEMON=/nonexistent/lonc\n");
    assert_eq!(script(&sh, &["start"]).0, Some(5));
    assert_eq!(script(&sh, &["status"]).0, Some(4));
}

fn ipsynd_tree(user: &str) -> (TempTree, Fip, PathBuf) {
    let t = TempTree::new("initd-ipsynd");
    t.install_here();
    let fip = Fip::new("initd");
    write_defaults(
        &t,
        "ipsynd",
        &format!(
            "FIP_ROOT={}\nIPSYND_OPTS=\"\"\nIPSYND_USER=\"{user}\"\nDAEMON={IPSYND}\n",
            fip.root.display()
        ),
    );
    let pidfile = fip.path("x/ipsynd.pid");
    (t, fip, pidfile)
}

#[test]
fn ipsynd_init_script_starts_stops_reloads_and_reports_as_the_lsb_says() {
    let (t, fip, pidfile) = ipsynd_tree("");
    let _guard = KillOnDrop(pidfile.clone());
    let sh = initd(&t, "ipsynd");

    let pid = first_start(&sh, "ipsynd", &pidfile);
    assert!(fip
        .log()
        .contains(&format!("pid {pid}, root {}", fip.root.display())));
    assert_running(&sh, "ipsynd", pid);
    let (code, out) = script(&sh, &["reload"]);
    assert_eq!(
        (code, out),
        (Some(0), format!("ipsynd (pid {pid}): sent HUP\n"))
    );
    fip.expect_log("SIGHUP: re-reading the tables");

    kill9(pid);
    assert_dead_pid_status(&sh, "ipsynd");
    // The dead one's lock went with it: a new start takes the pid file over.
    let pid2 = start_anew(&sh, &pidfile, pid);

    let (code, out) = script(&sh, &["restart"]);
    assert_eq!(code, Some(0), "{out}");
    let pid3 = pid_in(&pidfile).unwrap();
    assert_eq!(
        out,
        format!("ipsynd (pid {pid2}) stopped\nipsynd started (pid {pid3})\n")
    );
    assert_stops(&sh, "ipsynd", pid3);
    assert!(fip.log().contains("stopping on SIGTERM"), "{}", fip.log());
    assert_eq!(script(&sh, &["reload"]).0, Some(7));
}

#[test]
fn ipsynd_init_script_says_why_a_start_failed() {
    let (t, fip, pidfile) = ipsynd_tree("");
    let _guard = KillOnDrop(pidfile);
    let sh = initd(&t, "ipsynd");
    // A FIP root below a regular file: ipsynd cannot make its directories and exits 111.
    let bad = fip.path("afile");
    fs::write(&bad, "").unwrap();
    write_defaults(
        &t,
        "ipsynd",
        &format!("FIP_ROOT={}/root\nDAEMON={IPSYND}\n", bad.display()),
    );
    let (code, out) = script(&sh, &["start"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("failed to start (ipsynd exit 111)") && out.contains("unable to create"),
        "{out}"
    );
}

#[test]
fn ipsynd_init_script_runs_ipsynd_as_the_configured_user() {
    // As root (how the suite runs): the script drops to IPSYND_USER.
    if !nix::unistd::geteuid().is_root() {
        panic!("this test needs root, as the rest of the suite");
    }
    let (t, fip, pidfile) = ipsynd_tree("nobody");
    let _guard = KillOnDrop(pidfile.clone());
    let nobody = nix::unistd::User::from_name("nobody")
        .unwrap()
        .expect("user nobody");
    // The tree belongs to the FIP user, as it would on a real machine.
    let (code, out) = script(
        Path::new("chown"),
        &[
            "-R",
            &format!("{}:{}", nobody.uid, nobody.gid),
            &fip.root.to_string_lossy(),
        ],
    );
    assert_eq!(code, Some(0), "{out}");
    fs::set_permissions(&fip.root, fs::Permissions::from_mode(0o755)).unwrap();
    let sh = initd(&t, "ipsynd");
    let (code, out) = script(&sh, &["start"]);
    assert_eq!(code, Some(0), "{out}");
    let pid = pid_in(&pidfile).unwrap();
    assert_eq!(uid_of(pid), Some(nobody.uid.as_raw()));
    let (code, out) = script(&sh, &["stop"]);
    assert_eq!(code, Some(0), "{out}");
}
