//! bench-load: the load generator of `make bench`, one process.
//!
//! `bench-load --target PATH|HOST:PORT [--mode kept|new] [--clients N] [--secs S]
//!  [--warmup S] [--request LINE] [--expect LINE] [--cpu-pid PID]... [--slow LINE]`
//!
//! `--clients` connections (default 1) each send `--request` (default `echo:bench`), wait for
//! its answer line, check it is `--expect` (default `bench`), and send the next: `kept` keeps
//! one connection per client, `new` opens a new one per request and closes it after the
//! answer, as lonnet's `reply()` does. A target containing `/` is a Unix socket, else TCP
//! (`TCP_NODELAY`). One client runs a plain blocking loop (no `poll` in the measured path);
//! several are driven by one `ppoll` loop. Requests answered in the `--secs` window after
//! `--warmup` count; each latency runs from just before the request's `send` (or `connect`)
//! to the answer's newline.
//!
//! `--slow LINE` adds one more kept connection that sends LINE over and over, its own
//! latencies not counted (the head-of-line figure: one slow request always in flight).
//! `--cpu-pid` (repeatable): the processes whose CPU time over the window is divided by the
//! requests counted. Prints one line: `rps=... p50_us=... p99_us=... n=...` (and
//! `cpu_us_per_req=...`). A wrong answer or a connection that fails exits 1; every read has
//! a 30 s bound, so it always ends.

use loncsyn::bench::args::Args;
use loncsyn::bench::net::{pfd, ppoll, Stream};
use loncsyn::bench::procfs::cpu_ns_sum;
use loncsyn::bench::stats::percentile;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::time::{Duration, Instant};

const USAGE: &str = "usage: bench-load --target PATH|HOST:PORT [--mode kept|new] [--clients N] \
[--secs S] [--warmup S] [--request LINE] [--expect LINE] [--cpu-pid PID]... [--slow LINE]";
const BOUND: Duration = Duration::from_secs(30);

struct Cfg {
    target: String,
    new_conn: bool,
    request: Vec<u8>,
    expect: Vec<u8>,
    cpu_pids: Vec<u32>,
}

/// The measurement window and what was counted in it.
struct Window {
    start: Instant,
    end: Instant,
    lat_ns: Vec<u64>,
    cpu0: Option<u64>,
    cpu1: Option<u64>,
}

impl Window {
    /// Record one answer that completed at `now` after `lat`; take the CPU readings as the
    /// window opens and closes. Returns false once the window is over.
    fn record(&mut self, cfg: &Cfg, now: Instant, lat: Duration) -> bool {
        if now >= self.end {
            if self.cpu1.is_none() {
                self.cpu1 = Some(cpu_ns_sum(&cfg.cpu_pids));
            }
            return false;
        }
        if now >= self.start {
            if self.cpu0.is_none() {
                self.cpu0 = Some(cpu_ns_sum(&cfg.cpu_pids));
            }
            self.lat_ns.push(lat.as_nanos() as u64);
        }
        true
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.starts_with("usage") => {
            eprintln!("bench-load: {e}\n{USAGE}");
            ExitCode::from(64)
        }
        Err(e) => {
            eprintln!("bench-load: {e}");
            ExitCode::from(1)
        }
    }
}

fn run() -> Result<(), String> {
    let a = Args::parse(std::env::args().skip(1), 0).map_err(|e| format!("usage: {e}"))?;
    a.only(&[
        "target", "mode", "clients", "secs", "warmup", "request", "expect", "cpu-pid", "slow",
    ])
    .map_err(|e| format!("usage: {e}"))?;
    let u = |e: String| format!("usage: {e}");
    let mode = a.str("mode").unwrap_or("kept");
    if mode != "kept" && mode != "new" {
        return Err(format!("usage: --mode {mode:?}: kept or new"));
    }
    let cfg = Cfg {
        target: a.need("target").map_err(u)?.to_string(),
        new_conn: mode == "new",
        request: line(a.str("request").unwrap_or("echo:bench")),
        expect: line(a.str("expect").unwrap_or("bench")),
        cpu_pids: a.all("cpu-pid").map_err(u)?,
    };
    let clients: usize = a.get("clients", 1).map_err(u)?;
    let secs: f64 = a.get("secs", 2.0).map_err(u)?;
    let warmup: f64 = a.get("warmup", 0.3).map_err(u)?;
    if clients == 0 || secs <= 0.0 || warmup < 0.0 {
        return Err("usage: --clients and --secs must be positive".into());
    }
    let slow = a.str("slow").map(line);
    let t0 = Instant::now();
    let mut w = Window {
        start: t0 + Duration::from_secs_f64(warmup),
        end: t0 + Duration::from_secs_f64(warmup + secs),
        lat_ns: Vec::new(),
        cpu0: None,
        cpu1: None,
    };
    if clients == 1 && slow.is_none() {
        blocking(&cfg, &mut w)?;
    } else {
        polled(&cfg, clients, slow, &mut w)?;
    }
    let n = w.lat_ns.len();
    w.lat_ns.sort_unstable();
    let mut out = format!(
        "rps={:.0} p50_us={:.1} p99_us={:.1} n={n}",
        n as f64 / secs,
        percentile(&w.lat_ns, 50.0) as f64 / 1000.0,
        percentile(&w.lat_ns, 99.0) as f64 / 1000.0,
    );
    if !cfg.cpu_pids.is_empty() && n > 0 {
        let cpu = w.cpu1.unwrap_or(0).saturating_sub(w.cpu0.unwrap_or(0));
        out += &format!(" cpu_us_per_req={:.2}", cpu as f64 / 1000.0 / n as f64);
    }
    println!("{out}");
    Ok(())
}

fn line(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(b'\n');
    v
}

fn connect(cfg: &Cfg) -> Result<Stream, String> {
    let s = Stream::connect(&cfg.target).map_err(|e| format!("connect {}: {e}", cfg.target))?;
    s.set_read_timeout(Some(BOUND)).map_err(|e| e.to_string())?;
    Ok(s)
}

/// One client, blocking calls: send, read to the newline, repeat.
fn blocking(cfg: &Cfg, w: &mut Window) -> Result<(), String> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut kept = None;
    loop {
        let t = Instant::now();
        let mut s = match kept.take() {
            Some(s) => s,
            None => connect(cfg)?,
        };
        s.write_all(&cfg.request)
            .map_err(|e| format!("send: {e}"))?;
        let mut got = Vec::new();
        loop {
            let n = s.read(&mut buf).map_err(|e| format!("recv: {e}"))?;
            if n == 0 {
                return Err("connection closed before the answer".into());
            }
            got.extend_from_slice(&buf[..n]);
            if got.last() == Some(&b'\n') {
                break;
            }
        }
        let now = Instant::now();
        check(cfg, &got)?;
        if !cfg.new_conn {
            kept = Some(s);
        }
        if !w.record(cfg, now, now - t) {
            return Ok(());
        }
    }
}

fn check(cfg: &Cfg, got: &[u8]) -> Result<(), String> {
    if got != cfg.expect.as_slice() {
        return Err(format!(
            "unexpected answer {:?} (expected {:?})",
            String::from_utf8_lossy(got),
            String::from_utf8_lossy(&cfg.expect)
        ));
    }
    Ok(())
}

struct Conn {
    s: Option<Stream>,
    sent_at: Instant,
    got: Vec<u8>,
    /// The extra slow-request connection: not counted, not checked against `--expect`.
    slow: bool,
}

/// Several clients in one `ppoll` loop.
fn polled(cfg: &Cfg, clients: usize, slow: Option<Vec<u8>>, w: &mut Window) -> Result<(), String> {
    let mut conns = Vec::new();
    let now = Instant::now();
    for _ in 0..clients {
        conns.push(Conn {
            s: None,
            sent_at: now,
            got: Vec::new(),
            slow: false,
        });
    }
    if slow.is_some() {
        conns.push(Conn {
            s: None,
            sent_at: now,
            got: Vec::new(),
            slow: true,
        });
    }
    for c in conns.iter_mut() {
        issue(cfg, c, slow.as_deref())?;
    }
    let mut buf = vec![0u8; 64 * 1024];
    let mut fds = Vec::with_capacity(conns.len());
    let mut running = true;
    let mut last_progress = Instant::now();
    // After the window, wait (bounded) for the answers still owed, so the next measurement
    // does not start with this one's requests on the link.
    while conns.iter().any(|c| c.s.is_some()) {
        fds.clear();
        for c in &conns {
            fds.push(pfd(
                c.s.as_ref().map_or(-1, |s| s.as_raw_fd()),
                libc::POLLIN,
            ));
        }
        ppoll(&mut fds, Some(Duration::from_millis(500))).map_err(|e| format!("poll: {e}"))?;
        let now = Instant::now();
        if now - last_progress > BOUND {
            return Err("no answer for 30 s".into());
        }
        let mut i = 0;
        while i < conns.len() {
            if fds[i].revents == 0 {
                i += 1;
                continue;
            }
            let c = &mut conns[i];
            let n = match c.s.as_mut().unwrap().read(&mut buf) {
                Ok(0) => return Err("connection closed before the answer".into()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    i += 1;
                    continue;
                }
                Err(e) => return Err(format!("recv: {e}")),
            };
            c.got.extend_from_slice(&buf[..n]);
            if c.got.last() != Some(&b'\n') {
                i += 1;
                continue;
            }
            last_progress = now;
            if !c.slow {
                check(cfg, &c.got)?;
                running = w.record(cfg, now, now - c.sent_at) && running;
            }
            c.got.clear();
            if cfg.new_conn && !c.slow {
                c.s = None;
            }
            if running {
                issue(cfg, c, slow.as_deref())?;
            } else {
                c.s = None;
            }
            i += 1;
        }
        // The slow connection's request outlives the window: do not wait for it.
        if !running {
            for c in conns.iter_mut().filter(|c| c.slow) {
                c.s = None;
            }
        }
    }
    Ok(())
}

/// Send the next request on `c` (connecting first if it has no connection).
fn issue(cfg: &Cfg, c: &mut Conn, slow: Option<&[u8]>) -> Result<(), String> {
    c.sent_at = Instant::now();
    if c.s.is_none() {
        let s = connect(cfg)?;
        s.set_nonblocking(true).map_err(|e| e.to_string())?;
        c.s = Some(s);
    }
    let s = c.s.as_mut().unwrap();
    let req = if c.slow { slow.unwrap() } else { &cfg.request };
    // A short request into an empty socket buffer goes in one send; only if it does not,
    // finish it blocking (so the measured path has no fcntl per request).
    let n = match s.write(req) {
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
        Err(e) => return Err(format!("send: {e}")),
    };
    if n < req.len() {
        s.set_nonblocking(false).map_err(|e| e.to_string())?;
        s.write_all(&req[n..]).map_err(|e| format!("send: {e}"))?;
        s.set_nonblocking(true).map_err(|e| e.to_string())?;
    }
    Ok(())
}
