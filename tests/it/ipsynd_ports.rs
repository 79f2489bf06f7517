//! Port capacity, shared ports, priorities and stale flags, measured from the stand-in's
//! recorded start and end times.

use std::fs;
use std::time::{Duration, SystemTime};

use crate::ipsynd_common::*;

#[test]
fn multi_capacity_adds_up_across_lines() {
    let mut fip = Fip::new("multi");
    fip.ports("route:x25slow host:bigpad multi:3\nroute:x25slow host:lilpad\n");
    let names = ["C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8"];
    for n in names {
        fip.client(n, "route:x25slow\n");
        fip.knob(n, "SLEEP=1\n");
    }
    fip.start();
    for n in names {
        fip.record(n);
    }
    for n in names {
        fip.wait_calls(n, 1);
    }
    // Every call finished (its END written), so the overlap is measured on complete data.
    assert!(wait_for(WAIT, || names
        .iter()
        .flat_map(|n| fip.calls(n))
        .all(|c| c.end.is_some())));
    let all: Vec<Call> = names.iter().flat_map(|n| fip.calls(n)).collect();
    assert_eq!(all.len(), 8);
    let overlap = max_overlap(&all);
    assert!(
        overlap <= 4,
        "3 on bigpad + 1 on lilpad at most, saw {overlap}"
    );
    assert!(overlap >= 2, "ports were used in parallel (saw {overlap})");
    let host_of = |c: &Call| c.argv[c.argv.iter().position(|a| a == "-s").unwrap() + 1].clone();
    // lilpad can only ever hold one.
    let lil: Vec<Call> = all
        .iter()
        .filter(|c| host_of(c) == "lilpad")
        .cloned()
        .collect();
    assert!(max_overlap(&lil) <= 1);
    let big: Vec<Call> = all
        .iter()
        .filter(|c| host_of(c) == "bigpad")
        .cloned()
        .collect();
    assert!(max_overlap(&big) <= 3);
}

#[test]
fn routes_sharing_a_port_take_turns() {
    let mut fip = Fip::new("shared");
    fip.ports("route:hayes12 host:svr3 port:1103\nroute:hayes24 host:svr3 port:1103\nroute:hayes96 host:svr3 port:1103\n");
    let names = [("A12", "hayes12"), ("B24", "hayes24"), ("C96", "hayes96")];
    for (n, r) in names {
        fip.client(n, &format!("route:{r}\n"));
        fip.knob(n, "SLEEP=0.5\n");
    }
    fip.start();
    for (n, _) in names {
        fip.record(n);
    }
    for (n, _) in names {
        fip.wait_calls(n, 1);
    }
    assert!(wait_for(WAIT, || fip
        .calls("A12")
        .iter()
        .chain(fip.calls("B24").iter())
        .chain(fip.calls("C96").iter())
        .all(|c| c.end.is_some())));
    let all: Vec<Call> = names.iter().flat_map(|(n, _)| fip.calls(n)).collect();
    assert_eq!(all.len(), 3);
    assert_eq!(
        max_overlap(&all),
        1,
        "one connection at a time on svr3:1103"
    );
    // Waiting for a port is not an attempt.
    assert_eq!(fip.log_count("failed"), 0, "{}", fip.log());
}

#[test]
fn priority_then_age_then_name() {
    let mut fip = Fip::new("prior");
    fip.ports("route:one host:h port:1\n");
    fip.client("BLOCK", "route:one\n");
    // BLOCK holds the only port until every other record is in place.
    fip.knob("BLOCK", "HOLD=1\n");
    for (n, p) in [
        ("LOW", 90),
        ("HIGH", 10),
        ("MIDB", 50),
        ("MIDA", 50),
        ("OLD", 50),
    ] {
        fip.client(n, &format!("route:one\nprior:{p}\n"));
    }
    fip.start();
    fip.record("BLOCK");
    fip.wait_calls("BLOCK", 1);
    let base = SystemTime::now() - Duration::from_secs(100);
    for n in ["LOW", "MIDB", "HIGH", "MIDA", "OLD"] {
        let p = fip.record(n);
        let f = fs::File::options().write(true).open(&p).unwrap();
        // Same age for MIDA/MIDB (name decides), OLD older than both.
        let t = if n == "OLD" {
            base - Duration::from_secs(50)
        } else {
            base
        };
        f.set_modified(t).unwrap();
    }
    assert!(
        fip.wait_status(|s| ["LOW", "MIDB", "HIGH", "MIDA", "OLD"]
            .iter()
            .all(|n| s.contains(&format!("{n} waiting-port")))),
        "{}",
        fip.status()
    );
    fip.release("BLOCK");
    for n in ["LOW", "MIDB", "HIGH", "MIDA", "OLD"] {
        fip.wait_calls(n, 1);
    }
    let mut order: Vec<(f64, &str)> = ["LOW", "MIDB", "HIGH", "MIDA", "OLD"]
        .iter()
        .map(|n| (fip.calls(n)[0].start, *n))
        .collect();
    order.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
    let names: Vec<&str> = order.iter().map(|o| o.1).collect();
    assert_eq!(names, ["HIGH", "OLD", "MIDA", "MIDB", "LOW"]);
}

#[test]
fn forgotten_flag_keeps_the_port_locked_until_removed() {
    let mut fip = Fip::new("forgot");
    fip.ports("route:one host:h port:7\n");
    fip.client_knob("SLOPPY", "route:one\n", "KEEPFLAG=1\n");
    fip.client("NEXT", "route:one\n");
    fip.start();
    fip.record("SLOPPY");
    let c = fip.wait_calls("SLOPPY", 1);
    assert!(fip.wait_log("ended without deleting its flag"));
    assert!(fip.wait_log("stale flag"));
    fip.record("NEXT");
    assert!(
        fip.wait_status(|s| s.contains("NEXT waiting-port") && s.contains("SLOPPY stale")),
        "{}",
        fip.status()
    );
    assert!(fip.calls("NEXT").is_empty());
    let flag = c[0].argv[c[0].argv.iter().position(|a| a == "-r").unwrap() + 1].clone();
    fs::remove_file(&flag).unwrap(); // the operator unlocks the port (SYN)
    fip.wait_calls("NEXT", 1);
}

#[test]
fn stale_flag_at_start_locks_unless_unlockstale() {
    for unlock in [false, true] {
        let mut fip = Fip::new("stale");
        let s = fip.standin.display().to_string();
        if unlock {
            fip.ipsynd_table(&format!("ipsyn:{s}\nrescan:1\nunlockstale:yes\n"));
        }
        fip.ports("route:r host:h port:5\n");
        fip.client("WANT", "route:r\n");
        // pid 999999 is above the default pid_max on this kind of machine: dead.
        fs::write(fip.path("x/SYN|999|GONE"), "R h 5 999999 1\n").unwrap();
        // A live pid that started long after its flag was written is a reused pid: stale.
        fs::write(
            fip.path("x/SYN|998|REUSED"),
            format!("R h 6 {} 1000000000\n", std::process::id()),
        )
        .unwrap();
        fip.start();
        fip.record("WANT");
        if unlock {
            fip.wait_calls("WANT", 1);
        } else {
            assert!(
                fip.wait_status(|s| s.contains("WANT waiting-port")
                    && s.contains("GONE stale")
                    && s.contains("REUSED stale")),
                "{}",
                fip.status()
            );
            // The JSON is written right after the text: wait for it to say the same.
            let states = || -> Vec<String> {
                let text =
                    fs::read_to_string(fip.path("log/syn/ipsynd.status.json")).unwrap_or_default();
                let json: serde_json::Value =
                    serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
                json["records"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|r| r["state"].as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            assert!(
                wait_for(WAIT, || {
                    let st = states();
                    st.iter().any(|s| s == "stale") && st.iter().any(|s| s == "waiting-port")
                }),
                "{:?}",
                states()
            );
            assert!(fip.calls("WANT").is_empty());
        }
        assert!(
            fip.exists("x/SYN|999|GONE"),
            "ipsynd never deletes a flag it did not kill for"
        );
    }
}

#[test]
fn a_due_record_waiting_for_a_port_does_not_spin() {
    let mut fip = Fip::new("nospin");
    fip.ports("route:one host:h port:3\n");
    // RETRY's first attempt goes by route FREE (no PORTS entry, no lock) and fails; its
    // second (tryalt:even) needs port one, which HOG holds until released.
    fip.client_knob(
        "RETRY",
        "route:free\nalt:one\ntryalt:even\ntimeout:1\n",
        "FAIL=1\n",
    );
    fip.client_knob("HOG", "route:one\n", "HOLD=1\n");
    let pid = fip.start();
    fip.record("HOG");
    fip.wait_calls("HOG", 1);
    fip.record("RETRY");
    fip.expect_log("RETRY attempt 1/11 failed");
    // Due after 1 s, then blocked on the port: measure ipsynd's CPU over 2 s of waiting.
    assert!(
        fip.wait_status(|s| s.contains("RETRY waiting-port")),
        "{}",
        fip.status()
    );
    let before = cpu_ms(pid);
    std::thread::sleep(Duration::from_secs(2)); // the measuring window, not a wait
    let used = cpu_ms(pid) - before;
    assert!(
        used < 300,
        "ipsynd used {used} ms of CPU while waiting: a busy loop"
    );
    assert_eq!(
        fip.calls("RETRY").len(),
        1,
        "no attempt while the port is held"
    );
    fip.release("HOG");
    let c = fip.wait_calls("RETRY", 2);
    let hog = fip.calls("HOG")[0].clone();
    assert!(
        wait_for(WAIT, || fip.calls("HOG")[0].end.is_some()),
        "HOG ended"
    );
    let hog_end = fip.calls("HOG")[0].end.unwrap();
    assert!(c[1].start >= hog_end, "waited for the port: {c:?} {hog:?}");
    assert!(c[1].argv.contains(&"h".to_string()), "{:?}", c[1].argv);
}

#[test]
fn a_route_without_ports_entry_runs_unlocked_with_one_warning() {
    let mut fip = Fip::new("noports");
    fip.ports("route:other host:h port:1\n");
    for n in ["NP1", "NP2"] {
        fip.client(n, "route:nowhere\n");
        fip.knob(n, "HOLD=1\n");
    }
    fip.start();
    fip.record("NP1");
    fip.record("NP2");
    // Both run at once: no port lock.
    let c1 = fip.wait_calls("NP1", 1).remove(0);
    let c2 = fip.wait_calls("NP2", 1).remove(0);
    for c in [&c1, &c2] {
        assert!(!c.argv.contains(&"-s".to_string()), "{:?}", c.argv);
        assert!(!c.argv.contains(&"-p".to_string()), "{:?}", c.argv);
        let f: Vec<&str> = c.flag.split_whitespace().collect();
        assert_eq!(&f[..3], ["NOWHERE", "-", "0"], "{}", c.flag);
    }
    assert_eq!(
        fip.log_count("route NOWHERE has no entry in PORTS; running without a port lock"),
        1,
        "{}",
        fip.log()
    );
    fip.release("NP1");
    fip.release("NP2");
    assert!(fip.wait_log("NP1 attempt 1 done"));
    assert!(fip.wait_log("NP2 attempt 1 done"));
}

#[test]
fn many_records_of_one_client_wait_then_all_go_one_at_a_time() {
    const N: usize = 150;
    let mut fip = Fip::new("many");
    fip.start();
    // N records naming one client whose file does not exist yet: each is reported once
    // and kept.
    for i in 0..N {
        fip.record(&format!("{i:03}|SYN_MANY"));
    }
    assert!(
        fip.wait_status(|s| s.matches("MANY no-client").count() == N),
        "{}",
        fip.status()
    );
    // A quick transmitter (sh removing the control record and the flag; the standard
    // block's -r and -z values are $8 and ${10}).
    fip.client("MANY", "script:/bin/sh -c \"rm -f $8 ${10}\" sh\n");
    assert!(
        wait_for(WAIT * 3, || fs::read_dir(fip.path("spool/syn/control"))
            .unwrap()
            .count()
            == 0),
        "{}",
        fip.status()
    );
    assert!(
        fip.wait_log_count("transmission complete", N),
        "{}",
        fip.log()
    );
    assert_eq!(fip.log_count("failed"), 0);
    assert_eq!(fip.log_count("kept, waiting"), N, "once per record");
    // One transmission per client at a time: every attempt started after the previous ended.
    let starts = fip.log_count("MANY attempt 1/11 started");
    assert_eq!(starts, N);
    let mut running = 0i32;
    for l in fip.log().lines() {
        if l.contains("MANY attempt 1/11 started") {
            running += 1;
        } else if l.contains("MANY attempt 1 done") {
            running -= 1;
        }
        assert!(running <= 1, "two at once: {l}");
    }
}

#[test]
fn a_stale_flag_that_comes_back_is_reported_again() {
    let mut fip = Fip::new("staleback");
    let s = fip.standin.display().to_string();
    fip.ipsynd_table(&format!("ipsyn:{s}\nrescan:1\n"));
    let flag = fip.path("x/SYN|997|GONE");
    // pid 999999 is above the default pid_max on this kind of machine: dead.
    fs::write(&flag, "R h 5 999999 1\n").unwrap();
    fip.start();
    assert!(
        fip.wait_status(|s| s.contains("GONE stale")),
        "{}",
        fip.status()
    );
    assert!(fip.wait_log_count("stale flag", 1));
    fs::remove_file(&flag).unwrap();
    assert!(fip.wait_status(|s| !s.contains("GONE")), "{}", fip.status());
    fs::write(&flag, "R h 5 999999 1\n").unwrap();
    assert!(fip.wait_log_count("stale flag", 2), "{}", fip.log());
}
