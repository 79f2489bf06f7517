//! bench-lonc-ops: lonc's operating figures for `make bench` (issue 10's regression figures):
//! what idle clients and a child cost in memory, how fast 1,000 hosts serve after a start,
//! and how fast a killed child serves again. One process, no threads.
//!
//! `bench-lonc-ops idle --target SOCK --pid PID [--clients N]`: the child `PID` serving
//! `SOCK` (one request answered and closed first, so what the first client pays once is not
//! counted); its `Private_Dirty` (`/proc/PID/smaps_rollup`) and VmRSS; then N clients
//! (default 1,000) connect and stay idle, and once the child has accepted them all (its fds)
//! and 300 ms later, the memory again; then each sends one request and reads its answer,
//! idle again, and the memory a third time. Prints `child_private_kib= child_rss_kib=`, and
//! per client `idle_rss_b_per_client= idle_private_b_per_client=` (connected, never sent)
//! and `used_rss_b_per_client= used_private_b_per_client=` (after one request each).
//!
//! `bench-lonc-ops restart --target SOCK --status-json FILE --id ID [--kills N]`: N times
//! (default 20): wait until `FILE` shows host ID running with a new pid and SOCK answers,
//! then SIGKILL that child and time until SOCK answers a request again (a connect and one
//! request every 100 µs). Prints `p50_ms= min_ms= max_ms= n=`.
//!
//! `bench-lonc-ops fleet --lonc BIN --config FILE --sock-dir DIR --hosts N`: start `BIN -f -c
//! FILE` whose hosts.tab has the N hosts `h0001`.. (the caller writes it), and time from the
//! start until every host's socket in DIR has answered a request (sockets are noticed with
//! inotify as they appear; one that refuses, or closes, is tried again 1 ms later); then TERM
//! to lonc and wait for it. Prints `hosts=N serving_ms= first_ms=`.
//!
//! Requests are `--request` (default `echo:bench`), answers must be `--expect` (`bench`).
//! Every wait is bounded (30 s, fleet 120 s); a failure exits 1, a usage error 64.

use loncsyn::bench::args::Args;
use loncsyn::bench::net::{pfd, ppoll};
use loncsyn::bench::procfs::{smaps_value, status_value};
use loncsyn::bench::stats::percentile;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use std::collections::{BTreeSet, HashMap};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

const USAGE: &str = "usage: bench-lonc-ops idle --target SOCK --pid PID [--clients N]
       bench-lonc-ops restart --target SOCK --status-json FILE --id ID [--kills N]
       bench-lonc-ops fleet --lonc BIN --config FILE --sock-dir DIR --hosts N
  (each also takes --request LINE --expect LINE)";
const BOUND: Duration = Duration::from_secs(30);

fn main() -> ExitCode {
    match run() {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) if e.starts_with("usage") => {
            eprintln!("bench-lonc-ops: {e}\n{USAGE}");
            ExitCode::from(64)
        }
        Err(e) => {
            eprintln!("bench-lonc-ops: {e}");
            ExitCode::from(1)
        }
    }
}

struct Req {
    request: Vec<u8>,
    expect: Vec<u8>,
}

fn run() -> Result<String, String> {
    let a = Args::parse(std::env::args().skip(1), 1).map_err(|e| format!("usage: {e}"))?;
    let u = |e: String| format!("usage: {e}");
    let req = Req {
        request: line(a.str("request").unwrap_or("echo:bench")),
        expect: line(a.str("expect").unwrap_or("bench")),
    };
    let common = ["request", "expect"];
    let only = |k: &[&str]| a.only(&[k, &common[..]].concat()).map_err(u);
    match a.positional().first().map(String::as_str) {
        Some("idle") => {
            only(&["target", "pid", "clients"])?;
            idle(
                &req,
                Path::new(a.need("target").map_err(u)?),
                a.get("pid", 0u32).map_err(u)?,
                a.get("clients", 1000usize).map_err(u)?,
            )
        }
        Some("restart") => {
            only(&["target", "status-json", "id", "kills"])?;
            restart(
                &req,
                Path::new(a.need("target").map_err(u)?),
                Path::new(a.need("status-json").map_err(u)?),
                a.need("id").map_err(u)?,
                a.get("kills", 20usize).map_err(u)?,
            )
        }
        Some("fleet") => {
            only(&["lonc", "config", "sock-dir", "hosts"])?;
            fleet(
                &req,
                a.need("lonc").map_err(u)?,
                a.need("config").map_err(u)?,
                Path::new(a.need("sock-dir").map_err(u)?),
                a.get("hosts", 1000usize).map_err(u)?,
            )
        }
        _ => Err("usage: idle, restart or fleet".into()),
    }
}

fn line(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(b'\n');
    v
}

/// Connect, send the request, read one line; it must be the expected answer.
fn ask(req: &Req, sock: &Path) -> io::Result<UnixStream> {
    let mut s = UnixStream::connect(sock)?;
    s.set_read_timeout(Some(BOUND))?;
    s.write_all(&req.request)?;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while got.last() != Some(&b'\n') {
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed"));
        }
        got.extend_from_slice(&buf[..n]);
    }
    if got != req.expect {
        return Err(io::Error::other(format!(
            "answer {:?}",
            String::from_utf8_lossy(&got)
        )));
    }
    Ok(s)
}

fn mem(pid: u32) -> Result<(u64, u64), String> {
    let private = smaps_value(pid, "Private_Dirty").ok_or(format!("no smaps_rollup for {pid}"))?;
    let rss = status_value(pid, "VmRSS").ok_or(format!("no status for {pid}"))?;
    Ok((private, rss))
}

/// How many fds `pid` has open.
fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

fn idle(req: &Req, sock: &Path, pid: u32, n: usize) -> Result<String, String> {
    if pid == 0 || n == 0 {
        return Err("usage: --pid and --clients must be positive".into());
    }
    drop(ask(req, sock).map_err(|e| format!("{}: {e}", sock.display()))?);
    std::thread::sleep(Duration::from_millis(300));
    let (p0, r0) = mem(pid)?;
    let f0 = fds(pid);
    // Connected, nothing sent: wait until the child has accepted every one.
    let mut kept = Vec::with_capacity(n);
    for i in 0..n {
        kept.push(UnixStream::connect(sock).map_err(|e| format!("client {i}: {e}"))?);
    }
    let end = Instant::now() + BOUND;
    while fds(pid) < f0 + n {
        if Instant::now() >= end {
            return Err(format!(
                "the child accepted {} of {n} clients",
                fds(pid) - f0
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(300));
    let (p1, r1) = mem(pid)?;
    // Then one request each, answered, and idle again.
    let mut buf = [0u8; 4096];
    for (i, s) in kept.iter_mut().enumerate() {
        s.set_read_timeout(Some(BOUND)).map_err(|e| e.to_string())?;
        s.write_all(&req.request)
            .map_err(|e| format!("client {i}: {e}"))?;
        let mut got = Vec::new();
        while got.last() != Some(&b'\n') {
            let k = s.read(&mut buf).map_err(|e| format!("client {i}: {e}"))?;
            if k == 0 {
                return Err(format!("client {i}: closed before the answer"));
            }
            got.extend_from_slice(&buf[..k]);
        }
        if got != req.expect {
            return Err(format!(
                "client {i}: answer {:?}",
                String::from_utf8_lossy(&got)
            ));
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    let (p2, r2) = mem(pid)?;
    drop(kept);
    let per = |a: u64, b: u64| (b as f64 - a as f64) * 1024.0 / n as f64;
    Ok(format!(
        "child_private_kib={p0} child_rss_kib={r0} idle_clients={n} \
         idle_rss_b_per_client={:.1} idle_private_b_per_client={:.1} \
         used_rss_b_per_client={:.1} used_private_b_per_client={:.1}",
        per(r0, r1),
        per(p0, p1),
        per(r0, r2),
        per(p0, p2)
    ))
}

/// The pid `loncstatus.json` shows for host `id` while it runs.
fn running_pid(json: &Path, id: &str) -> Option<i32> {
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(json).ok()?).ok()?;
    v["hosts"].as_array()?.iter().find_map(|h| {
        (h["id"] == id && h["state"] == "running")
            .then(|| h["pid"].as_i64())
            .flatten()
            .map(|p| p as i32)
    })
}

fn restart(req: &Req, sock: &Path, json: &Path, id: &str, kills: usize) -> Result<String, String> {
    let mut times = Vec::new();
    let mut old = None;
    for k in 0..kills {
        let end = Instant::now() + BOUND;
        let pid = loop {
            match running_pid(json, id) {
                Some(p) if Some(p) != old && ask(req, sock).is_ok() => break p,
                _ if Instant::now() >= end => {
                    return Err(format!("kill {k}: {id} not running again within 30 s"))
                }
                _ => std::thread::sleep(Duration::from_millis(5)),
            }
        };
        // Let the new child settle (its start-up log lines, the parent's JSON) first.
        std::thread::sleep(Duration::from_millis(100));
        let t = Instant::now();
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL)
            .map_err(|e| format!("kill {pid}: {e}"))?;
        let end = t + BOUND;
        while ask(req, sock).is_err() {
            if Instant::now() >= end {
                return Err(format!(
                    "kill {k}: {} did not answer within 30 s",
                    sock.display()
                ));
            }
            std::thread::sleep(Duration::from_micros(100));
        }
        times.push(t.elapsed().as_nanos() as u64);
        old = Some(pid);
    }
    times.sort_unstable();
    let ms = |ns: u64| ns as f64 / 1e6;
    Ok(format!(
        "p50_ms={:.3} min_ms={:.3} max_ms={:.3} n={}",
        ms(percentile(&times, 50.0)),
        ms(times[0]),
        ms(times[times.len() - 1]),
        times.len()
    ))
}

/// A request in flight to one host's socket.
struct Flight {
    id: String,
    s: UnixStream,
    got: Vec<u8>,
}

fn fleet(req: &Req, lonc: &str, config: &str, dir: &Path, n: usize) -> Result<String, String> {
    let ids: Vec<String> = (1..=n).map(|i| format!("h{i:04}")).collect();
    let watch = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK)
        .map_err(|e| format!("inotify: {e}"))?;
    watch
        .add_watch(dir, AddWatchFlags::IN_CREATE | AddWatchFlags::IN_MOVED_TO)
        .map_err(|e| format!("watch {}: {e}", dir.display()))?;
    let t0 = Instant::now();
    let mut child = Command::new(lonc)
        .args(["-f", "-c", config])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("{lonc}: {e}"))?;
    let r = serve_all(req, &watch, dir, &ids, t0);
    // Stop it: TERM, then its whole process group if it is still there after 30 s.
    let pid = child.id() as i32;
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGTERM);
    let end = Instant::now() + BOUND;
    while child.try_wait().ok().flatten().is_none() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    if child.try_wait().ok().flatten().is_none() {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(-pid), nix::sys::signal::SIGKILL);
        let _ = child.wait();
    }
    let (first, last) = r?;
    Ok(format!(
        "hosts={n} serving_ms={:.1} first_ms={:.1}",
        last.as_secs_f64() * 1e3,
        first.as_secs_f64() * 1e3
    ))
}

/// Until every host has answered: (first answer, last answer) after `t0`.
fn serve_all(
    req: &Req,
    watch: &Inotify,
    dir: &Path,
    ids: &[String],
    t0: Instant,
) -> Result<(Duration, Duration), String> {
    let known: BTreeSet<&str> = ids.iter().map(String::as_str).collect();
    let mut waiting: BTreeSet<String> = ids.iter().cloned().collect();
    // Sockets that appeared (or failed) and are to be tried, with when.
    let mut try_at: HashMap<String, Instant> = HashMap::new();
    let mut flights: Vec<Flight> = Vec::new();
    let mut first = None;
    let end = t0 + Duration::from_secs(120);
    // Any socket there before the watch took hold.
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            try_at.insert(e.file_name().to_string_lossy().into_owned(), t0);
        }
    }
    let mut buf = [0u8; 4096];
    while !waiting.is_empty() {
        let now = Instant::now();
        if now >= end {
            return Err(format!("{} hosts not serving after 120 s", waiting.len()));
        }
        let due: Vec<String> = try_at
            .iter()
            .filter(|(_, t)| **t <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for id in due {
            try_at.remove(&id);
            if !waiting.contains(&id) || flights.iter().any(|f| f.id == id) {
                continue;
            }
            let sent = UnixStream::connect(dir.join(&id)).and_then(|mut s| {
                s.write_all(&req.request)?;
                s.set_nonblocking(true)?;
                Ok(s)
            });
            match sent {
                Ok(s) => flights.push(Flight {
                    id,
                    s,
                    got: Vec::new(),
                }),
                Err(_) => {
                    try_at.insert(id, now + Duration::from_millis(1));
                }
            }
        }
        let mut fds = vec![pfd(watch.as_fd().as_raw_fd(), libc::POLLIN)];
        fds.extend(flights.iter().map(|f| pfd(f.s.as_raw_fd(), libc::POLLIN)));
        let next = try_at.values().min().copied();
        let timeout = next
            .map(|t| t.saturating_duration_since(Instant::now()))
            .unwrap_or(Duration::from_millis(100))
            .min(Duration::from_millis(100));
        ppoll(&mut fds, Some(timeout)).map_err(|e| format!("ppoll: {e}"))?;
        let now = Instant::now();
        if fds[0].revents != 0 {
            while let Ok(evs) = watch.read_events() {
                if evs.is_empty() {
                    break;
                }
                for ev in evs {
                    if let Some(name) = ev.name.as_ref().and_then(|n| n.to_str()) {
                        if known.contains(name) {
                            try_at.insert(name.to_string(), now);
                        }
                    }
                }
            }
        }
        let mut done = Vec::new();
        for (i, f) in flights.iter_mut().enumerate() {
            if fds[1 + i].revents == 0 {
                continue;
            }
            match f.s.read(&mut buf) {
                Ok(0) => done.push((i, false)),
                Ok(k) => {
                    f.got.extend_from_slice(&buf[..k]);
                    if f.got.last() == Some(&b'\n') {
                        done.push((i, f.got == req.expect));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => done.push((i, false)),
            }
        }
        for (i, ok) in done.into_iter().rev() {
            let f = flights.swap_remove(i);
            if ok {
                waiting.remove(&f.id);
                first.get_or_insert(now - t0);
            } else {
                try_at.insert(f.id, now + Duration::from_millis(1));
            }
        }
    }
    let last = Instant::now() - t0;
    Ok((first.unwrap_or(last), last))
}
