//! loncsyn-watchdog, installed into a temporary tree and run through the init scripts there
//! (`--init=sysv`) against the real daemons: it starts what is not running, restarts a
//! killed daemon, sends USR1 to a live lonc, leaves alone a daemon not watched, says what it
//! did in one line per daemon and exits 1 when a start fails.

use std::fs;

use crate::ipsynd_common::Fip;
use crate::lonc_common::{peer, Setup};
use crate::pkg_common::{
    alive, pid_in, script, wait_for, write_defaults, KillOnDrop, TempTree, IPSYND, LONC, WAIT,
};

fn defaults(t: &TempTree, s: &Setup, fip_root: &str, lonc_on: &str, ipsynd_on: &str) {
    write_defaults(
        t,
        "lonc",
        &format!(
            "LONC_CONFIG={}\nLONC_WATCHDOG={lonc_on}\nDAEMON={LONC}\n",
            s.config.display()
        ),
    );
    write_defaults(
        t,
        "ipsynd",
        &format!(
            "FIP_ROOT={fip_root}\nIPSYND_USER=\nIPSYND_WATCHDOG={ipsynd_on}\nDAEMON={IPSYND}\n"
        ),
    );
}

#[test]
fn watchdog_restarts_dead_daemons_and_pokes_a_live_lonc() {
    let t = TempTree::new("watchdog");
    t.install_here();
    let s = Setup::new("watchdog", &[peer("alpha")]);
    let fip = Fip::new("watchdog");
    let root = fip.root.display().to_string();
    let lonc_pid = s.pid_path();
    let ipsynd_pid = fip.path("x/ipsynd.pid");
    let _g1 = KillOnDrop(lonc_pid.clone());
    let _g2 = KillOnDrop(ipsynd_pid.clone());
    defaults(&t, &s, &root, "yes", "yes");
    let wd = t.path("usr/sbin/loncsyn-watchdog");

    // Nothing runs: both are started.
    let (code, out) = script(&wd, &["--init=sysv"]);
    assert_eq!(code, Some(0), "{out}");
    let (lp, ip) = (pid_in(&lonc_pid).unwrap(), pid_in(&ipsynd_pid).unwrap());
    assert_eq!(
        out,
        format!("lonc: not running, started (pid {lp})\nipsynd: not running, started (pid {ip})\n")
    );
    assert!(alive(lp) && alive(ip));
    assert!(s.wait_online("alpha"), "{}", s.log());

    // Both run: lonc gets USR1 (status page, retries), ipsynd is left as it is.
    let usr1 = s.log_count("USR1: Trying to establish connections again");
    let (code, out) = script(&wd, &["--init=sysv"]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(
        out,
        format!("lonc: running (pid {lp}), sent USR1\nipsynd: running (pid {ip})\n")
    );
    assert!(s.wait_log_n("USR1: Trying to establish connections again", usr1 + 1));
    assert!(wait_for(WAIT, || s.status_txt().exists()), "status page");

    // ipsynd killed: its pid file names a dead process; it is started again.
    // SAFETY: plain kill(2).
    unsafe { libc::kill(ip, libc::SIGKILL) };
    assert!(wait_for(WAIT, || !alive(ip)));
    let (code, out) = script(&wd, &["--init=sysv"]);
    assert_eq!(code, Some(0), "{out}");
    let ip2 = pid_in(&ipsynd_pid).unwrap();
    assert_ne!(ip2, ip);
    assert_eq!(
        out,
        format!(
            "lonc: running (pid {lp}), sent USR1\nipsynd: not running (stale pid file), started (pid {ip2})\n"
        )
    );

    // Not watched: not a word about it, not touched.
    defaults(&t, &s, &root, "no", "yes");
    let usr1 = s.log_count("USR1: Trying to establish connections again");
    let (code, out) = script(&wd, &["--init=sysv"]);
    assert_eq!(
        (code, out),
        (Some(0), format!("ipsynd: running (pid {ip2})\n"))
    );

    // A start that fails: reported with the reason, exit 1.
    let (code, out) = script(&t.path("etc/init.d/ipsynd"), &["stop"]);
    assert_eq!(code, Some(0), "{out}");
    let bad = fip.path("afile");
    fs::write(&bad, "").unwrap();
    defaults(&t, &s, &format!("{}/root", bad.display()), "no", "yes");
    let (code, out) = script(&wd, &["--init=sysv"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.starts_with("ipsynd: not running, start failed (exit 1): ")
            && out.contains("unable to create")
            && out.lines().count() == 1,
        "{out}"
    );
    assert_eq!(
        s.log_count("USR1: Trying to establish connections again"),
        usr1
    );

    let (code, out) = script(&wd, &["--bogus"]);
    assert_eq!(code, Some(2), "{out}");
    let (code, out) = script(&t.path("etc/init.d/lonc"), &["stop"]);
    assert_eq!(code, Some(0), "{out}");
}
