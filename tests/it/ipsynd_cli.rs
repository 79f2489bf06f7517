//! ipsynd's commands against the real daemon: `-s [--json]` (a fresh status, the queue as
//! a table), `-f [CLIENT]` and `-k CLIENT` (through a request and USR1), the status files
//! telling a stopped daemon from a live one, and every binary's `-h`/`--version`, usage
//! errors and output into a closed pipe.

use std::fs;
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::ipsynd_common::*;

const IPSYN: &str = env!("CARGO_BIN_EXE_ipsyn");
const RECV: &str = env!("CARGO_BIN_EXE_ipsyn-recv");

/// Run `ipsynd ARGS -r ROOT` to its end (bounded).
fn ipsynd(fip: &Fip, args: &[&str]) -> Output {
    run_bounded(
        Command::new(IPSYND)
            .args(args)
            .arg("-r")
            .arg(&fip.root)
            .env_remove("FIP_ROOT"),
        WAIT + WAIT,
    )
    .unwrap_or_else(|| panic!("ipsynd {args:?} did not finish"))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn json(fip: &Fip) -> serde_json::Value {
    serde_json::from_str(&fs::read_to_string(fip.path("log/syn/ipsynd.status.json")).unwrap())
        .unwrap()
}

/// The write end of a pipe whose read end is already closed: every write fails (EPIPE).
fn closed_pipe() -> Stdio {
    let mut fds = [0; 2];
    // SAFETY: pipe fills two new fds; the read end is closed at once, the write end owned.
    unsafe {
        assert_eq!(libc::pipe(fds.as_mut_ptr()), 0);
        libc::close(fds[0]);
        Stdio::from(OwnedFd::from_raw_fd(fds[1]))
    }
}

#[test]
fn the_status_files_say_who_wrote_them_and_that_it_stopped() {
    let mut fip = Fip::new("stopped");
    fip.client_knob("WAITER", "timeout:600\nretry:5\n", "FAIL=9\n");
    let pid = fip.start();
    fip.record("WAITER");
    assert!(fip.wait_status(|s| s.contains("WAITER retry-wait 1/5")));
    let head = fip.status().lines().next().unwrap().to_string();
    assert!(
        head.starts_with(&format!("; ipsynd state=running pid={pid} started=")),
        "{head}"
    );
    assert!(
        head.contains(" written=") && head.contains(" serial="),
        "{head}"
    );
    // The two files are renamed in one after the other: the JSON may still be the older one.
    assert!(wait_for(Duration::from_secs(10), || json(&fip)["records"]
        [0]["record"]
        == "WAITER"));
    let j = json(&fip);
    assert_eq!(j["state"], "running");
    assert_eq!(j["pid"], pid);
    assert!(j["started"].is_string() && j["written"].is_string());
    assert_eq!(j["records"][0]["record"], "WAITER");
    assert!(j["records"][0]["since"].as_u64().unwrap() > 0);

    assert_eq!(fip.stop_with(libc::SIGTERM), Some(0));
    let st = fip.status();
    let head = st.lines().next().unwrap();
    assert!(
        head.starts_with(&format!("; ipsynd state=stopped pid={pid} ")),
        "{st}"
    );
    assert!(head.contains(" stopped=20"), "{st}");
    assert!(!st.contains("WAITER"), "no rows once stopped:\n{st}");
    let j = json(&fip);
    assert_eq!(j["state"], "stopped");
    assert_eq!(j["pid"], pid);
    assert!(j["stopped"].is_string(), "{j}");
    assert_eq!(j["records"].as_array().unwrap().len(), 0, "{j}");
}

#[test]
fn status_asks_the_running_daemon_and_shows_the_queue() {
    let mut fip = Fip::new("dashs");
    fip.client_knob("HOLDER", "retry:4\n", "HOLD=1\n");
    fip.client_knob("LATER", "timeout:600\n", "FAIL=9\n");
    let out = ipsynd(&fip, &["-s"]);
    assert_eq!(out.status.code(), Some(3), "not running yet");
    assert!(text(&out.stdout).contains("ipsynd is not running"));

    let pid = fip.start();
    fip.record("HOLDER");
    fip.record("SYN_LATER");
    fip.wait_calls("HOLDER", 1);
    assert!(fip.wait_status(|s| s.contains("LATER retry-wait 1/11")));
    // Nothing changes from here on, so only a status written on the command's request can
    // appear: the files are removed first.
    fs::remove_file(fip.path("log/syn/ipsynd.status")).unwrap();
    fs::remove_file(fip.path("log/syn/ipsynd.status.json")).unwrap();
    let out = ipsynd(&fip, &["-s"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with(&format!("ipsynd pid {pid}: running since ")),
        "{table}"
    );
    let cols: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        cols,
        ["RECORD", "CLIENT", "STATE", "TRY", "PORT", "PID", "NEXT", "AGE"]
    );
    let holder: Vec<&str> = lines[2].split_whitespace().collect();
    let call = &fip.calls("HOLDER")[0];
    assert_eq!(
        holder[..6],
        [
            "HOLDER",
            "HOLDER",
            "running",
            "1/4",
            "-",
            &call.pid.to_string()
        ]
    );
    let later: Vec<&str> = lines[3].split_whitespace().collect();
    assert_eq!(
        later[..5],
        ["SYN_LATER", "LATER", "retry-wait", "1/11", "-"]
    );
    assert!(later[6].contains(':'), "a next attempt time: {table}");
    assert_eq!(
        lines.last().unwrap(),
        &"-- 2 records: 1 running, 1 waiting",
        "{table}"
    );

    // --json: the document, written after the request (a higher serial).
    let before = json(&fip)["serial"].as_u64().unwrap();
    let out = ipsynd(&fip, &["-s", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(j["serial"].as_u64().unwrap() > before, "{j}");
    assert_eq!(j["pid"], pid);
    assert_eq!(j["records"].as_array().unwrap().len(), 2);

    // Into a closed pipe (`ipsynd -s --json | head -0`): no panic, the usual code.
    let child = Command::new(IPSYND)
        .args(["-s", "--json", "-r"])
        .arg(&fip.root)
        .stdin(Stdio::null())
        .stdout(closed_pipe())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        !text(&out.stderr).contains("panicked"),
        "{}",
        text(&out.stderr)
    );

    fip.release("HOLDER");
    assert_eq!(fip.stop_with(libc::SIGTERM), Some(0));
    let out = ipsynd(&fip, &["-s"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stdout).contains(&format!("(pid {pid} stopped 20")),
        "{}",
        text(&out.stdout)
    );
    let out = ipsynd(&fip, &["-s", "--json"]);
    assert_eq!(out.status.code(), Some(3));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["state"], "stopped");

    // Killed outright, its pid file stays: LSB's "dead, pid file exists".
    let pid = fip.start();
    assert!(wait_for(WAIT, || fs::read_to_string(
        fip.path("x/ipsynd.pid")
    )
    .is_ok_and(|p| p.trim() == pid.to_string())));
    assert_eq!(fip.stop_with(libc::SIGKILL), None);
    let out = ipsynd(&fip, &["-s"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains("names pid"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn force_retries_now_and_kill_ends_the_attempt() {
    let mut fip = Fip::new("verbs");
    fip.client_knob("SLOW", "timeout:600\nretry:3\n", "FAIL=1\n");
    fip.client_knob("HOLDER", "timeout:600\nretry:2\n", "HOLD=1\n");
    let out = ipsynd(&fip, &["-f"]);
    assert_eq!(out.status.code(), Some(3), "not running");

    fip.start();
    let ctrl = fip.record("SLOW");
    fip.wait_calls("SLOW", 1);
    fip.expect_log("SLOW attempt 1/3 failed");
    // Waiting 600 s for attempt 2; -f makes it due now.
    let out = ipsynd(&fip, &["-f", "slow"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "ipsynd: 1 record(s) due now: SLOW\n");
    fip.wait_calls("SLOW", 2);
    fip.expect_log("SLOW attempt 2 done");
    assert!(!ctrl.exists());
    let out = ipsynd(&fip, &["-f", "SLOW"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "ipsynd: no record for SLOW in the queue\n"
    );
    let out = ipsynd(&fip, &["-f"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), "ipsynd: 0 record(s) due now\n");

    // -k ends the running attempt as maxtime does: TERM to its group, flag removed, a
    // failed attempt counted.
    fip.record("HOLDER");
    let call = fip.wait_calls("HOLDER", 1).remove(0);
    let out = ipsynd(&fip, &["-k", "holder"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!(
            "ipsynd: HOLDER: attempt 1 pid {} being ended as maxtime would\n",
            call.pid
        )
    );
    fip.expect_log(&format!(
        "HOLDER pid {} ended on request (ipsynd -k): SIGTERM sent to its process group",
        call.pid
    ));
    fip.expect_log("HOLDER attempt 1/2 failed (killed on request (ipsynd -k)");
    assert!(
        wait_for(WAIT, || fip.flags().is_empty()),
        "{:?}",
        fip.flags()
    );
    assert!(
        fip.exists("spool/syn/control/HOLDER"),
        "the record stays for attempt 2"
    );
    let out = ipsynd(&fip, &["-k", "HOLDER"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr), "ipsynd: HOLDER has no running attempt\n");
    let out = ipsynd(&fip, &["-k"]);
    assert_eq!(out.status.code(), Some(100), "-k needs a client");
    assert!(
        fs::read_dir(fip.path("x/ctl")).unwrap().next().is_none(),
        "no request left"
    );

    // Only ipsynd's user (or root) can send commands: the request directory is its own.
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        use std::os::unix::process::CommandExt;
        let out = run_bounded(
            Command::new(IPSYND)
                .args(["-f", "-r"])
                .arg(&fip.root)
                .uid(unshared_uid())
                .gid(unshared_uid()),
            WAIT,
        )
        .unwrap();
        assert_eq!(out.status.code(), Some(111), "{}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("only ipsynd's user or root can"),
            "{}",
            text(&out.stderr)
        );
    }
    assert_eq!(fip.stop_with(libc::SIGTERM), Some(0));
}

#[test]
fn every_binary_has_help_version_and_usage_errors() {
    let version = env!("CARGO_PKG_VERSION");
    for (bin, name) in [(IPSYND, "ipsynd"), (IPSYN, "ipsyn"), (RECV, "ipsyn-recv")] {
        for h in ["-h", "--help"] {
            let out = Command::new(bin).arg(h).output().unwrap();
            assert_eq!(out.status.code(), Some(0), "{name} {h}");
            assert!(text(&out.stdout).starts_with("usage: "), "{name} {h}");
            assert!(out.stderr.is_empty(), "{name} {h}");
        }
        for v in ["-v", "--version"] {
            let out = Command::new(bin).arg(v).output().unwrap();
            assert_eq!(out.status.code(), Some(0), "{name} {v}");
            assert!(text(&out.stdout).contains(version), "{name} {v}");
        }
        let out = Command::new(bin).arg("--no-such-option").output().unwrap();
        assert_eq!(out.status.code(), Some(100), "{name}: usage error");
        assert!(out.stdout.is_empty(), "{name}");
        assert!(text(&out.stderr).contains("usage: "), "{name}");
        // Into closed pipes: no panic, the documented codes.
        for (args, code) in [(&["--help"][..], 0), (&["--version"][..], 0)] {
            let out = Command::new(bin)
                .args(args)
                .stdout(closed_pipe())
                .stderr(Stdio::piped())
                .output()
                .unwrap();
            assert_eq!(
                out.status.code(),
                Some(code),
                "{name} {args:?}: {}",
                text(&out.stderr)
            );
        }
        let st = Command::new(bin)
            .arg("--no-such-option")
            .stdout(closed_pipe())
            .stderr(closed_pipe())
            .status()
            .unwrap();
        assert_eq!(
            st.code(),
            Some(100),
            "{name}: usage error into closed pipes"
        );
    }
    let out = Command::new(IPSYND).args(["-n", "-s"]).output().unwrap();
    assert_eq!(out.status.code(), Some(100));
    let out = Command::new(IPSYND).args(["--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(100));
}

/// What `ps` shows for `pid`: its command line, NUL bytes as spaces, trailing ones dropped.
fn cmdline(pid: i32) -> String {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    String::from_utf8_lossy(&raw)
        .trim_end_matches('\0')
        .replace('\0', " ")
}

#[test]
fn the_process_title_counts_running_and_waiting_records() {
    let mut fip = Fip::new("proctitle");
    fip.client_knob("HOLDER", "retry:4\n", "HOLD=1\n");
    fip.client_knob("LATER", "timeout:600\n", "FAIL=9\n");
    let pid = fip.start();
    let title = |want: &str| wait_for(WAIT, || cmdline(pid) == want);
    assert!(title("ipsynd: 0 running, 0 waiting"), "{}", cmdline(pid));
    fip.record("HOLDER");
    fip.wait_calls("HOLDER", 1);
    assert!(title("ipsynd: 1 running, 0 waiting"), "{}", cmdline(pid));
    fip.record("LATER");
    assert!(title("ipsynd: 1 running, 1 waiting"), "{}", cmdline(pid));
    fip.release("HOLDER");
    assert!(title("ipsynd: 0 running, 1 waiting"), "{}", cmdline(pid));
    // The name stays ipsynd (pgrep, start-stop-daemon --name).
    assert_eq!(
        fs::read_to_string(format!("/proc/{pid}/comm"))
            .unwrap()
            .trim(),
        "ipsynd"
    );
    assert_eq!(fip.stop_with(libc::SIGTERM), Some(0));
}

#[test]
fn status_writes_are_coalesced_to_one_a_second() {
    let mut fip = Fip::new("coalesce");
    const N: usize = 40;
    for i in 0..N {
        fip.client(&format!("Q{i}"), "retry:1\n");
    }
    fip.start();
    assert!(fip.wait_status(|s| s.contains("state=running")));
    let serial = |fip: &Fip| json(fip)["serial"].as_u64().unwrap();
    let before = serial(&fip);
    let t0 = std::time::Instant::now();
    // A change every 50 ms or so (a record comes, starts, is done): each would be a write.
    for i in 0..N {
        fip.record(&format!("Q{i}"));
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(fip.wait_log_count("attempt 1 done", N), "{}", fip.log());
    let busy = t0.elapsed().as_secs();
    // The last change is written within the second after it.
    assert!(
        fip.wait_status(|s| s.lines().count() == 2),
        "{}",
        fip.status()
    );
    let writes = serial(&fip) - before;
    assert!(
        writes <= busy + 3,
        "{writes} status writes in {busy}s of changes"
    );
    assert_eq!(fip.stop_with(libc::SIGTERM), Some(0));
}
