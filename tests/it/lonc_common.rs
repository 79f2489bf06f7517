//! Shared harness for the lonc integration tests: a temp-dir installation (config, hosts.tab,
//! directories), lond stand-ins on their own loopback addresses sharing one port, the real
//! `lonc` binary, Unix-socket clients, and waits on facts (files, log lines) with timeouts.

use std::fs;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use loncsyn::lonc::standin::{Standin, StandinOptions};

/// Generous: four helpers compile and test on two cores at once.
pub const WAIT: Duration = Duration::from_secs(20);
pub const LOCAL_ID: &str = "loc1";

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Poll `cond` every 10 ms until it holds or `timeout` passes.
pub fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A fresh loopback network for one test: 127.<a>.<b>.<host>, unique per process and test.
pub fn fresh_ips(n: usize) -> Vec<Ipv4Addr> {
    let c = COUNTER.fetch_add(1, Ordering::SeqCst);
    let pid = std::process::id();
    let a = 10 + (pid % 200) as u8;
    let b = ((pid / 200) as u8).wrapping_add((c * 7) as u8);
    (0..n)
        .map(|i| Ipv4Addr::new(127, a, b, 1 + i as u8))
        .collect()
}

/// A port that nothing listens on right now (for the probe: refused = reachable).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One peer in hosts.tab.
pub struct Peer {
    pub id: String,
    pub ip: Ipv4Addr,
    pub standin: Option<Standin>,
}

/// A temp-dir lonc installation plus its peers.
pub struct Setup {
    pub dir: PathBuf,
    pub config: PathBuf,
    pub port: u16,
    pub peers: Vec<Peer>,
    pub extra: Vec<(String, String)>,
}

pub struct PeerSpec {
    pub id: &'static str,
    /// Start a stand-in for it (false: nothing listens, connect is refused).
    pub standin: bool,
    pub refuse: bool,
}

pub fn peer(id: &'static str) -> PeerSpec {
    PeerSpec {
        id,
        standin: true,
        refuse: false,
    }
}

impl Setup {
    /// Peers with stand-ins on their own addresses and one shared port; short lonc delays.
    pub fn new(name: &str, specs: &[PeerSpec]) -> Setup {
        let c = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("lonc-it-{}-{c}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        for d in ["logs", "tabs", "sockets/delayed", "html"] {
            fs::create_dir_all(dir.join(d)).unwrap();
        }
        for attempt in 0..50 {
            let ips = fresh_ips(specs.len());
            let mut peers = Vec::new();
            let mut port = 0u16;
            let mut ok = true;
            for (spec, ip) in specs.iter().zip(ips) {
                let sa = if spec.standin {
                    let mut o = StandinOptions::new(spec.id, LOCAL_ID);
                    o.refuse_handshake = spec.refuse;
                    match Standin::start(SocketAddr::new(IpAddr::V4(ip), port), o) {
                        Ok(s) => {
                            port = s.local_addr().port();
                            Some(s)
                        }
                        Err(_) => {
                            ok = false;
                            break;
                        }
                    }
                } else {
                    None
                };
                peers.push(Peer {
                    id: spec.id.to_string(),
                    ip,
                    standin: sa,
                });
            }
            if !ok {
                continue;
            }
            if port == 0 {
                port = free_port();
            }
            let _ = attempt;
            let s = Setup {
                config: dir.join("access.conf"),
                dir,
                port,
                peers,
                extra: Vec::new(),
            };
            s.write_hosts();
            s.write_config();
            return s;
        }
        panic!("could not find loopback addresses with a common free port");
    }

    pub fn peer(&self, id: &str) -> &Peer {
        self.peers.iter().find(|p| p.id == id).expect("peer")
    }

    pub fn standin(&self, id: &str) -> &Standin {
        self.peer(id).standin.as_ref().expect("stand-in")
    }

    /// Set (or override) a PerlSetVar and rewrite the config.
    pub fn set(&mut self, key: &str, val: &str) {
        self.extra.retain(|(k, _)| k != key);
        self.extra.push((key.into(), val.into()));
        self.write_config();
    }

    pub fn write_hosts(&self) {
        let mut t = String::new();
        for p in &self.peers {
            // Name = address literal, so probes need no DNS.
            t.push_str(&format!("{}:msu:library:{}:{}\n", p.id, p.ip, p.ip));
        }
        fs::write(self.dir.join("tabs/hosts.tab"), t).unwrap();
    }

    pub fn write_config(&self) {
        let user = nix::unistd::User::from_uid(nix::unistd::getuid())
            .unwrap()
            .unwrap()
            .name;
        let d = self.dir.display();
        let mut vars: Vec<(String, String)> = vec![
            ("lonDaemons".into(), format!("{d}")),
            ("lonTabDir".into(), format!("{d}/tabs")),
            ("lonSockDir".into(), format!("{d}/sockets")),
            ("londPort".into(), self.port.to_string()),
            ("lonHostID".into(), LOCAL_ID.into()),
            ("lonDocRoot".into(), format!("{d}/html")),
            ("loncUser".into(), user),
            ("loncProbePort".into(), free_port().to_string()),
            ("loncProbeTimeout".into(), "2".into()),
            ("loncMaxAttempts".into(), "5".into()),
            ("loncPongDelay".into(), "0.02".into()),
            ("loncInitTimeout".into(), "5".into()),
            ("loncReplyTimeout".into(), "10".into()),
            ("loncBackoffMin".into(), "0.1".into()),
            ("loncBackoffMax".into(), "0.2".into()),
        ];
        for (k, v) in &self.extra {
            vars.retain(|(k2, _)| k2 != k);
            vars.push((k.clone(), v.clone()));
        }
        let mut t = String::from("# lonc integration test\n");
        for (k, v) in vars {
            t.push_str(&format!("PerlSetVar {k} {v}\n"));
        }
        fs::write(&self.config, t).unwrap();
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("logs/lonc.log")
    }
    pub fn perm_path(&self) -> PathBuf {
        self.dir.join("logs/lonnet.perm.log")
    }
    pub fn pid_path(&self) -> PathBuf {
        self.dir.join("logs/lonc.pid")
    }
    pub fn sock(&self, id: &str) -> PathBuf {
        self.dir.join("sockets").join(id)
    }
    pub fn delayed_dir(&self) -> PathBuf {
        self.dir.join("sockets/delayed")
    }
    pub fn status_txt(&self) -> PathBuf {
        self.dir.join("html/lon-status/loncstatus.txt")
    }
    pub fn status_json(&self) -> PathBuf {
        self.dir.join("html/lon-status/loncstatus.json")
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    pub fn log_count(&self, needle: &str) -> usize {
        self.log().lines().filter(|l| l.contains(needle)).count()
    }

    /// Wait until the log holds at least `n` lines containing `needle`.
    pub fn wait_log_n(&self, needle: &str, n: usize) -> bool {
        wait_for(WAIT, || self.log_count(needle) >= n)
    }

    pub fn wait_log(&self, needle: &str) -> bool {
        self.wait_log_n(needle, 1)
    }

    /// Start `lonc -f` in its own process group, without waiting for anything.
    pub fn spawn(&self) -> Lonc {
        self.spawn_with(|_| {})
    }

    /// `spawn` with extra settings on the command (e.g. another network namespace).
    pub fn spawn_with(&self, f: impl FnOnce(&mut Command)) -> Lonc {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lonc"));
        cmd.arg("-c")
            .arg(&self.config)
            .arg("-f")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        f(&mut cmd);
        let child = cmd.spawn().unwrap();
        let pid = child.id() as i32;
        Lonc {
            pid,
            child: Some(child),
            pid_file: self.pid_path(),
        }
    }

    /// Start `lonc -f` and wait until it has started its initial children.
    pub fn start(&self) -> Lonc {
        self.start_with(|_| {})
    }

    /// `start` with extra settings on the command.
    pub fn start_with(&self, f: impl FnOnce(&mut Command)) -> Lonc {
        let l = self.spawn_with(f);
        assert!(
            wait_for(WAIT, || self
                .log()
                .contains("Done starting initial servers")),
            "lonc did not start:\n{}",
            self.log()
        );
        l
    }

    /// Start `lonc` daemonizing; returns once the launcher exited and the pid file is there.
    pub fn start_daemon(&self) -> Lonc {
        let mut launcher = Command::new(env!("CARGO_BIN_EXE_lonc"))
            .arg("-c")
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut status = None;
        wait_for(WAIT, || {
            status = launcher.try_wait().ok().flatten();
            status.is_some()
        });
        let Some(status) = status else {
            let _ = launcher.kill();
            let _ = launcher.wait();
            panic!("the launcher did not return");
        };
        assert!(status.success(), "launcher exit {status:?}");
        let pid: i32 = fs::read_to_string(self.pid_path())
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let l = Lonc {
            pid,
            child: None,
            pid_file: self.pid_path(),
        };
        assert!(wait_for(WAIT, || self
            .log()
            .contains("Done starting initial servers")));
        l
    }

    /// Wait until the socket for `id` accepts connections.
    pub fn wait_online(&self, id: &str) -> bool {
        let p = self.sock(id);
        wait_for(WAIT, || UnixStream::connect(&p).is_ok())
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// A running lonc; dropping it sends TERM, then KILLs its whole process group.
pub struct Lonc {
    pub pid: i32,
    child: Option<Child>,
    pid_file: PathBuf,
}

impl Lonc {
    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid), sig).unwrap();
    }

    /// Wait for the process to end; its exit code if it was our direct child.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<Option<i32>> {
        let end = Instant::now() + timeout;
        loop {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(st)) = c.try_wait() {
                    self.child = None;
                    return Some(st.code());
                }
            } else if !alive(self.pid) {
                return Some(None);
            }
            if Instant::now() >= end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Pids of this lonc's children (from /proc).
    pub fn children(&self) -> Vec<i32> {
        children_of(self.pid)
    }
}

impl Drop for Lonc {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.pid);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let _ = self.wait_exit(Duration::from_secs(10));
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(-self.pid),
            nix::sys::signal::Signal::SIGKILL,
        );
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = &self.pid_file;
    }
}

/// Whether `pid` runs (a zombie counts as gone).
pub fn alive(pid: i32) -> bool {
    matches!(loncsyn::bench::procfs::state(pid as u32), Some(s) if s != 'Z' && s != 'X')
}

/// Live processes whose parent is `ppid`.
pub fn children_of(ppid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    if let Ok(rd) = fs::read_dir("/proc") {
        for e in rd.flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let Ok(s) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            let mut f = s.rsplit(')').next().unwrap_or("").split_whitespace();
            let state = f.next().unwrap_or("");
            let pp: i32 = f.next().and_then(|x| x.parse().ok()).unwrap_or(0);
            if pp == ppid && state != "Z" {
                out.push(pid);
            }
        }
    }
    out.sort();
    out
}

/// One lonnet-style exchange: connect, send `line` + `\n`, read one line. `None` = EOF without
/// a line (or no socket). The newline is stripped.
pub fn request(sock: &Path, line: &[u8]) -> Option<Vec<u8>> {
    let mut s = UnixStream::connect(sock).ok()?;
    s.set_read_timeout(Some(WAIT)).unwrap();
    let mut msg = line.to_vec();
    msg.push(b'\n');
    s.write_all(&msg).ok()?;
    read_line(&mut s)
}

/// Read up to and including `\n`; `None` on EOF before a newline.
pub fn read_line(s: &mut UnixStream) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut b = [0u8; 1];
    loop {
        match s.read(&mut b) {
            Ok(0) => return None,
            Ok(_) => {
                if b[0] == b'\n' {
                    return Some(out);
                }
                out.push(b[0]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
}

/// `request` that must produce a UTF-8 answer.
pub fn ask(sock: &Path, line: &str) -> String {
    String::from_utf8(request(sock, line.as_bytes()).expect("an answer line")).unwrap()
}

/// Listeners with a full backlog: a connect to them hangs (SYNs dropped), so a probe times out.
pub struct Blackhole {
    _held: Vec<(socket2::Socket, std::net::TcpStream)>,
}

impl Setup {
    /// Make the probe of each peer in `ids` time out: a full-backlog listener on the peer's
    /// address at the probe port (other peers' probes are refused there = reachable).
    pub fn blackhole(&mut self, ids: &[&str], probe_timeout: &str) -> Blackhole {
        let mut port = 0u16;
        let mut held = Vec::new();
        for id in ids {
            let ip = self.peer(id).ip;
            let sock =
                socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
            sock.bind(&SocketAddr::new(IpAddr::V4(ip), port).into())
                .unwrap();
            sock.listen(0).unwrap();
            let addr = sock.local_addr().unwrap().as_socket().unwrap();
            port = addr.port();
            // Fill the one-entry accept queue; later SYNs are dropped.
            let filler = std::net::TcpStream::connect(addr).unwrap();
            held.push((sock, filler));
        }
        self.set("loncProbePort", &port.to_string());
        self.set("loncProbeTimeout", probe_timeout);
        Blackhole { _held: held }
    }

    /// Stop a peer's stand-in: its connections close and nothing listens any more.
    pub fn stop_standin(&mut self, id: &str) {
        let p = self.peers.iter_mut().find(|p| p.id == id).expect("peer");
        if let Some(s) = p.standin.take() {
            s.stop();
        }
    }
}

/// Wait until `standin` has received `line` (as dispatched) at least `n` times.
pub fn wait_got(standin: &Standin, line: &[u8], n: usize) -> bool {
    wait_for(WAIT, || {
        standin
            .received()
            .iter()
            .filter(|r| r.as_slice() == line)
            .count()
            >= n
    })
}
