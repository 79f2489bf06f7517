//! StrictModes (spec §11.1): ipsynd refuses to start on a directory others may write or
//! another user owns, and warns when it runs as root without `root:yes`.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::ipsynd_common::*;

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Run ipsynd on `fip`'s tree, expecting it to refuse: its exit code and stderr.
fn refused(fip: &Fip) -> (Option<i32>, String) {
    let out = run_bounded(
        Command::new(IPSYND)
            .arg("-r")
            .arg(&fip.root)
            .env_remove("FIP_ROOT"),
        WAIT,
    )
    .expect("ipsynd started on an unsafe tree instead of refusing");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_directory_others_may_write_stops_the_start() {
    for (dir, mode) in [
        ("spool/syn/control", 0o777),
        ("x", 0o775),
        ("log", 0o757),
        ("tables/syn", 0o777),
    ] {
        let mut fip = Fip::new("strictmode");
        let path = fip.path(dir);
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        let (code, err) = refused(&fip);
        assert_eq!(code, Some(111), "{dir}: {err}");
        assert!(err.contains("refusing to start"), "{dir}: {err}");
        assert!(err.contains(&path.display().to_string()), "{dir}: {err}");
        assert!(err.contains(&format!("mode {mode:04o}")), "{dir}: {err}");
        assert!(err.contains("owner"), "{dir}: {err}");
        assert!(!fip.exists("x/ipsynd.pid"), "{dir}: nothing was started");
        // The sticky bit makes it safe, as /tmp.
        fs::set_permissions(&path, fs::Permissions::from_mode(mode | 0o1000)).unwrap();
        fip.start();
        assert_eq!(fip.stop_with(libc::SIGTERM), Some(0));
    }
}

#[test]
fn a_directory_another_user_owns_stops_the_start() {
    if !is_root() {
        eprintln!("not root: no directory of another user can be made; the rule is unit-tested");
        return;
    }
    let fip = Fip::new("strictowner");
    let path = fip.path("tables/syn");
    std::os::unix::fs::chown(&path, Some(54_321), None).unwrap();
    let (code, err) = refused(&fip);
    assert_eq!(code, Some(111), "{err}");
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(err.contains("owned by uid 54321 (mode 0755)"), "{err}");
    // The refusal is in the log as well (the log directory is fine).
    assert!(fip.log().contains("refusing to start"), "{}", fip.log());
}

#[test]
fn running_as_root_is_warned_about_unless_meant() {
    const WARNING: &str = "WARNING: running as root";
    let mut fip = Fip::new("rootwarn");
    if is_root() {
        fip.start();
        fip.expect_log(WARNING);
        assert_eq!(fip.stop_with(libc::SIGTERM), Some(0));
        fs::remove_file(fip.path("log/ipsynd.log")).unwrap();
        fip.ipsynd_table(&format!("ipsyn:{}\nroot:yes\n", fip.standin.display()));
        fip.start();
        assert_eq!(fip.stop_with(libc::SIGTERM), Some(0));
        assert!(!fip.log().contains(WARNING), "{}", fip.log());
        fs::remove_file(fip.path("log/ipsynd.log")).unwrap();
        fip.ipsynd_table(&format!("ipsyn:{}\n", fip.standin.display()));
    }
    // Another user (or this one, not root) is not warned about.
    fip.start_as(unshared_uid(), None);
    assert_eq!(fip.stop_with(libc::SIGTERM), Some(0));
    assert!(fip.log().contains("stopping on SIGTERM"), "{}", fip.log());
    assert!(!fip.log().contains(WARNING), "{}", fip.log());
}
