//! The command lines of `lonc` and `lond-standin`: help and version on stdout with exit 0,
//! usage errors on stderr with 64, no panic on a closed pipe, and `lonc -s` against the real
//! daemon (LSB exit codes).

use std::fs;
use std::process::{Command, Output, Stdio};

use nix::sys::signal::Signal;

use crate::lonc_common::*;

const LONC: &str = env!("CARGO_BIN_EXE_lonc");
const STANDIN: &str = env!("CARGO_BIN_EXE_lond-standin");

/// Run to completion, bounded.
fn run(bin: &str, args: &[&str]) -> Output {
    let mut c = Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut done = false;
    wait_for(WAIT * 2, || {
        done = c.try_wait().ok().flatten().is_some();
        done
    });
    if !done {
        let _ = c.kill();
    }
    c.wait_with_output().unwrap()
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn help_and_version_go_to_stdout_and_usage_errors_to_stderr_with_64() {
    for bin in [LONC, STANDIN] {
        let name = std::path::Path::new(bin)
            .file_name()
            .unwrap()
            .to_str()
            .unwrap();
        for h in ["-h", "--help"] {
            let o = run(bin, &[h]);
            assert_eq!(o.status.code(), Some(0), "{name} {h}: {}", err(&o));
            assert!(
                out(&o).starts_with(&format!("usage: {name}")),
                "{}",
                out(&o)
            );
            assert_eq!(err(&o), "", "{name} {h}");
        }
        for v in ["-v", "--version"] {
            let o = run(bin, &[v]);
            assert_eq!(o.status.code(), Some(0), "{name} {v}");
            let text = out(&o);
            assert!(
                text.starts_with(&format!("{name} {} ", env!("CARGO_PKG_VERSION"))),
                "{text}"
            );
            assert_eq!(text.lines().count(), 1);
        }
        let o = run(bin, &["--no-such-option"]);
        assert_eq!(o.status.code(), Some(64), "{name}");
        assert_eq!(out(&o), "", "{name}: nothing on stdout");
        assert!(err(&o).contains(&format!("usage: {name}")), "{}", err(&o));
    }
    for bad in [&["--json"][..], &["-n", "-s"], &["-s", "-f"], &["-c"]] {
        let o = run(LONC, bad);
        assert_eq!(o.status.code(), Some(64), "{bad:?}: {}", err(&o));
        assert!(err(&o).contains("usage: lonc"), "{bad:?}");
    }
    assert!(out(&run(LONC, &["-h"])).contains("-s "));
}

/// Run with stdout and stderr on a pipe nobody reads any more (as `2>&1 | head -0`).
fn run_into_closed_pipe(bin: &str, args: &[&str]) -> Option<i32> {
    let (r, w) = nix::unistd::pipe().unwrap();
    drop(r);
    let mut c = Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(w.try_clone().unwrap()))
        .stderr(Stdio::from(w))
        .spawn()
        .unwrap();
    let mut code = None;
    assert!(wait_for(WAIT, || {
        code = c.try_wait().ok().flatten();
        code.is_some()
    }));
    code.unwrap().code()
}

#[test]
fn a_closed_pipe_never_makes_a_command_panic() {
    let s = Setup::new("pipe", &[peer("h1")]);
    let conf = s.config.to_str().unwrap();
    for (bin, args, want) in [
        (LONC, &["--json"][..], 64),
        (LONC, &["-h"], 0),
        (LONC, &["--version"], 0),
        (LONC, &["-c", conf, "-n"], 0),
        (LONC, &["-c", conf, "-s"], 3),
        (LONC, &["-c", "/nonexistent/lonc.conf", "-f"], 1),
        (STANDIN, &["--help"], 0),
        (STANDIN, &["-v"], 0),
        (STANDIN, &["--bogus"], 64),
    ] {
        for round in 0..6 {
            assert_eq!(
                run_into_closed_pipe(bin, args),
                Some(want),
                "{bin} {args:?}, round {round}"
            );
        }
    }
}

#[test]
fn status_command_asks_the_running_lonc_and_exits_as_lsb_says() {
    let mut s = Setup::new("dashs", &[peer("h1"), peer("h2"), peer("h3")]);
    let _bh = s.blackhole(&["h3"], "0.5");
    let conf = s.config.to_str().unwrap().to_string();
    let o = run(LONC, &["-c", &conf, "-s"]);
    assert_eq!(o.status.code(), Some(3), "{}{}", out(&o), err(&o));
    assert_eq!(out(&o), "lonc is not running\n");
    // A pid file naming no live lonc: 1, as LSB's "dead and pid file exists".
    fs::write(s.pid_path(), "999999999\n").unwrap();
    let o = run(LONC, &["-c", &conf, "-s"]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(out(&o).contains("999999999"), "{}", out(&o));
    fs::remove_file(s.pid_path()).unwrap();

    let mut l = s.start();
    assert!(s.wait_online("h1") && s.wait_online("h2"));
    let kids = l.children();
    let o = run(LONC, &["-c", &conf, "-s"]);
    let text = out(&o);
    assert_eq!(o.status.code(), Some(0), "{text}{}", err(&o));
    assert_eq!(err(&o), "", "a fresh answer: {text}");
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with(&format!("lonc running (pid {}), started ", l.pid)),
        "{text}"
    );
    assert!(lines[1].starts_with("parent: "), "{text}");
    assert!(s
        .log()
        .contains("USR1: Trying to establish connections again"));
    let header = lines
        .iter()
        .position(|l| l.starts_with("ID "))
        .unwrap_or_else(|| panic!("{text}"));
    for col in ["STATE", "PID", "ATTEMPTS", "SINCE", "LAST LOG"] {
        assert!(lines[header].contains(col), "{text}");
    }
    let line = |id: &str| -> &str {
        lines[header + 1..]
            .iter()
            .find(|l| l.starts_with(&format!("{id} ")))
            .unwrap_or_else(|| panic!("{id}: {text}"))
    };
    // id, state, pid and attempts hold no blanks; since and the last log line do.
    let row = |id: &str| -> Vec<&str> { line(id).split_whitespace().take(4).collect() };
    for id in ["h1", "h2"] {
        let r = row(id);
        assert_eq!(r[1], "running", "{r:?}");
        assert!(kids.contains(&r[2].parse().unwrap()), "{r:?}");
        assert_eq!(r[3], "0/5");
        // The children's last log lines are in: the answer waited for them.
        assert!(line(id).ends_with(&format!(": {id} online")), "{text}");
    }
    let r = row("h3");
    assert!(r[1] == "unreachable" || r[1] == "starting", "{r:?}");
    assert_eq!(r[2], "-");
    assert!(line("h3").ends_with(" -"), "no child, no last line: {text}");

    let o = run(LONC, &["-c", &conf, "-s", "--json"]);
    assert_eq!(o.status.code(), Some(0));
    let j: serde_json::Value = serde_json::from_str(&out(&o)).unwrap();
    assert_eq!(j["state"], "running");
    assert_eq!(j["parent_pid"], l.pid);
    assert!(j["usr1_served"].as_u64().unwrap() >= 2, "{j}");
    assert_eq!(j["hosts"].as_array().unwrap().len(), 3);

    l.signal(Signal::SIGTERM);
    assert_eq!(l.wait_exit(WAIT), Some(Some(0)));
    let o = run(LONC, &["-c", &conf, "-s", "--json"]);
    assert_eq!(o.status.code(), Some(3));
    let j: serde_json::Value = serde_json::from_str(&out(&o)).unwrap();
    assert_eq!(j["state"], "not running");
    assert_eq!(j["last"]["state"], "stopped");
}

#[test]
fn status_command_wait_is_bounded_when_lonc_does_not_answer() {
    let s = Setup::new("dashs-stopped", &[peer("h1")]);
    let l = s.start();
    assert!(s.wait_online("h1"));
    assert!(wait_for(WAIT, || s.status_json().exists()));
    l.signal(Signal::SIGSTOP);
    let t0 = std::time::Instant::now();
    let o = run(LONC, &["-c", s.config.to_str().unwrap(), "-s"]);
    let took = t0.elapsed();
    l.signal(Signal::SIGCONT);
    // Running but silent: LSB's "status unknown" (lonc(8), as ipsynd -s), the last page shown.
    assert_eq!(o.status.code(), Some(4), "{}", err(&o));
    assert!(
        err(&o).contains(&format!(
            "lonc (pid {}) did not answer within 10 s; showing its last page",
            l.pid
        )),
        "{}",
        err(&o)
    );
    assert!(out(&o).starts_with("lonc running (pid "), "{}", out(&o));
    assert!(
        took >= std::time::Duration::from_secs(10) && took < std::time::Duration::from_secs(20),
        "{took:?}"
    );
}
