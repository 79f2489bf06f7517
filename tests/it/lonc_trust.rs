//! Trust at start-up: hosts.tab ids that are not plain names are refused row by row with
//! `file:line` while the daemon goes on with the rest; directories other users could write
//! (StrictModes) stop the start with the path, owner and mode.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

use crate::lonc_common::*;

#[test]
fn host_ids_that_are_not_plain_names_are_refused_and_the_rest_start() {
    let s = Setup::new("badids", &[peer("h1"), peer("h2")]);
    let hosts = s.dir.join("tabs/hosts.tab");
    let mut t = fs::read(&hosts).unwrap();
    let good = String::from_utf8(t.clone()).unwrap().lines().count();
    for row in [
        &b"-n:msu:library:127.0.0.1:127.0.0.1\n"[..],
        b"sp ace:msu:library:127.0.0.1:127.0.0.1\n",
        b"bin\x01\xff:msu:library:127.0.0.1:127.0.0.1\n",
        b"/:msu:library:127.0.0.1:127.0.0.1\n",
        b"..:msu:library:127.0.0.1:127.0.0.1\n",
    ] {
        t.extend_from_slice(row);
    }
    fs::write(&hosts, t).unwrap();
    let l = s.start();
    assert!(s.wait_online("h1") && s.wait_online("h2"));
    let log = s.log();
    for n in good + 1..=good + 5 {
        assert!(
            log.contains(&format!(
                "WARNING: {}:{n}: malformed host row",
                hosts.display()
            )),
            "line {n}: {log}"
        );
    }
    assert_eq!(l.children().len(), 2);
    let names: Vec<String> = fs::read_dir(s.dir.join("sockets"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let mut names = names;
    names.sort();
    assert_eq!(names, ["delayed", "h1", "h2"], "no socket for a refused id");
    assert!(
        !log.contains('\u{1}'),
        "control bytes are escaped in the log"
    );
}

fn run_lonc(s: &Setup, arg: &str) -> (Option<i32>, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lonc"))
        .arg("-c")
        .arg(&s.config)
        .arg(arg)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut code = None;
    let done = wait_for(WAIT, || {
        code = c.try_wait().ok().flatten();
        code.is_some()
    });
    if !done {
        let _ = c.kill();
    }
    let o = c.wait_with_output().unwrap();
    (
        o.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

#[test]
fn directories_others_can_write_stop_the_start_with_path_owner_and_mode() {
    let s = Setup::new("strict", &[peer("h1")]);
    for (dir, mode) in [
        ("sockets", 0o777),
        ("sockets/delayed", 0o775),
        ("logs", 0o757),
    ] {
        let p = s.dir.join(dir);
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
        let (code, out) = run_lonc(&s, "-f");
        assert_eq!(code, Some(1), "{dir} {mode:o}: {out}");
        assert!(out.contains(&p.display().to_string()), "{out}");
        assert!(out.contains(&format!("mode {mode:04o}")), "{out}");
        assert!(out.contains("owner "), "{out}");
        assert!(!s.pid_path().exists(), "{out}");
        // The sticky bit makes a shared directory safe again (as /tmp).
        fs::set_permissions(&p, fs::Permissions::from_mode(mode | 0o1000)).unwrap();
        let (code, out) = run_lonc(&s, "-n");
        assert_eq!(code, Some(0), "{dir} sticky: {out}");
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let l = s.start();
    assert!(s.wait_online("h1"));
    drop(l);
}

#[test]
fn a_directory_owned_by_another_user_is_refused() {
    let s = Setup::new("strict-owner", &[peer("h1")]);
    let p = s.dir.join("sockets/delayed");
    // Giving a directory to another user takes root; run as anyone else, the test can only
    // check that the user's own directory passes.
    if !nix::unistd::geteuid().is_root() {
        let (code, out) = run_lonc(&s, "-n");
        assert_eq!(code, Some(0), "{out}");
        return;
    }
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    nix::unistd::chown(&p, Some(nobody.uid), None).unwrap();
    let (code, out) = run_lonc(&s, "-f");
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(&format!("{}: is owned by nobody", p.display())),
        "{out}"
    );
    let (code, out) = run_lonc(&s, "-n");
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(&format!("{}: error: is owned by nobody", p.display())),
        "{out}"
    );
}

#[test]
fn check_mode_reports_everything_a_start_would_reject_sorted_with_severity() {
    let mut s = Setup::new("checkall", &[peer("h1")]);
    // A fatal config error and a bad hosts.tab row: both are reported.
    s.set("loncProbeTimeout", "soon");
    let conf_line = fs::read_to_string(&s.config).unwrap().lines().count();
    let hosts = s.dir.join("tabs/hosts.tab");
    let mut t = fs::read_to_string(&hosts).unwrap();
    t.push_str("-n:msu:library:127.0.0.1:127.0.0.1\n");
    let host_line = t.lines().count();
    fs::write(&hosts, t).unwrap();
    let (code, out) = run_lonc(&s, "-n");
    assert_eq!(code, Some(1), "{out}");
    let conf = s.config.display().to_string();
    let tab = hosts.display().to_string();
    let want_conf = format!("{conf}:{conf_line}: error: loncProbeTimeout \"soon\"");
    let want_tab = format!("{tab}:{host_line}: warning: malformed host row");
    assert!(out.contains(&want_conf), "{out}");
    assert!(out.contains(&want_tab), "{out}");
    assert!(
        out.find(&want_conf) < out.find(&want_tab),
        "sorted by file: {out}"
    );
    assert!(
        out.contains("configuration has errors (1 error, 1 warning)"),
        "{out}"
    );

    // A valid config, but an unsafe and a missing directory: errors with the path.
    s.set("loncProbeTimeout", "2");
    fs::set_permissions(s.dir.join("sockets"), fs::Permissions::from_mode(0o777)).unwrap();
    fs::remove_dir_all(s.dir.join("logs")).unwrap();
    let (code, out) = run_lonc(&s, "-n");
    assert_eq!(code, Some(1), "{out}");
    let logs = s.dir.join("logs").display().to_string();
    let socks = s.dir.join("sockets").display().to_string();
    let l_at = out
        .find(&format!("{logs}: error: "))
        .unwrap_or_else(|| panic!("{out}"));
    let s_at = out
        .find(&format!(
            "{socks}: error: is writable by group and others (mode 0777"
        ))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(l_at < s_at, "sorted by path: {out}");
    assert!(
        out.contains("local host loc1;"),
        "the plan is still shown: {out}"
    );
    assert!(!s.dir.join("logs").exists(), "-n creates nothing");

    // The user.
    fs::create_dir_all(s.dir.join("logs")).unwrap();
    fs::set_permissions(s.dir.join("sockets"), fs::Permissions::from_mode(0o755)).unwrap();
    s.set("loncUser", "nobody");
    let (code, out) = run_lonc(&s, "-n");
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(&format!(
            "{conf}: error: User ID mismatch. lonc must be run as user nobody."
        )),
        "{out}"
    );
}
