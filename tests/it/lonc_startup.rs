//! Start-up: daemonizing and the pid file, refusing to start twice, stale pid files, the
//! user check, missing or broken configuration, `-n`, `-v`, usage errors.

use std::process::{Command, Output, Stdio};

use crate::lonc_common::*;

/// Run lonc to completion, bounded: a lonc that does not exit within WAIT is killed (and the
/// test fails on its exit status).
fn lonc(args: &[&str]) -> Output {
    lonc_env(args, &[])
}

/// `lonc` with extra environment variables.
fn lonc_env(args: &[&str], env: &[(&str, String)]) -> Output {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let base = std::env::temp_dir().join(format!("lonc-it-out-{}-{n}", std::process::id()));
    let (out, err) = (base.with_extension("out"), base.with_extension("err"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_lonc"))
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let mut status = None;
    wait_for(WAIT, || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    });
    let status = status.unwrap_or_else(|| {
        let _ = child.kill();
        child.wait().unwrap()
    });
    let o = Output {
        status,
        stdout: std::fs::read(&out).unwrap(),
        stderr: std::fs::read(&err).unwrap(),
    };
    let _ = std::fs::remove_file(&out);
    let _ = std::fs::remove_file(&err);
    o
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn daemon_writes_pid_file_logs_start_and_serves() {
    let s = Setup::new("daemon", &[peer("h1"), peer(LOCAL_ID)]);
    let l = s.start_daemon();
    assert!(alive(l.pid));
    // Its own session, detached from the test.
    assert_eq!(
        nix::unistd::getsid(Some(nix::unistd::Pid::from_raw(l.pid)))
            .unwrap()
            .as_raw(),
        l.pid
    );
    let log = s.log();
    let start = log
        .find("CRITICAL: ---------- Starting ----------")
        .expect("start line");
    let done = log
        .find("Done starting initial servers")
        .expect("done line");
    assert!(start < done);
    assert!(
        log.contains(&format!("({})", l.pid)),
        "log lines carry the daemon pid"
    );
    assert!(s.wait_online("h1") && s.wait_online(LOCAL_ID));
    assert_eq!(ask(&s.sock("h1"), "ping"), "h1");
    assert_eq!(l.children().len(), 2);
}

#[test]
fn second_instance_is_refused_with_exit_2() {
    let s = Setup::new("twice", &[peer("h1")]);
    let l = s.start();
    let o = lonc(&["-c", s.config.to_str().unwrap(), "-f"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("lonc already running (pid {})", l.pid)),
        "{}",
        text(&o)
    );
    assert!(s.wait_log(&format!("lonc already running (pid {})", l.pid)));
    // The running one is untouched.
    assert_eq!(
        std::fs::read_to_string(s.pid_path()).unwrap().trim(),
        l.pid.to_string()
    );
    assert!(s.wait_online("h1"));
}

#[test]
fn stale_pid_file_naming_another_program_does_not_block_start() {
    let s = Setup::new("stale", &[peer("h1")]);
    // A live process that is not lonc (pid reuse), and it is not ours to signal either.
    let mut other = Command::new("sleep").arg("30").spawn().unwrap();
    std::fs::write(s.pid_path(), format!("{}\n", other.id())).unwrap();
    let l = s.start();
    assert_eq!(
        std::fs::read_to_string(s.pid_path()).unwrap().trim(),
        l.pid.to_string()
    );
    let _ = other.kill();
    let _ = other.wait();
}

#[test]
fn wrong_user_missing_config_and_unwritable_dirs_exit_1() {
    let mut s = Setup::new("user", &[peer("h1")]);
    s.set("loncUser", "nobody");
    let o = lonc(&["-c", s.config.to_str().unwrap(), "-f"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("User ID mismatch. lonc must be run as user nobody."),
        "{}",
        text(&o)
    );
    assert!(s
        .log()
        .contains("User ID mismatch. lonc must be run as user nobody."));
    assert!(!s.pid_path().exists());

    let o = lonc(&["-c", "/nonexistent/lonc-test/access.conf", "-f"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("/nonexistent/lonc-test/access.conf"),
        "{}",
        text(&o)
    );

    s.extra.clear();
    s.set("lonDaemons", "/nonexistent/lonc-test-daemons");
    let o = lonc(&["-c", s.config.to_str().unwrap(), "-f"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("/nonexistent/lonc-test-daemons/logs/lonc.log"),
        "{}",
        text(&o)
    );
}

#[test]
fn check_mode_prints_problems_with_file_and_line_and_the_plan() {
    let s = Setup::new("check", &[peer("h1"), peer("h2")]);
    let o = lonc(&["-c", s.config.to_str().unwrap(), "-n"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("h1: lond at"), "{out}");
    assert!(
        out.contains(&format!("socket {}", s.sock("h2").display())),
        "{out}"
    );
    assert!(out.contains("configuration OK"));
    assert!(!s.pid_path().exists(), "-n starts nothing");

    // A malformed hosts.tab row is a warning with file:line; a bad port value is fatal.
    let hosts = s.dir.join("tabs/hosts.tab");
    let mut t = std::fs::read_to_string(&hosts).unwrap();
    t.push_str("broken-row-without-fields\n");
    std::fs::write(&hosts, t).unwrap();
    let mut conf = std::fs::read_to_string(&s.config).unwrap();
    conf.push_str("PerlSetVar loncProbePort notaport\n");
    let line = conf.lines().count();
    std::fs::write(&s.config, conf).unwrap();
    let o = lonc(&["-c", s.config.to_str().unwrap(), "-n"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = text(&o);
    assert!(
        out.contains(&format!("{}:{line}: error: ", s.config.display())),
        "{out}"
    );
}

#[test]
fn version_and_usage() {
    let o = lonc(&["-v"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&o.stdout).starts_with("lonc "),
        "{}",
        text(&o)
    );
    let o = lonc(&["-x"]);
    assert_eq!(o.status.code(), Some(64));
    assert!(text(&o).contains("usage: lonc"));
    let o = lonc(&["-c"]);
    assert_eq!(o.status.code(), Some(64));
}

/// fds above stderr of a process, as `/proc/<pid>/fd` link targets.
fn open_fds(pid: i32) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
    {
        let n: i32 = e.file_name().to_string_lossy().parse().unwrap();
        if n > 2 {
            out.push(
                std::fs::read_link(e.path())
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            );
        }
    }
    out
}

fn distinct(v: &[String]) -> usize {
    v.iter().collect::<std::collections::BTreeSet<_>>().len()
}

#[test]
fn children_hold_only_their_own_fds() {
    let s = Setup::new("fds", &[peer("h1"), peer("h2"), peer("h3")]);
    let l = s.start();
    for id in ["h1", "h2", "h3"] {
        assert!(s.wait_online(id));
    }
    // Parent: just its signal pipe (one socket pair, the write end duplicated per signal); no
    // peer sockets, and nothing inherited from whoever started it (cargo's jobserver here).
    let p = open_fds(l.pid);
    assert!(
        p.iter().all(|f| f.starts_with("socket:")),
        "parent fds: {p:?}"
    );
    assert_eq!(distinct(&p), 2, "parent fds: {p:?}");
    // Each child: its signal pipe (2), its listener and its TCP link, plus the reserve fd
    // (/dev/null, spent when out of fds); nothing of its siblings.
    let kids = l.children();
    assert_eq!(kids.len(), 3);
    for k in kids {
        // wait_online's probe connection may still be open in the child for a moment.
        wait_for(WAIT, || distinct(&open_fds(k)) == 5);
        let f = open_fds(k);
        let (reserve, sockets): (Vec<String>, Vec<String>) =
            f.iter().cloned().partition(|x| x == "/dev/null");
        assert_eq!(reserve.len(), 1, "child {k} fds: {f:?}");
        assert!(
            sockets.iter().all(|x| x.starts_with("socket:")),
            "child {k} fds: {f:?}"
        );
        assert_eq!(distinct(&sockets), 4, "child {k} fds: {f:?}");
    }
}

#[test]
fn unwritable_pid_file_fails_start_in_both_modes() {
    let s = Setup::new("pidfail", &[peer("h1")]);
    // A directory where the pid file should go: it cannot be replaced by a file.
    std::fs::create_dir_all(s.pid_path()).unwrap();
    let o = lonc(&["-c", s.config.to_str().unwrap(), "-f"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("lonc.pid"), "{}", text(&o));
    // Daemonizing: the starting process reports the daemon's failure with its exit code.
    let o = lonc(&["-c", s.config.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(!s.log().contains("Starting"), "{}", s.log());
}

#[test]
fn foreground_mode_copies_log_lines_to_stderr() {
    let s = Setup::new("stderr", &[peer("h1")]);
    let err = s.dir.join("stderr.txt");
    let mut child = Command::new(env!("CARGO_BIN_EXE_lonc"))
        .args(["-c", s.config.to_str().unwrap(), "-f"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let seen = wait_for(WAIT, || {
        let t = std::fs::read_to_string(&err).unwrap_or_default();
        t.contains("CRITICAL: ---------- Starting ----------") && t.contains("h1 online")
    });
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let mut code = None;
    let exited = wait_for(WAIT, || match child.try_wait() {
        Ok(Some(st)) => {
            code = st.code();
            true
        }
        _ => false,
    });
    if !exited {
        let _ = child.kill();
        let _ = child.wait();
    }
    assert!(
        seen,
        "{}",
        std::fs::read_to_string(&err).unwrap_or_default()
    );
    assert!(exited, "lonc did not exit on TERM");
    assert_eq!(code, Some(0));
}

#[test]
fn user_mismatch_mails_the_admins_through_the_mail_program() {
    let mut s = Setup::new("mail", &[peer("h1")]);
    s.set("loncUser", "nobody");
    s.set("lonAdmEMail", "adm@example.org");
    s.set("lonSysEMail", "sys@example.org");
    // A stand-in `mail` that records its arguments and the message.
    let bin = s.dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let record = s.dir.join("mail.txt");
    let script = format!(
        "#!/bin/sh\necho \"args: $*\" > {r}\ncat >> {r}\n",
        r = record.display()
    );
    std::fs::write(bin.join("mail"), script).unwrap();
    let mut perm = std::fs::metadata(bin.join("mail")).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    std::fs::set_permissions(bin.join("mail"), perm).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let o = lonc_env(&["-c", s.config.to_str().unwrap(), "-f"], &[("PATH", path)]);
    assert_eq!(o.status.code(), Some(1));
    let mail = std::fs::read_to_string(&record).unwrap();
    assert!(
        mail.contains("args: -s LON: loc1 User ID mismatch adm@example.org,sys@example.org"),
        "{mail}"
    );
    assert!(
        mail.contains("User ID mismatch. lonc must be run as user nobody."),
        "{mail}"
    );
}

/// One RFC 3164 datagram as lonc sends it: `<PRI>Mmm dd hh:mm:ss lonc[<pid>]: <msg>`.
fn parse_syslog(d: &str) -> Option<(u8, i32, String)> {
    let rest = d.strip_prefix('<')?;
    let (pri, rest) = rest.split_once('>')?;
    let pri: u8 = pri.parse().ok()?;
    // "Nov 25 08:13:00 " or "Nov  5 08:13:00 ": 16 bytes of timestamp and a blank.
    let (stamp, rest) = (rest.get(..16)?, rest.get(16..)?);
    let b = stamp.as_bytes();
    let month_ok = b[..3].iter().all(u8::is_ascii_alphabetic) && b[0].is_ascii_uppercase();
    let day_ok = (b[4] == b' ' || b[4].is_ascii_digit()) && b[5].is_ascii_digit();
    let time_ok = stamp[7..15].bytes().enumerate().all(|(i, c)| {
        if i % 3 == 2 {
            c == b':'
        } else {
            c.is_ascii_digit()
        }
    });
    if !(month_ok && b[3] == b' ' && day_ok && b[6] == b' ' && time_ok && b[15] == b' ') {
        return None;
    }
    let rest = rest.strip_prefix("lonc[")?;
    let (pid, msg) = rest.split_once("]: ")?;
    Some((pri, pid.parse().ok()?, msg.to_string()))
}

#[test]
fn log_lines_go_to_the_syslog_socket_named_by_loncsyslog() {
    let mut s = Setup::new("syslog", &[peer("h1")]);
    let path = s.dir.join("syslog.sock");
    let rx = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
    rx.set_read_timeout(Some(std::time::Duration::from_millis(200)))
        .unwrap();
    s.set("loncSyslog", path.to_str().unwrap());
    let l = s.start();
    assert!(s.wait_online("h1"));
    let mut got: Vec<String> = Vec::new();
    let mut buf = vec![0u8; 65536];
    let done = |got: &[String]| {
        got.iter()
            .any(|d| d.contains("CRITICAL: ---------- Starting"))
            && got.iter().any(|d| d.contains("h1 online"))
    };
    wait_for(WAIT, || {
        while let Ok(n) = rx.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        done(&got)
    });
    assert!(done(&got), "{got:#?}\n{}", s.log());
    let parsed: Vec<(u8, i32, String)> = got
        .iter()
        .map(|d| parse_syslog(d).unwrap_or_else(|| panic!("not RFC 3164: {d:?}")))
        .collect();
    let kid = l.children()[0];
    // daemon facility (3): crit = 26, info = 30; the tag carries the sending process's pid.
    assert!(parsed.contains(&(
        26,
        l.pid,
        "CRITICAL: ---------- Starting ----------".to_string()
    )));
    assert!(parsed.contains(&(30, l.pid, "Done starting initial servers".to_string())));
    assert!(
        parsed.contains(&(30, kid, "h1 online".to_string())),
        "{parsed:?}"
    );
    // Every syslog message is also in lonc.log.
    for (_, _, msg) in &parsed {
        assert!(s.log().contains(&format!("]: {msg}\n")), "{msg}");
    }
}

#[test]
fn check_mode_names_what_1_29_would_have_misread_and_exits_0_on_warnings() {
    let s = Setup::new("checkwarn", &[peer("h1"), peer("h2")]);
    let mut conf = std::fs::read_to_string(&s.config).unwrap();
    conf.push_str("  PerlSetVar loncMaxAttempts 3\n#PerlSetVar lonHostID evil\n");
    let n = conf.lines().count();
    std::fs::write(&s.config, conf).unwrap();
    let hosts = s.dir.join("tabs/hosts.tab");
    let mut t = std::fs::read_to_string(&hosts).unwrap();
    t.push_str("h9:msu:library:h9.example.org:\n");
    std::fs::write(&hosts, t).unwrap();
    let o = lonc(&["-c", s.config.to_str().unwrap(), "-n"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "warnings only: {out}");
    let conf = s.config.display();
    assert!(
        out.contains(&format!("{conf}:{}: warning: indented PerlSetVar", n - 1))
            && out.contains("1.29 would have misread it"),
        "{out}"
    );
    assert!(
        out.contains(&format!("{conf}:{n}: warning: commented-out line ignored")),
        "{out}"
    );
    // The plan: the local host and every host with an ip; the row without an ip is skipped.
    assert!(out.contains("local host loc1;"), "{out}");
    assert!(out.contains("would start up to 2 children"), "{out}");
    assert!(
        out.contains("h1: lond at ") && out.contains("h2: lond at "),
        "{out}"
    );
    assert!(!out.contains("h9: lond at"), "{out}");
    assert!(
        out.ends_with("configuration OK (0 errors, 3 warnings)\n"),
        "{out}"
    );
    assert!(
        !s.pid_path().exists() && !s.log_path().exists(),
        "-n touches nothing"
    );
}
