//! `ipsynd -n`: every table and client file and the StrictModes checks, one line per
//! problem sorted by file and line, a summary, exit 0 or 1, and nothing started.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};

use crate::ipsynd_common::*;

fn check(fip: &Fip) -> Output {
    run_bounded(
        Command::new(IPSYND)
            .arg("-n")
            .arg("-r")
            .arg(&fip.root)
            .env_remove("FIP_ROOT"),
        WAIT,
    )
    .expect("ipsynd -n did not finish")
}

#[test]
fn check_mode_reports_every_problem_sorted_and_starts_nothing() {
    let fip = Fip::new("dashn");
    let root = fip.root.display().to_string();
    fip.ipsynd_table(&format!(
        "ipsyn:{}\nroot:yes\nrescan:0\n",
        fip.standin.display()
    ));
    fip.ports("route:fast host:a port:1\nnonsense here\nroute:slow host:b port:2 multi:2\n");
    fip.client("ZED", "route:fast\nretry:500\ncolour:blue\n");
    fip.client("ALPHA", "route:nowhere\ntimeout:soon\n");
    fip.client("lower", "route:fast\n");
    fs::set_permissions(fip.path("x"), fs::Permissions::from_mode(0o777)).unwrap();
    fs::remove_dir(fip.path("spool/syn/control")).unwrap();

    let out = check(&fip);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let want = [
        format!("{root}/spool/syn/control: warning: does not exist; ipsynd creates it (mode 0755) at start"),
        format!("{root}/tables/syn/IPSYND:3: warning: rescan:0 is below 1, using 1"),
        format!("{root}/tables/syn/PORTS:2: error: "),
        format!("{root}/tables/syn/client/ALPHA:1: warning: route NOWHERE has no entry in PORTS"),
        format!("{root}/tables/syn/client/ALPHA:2: error: timeout:soon is not a number, using the default 90"),
        format!("{root}/tables/syn/client/ZED:2: warning: retry:500 is above 100, using 100"),
        format!("{root}/tables/syn/client/ZED:3: warning: unknown keyword colour:, ignored"),
        format!("{root}/tables/syn/client/lower: warning: records name clients in uppercase"),
        format!("{root}/x: error: is writable by group and others (mode 0777"),
        "ipsynd -n: 3 errors, 6 warnings (5 table files, 5 directories checked)".to_string(),
    ];
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), want.len(), "{stdout}");
    for (l, w) in lines.iter().zip(&want) {
        assert!(l.starts_with(w.as_str()), "{l}\n  wanted {w}\n{stdout}");
    }
    assert!(lines[8].ends_with("ipsynd refuses to start"), "{stdout}");
    // Nothing was started or created.
    assert!(!fip.exists("spool/syn/control"));
    assert!(!fip.exists("x/ipsynd.pid") && !fip.exists("x/ctl"));
    assert!(!fip.exists("log/ipsynd.log"));
    assert!(!fip.exists("log/syn/ipsynd.status"));

    // Errors fixed, warnings left: exit 0.
    fs::set_permissions(fip.path("x"), fs::Permissions::from_mode(0o755)).unwrap();
    fip.ports("route:fast host:a port:1\n");
    fip.client("ALPHA", "route:fast\n");
    let out = check(&fip);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout
            .ends_with("ipsynd -n: 0 errors, 5 warnings (5 table files, 5 directories checked)\n"),
        "{stdout}"
    );
    // And a clean tree.
    fs::create_dir(fip.path("spool/syn/control")).unwrap();
    fip.ipsynd_table(&format!("ipsyn:{}\nroot:yes\n", fip.standin.display()));
    fip.client("ZED", "route:fast\n");
    fs::remove_file(fip.path("tables/syn/client/lower")).unwrap();
    let out = check(&fip);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert_eq!(
        stdout,
        "ipsynd -n: no problems (4 table files, 5 directories checked)\n"
    );
}

#[test]
fn check_mode_warns_about_root_and_a_missing_transmitter() {
    let fip = Fip::new("dashnroot");
    let root = fip.root.display().to_string();
    fip.ipsynd_table("");
    fip.ports("route:r host:h\n");
    fip.client("PLAIN", "route:r\n");
    fip.client("SCRIPTED", "route:r\nscript:/nonexistent/prog -x\n");
    let out = check(&fip);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "warnings only: {stdout}");
    assert!(
        stdout.contains(&format!("{root}/bin/ipsyn: warning: the transmitter {root}/bin/ipsyn is not an executable file; the attempts of 1 client(s)")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("{root}/tables/syn/client/SCRIPTED:2: warning: script: /nonexistent/prog is not an executable file")),
        "{stdout}"
    );
    // SAFETY: geteuid has no preconditions.
    let as_root = unsafe { libc::geteuid() } == 0;
    assert_eq!(
        stdout.contains(&format!(
            "{root}/tables/syn/IPSYND: warning: running as root"
        )),
        as_root,
        "{stdout}"
    );
}
