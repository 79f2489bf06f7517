//! The bench tools of `make bench` start, exchange a few requests and stop cleanly, so they do
//! not rot between bench runs. No timing is asserted (a timed test does not belong in
//! `make test`): only that each path answers, each tool prints its figures, and each stops.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const PEER: &str = env!("CARGO_BIN_EXE_bench-peer");
const RELAY: &str = env!("CARGO_BIN_EXE_bench-relay");
const LOAD: &str = env!("CARGO_BIN_EXE_bench-load");
const TRANSMIT: &str = env!("CARGO_BIN_EXE_bench-transmit");
const BIPSYND: &str = env!("CARGO_BIN_EXE_bench-ipsynd");
const IPSYND: &str = env!("CARGO_BIN_EXE_ipsynd");
const OPS: &str = env!("CARGO_BIN_EXE_bench-lonc-ops");
const LONC: &str = env!("CARGO_BIN_EXE_lonc");
const WAIT: Duration = Duration::from_secs(20);

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bench-tools-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn wait_file(path: &Path, child: &mut Child) {
    let end = Instant::now() + WAIT;
    while !path.exists() {
        if let Some(st) = child.try_wait().unwrap() {
            panic!("exited before writing {}: {st}", path.display());
        }
        assert!(Instant::now() < end, "no {}", path.display());
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// TERM, then the exit status within WAIT (KILL and fail if it does not stop).
fn stop(mut child: Child) -> std::process::ExitStatus {
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let end = Instant::now() + WAIT;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if Instant::now() > end {
            let _ = child.kill();
            panic!("did not stop on TERM");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn run(cmd: &mut Command) -> String {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&stderr);
    assert!(status.success(), "{cmd:?}: {status}, stderr: {err}");
    String::from_utf8(stdout).unwrap()
}

/// A `key=value` number of a tool's output line.
fn field(out: &str, key: &str) -> f64 {
    out.split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key} in {out:?}"))
        .parse()
        .unwrap()
}

fn ask(s: &mut (impl std::io::Read + Write), r: &mut impl BufRead, line: &str) -> String {
    s.write_all(format!("{line}\n").as_bytes()).unwrap();
    let mut a = String::new();
    r.read_line(&mut a).unwrap();
    a
}

#[test]
fn peer_relay_and_load_generator_serve_and_stop() {
    let dir = temp_dir("lonc");
    let mut peer = Command::new(PEER)
        .args(["--listen", "127.0.0.1:0", "--slow-ms", "300", "--unix"])
        .arg(dir.join("peer.sock"))
        .arg("--port-file")
        .arg(dir.join("port"))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_file(&dir.join("port"), &mut peer);
    let port = std::fs::read_to_string(dir.join("port")).unwrap();
    let tcp = format!("127.0.0.1:{}", port.trim());

    // lond's handshake for a connection that starts with `init`; plain lines otherwise.
    let mut s = TcpStream::connect(&tcp).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let challenge = ask(&mut s, &mut r, "init");
    assert_eq!(ask(&mut s, &mut r, challenge.trim_end()), "ok\n");
    assert_eq!(ask(&mut s, &mut r, "pong"), "benchd:benchc\n");
    assert_eq!(
        ask(&mut s, &mut r, "echo:after handshake"),
        "after handshake\n"
    );
    let mut u = UnixStream::connect(dir.join("peer.sock")).unwrap();
    let mut ur = BufReader::new(u.try_clone().unwrap());
    assert_eq!(ask(&mut u, &mut ur, "echo:plain"), "plain\n");
    assert_eq!(ask(&mut u, &mut ur, "slow"), "slow\n");

    let mut relay = Command::new(RELAY)
        .arg("--unix")
        .arg(dir.join("relay.sock"))
        .args(["--connect", &tcp, "--ready-file"])
        .arg(dir.join("ready"))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_file(&dir.join("ready"), &mut relay);
    let relay_sock = dir.join("relay.sock");
    let relay_sock = relay_sock.to_str().unwrap();
    let peer_sock = dir.join("peer.sock");
    let rpid = relay.id().to_string();
    for args in [
        vec!["--target", peer_sock.to_str().unwrap()],
        vec!["--target", &tcp],
        vec!["--target", relay_sock, "--cpu-pid", &rpid],
        vec!["--target", relay_sock, "--mode", "new"],
        vec!["--target", relay_sock, "--clients", "4", "--mode", "new"],
        vec!["--target", relay_sock, "--clients", "4", "--slow", "slow"],
    ] {
        let out = run(Command::new(LOAD)
            .args(["--secs", "0.3", "--warmup", "0.05"])
            .args(&args));
        assert!(field(&out, "n") > 0.0, "{args:?}: {out}");
        assert!(field(&out, "p99_us") >= field(&out, "p50_us"), "{out}");
        if args.contains(&"--cpu-pid") {
            field(&out, "cpu_us_per_req");
        }
    }
    // A wrong answer is an error, not a figure.
    let st = Command::new(LOAD)
        .args(["--secs", "0.2", "--target", relay_sock, "--expect", "other"])
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(1));

    assert!(stop(relay).success());
    assert!(
        !dir.join("relay.sock").exists(),
        "the relay left its socket"
    );
    assert!(stop(peer).success());
    assert!(!dir.join("port").exists() && !dir.join("peer.sock").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn transmitter_stamps_deletes_and_holds() {
    let dir = temp_dir("tx");
    let (rec, flag) = (dir.join("REC"), dir.join("FLAG"));
    std::fs::write(&rec, "").unwrap();
    std::fs::write(&flag, "").unwrap();
    let hold = dir.join("hold");
    std::fs::create_dir(&hold).unwrap();
    let mut child = Command::new(TRANSMIT)
        .args(["-c", "R001", "-q", "r001", "-l", "/dev/null", "-r"])
        .arg(&flag)
        .arg("-z")
        .arg(&rec)
        .env("BENCH_STAMPS", dir.join("stamps"))
        .env("BENCH_HOLD", &hold)
        .spawn()
        .unwrap();
    wait_file(&dir.join("stamps"), &mut child);
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        child.try_wait().unwrap().is_none(),
        "an R client holds until released"
    );
    assert!(rec.exists());
    std::fs::write(hold.join("R001"), "").unwrap();
    let end = Instant::now() + WAIT;
    let st = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(Instant::now() < end, "a released transmitter must end");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(st.success());
    assert!(!rec.exists() && !flag.exists(), "record and flag deleted");
    let stamps = std::fs::read_to_string(dir.join("stamps")).unwrap();
    assert!(stamps.starts_with("R001 "), "{stamps}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn ipsynd_bench_steps_run_against_a_real_ipsynd() {
    let dir = temp_dir("ipsynd");
    let step = |args: &[&str]| {
        run(Command::new(BIPSYND)
            .args(args)
            .env("BENCH_STAMPS", dir.join("base-stamps")))
    };
    let d = |p: &str| dir.join(p).to_str().unwrap().to_string();

    // Baselines: bare fork+exec, and a drain 5 at a time.
    step(&[
        "prepare",
        "--root",
        &d("base"),
        "--kind",
        "latency",
        "--n",
        "0",
        "--transmitter",
        TRANSMIT,
    ]);
    let out = step(&[
        "latency",
        "--root",
        &d("base"),
        "--n",
        "3",
        "--gap-ms",
        "1",
        "--stamps",
        &d("base-stamps"),
        "--baseline",
        TRANSMIT,
    ]);
    field(&out, "fork_exec_wait_ms");
    step(&[
        "prepare",
        "--root",
        &d("dbase"),
        "--kind",
        "drain",
        "--transmitter",
        TRANSMIT,
    ]);
    let out = step(&[
        "drain",
        "--root",
        &d("dbase"),
        "--n",
        "20",
        "--baseline",
        TRANSMIT,
        "--parallel",
        "5",
    ]);
    assert_eq!(field(&out, "n"), 20.0);

    // ipsynd: latency, a drain, and a small backlog.
    let start = |root: &str| {
        let mut c = Command::new(IPSYND)
            .args(["-q", "-r", root])
            .env("BENCH_STAMPS", format!("{root}/stamps"))
            .env("BENCH_HOLD", format!("{root}/hold"))
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_file(&Path::new(root).join("x/ipsynd.pid"), &mut c);
        c
    };
    step(&[
        "prepare",
        "--root",
        &d("lat"),
        "--kind",
        "latency",
        "--n",
        "3",
        "--transmitter",
        TRANSMIT,
    ]);
    let ipsynd = start(&d("lat"));
    let out = step(&[
        "latency",
        "--root",
        &d("lat"),
        "--n",
        "3",
        "--gap-ms",
        "1",
        "--stamps",
        &d("lat/stamps"),
    ]);
    field(&out, "p99_ms");
    assert!(stop(ipsynd).success());

    step(&[
        "prepare",
        "--root",
        &d("drain"),
        "--kind",
        "drain",
        "--transmitter",
        TRANSMIT,
    ]);
    let ipsynd = start(&d("drain"));
    let out = step(&[
        "drain",
        "--root",
        &d("drain"),
        "--n",
        "20",
        "--backlog",
        "5",
    ]);
    assert_eq!(field(&out, "n"), 20.0);
    assert!(stop(ipsynd).success());

    step(&[
        "prepare",
        "--root",
        &d("bl"),
        "--kind",
        "backlog",
        "--n",
        "5",
        "--transmitter",
        TRANSMIT,
        "--rescan",
        "3600",
    ]);
    std::fs::create_dir(dir.join("bl/hold")).unwrap();
    let ipsynd = start(&d("bl"));
    let pid = ipsynd.id().to_string();
    let out = step(&[
        "backlog",
        "--root",
        &d("bl"),
        "--pid",
        &pid,
        "--stamps",
        &d("bl/stamps"),
        "--hold",
        &d("bl/hold"),
        "--new",
        "2",
        "--reaps",
        "2",
        "--idle",
        "0.2",
    ]);
    assert_eq!(field(&out, "waiting"), 4.0, "{out}");
    assert!(field(&out, "rss_kib") > 0.0);
    assert!(stop(ipsynd).success());

    // One client's backlog: each reap starts its next record (a `Q` client holds per record).
    step(&[
        "prepare",
        "--root",
        &d("one"),
        "--kind",
        "oneclient",
        "--n",
        "4",
        "--transmitter",
        TRANSMIT,
        "--rescan",
        "3600",
    ]);
    std::fs::create_dir(dir.join("one/hold")).unwrap();
    let ipsynd = start(&d("one"));
    let pid = ipsynd.id().to_string();
    let out = step(&[
        "oneclient",
        "--root",
        &d("one"),
        "--pid",
        &pid,
        "--stamps",
        &d("one/stamps"),
        "--hold",
        &d("one/hold"),
        "--reaps",
        "2",
    ]);
    assert_eq!(field(&out, "waiting"), 3.0, "{out}");
    field(&out, "reap_cpu_ms");
    let stamps = std::fs::read_to_string(dir.join("one/stamps")).unwrap();
    assert_eq!(
        stamps.lines().count(),
        3,
        "two reaped, the third runs: {stamps}"
    );
    assert!(stop(ipsynd).success());
    // The holder of the busy port ends when its hold directory goes.
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn lonc_ops_measure_memory_a_restart_and_a_fleet_against_a_real_lonc() {
    use crate::lonc_common::{PeerSpec, Setup};
    let spec = |id| PeerSpec {
        id,
        standin: false,
        refuse: false,
    };
    let mut s = Setup::new("benchops", &[spec("h0001"), spec("h0002"), spec("h0003")]);
    s.set("loncMaxAttempts", "100");
    // One bench-peer on the three hosts' addresses, at the port they share.
    let mut peer = Command::new(PEER);
    for (i, p) in s.peers.iter().enumerate() {
        let port = if i == 0 { s.port } else { 0 };
        peer.arg("--listen").arg(format!("{}:{port}", p.ip));
    }
    let mut peer = peer
        .arg("--port-file")
        .arg(s.dir.join("port"))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_file(&s.dir.join("port"), &mut peer);

    let out = run(Command::new(OPS)
        .args(["fleet", "--lonc", LONC, "--hosts", "3", "--config"])
        .arg(&s.config)
        .arg("--sock-dir")
        .arg(s.dir.join("sockets")));
    assert_eq!(field(&out, "hosts"), 3.0, "{out}");
    assert!(
        field(&out, "serving_ms") >= field(&out, "first_ms"),
        "{out}"
    );
    // It stopped the lonc it started.
    assert!(!s.pid_path().exists(), "{}", s.log());

    let l = s.start();
    assert!(s.wait_online("h0001"));
    let json = s.status_json();
    let mut kid = 0;
    assert!(crate::lonc_common::wait_for(WAIT, || {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap_or_default())
                .unwrap_or_default();
        kid = v["hosts"][0]["pid"].as_i64().unwrap_or(0);
        kid > 0
    }));
    let sock = s.sock("h0001");
    let out = run(Command::new(OPS)
        .args([
            "idle",
            "--clients",
            "20",
            "--pid",
            &kid.to_string(),
            "--target",
        ])
        .arg(&sock));
    assert!(field(&out, "child_private_kib") > 0.0, "{out}");
    for k in ["idle_rss_b_per_client", "used_private_b_per_client"] {
        field(&out, k);
    }
    let out = run(Command::new(OPS)
        .args(["restart", "--id", "h0001", "--kills", "2", "--target"])
        .arg(&sock)
        .arg("--status-json")
        .arg(&json));
    assert_eq!(field(&out, "n"), 2.0, "{out}");
    assert!(field(&out, "max_ms") >= field(&out, "p50_ms"), "{out}");
    assert!(s
        .log()
        .contains("INFO: Trying to reconnect for h0001 (2 of 100 attempts)"));
    // A usage error is one.
    let st = Command::new(OPS)
        .arg("nonsense")
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(64));
    drop(l);
    assert!(stop(peer).success());
}

/// One repetition of `scripts/bench-lonc.sh` (what `make bench` runs) on the debug tools, tiny
/// sizes, BENCH_SECS a fraction: every figure's line is written, and the CPU placement
/// (no timing asserted).
#[test]
fn bench_lonc_script_runs_a_repetition_with_fractional_secs() {
    let dir = temp_dir("script");
    let raw = dir.join("raw.tsv");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/bench-lonc.sh");
    let bin = Path::new(LONC).parent().unwrap();
    let out = Command::new("timeout")
        .args(["300", "bash"])
        .arg(&script)
        .arg("1")
        .arg(&raw)
        .env("BENCH_BIN", bin)
        // Fractional, and long enough that a loaded machine (the suite's other tests, both
        // CPUs busy) still completes requests in every window: at 0.3 s a window on the
        // pinned CPU once counted none.
        .env("BENCH_SECS", "0.8")
        .env("BENCH_IDLE_CLIENTS", "5")
        .env("BENCH_KILLS", "2")
        .env("BENCH_FLEET", "3")
        .env("BENCH_PAIRS", "2")
        .env("TMPDIR", &dir)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}: {err}", out.status);
    let raw = std::fs::read_to_string(&raw).unwrap();
    let value = |key: &str| -> f64 {
        raw.lines()
            .find_map(|l| l.strip_prefix(&format!("1\t{key}\t")))
            .unwrap_or_else(|| panic!("no {key} in {raw}"))
            .parse()
            .unwrap()
    };
    let names = "unix_pp tcp_1 relay_kept lonc_kept relay_new lonc_new tcp_64 relay_64 lonc_64 \
                 lonc_enc links1_64 links4_64 hol_base hol_slow";
    for name in names.split_whitespace() {
        assert!(value(&format!("{name}.rps")) > 0.0, "{name}: {raw}");
    }
    assert!(value("lonc_64.cpu_us_per_req") > 0.0, "{raw}");
    // The 64-client figure: two adjacent pairs, their ratios' median.
    value("relay_64.p2.rps");
    value("lonc_64.p2.rps");
    assert!(value("lonc_64.pair_ratio_rps") > 0.0, "{raw}");
    assert_eq!(value("fleet.hosts"), 3.0, "{raw}");
    value("restart.p50_ms");
    value("idle.child_private_kib");
    // With two CPUs or more the relay rows are pinned, load generator and relays apart.
    if std::thread::available_parallelism().unwrap().get() >= 2 {
        assert_ne!(
            value("placement.load_cpu"),
            value("placement.relay_cpu"),
            "{raw}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
