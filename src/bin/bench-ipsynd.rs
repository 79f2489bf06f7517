//! bench-ipsynd: the record creator and the measurements of the ipsynd bench (issue 9), with
//! their baselines; `scripts/bench-ipsynd.sh` starts ipsynd between the steps.
//!
//! ```text
//! bench-ipsynd prepare --root R --kind latency|drain|backlog|oneclient --n N --transmitter T [--rescan S]
//! bench-ipsynd latency --root R --n N --gap-ms G --stamps F [--baseline T]
//! bench-ipsynd drain   --root R --n N [--backlog B] [--baseline T --parallel P]
//! bench-ipsynd backlog --root R --pid P --stamps F --hold DIR [--new K] [--reaps J] [--idle S]
//! bench-ipsynd oneclient --root R --pid P --stamps F --hold DIR [--reaps J]
//! ```
//!
//! `prepare` lays out a FIP tree (tables, client files, and for `backlog` N records waiting).
//! `latency` creates N records (client `Lnnnn`, no route, so no port waits) G ms apart and
//! reads the transmitter's exec stamps (`bench-transmit` appends `CLIENT <ns>` to the stamps
//! file): record created -> exec'd. With `--baseline T` it instead forks and `execv`s T
//! itself at the same moments (bare fork+exec, and the fork+exec+wait time of each).
//! `drain` keeps B (default 100) records outstanding for 200 clients on route MULTI (a
//! `multi:50` port) until N have been transmitted, and prints the wall time per transmission;
//! with `--baseline T` it creates the same records and runs T on each itself, up to P at once
//! (fork+exec+wait, no daemon). `backlog` measures the running ipsynd `--pid` with N records
//! waiting for its busy port: CPU per new record (K of them, each after the previous one was
//! handled), CPU per reaped transmitter (J transmitters on a free port, released one at a
//! time), then idle CPU and wake-ups over S seconds, and VmRSS. Each prints one line of
//! `key=value`. `oneclient` measures ipsynd with N records of ONE client (`Q`), one of them
//! running, the others waiting for the client: CPU per reaped transmitter (J of them,
//! released one at a time, each reap starting the client's next record). Every wait is bounded; a bound passed exits 1 with what was missing.

use loncsyn::bench::args::Args;
use loncsyn::bench::clock::mono_ns;
use loncsyn::bench::procfs::{cpu_ns, status_value};
use loncsyn::bench::stats::percentile;
use std::collections::HashMap;
use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

const USAGE: &str =
    "usage: bench-ipsynd prepare|latency|drain|backlog --root R ... (see the source header)";

fn main() -> ExitCode {
    let a = match Args::parse(std::env::args().skip(1), 1) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bench-ipsynd: {e}\n{USAGE}");
            return ExitCode::from(64);
        }
    };
    let r = match a.positional().first().map(String::as_str) {
        Some("prepare") => prepare(&a),
        Some("latency") => latency(&a),
        Some("drain") => drain(&a),
        Some("backlog") => backlog(&a),
        Some("oneclient") => oneclient(&a),
        _ => Err(format!("usage: no such step\n{USAGE}")),
    };
    match r {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench-ipsynd: {e}");
            ExitCode::from(if e.starts_with("usage") { 64 } else { 1 })
        }
    }
}

fn io<T>(what: &Path, r: std::io::Result<T>) -> Result<T, String> {
    r.map_err(|e| format!("{}: {e}", what.display()))
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    io(path, fs::write(path, text))
}

fn control(root: &Path) -> PathBuf {
    root.join("spool/syn/control")
}

fn prepare(a: &Args) -> Result<String, String> {
    a.only(&["root", "kind", "n", "transmitter", "rescan"])?;
    let root = PathBuf::from(a.need("root")?);
    let n: usize = a.get("n", 0)?;
    let rescan: u32 = a.get("rescan", 5)?;
    let tx = a.need("transmitter")?;
    for d in ["spool/syn/control", "tables/syn/client", "x", "log/syn"] {
        io(&root, fs::create_dir_all(root.join(d)))?;
    }
    let tables = root.join("tables/syn");
    let clients = tables.join("client");
    write(
        &tables.join("IPSYND"),
        &format!("ipsyn:{tx}\nrescan:{rescan}\n"),
    )?;
    match a.need("kind")? {
        "latency" => {
            for i in 0..n {
                write(&clients.join(format!("L{i:04}")), "")?;
            }
        }
        "drain" => {
            write(
                &tables.join("PORTS"),
                "route:multi host:h port:1 multi:50\n",
            )?;
            for i in 0..200 {
                write(&clients.join(format!("D{i:03}")), "route:multi\n")?;
            }
        }
        "backlog" => {
            write(
                &tables.join("PORTS"),
                "route:one host:h port:1\nroute:two host:h port:2 multi:100\n",
            )?;
            // N clients with a record each, all for the one-connection port: the first one
            // started holds it, the others wait.
            for i in 0..n {
                write(&clients.join(format!("H{i:05}")), "route:one\n")?;
                write(&control(&root).join(format!("H{i:05}")), "")?;
            }
            for i in 0..200 {
                write(&clients.join(format!("HN{i:03}")), "route:one\n")?;
                write(&clients.join(format!("R{i:03}")), "route:two\n")?;
            }
        }
        "oneclient" => {
            // N records of the one client Q: the oldest runs (held), the others wait for Q.
            write(&clients.join("Q"), "")?;
            for i in 0..n {
                write(&control(&root).join(oneclient_record(i)), "")?;
            }
        }
        k => return Err(format!("usage: --kind {k:?}")),
    }
    Ok(format!("prepared={}", root.display()))
}

/// Prebuilt argv for a bare `execv` of the transmitter, as ipsynd would call it.
struct Exec {
    prog: CString,
    args: Vec<CString>,
}

impl Exec {
    fn new(prog: &str, client: &str, record: &Path) -> Result<Exec, String> {
        let c = |s: &[u8]| CString::new(s).map_err(|e| e.to_string());
        let mut args = vec![c(prog.as_bytes())?];
        for w in [
            "-c",
            client,
            "-q",
            &client.to_lowercase(),
            "-l",
            "/dev/null",
        ] {
            args.push(c(w.as_bytes())?);
        }
        args.push(c(b"-r")?);
        args.push(c(b"/nonexistent/bench-flag")?);
        args.push(c(b"-z")?);
        args.push(c(record.as_os_str().as_bytes())?);
        Ok(Exec {
            prog: c(prog.as_bytes())?,
            args,
        })
    }

    /// fork + execv; the child's pid.
    fn spawn(&self) -> Result<i32, String> {
        let mut ptrs: Vec<*const libc::c_char> = self.args.iter().map(|a| a.as_ptr()).collect();
        ptrs.push(std::ptr::null());
        // SAFETY: single-threaded; the child only calls execv and _exit on memory prepared
        // before the fork.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            unsafe {
                libc::execv(self.prog.as_ptr(), ptrs.as_ptr());
                libc::_exit(127);
            }
        }
        if pid < 0 {
            return Err(format!("fork: {}", std::io::Error::last_os_error()));
        }
        Ok(pid)
    }
}

/// Wait for a child (`pid`, or any when -1); its pid and whether it exited 0.
fn wait(pid: i32) -> Result<(i32, bool), String> {
    let mut st = 0;
    // SAFETY: waitpid on our own children with a status we own.
    let p = unsafe { libc::waitpid(pid, &mut st, 0) };
    if p < 0 {
        return Err(format!("waitpid: {}", std::io::Error::last_os_error()));
    }
    Ok((p, libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0))
}

/// `CLIENT ns` lines of the stamps file.
fn read_stamps(path: &Path) -> HashMap<String, u64> {
    let text = fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let (c, ns) = l.split_once(' ')?;
            Some((c.to_string(), ns.parse().ok()?))
        })
        .collect()
}

fn latency(a: &Args) -> Result<String, String> {
    a.only(&["root", "n", "gap-ms", "stamps", "baseline"])?;
    let root = PathBuf::from(a.need("root")?);
    let n: usize = a.get("n", 200)?;
    let gap = Duration::from_millis(a.get("gap-ms", 10)?);
    let stamps = PathBuf::from(a.need("stamps")?);
    let baseline = a.str("baseline");
    let ctrl = control(&root);
    let mut created = HashMap::new();
    let mut few_ns = Vec::new();
    for i in 0..n {
        let client = format!("{}{i:04}", if baseline.is_some() { "B" } else { "L" });
        let record = ctrl.join(&client);
        match baseline {
            Some(tx) => {
                let exec = Exec::new(tx, &client, &record)?;
                let t0 = mono_ns();
                let pid = exec.spawn()?;
                created.insert(client, t0);
                wait(pid)?;
                few_ns.push(mono_ns() - t0);
            }
            None => {
                created.insert(client, mono_ns());
                write(&record, "")?;
            }
        }
        std::thread::sleep(gap);
    }
    let end = Instant::now() + Duration::from_secs(30);
    let got = loop {
        let got = read_stamps(&stamps);
        if created.keys().all(|c| got.contains_key(c)) || Instant::now() > end {
            break got;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut lat: Vec<u64> = created
        .iter()
        .filter_map(|(c, t0)| Some(got.get(c)?.saturating_sub(*t0)))
        .collect();
    if lat.len() < n {
        return Err(format!(
            "only {} of {n} transmitters started in 30 s",
            lat.len()
        ));
    }
    lat.sort_unstable();
    let ms = |ns: u64| ns as f64 / 1e6;
    let mut out = format!(
        "p50_ms={:.3} p99_ms={:.3}",
        ms(percentile(&lat, 50.0)),
        ms(percentile(&lat, 99.0))
    );
    if !few_ns.is_empty() {
        few_ns.sort_unstable();
        out += &format!(" fork_exec_wait_ms={:.3}", ms(percentile(&few_ns, 50.0)));
    }
    Ok(out)
}

fn drain(a: &Args) -> Result<String, String> {
    a.only(&["root", "n", "backlog", "baseline", "parallel"])?;
    let root = PathBuf::from(a.need("root")?);
    let n: usize = a.get("n", 10_000)?;
    let backlog: usize = a.get("backlog", 100)?;
    let ctrl = control(&root);
    let record = |i: usize| {
        (
            ctrl.join(format!("N{i:06}|D{:03}", i % 200)),
            format!("D{:03}", i % 200),
        )
    };
    let bound = Duration::from_secs(300);
    let t0 = Instant::now();
    if let Some(tx) = a.str("baseline") {
        let parallel: usize = a.get("parallel", 50)?;
        let mut running = 0;
        let mut done = 0;
        let mut next = 0;
        while done < n {
            while running < parallel && next < n {
                let (path, client) = record(next);
                write(&path, "")?;
                Exec::new(tx, &client, &path)?.spawn()?;
                running += 1;
                next += 1;
            }
            let (_, ok) = wait(-1)?;
            if !ok {
                return Err("the transmitter failed".into());
            }
            running -= 1;
            done += 1;
        }
    } else {
        use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
        let ino = Inotify::init(InitFlags::IN_CLOEXEC).map_err(|e| format!("inotify: {e}"))?;
        ino.add_watch(
            &ctrl,
            AddWatchFlags::IN_DELETE | AddWatchFlags::IN_MOVED_FROM,
        )
        .map_err(|e| format!("inotify: {e}"))?;
        let mut next = 0;
        let mut gone = 0;
        while next < n.min(backlog) {
            write(&record(next).0, "")?;
            next += 1;
        }
        while gone < n {
            if t0.elapsed() > bound {
                return Err(format!(
                    "only {gone} of {n} records transmitted in {bound:?}"
                ));
            }
            use std::os::fd::AsFd;
            let mut fds = [nix::poll::PollFd::new(
                ino.as_fd(),
                nix::poll::PollFlags::POLLIN,
            )];
            let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(1000u16));
            if fds[0].revents().is_none_or(|r| r.is_empty()) {
                continue;
            }
            let events = ino.read_events().map_err(|e| format!("inotify: {e}"))?;
            for _ in events {
                gone += 1;
                if next < n {
                    write(&record(next).0, "")?;
                    next += 1;
                }
            }
        }
    }
    let wall = t0.elapsed();
    Ok(format!(
        "per_tx_ms={:.4} total_s={:.2} n={n}",
        wall.as_secs_f64() * 1000.0 / n as f64,
        wall.as_secs_f64()
    ))
}

/// CPU time of `pid` now; the process must still run.
fn cpu(pid: u32) -> Result<u64, String> {
    cpu_ns(pid).ok_or_else(|| format!("ipsynd (pid {pid}) is gone"))
}

/// Wait until `pid` has used CPU since `before` (it woke up for the event), then until it has
/// used none for `quiet`: the event has been handled. Bounded by `bound`.
fn handled(pid: u32, before: u64, quiet: Duration, bound: Duration) -> Result<(), String> {
    let end = Instant::now() + bound;
    let mut last = cpu(pid)?;
    while last == before && Instant::now() < end {
        std::thread::sleep(Duration::from_micros(500));
        last = cpu(pid)?;
    }
    settled(pid, quiet, end.saturating_duration_since(Instant::now()))
}

/// Wait until `pid` has used no CPU for `quiet` (whether or not it woke), at most `bound`.
fn settled(pid: u32, quiet: Duration, bound: Duration) -> Result<(), String> {
    let end = Instant::now() + bound;
    let mut last = cpu(pid)?;
    let mut since = Instant::now();
    while Instant::now() < end {
        std::thread::sleep(Duration::from_millis(1));
        let now = cpu(pid)?;
        if now != last {
            last = now;
            since = Instant::now();
        } else if since.elapsed() >= quiet {
            return Ok(());
        }
    }
    Ok(())
}

/// Wait until `cond` holds, checking every 10 ms, at most `bound`.
fn until(what: &str, bound: Duration, mut cond: impl FnMut() -> bool) -> Result<(), String> {
    let end = Instant::now() + bound;
    while !cond() {
        if Instant::now() > end {
            return Err(format!("timed out waiting for {what}"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

fn backlog(a: &Args) -> Result<String, String> {
    a.only(&["root", "pid", "stamps", "hold", "new", "reaps", "idle"])?;
    let root = PathBuf::from(a.need("root")?);
    let pid: u32 = a.get("pid", 0)?;
    let stamps = PathBuf::from(a.need("stamps")?);
    let hold = PathBuf::from(a.need("hold")?);
    let new: usize = a.get("new", 50)?;
    let reaps: usize = a.get("reaps", 30)?;
    let idle: f64 = a.get("idle", 5.0)?;
    let ctrl = control(&root);
    let quiet = Duration::from_millis(20);
    let long = Duration::from_secs(120);
    // The holder of the busy port has started, and ipsynd is done with the start-up scan.
    until("the port holder", long, || !read_stamps(&stamps).is_empty())?;
    settled(pid, Duration::from_millis(300), long)?;
    let waiting = io(&ctrl, fs::read_dir(&ctrl))?.count() - 1;

    // New records for the busy port, each after ipsynd has handled the previous one. The
    // tail takes in work ipsynd defers (a coalesced status write).
    let tail = Duration::from_millis(1200);
    let c0 = cpu(pid)?;
    for k in 0..new {
        let before = cpu(pid)?;
        write(&ctrl.join(format!("HN{k:03}")), "")?;
        handled(pid, before, quiet, Duration::from_secs(2))?;
    }
    std::thread::sleep(tail);
    let new_ns = cpu(pid)? - c0;

    // Transmitters on the free port, started first (not measured), then released one by one.
    let started = read_stamps(&stamps).len();
    for j in 0..reaps {
        write(&ctrl.join(format!("R{j:03}")), "")?;
    }
    until("the transmitters to reap", long, || {
        read_stamps(&stamps).len() >= started + reaps
    })?;
    settled(pid, Duration::from_millis(300), long)?;
    let c0 = cpu(pid)?;
    for j in 0..reaps {
        let before = cpu(pid)?;
        let rec = ctrl.join(format!("R{j:03}"));
        write(&hold.join(format!("R{j:03}")), "")?;
        until("a released transmitter", Duration::from_secs(10), || {
            !rec.exists()
        })?;
        handled(pid, before, quiet, Duration::from_secs(2))?;
    }
    std::thread::sleep(tail);
    let reap_ns = cpu(pid)? - c0;

    // Idle: nothing happens; what ipsynd spends and how often it wakes.
    let w0 = status_value(pid, "voluntary_ctxt_switches").unwrap_or(0);
    let c0 = cpu(pid)?;
    std::thread::sleep(Duration::from_secs_f64(idle));
    let idle_ns = cpu(pid)? - c0;
    let w1 = status_value(pid, "voluntary_ctxt_switches").unwrap_or(0);
    let rss = status_value(pid, "VmRSS").unwrap_or(0);
    let ms = |ns: u64, k: usize| ns as f64 / 1e6 / k.max(1) as f64;
    Ok(format!(
        "waiting={waiting} new_cpu_ms={:.3} reap_cpu_ms={:.3} idle_cpu_ms={:.3} \
idle_wakeups={} idle_secs={idle} rss_kib={rss}",
        ms(new_ns, new),
        ms(reap_ns, reaps),
        ms(idle_ns, 1),
        w1.saturating_sub(w0)
    ))
}

/// The `i`th record of the one client of `oneclient`: name order is creation order.
fn oneclient_record(i: usize) -> String {
    format!("{i:05}|Q")
}

fn oneclient(a: &Args) -> Result<String, String> {
    a.only(&["root", "pid", "stamps", "hold", "reaps"])?;
    let root = PathBuf::from(a.need("root")?);
    let pid: u32 = a.get("pid", 0)?;
    let stamps = PathBuf::from(a.need("stamps")?);
    let hold = PathBuf::from(a.need("hold")?);
    let reaps: usize = a.get("reaps", 30)?;
    let ctrl = control(&root);
    let quiet = Duration::from_millis(20);
    let long = Duration::from_secs(120);
    until("the first transmitter", long, || {
        !read_stamps(&stamps).is_empty()
    })?;
    settled(pid, Duration::from_millis(300), long)?;
    let waiting = io(&ctrl, fs::read_dir(&ctrl))?.count() - 1;
    let tail = Duration::from_millis(1200);
    let c0 = cpu(pid)?;
    for j in 0..reaps {
        let before = cpu(pid)?;
        let name = oneclient_record(j);
        let rec = ctrl.join(&name);
        write(&hold.join(&name), "")?;
        until("a released transmitter", Duration::from_secs(10), || {
            !rec.exists()
        })?;
        until("the next transmitter", Duration::from_secs(10), || {
            stamp_lines(&stamps) > j + 1
        })?;
        handled(pid, before, quiet, Duration::from_secs(2))?;
    }
    std::thread::sleep(tail);
    let reap_ns = cpu(pid)? - c0;
    Ok(format!(
        "waiting={waiting} reap_cpu_ms={:.3}",
        reap_ns as f64 / 1e6 / reaps.max(1) as f64
    ))
}

/// How many transmitters stamped (one line each, whatever the client).
fn stamp_lines(path: &Path) -> usize {
    fs::read_to_string(path).map_or(0, |t| t.lines().count())
}
