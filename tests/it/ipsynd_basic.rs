//! ipsynd end to end on temporary FIP trees with a stand-in transmitter: the argv it gets,
//! the in-use flag, success and failure, retries, tryalt, exec errors, tables problems.

use std::fs;
use std::process::Command;

use crate::ipsynd_common::*;

fn ends_with_log_name(p: &str, client: &str) -> bool {
    // log/syn/<CLIENT>.<ddMonyy>.<HH>.<MM>
    let Some(name) = p.rsplit('/').next() else {
        return false;
    };
    let parts: Vec<&str> = name.split('.').collect();
    parts.len() == 4
        && parts[0] == client
        && parts[1].len() == 7
        && parts[1][..2].chars().all(|c| c.is_ascii_digit())
        && parts[1][2..5].chars().all(|c| c.is_ascii_alphabetic())
        && parts[2].len() == 2
        && parts[3].len() == 2
}

#[test]
fn version_flag_prints_and_exits_zero() {
    let out = Command::new(IPSYND).arg("-v").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
    let bad = Command::new(IPSYND).arg("-Z").output().unwrap();
    assert_eq!(bad.status.code(), Some(100));
}

#[test]
fn switch_argv_flag_and_success() {
    let mut fip = Fip::new("switch");
    fip.ports("; test ports\nroute:wire host:SVR3 port:1103\n");
    fip.client("ACME", "route:wire\nretry:3\n");
    fip.queue_file("acme", "story1", "hello");
    fip.start();
    let ctrl = fip.record("SYN_ACME");
    let calls = fip.wait_calls("ACME", 1);
    let c = &calls[0];
    let root = fip.root.to_string_lossy().to_string();
    assert_eq!(c.argv.len(), 15, "{:?}", c.argv);
    assert_eq!(c.argv[0], fip.standin.to_string_lossy());
    assert_eq!(
        &c.argv[1..9],
        ["-c", "ACME", "-q", "acme", "-s", "svr3", "-p", "1103"]
    );
    assert_eq!(c.argv[9], "-l");
    assert!(c.argv[10].starts_with(&format!("{root}/log/syn/")));
    assert!(ends_with_log_name(&c.argv[10], "ACME"), "{}", c.argv[10]);
    assert_eq!(c.argv[11], "-r");
    let flag = &c.argv[12];
    assert!(
        flag.starts_with(&format!("{root}/x/SYN|")) && flag.ends_with("|ACME"),
        "{flag}"
    );
    assert!(!flag.contains('"'), "no quote characters in the argv");
    assert_eq!(c.argv[13], "-z");
    assert_eq!(c.argv[14], ctrl.to_string_lossy());
    assert_eq!(
        c.fip_root, root,
        "FIP_ROOT passed on (ipsynd was started with -r)"
    );
    // The pid was in the flag before the transmitter's program ran (spec §10.1).
    let f: Vec<&str> = c.flag.split_whitespace().collect();
    assert_eq!(&f[..3], ["WIRE", "svr3", "1103"], "{}", c.flag);
    assert_eq!(f[3], c.pid.to_string());
    assert!(
        c.fds.iter().any(|t| t.ends_with("local/standin")),
        "{:?}",
        c.fds
    );
    // None of ipsynd's own fds reach the transmitter (everything is close-on-exec).
    assert!(
        !c.fds.is_empty()
            && c.fds.iter().all(|t| !t.starts_with("socket:")
                && !t.contains("inotify")
                && !t.contains("ipsynd.")
                && !t.contains("/x/SYN")),
        "leaked fds: {:?}",
        c.fds
    );
    assert!(fip.wait_log("ACME attempt 1 done"));
    assert!(fip.log().contains("transmission complete"));
    assert!(!ctrl.exists());
    assert!(fip.exists("sent/ACME/story1"));
    assert!(wait_for(WAIT, || fip.flags().is_empty()));
    // The attempt log starts with ipsynd's display line, then the transmitter's text.
    let log = fs::read_to_string(&c.argv[10]).unwrap();
    let first = log.lines().next().unwrap();
    assert!(first.contains("-c ACME -q acme -s svr3 -p 1103"), "{first}");
    assert!(first.contains(&format!("\"{flag}\"")), "{first}");
    assert!(log.contains("standin: call 0 for ACME"));
    // Log line format: <dd Mon yyyy HH:MM:SS> ipsynd <CLIENT> <message>
    let line = fip
        .log()
        .lines()
        .find(|l| l.contains("ACME attempt 1/3 started"))
        .unwrap()
        .to_string();
    let w: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(w[0].len(), 2);
    assert_eq!(w[1].len(), 3);
    assert_eq!(w[2].len(), 4);
    assert_eq!(w[3].len(), 8);
    assert_eq!((w[4], w[5]), ("ipsynd", "ACME"));
}

#[test]
fn jukebox_positional_argv_as_in_the_manual() {
    let mut fip = Fip::new("jukebox");
    let s = fip.standin.display().to_string();
    fip.ipsynd_table(&format!("ipsyn:{s}\nrescan:1\ndefhost:spider3\n"));
    fip.client(
        "JUKEBOX",
        &format!(
            ";\tJUKEBOX\nROUTE:funnycomms\nC1:234765403299\nALT:funnycomms\nC2:234765400319\n\
             L1:SECRET\nL2:BINGCROSBY\nargstyle:positional\nscript:{s} -1 C1 -2 C2 -y L1 -z L2\n"
        ),
    );
    fip.start();
    let ctrl = fip.record("JUKEBOX");
    let c = fip.wait_calls("JUKEBOX", 1).remove(0);
    let want_head = [
        s.as_str(),
        "-1",
        "234765403299",
        "-2",
        "234765400319",
        "-y",
        "SECRET",
        "-z",
        "BINGCROSBY",
        "JUKEBOX",
        "jukebox",
        "spider3",
        "0",
    ];
    assert_eq!(&c.argv[..13], want_head, "{:?}", c.argv);
    assert!(ends_with_log_name(&c.argv[13], "JUKEBOX"));
    assert!(c.argv[14].contains("/x/SYN|") && c.argv[14].ends_with("|JUKEBOX"));
    assert_eq!(c.argv[15], ctrl.to_string_lossy());
    assert_eq!(c.argv.len(), 16);
    assert!(fip.wait_log("JUKEBOX attempt 1 done"));
    assert!(fip.log().contains("FUNNYCOMMS has no entry in PORTS"));

    // With a PORTS entry the host and port come from it.
    let reads = fip.log_count("tables read");
    fip.ports("route:funnycomms\thost:obnoxiousnoise\tport:9191\n");
    assert!(fip.wait_log_count("tables read", reads + 1));
    fip.record("JUKEBOX");
    let c = fip.wait_calls("JUKEBOX", 2).remove(1);
    assert_eq!(
        &c.argv[9..13],
        ["JUKEBOX", "jukebox", "obnoxiousnoise", "9191"]
    );
}

#[test]
fn retries_then_gives_up_keeping_the_queue() {
    let mut fip = Fip::new("giveup");
    fip.client_knob("LOSER", "timeout:0\nretry:3\n", "FAIL=100\nEXIT=3\n");
    fip.queue_file("loser", "keepme", "x");
    fip.start();
    let ctrl = fip.record("LOSER");
    fip.expect_log("LOSER gave up after 3 attempts");
    assert_eq!(fip.calls("LOSER").len(), 3);
    assert!(!ctrl.exists(), "control record deleted on give-up");
    assert!(fip.exists("spool/syn/loser/keepme"), "queued files kept");
    assert!(fip.log().contains("exit status 3"));
}

#[test]
fn retry_after_timeout_then_success() {
    let mut fip = Fip::new("retry");
    fip.client_knob("FLAKY", "timeout:1\nretry:5\n", "FAIL=2\n");
    fip.start();
    let ctrl = fip.record("FLAKY");
    let calls = fip.wait_calls("FLAKY", 3);
    assert!(fip.wait_log("FLAKY attempt 3 done"));
    assert!(!ctrl.exists());
    // `timeout` seconds between the end of one attempt and the start of the next.
    for w in calls.windows(2) {
        let gap = w[1].start - w[0].end.unwrap();
        assert!(gap >= 0.9, "gap {gap}");
    }
    assert!(fip.log().contains("attempt 1/5 failed"));
    assert!(fip.log().contains("next attempt in 1s"));
}

#[test]
fn tryalt_uses_the_alternate_route_every_n_plus_one() {
    let mut fip = Fip::new("tryalt");
    fip.ports("route:main host:hm port:11\nroute:back host:hb port:22\n");
    fip.client_knob(
        "ALTY",
        "route:main\nalt:back\ntryalt:2\nretry:6\ntimeout:0\n",
        "FAIL=100\n",
    );
    fip.start();
    fip.record("ALTY");
    assert!(fip.wait_log("ALTY gave up after 6 attempts"));
    let hosts: Vec<String> = fip
        .calls("ALTY")
        .iter()
        .map(|c| c.argv[c.argv.iter().position(|a| a == "-s").unwrap() + 1].clone())
        .collect();
    assert_eq!(hosts, ["hm", "hm", "hb", "hm", "hm", "hb"]);
}

#[test]
fn script_without_shebang_is_execlp_error_8() {
    let mut fip = Fip::new("noexec");
    // A long rescan: the retry (timeout:0) must not wait for the safety net.
    fip.ipsynd_table(&format!("ipsyn:{}\nrescan:60\n", fip.standin.display()));
    let p = fip.path("local/noshebang");
    write_exec(&p, "echo this must not run through a shell\ntouch ran\n");
    fip.client(
        "BADSCRIPT",
        &format!("script:{}\nretry:2\ntimeout:0\n", p.display()),
    );
    fip.start();
    let ctrl = fip.record("BADSCRIPT");
    fip.expect_log("BADSCRIPT gave up after 2 attempts");
    assert_eq!(fip.log_count("Execlp error 8"), 2);
    assert!(!fip.exists("ran"));
    assert!(!ctrl.exists());
    assert!(
        fip.flags().is_empty(),
        "flags of attempts that could not exec are removed"
    );
}

#[test]
fn unknown_client_waits_and_starts_when_its_file_appears() {
    let mut fip = Fip::new("unknown");
    fip.client("OTHER", "");
    fip.start();
    let ctrl = fip.record("a|b|SYN_late");
    assert!(fip.wait_log("LATE client file"));
    // Other work and rescans go on; the problem is not logged again.
    fip.record("OTHER");
    assert!(fip.wait_log("OTHER attempt 1 done"));
    std::thread::sleep(std::time::Duration::from_millis(2500)); // > 2 rescans
    assert_eq!(fip.log_count("LATE client file"), 1, "{}", fip.log());
    assert!(ctrl.exists(), "the record is kept");
    assert!(fip.status().contains("LATE no-client"), "{}", fip.status());
    fip.client("LATE", "retry:2\n");
    let c = fip.wait_calls("LATE", 1);
    assert_eq!(c[0].argv[2], "LATE");
    assert!(wait_for(WAIT, || !ctrl.exists()));
}

#[test]
fn bad_table_lines_are_logged_with_file_and_line() {
    let mut fip = Fip::new("badtables");
    fip.ports("; ports\nroute:good host:h1 port:5\nthis is nonsense\n");
    fip.client("BAD", "route:good\n; comment\nretry:abc\nprior:500\n");
    fip.start();
    fip.record("BAD");
    let c = fip.wait_calls("BAD", 1);
    assert!(c[0].argv.contains(&"h1".to_string()));
    let log = fip.log();
    assert!(log.contains("PORTS:3"), "{log}");
    assert!(log.contains("client/BAD:3"), "{log}");
    assert!(log.contains("client/BAD:4"), "{log}");
}

#[test]
fn odd_control_entries_are_skipped_or_reported() {
    use std::os::unix::ffi::OsStrExt;
    let mut fip = Fip::new("oddnames");
    fip.client("FINE", "");
    fip.client("LINKED", "");
    fip.start();
    let control = fip.path("spool/syn/control");
    let bad = control.join(std::ffi::OsStr::from_bytes(b"SYN_\xffBAD"));
    fs::write(&bad, "").unwrap();
    fs::write(control.join(".hidden"), "").unwrap();
    fs::create_dir(control.join("SUBDIR")).unwrap();
    std::os::unix::fs::symlink(fip.path("nowhere"), control.join("DANGLING")).unwrap();
    std::os::unix::fs::symlink(fip.path("tables"), control.join("TODIR")).unwrap();
    assert!(fip.wait_log("name is not UTF-8; ignored"));
    for n in ["SUBDIR", "DANGLING", "TODIR"] {
        assert!(
            fip.wait_log(&format!(
                "control record {n} is not a regular file; ignored"
            )),
            "{}",
            fip.log()
        );
    }
    // A symbolic link to a regular file is a record (stat follows links, as the
    // original's did); the transmitter deletes the link.
    fs::write(fip.path("linked-target"), "").unwrap();
    let link = control.join("LINKED");
    std::os::unix::fs::symlink(fip.path("linked-target"), &link).unwrap();
    fip.expect_log("LINKED attempt 1 done");
    assert_eq!(
        fip.calls("LINKED")[0].argv.last().unwrap().as_str(),
        link.to_string_lossy()
    );
    assert!(fs::symlink_metadata(&link).is_err());
    fip.record("FINE");
    assert!(fip.wait_log("FINE attempt 1 done"));
    assert!(bad.exists(), "never deleted");
    assert!(control.join(".hidden").exists());
    assert!(control.join("SUBDIR").is_dir());
    assert!(fs::symlink_metadata(control.join("DANGLING")).is_ok());
    assert_eq!(fip.log_count("not UTF-8"), 1);
    assert_eq!(fip.log_count("SUBDIR"), 1, "{}", fip.log());
    assert_eq!(fip.log_count("DANGLING"), 1, "{}", fip.log());
    assert!(!fip.log().contains("HIDDEN"));
}

#[test]
fn a_record_recreated_as_the_transmitter_ends_is_success_and_a_new_request() {
    // The first call deletes the record and a new request re-creates it before the call
    // ends. The file system may give the new file the old inode number: the record must
    // still count as gone (success), and the new request gets its own transmission.
    let mut fip = Fip::new("recreated");
    fip.client_knob("AGAIN", "", "RETOUCH=1\n");
    fip.start();
    let ctrl = fip.record("AGAIN");
    fip.expect_log("AGAIN attempt 1 done");
    assert!(fip.log().contains("transmission complete"), "{}", fip.log());
    fip.wait_calls("AGAIN", 2);
    assert!(
        fip.wait_log_count("transmission complete", 2),
        "{}",
        fip.log()
    );
    assert!(!ctrl.exists());
    assert_eq!(fip.log_count("failed"), 0, "{}", fip.log());
}

#[test]
fn a_transmitter_that_cannot_be_executed_is_a_failed_attempt() {
    use std::os::unix::fs::PermissionsExt;
    let mut fip = Fip::new("cannotexec");
    fip.ipsynd_table(&format!("ipsyn:{}\nrescan:60\n", fip.standin.display()));
    // No execute permission (root too needs an x bit to exec).
    let noperm = fip.path("local/noperm");
    fs::write(&noperm, "#!/bin/sh\ntouch ran\n").unwrap();
    fs::set_permissions(&noperm, fs::Permissions::from_mode(0o644)).unwrap();
    fip.client("NOPERM", &format!("script:{}\nretry:1\n", noperm.display()));
    fip.client(
        "MISSING",
        &format!("script:{}\nretry:1\n", fip.path("local/absent").display()),
    );
    // A directory where the program should be.
    fip.client(
        "ISDIR",
        &format!("script:{}\nretry:1\n", fip.path("local").display()),
    );
    fip.start();
    let ctrls: Vec<_> = ["NOPERM", "MISSING", "ISDIR"]
        .iter()
        .map(|n| fip.record(n))
        .collect();
    for n in ["NOPERM", "MISSING", "ISDIR"] {
        fip.expect_log(&format!("{n} gave up after 1 attempts (could not start)"));
    }
    let log = fip.log();
    assert!(log.contains("NOPERM Execlp error 13"), "{log}");
    assert!(log.contains("MISSING Execlp error 2"), "{log}");
    assert!(log.contains("ISDIR Execlp error 13"), "{log}");
    assert!(!fip.exists("ran"));
    assert!(ctrls.iter().all(|c| !c.exists()));
    assert!(
        fip.flags().is_empty(),
        "flags of attempts that could not exec"
    );
    // The attempt log says it too, after ipsynd's display line.
    let attempt_log = fs::read_dir(fip.path("log/syn"))
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("MISSING."))
        .map(|e| fs::read_to_string(e.path()).unwrap())
        .unwrap();
    assert!(
        attempt_log
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("Execlp error 2"),
        "{attempt_log}"
    );
}

#[test]
fn system_variables_and_fields_reach_the_script_positional_by_default() {
    let mut fip = Fip::new("sysvars");
    let s = fip.standin.display().to_string();
    // Positional for everybody, no defhost: the local host name stands in for the host.
    fip.ipsynd_table(&format!("ipsyn:{s}\nrescan:1\nargstyle:positional\n"));
    fip.client(
        "SYSV",
        &format!(
            "route:unlisted\nC1:one\nscript:{s} \\$S \\$Z \\$Y \\$E \\$I \\$M \\$D \\$H \\$N \\$B \\$J \"\\C1 two\" a\\\\b \\ZZ-\n"
        ),
    );
    fip.start();
    fip.record("SYSV");
    let c = fip.wait_calls("SYSV", 1).remove(0);
    let a = &c.argv;
    assert_eq!(a.len(), 1 + 14 + 7, "{a:?}");
    let (seq, z, y, e, i, m, d, h, n, b, j) = (
        &a[1], &a[2], &a[3], &a[4], &a[5], &a[6], &a[7], &a[8], &a[9], &a[10], &a[11],
    );
    assert_eq!(&a[12..15], ["one two", "a\\b", "-"], "{a:?}");
    // The standard block, positional, with the host name and port 0.
    let host = fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_lowercase();
    assert_eq!(&a[15..19], ["SYSV", "sysv", host.as_str(), "0"], "{a:?}");
    let (log, flag) = (&a[19], &a[20]);
    // \$S is the flag's sequence number; \$Z the same in 4 digits.
    let flag_seq = flag.rsplit('|').nth(1).unwrap();
    assert_eq!(seq, flag_seq);
    assert_eq!(z.len(), 4);
    assert!(z.ends_with(seq.as_str()));
    // Date and time: the same instant as the attempt log's name (<ddMonyy>.<HH>.<MM>).
    let log_name = log.rsplit('/').next().unwrap();
    assert_eq!(log_name, format!("SYSV.{d}{m}{y}.{h}.{n}"), "{a:?}");
    assert_eq!(e, "20");
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|x| x == m)
    .unwrap()
        + 1;
    assert_eq!(i, &format!("{month:02}"));
    assert!(b.len() == 2 && b.parse::<u32>().unwrap() < 61, "{b}");
    let year: i32 = format!("{e}{y}").parse().unwrap();
    let date = chrono::NaiveDate::from_ymd_opt(year, month as u32, d.parse().unwrap()).unwrap();
    use chrono::Datelike;
    assert_eq!(j, &format!("{:03}", date.ordinal()));
}

#[test]
fn editing_one_client_file_rereads_only_that_one() {
    let mut fip = Fip::new("oneclient");
    fip.ports("route:one host:h port:1\n");
    fip.client_knob("HOG", "route:one\n", "HOLD=1\n");
    // Every parse of BADLINE logs its bad line: the count tells how often it was read.
    fip.client("BADLINE", "route:one\nthis is bogus\n");
    fip.client("OTHER", "route:one\n");
    fip.start();
    fip.record("HOG");
    fip.wait_calls("HOG", 1);
    fip.record("BADLINE");
    assert!(fip.wait_status(|s| s.contains("BADLINE waiting-port")));
    assert_eq!(fip.log_count("client/BADLINE:2"), 1, "{}", fip.log());
    // Another client's file changes (and a rescan or two pass): BADLINE is not read again.
    fip.client("OTHER", "route:one\nprior:10\n");
    fip.record("OTHER");
    assert!(fip.wait_status(|s| s.contains("OTHER waiting-port")));
    std::thread::sleep(std::time::Duration::from_millis(2200)); // two rescans (rescan:1)
    assert_eq!(fip.log_count("client/BADLINE:2"), 1, "{}", fip.log());
    // Its own change is read.
    fip.client("BADLINE", "route:one\n; moved down\nstill bogus\n");
    fip.expect_log("client/BADLINE:3");
    fip.release("HOG");
    fip.expect_log("OTHER attempt 1 done");
    fip.expect_log("BADLINE attempt 1 done");
}

#[test]
fn a_record_name_with_a_newline_stays_one_log_line() {
    let mut fip = Fip::new("newline");
    fip.start();
    let ctrl = fip.record("NO\n01 Jan 2000 00:00:00 ipsynd FORGED gave up");
    fip.expect_log("record NO\\n01 Jan 2000");
    assert!(
        fip.log().lines().all(|l| !l.starts_with("01 Jan 2000")),
        "{}",
        fip.log()
    );
    assert!(ctrl.exists());
}

#[test]
fn a_client_whose_queue_is_the_control_queue_never_runs() {
    // Client CONTROL's queue would be spool/syn/control: its transmitter would send and
    // delete every control record. Such records, and records that name no usable client,
    // are kept, logged once each and shown as blocked; the others are served as usual.
    let mut fip = Fip::new("controlq");
    fip.client("CONTROL", "retry:1\n");
    fip.client("GOOD", "");
    fip.start();
    let blocked = ["SYN_CONTROL", "SYN|007|control", "SYN_..", "X|"];
    let paths: Vec<_> = blocked.iter().map(|n| fip.record(n)).collect();
    fip.record("GOOD");
    fip.expect_log("GOOD attempt 1 done");
    for n in blocked {
        fip.expect_log(&format!(
            "control record {}",
            fip.path("spool/syn/control").join(n).display()
        ));
    }
    assert!(
        fip.wait_status(|s| s.contains(
            "CONTROL blocked 0/0 - - - SYN_CONTROL the client's queue would be spool/syn/control, the control queue itself"
        )),
        "{}",
        fip.status()
    );
    // A table re-read and another transmission later: still once each, nothing run.
    fip.signal(libc::SIGHUP);
    fip.expect_log("tables read");
    fip.record("GOOD");
    assert!(
        fip.wait_log_count("GOOD attempt 1 done", 2),
        "{}",
        fip.log()
    );
    let log = fip.log();
    assert_eq!(log.matches("not run, record kept").count(), 4, "{log}");
    assert!(log.contains("the record names no client"), "{log}");
    assert!(
        log.contains("the client name is no plain file name"),
        "{log}"
    );
    assert!(fip.calls("CONTROL").is_empty(), "{log}");
    assert!(!log.contains("CONTROL attempt"), "{log}");
    for p in &paths {
        assert!(p.exists(), "{} kept", p.display());
    }
    let status = fip.status();
    assert_eq!(status.matches(" blocked ").count(), 4, "{status}");
}
