//! The multi-host test bed: network namespaces made and removed by the tests, one per
//! LON-CAPA host, joined to a private "hub" namespace (where lonc or ipsynd runs) by veth pairs,
//! plus the faults a real network has: a link taken down (`ip link set ... down`), a host made
//! silent (a permanent neighbour entry to a MAC nobody has), and loss and delay from a small
//! user-space TCP proxy. This kernel has no `sch_netem`, no iptables and no nft, so the proxy
//! is the only way to delay or disturb a byte stream.
//!
//! Every address lives inside namespaces the test created (10.200.<k>.1 on the hub side of
//! link k, 10.200.<k>.2 on the host side), so parallel tests and parallel test processes never
//! share a route. Names carry the pid and a counter; a drop guard kills what still runs inside
//! and deletes the namespaces (which removes their veths); namespaces of a test process that
//! died without cleaning up (its pid is gone) are swept on the next run.
//!
//! Needs root and `ip` (iproute2); where a namespace cannot be made, [`Bed::new`] prints why
//! and the test returns early.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// Every namespace this harness makes starts with this, then `<pid>-<counter>`.
pub const PREFIX: &str = "nbed-";
/// The port every lond stand-in and receiver listens on: each host is its own namespace.
pub const LOND_PORT: u16 = 5663;
/// A MAC address no interface has: frames sent to it are dropped by the receiving veth.
pub const NOBODY_MAC: &str = "02:00:00:00:00:99";
/// Generous: 2 noisy cores shared by several helpers' builds and suites.
pub const WAIT: Duration = Duration::from_secs(20);

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Write straight to fd 2: the test harness captures `eprintln!`, and a skip must be seen.
pub fn say(msg: &str) {
    let _ = io::stderr().write_all(format!("{msg}\n").as_bytes());
}

/// Run `ip ARGS`; the error (with ip's stderr) if it fails.
pub fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// `ip ARGS`, which must work (the bed exists, so failures are real errors).
pub fn ip_ok(args: &[&str]) {
    if let Err(e) = ip(args) {
        panic!("{e}");
    }
}

/// Why namespaces cannot be made here, if they cannot (checked once per process).
fn unavailable() -> Option<String> {
    static WHY: OnceLock<Option<String>> = OnceLock::new();
    WHY.get_or_init(|| {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Some("not running as root".into());
        }
        if Command::new("ip")
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_err()
        {
            return Some("no `ip` command (Debian package iproute2)".into());
        }
        sweep_orphans();
        match Netns::new() {
            Ok(ns) => {
                drop(ns);
                None
            }
            Err(e) => Some(format!("cannot create a network namespace: {e}")),
        }
    })
    .clone()
}

/// Delete namespaces left by test processes that are gone (killed before their guards ran).
fn sweep_orphans() {
    let Ok(rd) = fs::read_dir("/var/run/netns") else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let pid: i32 = rest
            .split('-')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        if pid > 0 && !Path::new(&format!("/proc/{pid}")).exists() {
            kill_inside(&e.path());
            let _ = ip(&["netns", "del", &name]);
        }
    }
}

/// The inode of a network namespace (what `/proc/<pid>/ns/net` points to).
fn ns_inode(path: &Path) -> Option<u64> {
    fs::metadata(path).ok().map(|m| m.ino())
}

/// Pids of every process whose network namespace is the one at `path`.
pub fn pids_inside(path: &Path) -> Vec<i32> {
    let Some(ino) = ns_inode(path) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if pid == std::process::id() as i32 {
            continue;
        }
        if ns_inode(&e.path().join("ns/net")) == Some(ino) {
            out.push(pid);
        }
    }
    out
}

/// SIGKILL everything still running inside a namespace (lonc, stand-ins, transmitters).
fn kill_inside(path: &Path) {
    for _ in 0..50 {
        let pids = pids_inside(path);
        if pids.is_empty() {
            return;
        }
        for p in pids {
            // SAFETY: kill has no memory preconditions.
            unsafe { libc::kill(p, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One network namespace; deleted (after killing what runs in it) on drop.
pub struct Netns {
    pub name: String,
    /// Open for `setns`; close-on-exec, so programs started inside do not inherit it.
    fd: File,
}

impl Netns {
    pub fn new() -> Result<Netns, String> {
        let c = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("{PREFIX}{}-{c}", std::process::id());
        ip(&["netns", "add", &name])?;
        let fd = match File::open(format!("/var/run/netns/{name}")) {
            Ok(f) => f,
            Err(e) => {
                let _ = ip(&["netns", "del", &name]);
                return Err(format!("open /var/run/netns/{name}: {e}"));
            }
        };
        let ns = Netns { name, fd };
        ns.ip(&["link", "set", "lo", "up"]);
        Ok(ns)
    }

    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("/var/run/netns/{}", self.name))
    }

    /// `ip -n <ns> ARGS`, which must work.
    pub fn ip(&self, args: &[&str]) {
        let mut a = vec!["-n", &self.name];
        a.extend_from_slice(args);
        ip_ok(&a);
    }

    /// `ip netns exec <ns> PROGRAM` (ip execs the program: its pid is the program's).
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// Make `cmd` start inside this namespace (setns between fork and exec). `self` must
    /// outlive the spawn.
    pub fn enter_on_exec(&self, cmd: &mut Command) {
        let fd = self.fd.as_raw_fd();
        // SAFETY: setns is a plain system call, async-signal-safe.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }

    /// Move the calling thread into this namespace: sockets it creates from now on (and
    /// threads it spawns) live there. Only for threads of our own.
    pub fn enter_thread(&self) -> io::Result<()> {
        // SAFETY: setns on a valid fd; affects the calling thread only.
        if unsafe { libc::setns(self.fd.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Start a thread inside this namespace (not joined: the caller keeps the handle).
    pub fn spawn<F: FnOnce() + Send + 'static>(&self, f: F) -> std::thread::JoinHandle<()> {
        let fd = self.fd.try_clone().unwrap();
        std::thread::spawn(move || {
            // SAFETY: as in enter_thread.
            assert_eq!(
                unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) },
                0
            );
            f()
        })
    }

    /// Run `f` on a thread inside this namespace (e.g. to bind or connect a socket there).
    pub fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let fd = self.fd.try_clone().unwrap();
        std::thread::spawn(move || {
            // SAFETY: as in enter_thread.
            assert_eq!(
                unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) },
                0
            );
            f()
        })
        .join()
        .unwrap()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        kill_inside(&self.path());
        let _ = ip(&["netns", "del", &self.name]);
    }
}

/// One LON-CAPA host: its namespace and its end of a veth pair to the hub.
pub struct Host {
    pub id: String,
    pub ns: Netns,
    /// The host's address (its side of the veth).
    pub ip: Ipv4Addr,
    /// The hub's address on the same link.
    pub hub_ip: Ipv4Addr,
    /// The hub side's interface name (`v<k>`), what a link-down test takes down.
    pub dev: String,
}

/// The hub namespace and the hosts linked to it.
pub struct Bed {
    pub test: String,
    pub hosts: Vec<Host>,
    /// Files of the bed's processes (stand-in output, port files).
    pub dir: PathBuf,
    // Last: the hub goes after the hosts (drop order is declaration order).
    pub hub: Netns,
}

impl Bed {
    /// A hub namespace, or `None` (with a printed reason) where namespaces cannot be made.
    pub fn new(test: &str) -> Option<Bed> {
        if let Some(why) = unavailable() {
            crate::prereq::missing(
                &format!("netbed {test}"),
                &format!("{why}; the namespace test bed needs root and iproute2"),
            );
            return None;
        }
        let hub = Netns::new().unwrap_or_else(|e| panic!("{e}"));
        let c = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("netbed-{}-{c}-{test}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Some(Bed {
            test: test.into(),
            hosts: Vec::new(),
            dir,
            hub,
        })
    }

    /// A new host `id` in its own namespace, linked to the hub (link k = its index + 1).
    pub fn add_host(&mut self, id: &str) -> &Host {
        let k = self.hosts.len() + 1;
        assert!(k < 250, "one /24 per link in 10.200.0.0/16");
        let ns = Netns::new().unwrap_or_else(|e| panic!("{e}"));
        let dev = format!("v{k}");
        // Both ends are created inside their namespaces: no name or route in the root one.
        ip_ok(&[
            "link",
            "add",
            "name",
            &dev,
            "netns",
            &self.hub.name,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            &ns.name,
        ]);
        let hub_ip = Ipv4Addr::new(10, 200, k as u8, 1);
        let host_ip = Ipv4Addr::new(10, 200, k as u8, 2);
        self.hub
            .ip(&["addr", "add", &format!("{hub_ip}/24"), "dev", &dev]);
        self.hub.ip(&["link", "set", &dev, "up"]);
        ns.ip(&["addr", "add", &format!("{host_ip}/24"), "dev", "eth0"]);
        ns.ip(&["link", "set", "eth0", "up"]);
        self.hosts.push(Host {
            id: id.into(),
            ns,
            ip: host_ip,
            hub_ip,
            dev,
        });
        self.hosts.last().unwrap()
    }

    pub fn host(&self, id: &str) -> &Host {
        self.hosts.iter().find(|h| h.id == id).expect("host")
    }

    /// Take the hub side of `id`'s link down: its route goes, connects fail at once
    /// (network unreachable), established connections hear nothing more.
    pub fn link_down(&self, id: &str) {
        let h = self.host(id);
        self.hub.ip(&["link", "set", &h.dev, "down"]);
    }

    /// Bring it back (the address stays configured, so the route returns with it).
    pub fn link_up(&self, id: &str) {
        let h = self.host(id);
        self.hub.ip(&["link", "set", &h.dev, "up"]);
    }

    /// Make `id` silent: the hub sends its frames to a MAC nobody has, so SYNs vanish and a
    /// connect (or probe) times out.
    pub fn silence(&self, id: &str) {
        let h = self.host(id);
        self.hub.ip(&[
            "neigh",
            "replace",
            &h.ip.to_string(),
            "lladdr",
            NOBODY_MAC,
            "nud",
            "permanent",
            "dev",
            &h.dev,
        ]);
    }

    /// Undo [`Bed::silence`].
    pub fn unsilence(&self, id: &str) {
        let h = self.host(id);
        self.hub
            .ip(&["neigh", "del", &h.ip.to_string(), "dev", &h.dev]);
    }

    /// Every namespace of this bed (the hub first).
    pub fn namespaces(&self) -> Vec<String> {
        let mut v = vec![self.hub.name.clone()];
        v.extend(self.hosts.iter().map(|h| h.ns.name.clone()));
        v
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        let names = self.namespaces();
        // Hosts then hub (fields drop in declaration order after this).
        self.hosts.clear();
        let left: Vec<&String> = names
            .iter()
            .filter(|n| Path::new(&format!("/var/run/netns/{n}")).exists() && **n != self.hub.name)
            .collect();
        if !left.is_empty() {
            say(&format!(
                "netbed: {}: namespaces left behind: {left:?}",
                self.test
            ));
        }
        if !std::thread::panicking() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// The one bounded wait of the integration tests.
pub use crate::lonc_common::wait_for;

/// A program running inside a host's namespace (via `ip netns exec`), killed on drop.
pub struct Proc {
    pub child: Child,
    pub pid: i32,
    /// Its stderr.
    pub err: PathBuf,
}

impl Proc {
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill has no memory preconditions; the pid is our unreaped child.
        unsafe { libc::kill(self.pid, sig) };
    }

    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.err).unwrap_or_default()
    }

    /// Kill it and reap it now.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Start `cmd` (made by [`Netns::command`]) with stderr to `err`; wait for `port_file`.
fn start_proc(mut cmd: Command, err: PathBuf, port_file: &Path) -> Proc {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let mut p = Proc { child, pid, err };
    let up = wait_for(WAIT, || {
        fs::read_to_string(port_file).is_ok_and(|s| s.ends_with('\n'))
            || p.child.try_wait().ok().flatten().is_some()
    });
    assert!(
        up && port_file.exists(),
        "{} did not start: {}",
        port_file.display(),
        p.stderr()
    );
    p
}

/// A `lond-standin` process on `host` at `<host ip>:LOND_PORT`, verbose, so what it received
/// can be read from its stderr.
pub struct Lond {
    pub proc: Proc,
}

impl Lond {
    pub fn start(bed: &Bed, id: &str, peer_id: &str) -> Lond {
        Lond::start_on(bed, id, peer_id, &[])
    }

    pub fn start_on(bed: &Bed, id: &str, peer_id: &str, extra: &[&str]) -> Lond {
        let h = bed.host(id);
        let c = COUNTER.fetch_add(1, Ordering::SeqCst);
        let pf = bed.dir.join(format!("lond-{id}-{c}.port"));
        let mut cmd = h.ns.command(env!("CARGO_BIN_EXE_lond-standin"));
        cmd.arg("--listen")
            .arg(format!("{}:{LOND_PORT}", h.ip))
            .args(["--host-id", id, "--peer-id", peer_id, "--verbose"])
            .arg("--port-file")
            .arg(&pf)
            .args(extra);
        let proc = start_proc(cmd, bed.dir.join(format!("lond-{id}-{c}.err")), &pf);
        Lond { proc }
    }

    /// Requests received after a handshake, as dispatched (decrypted), in order.
    pub fn received(&self) -> Vec<String> {
        self.proc
            .stderr()
            .lines()
            .filter_map(|l| l.split_once(": > ").map(|(_, r)| r.to_string()))
            .collect()
    }

    /// How many times `line` was received.
    pub fn got(&self, line: &str) -> usize {
        self.received().iter().filter(|r| *r == line).count()
    }

    /// Handshakes completed.
    pub fn connections(&self) -> usize {
        self.proc
            .stderr()
            .lines()
            .filter(|l| l.ends_with(": handshake done"))
            .count()
    }

    pub fn pid(&self) -> i32 {
        self.proc.pid
    }
}

/// An `ipsyn-recv` on `host` at `<host ip>:LOND_PORT`, storing into `dir`.
pub fn start_receiver(bed: &Bed, id: &str, dir: &Path) -> Proc {
    let h = bed.host(id);
    let c = COUNTER.fetch_add(1, Ordering::SeqCst);
    let pf = bed.dir.join(format!("recv-{id}-{c}.port"));
    fs::create_dir_all(dir).unwrap();
    let mut cmd = h.ns.command(env!("CARGO_BIN_EXE_ipsyn-recv"));
    cmd.arg("--listen")
        .arg(format!("{}:{LOND_PORT}", h.ip))
        .arg("--dir")
        .arg(dir)
        .arg("--port-file")
        .arg(&pf);
    start_proc(cmd, bed.dir.join(format!("recv-{id}-{c}.err")), &pf)
}

/// What the proxy does to the bytes it relays, per direction. Loss on a TCP path shows to
/// the endpoints as stalls (a retransmission timeout, then the bytes arrive in order) and, at
/// worst, as a connection that dies: `stall_*` and `reset_per_mille` model exactly that.
#[derive(Debug, Clone)]
pub struct Faults {
    /// Each fragment waits a random time in this range (ms) before it is sent on.
    pub delay_ms: (u64, u64),
    /// Fragments are 1..=max_fragment bytes (writes are split at random points).
    pub max_fragment: usize,
    /// Chance (per thousand fragments) of a stall, and its length range (ms).
    pub stall_per_mille: u32,
    pub stall_ms: (u64, u64),
    /// Chance (per thousand fragments) that the connection is reset (both sides get RST).
    pub reset_per_mille: u32,
    /// Bytes per second, if limited.
    pub rate: Option<u64>,
}

impl Faults {
    /// A clean, fast relay.
    pub fn none() -> Faults {
        Faults {
            delay_ms: (0, 0),
            max_fragment: 64 * 1024,
            stall_per_mille: 0,
            stall_ms: (0, 0),
            reset_per_mille: 0,
            rate: None,
        }
    }
}

/// What the proxy has seen and done.
#[derive(Debug, Default)]
pub struct ProxyStats {
    pub connections: AtomicU64,
    pub bytes: AtomicU64,
    pub stalls: AtomicU64,
    pub resets: AtomicU64,
}

struct ProxyShared {
    faults: Mutex<Faults>,
    stop: AtomicBool,
    stats: ProxyStats,
    seed: AtomicU64,
    /// Clones of every relayed socket, so `stop` and resets reach them.
    open: Mutex<Vec<TcpStream>>,
}

/// A user-space TCP proxy inside a namespace: accepts on `listen`, connects each client to
/// `target`, and relays both ways through [`Faults`]. Stopped (every connection closed) on
/// drop.
pub struct Proxy {
    pub addr: SocketAddr,
    shared: Arc<ProxyShared>,
    acceptor: Option<std::thread::JoinHandle<()>>,
}

/// xorshift64*: reproducible from the seed printed in failures, no crate needed.
fn next_rand(state: &AtomicU64) -> u64 {
    let mut x = state.load(Ordering::Relaxed);
    loop {
        let mut y = x;
        y ^= y >> 12;
        y ^= y << 25;
        y ^= y >> 27;
        match state.compare_exchange_weak(x, y, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return y.wrapping_mul(0x2545_f491_4f6c_dd1d),
            Err(now) => x = now,
        }
    }
}

fn in_range(state: &AtomicU64, (lo, hi): (u64, u64)) -> u64 {
    if hi <= lo {
        lo
    } else {
        lo + next_rand(state) % (hi - lo + 1)
    }
}

impl Proxy {
    pub fn start(ns: &Netns, listen: SocketAddr, target: SocketAddr, faults: Faults) -> Proxy {
        let seed = std::env::var("NETBED_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        let shared = Arc::new(ProxyShared {
            faults: Mutex::new(faults),
            stop: AtomicBool::new(false),
            stats: ProxyStats::default(),
            seed: AtomicU64::new(seed),
            open: Mutex::new(Vec::new()),
        });
        let fd = ns.fd.try_clone().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let sh = Arc::clone(&shared);
        let acceptor = std::thread::spawn(move || {
            // SAFETY: setns for this thread; its relay threads inherit the namespace.
            assert_eq!(
                unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) },
                0
            );
            let l = match TcpListener::bind(listen) {
                Ok(l) => l,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            let _ = tx.send(l.local_addr());
            l.set_nonblocking(true).unwrap();
            while !sh.stop.load(Ordering::SeqCst) {
                match l.accept() {
                    Ok((c, _)) => {
                        let _ = c.set_nonblocking(false);
                        let sh2 = Arc::clone(&sh);
                        std::thread::spawn(move || relay(c, target, sh2));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        let addr = rx.recv().unwrap().expect("proxy bind");
        say(&format!("netbed: proxy {addr} -> {target}, seed {seed}"));
        Proxy {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    pub fn set_faults(&self, f: Faults) {
        *self.shared.faults.lock().unwrap() = f;
    }

    pub fn stats(&self) -> &ProxyStats {
        &self.shared.stats
    }

    pub fn connections(&self) -> u64 {
        self.shared.stats.connections.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        for s in self.shared.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
        if let Some(a) = self.acceptor.take() {
            let _ = a.join();
        }
    }
}

/// Reset a TCP connection now, while other descriptors of the socket still exist (a shutdown
/// sends FIN, and SO_LINGER 0 resets only on the last close): Linux's connect(AF_UNSPEC)
/// disconnects a TCP socket with an RST.
pub fn reset_now(s: &TcpStream) {
    // SAFETY: a zeroed sockaddr with family AF_UNSPEC, passed with its true size.
    unsafe {
        let mut sa: libc::sockaddr = std::mem::zeroed();
        sa.sa_family = libc::AF_UNSPEC as libc::sa_family_t;
        libc::connect(
            s.as_raw_fd(),
            &sa,
            std::mem::size_of::<libc::sockaddr>() as libc::socklen_t,
        );
    }
}

/// One relayed connection: connect to the target, then one pump per direction.
fn relay(client: TcpStream, target: SocketAddr, sh: Arc<ProxyShared>) {
    let Ok(server) = TcpStream::connect_timeout(&target, Duration::from_secs(5)) else {
        // What a dead path looks like to the client: the connection just closes.
        return;
    };
    sh.stats.connections.fetch_add(1, Ordering::SeqCst);
    for s in [&client, &server] {
        let _ = s.set_nodelay(true);
        if let Ok(c) = s.try_clone() {
            sh.open.lock().unwrap().push(c);
        }
    }
    let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    let sh2 = Arc::clone(&sh);
    let up = std::thread::spawn(move || pump(c2, s2, &sh2));
    pump(server, client, &sh);
    let _ = up.join();
}

/// Copy `from` to `to` through the faults; on end of file pass the half-close on.
fn pump(mut from: TcpStream, mut to: TcpStream, sh: &ProxyShared) {
    let _ = from.set_read_timeout(Some(Duration::from_millis(50)));
    let mut buf = vec![0u8; 16 * 1024];
    let reset = |a: &TcpStream, b: &TcpStream| {
        reset_now(a);
        reset_now(b);
    };
    loop {
        if sh.stop.load(Ordering::SeqCst) {
            return;
        }
        let n = match from.read(&mut buf) {
            Ok(0) => {
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                continue
            }
            Err(_) => {
                let _ = to.shutdown(Shutdown::Both);
                return;
            }
        };
        let mut off = 0;
        while off < n {
            let f = sh.faults.lock().unwrap().clone();
            let len = (1 + next_rand(&sh.seed) as usize % f.max_fragment.max(1)).min(n - off);
            if f.stall_per_mille > 0 && next_rand(&sh.seed) % 1000 < f.stall_per_mille as u64 {
                sh.stats.stalls.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(in_range(&sh.seed, f.stall_ms)));
            }
            let d = in_range(&sh.seed, f.delay_ms);
            if d > 0 {
                std::thread::sleep(Duration::from_millis(d));
            }
            // After the wait: a path that dies does so while the bytes are on their way.
            if f.reset_per_mille > 0 && next_rand(&sh.seed) % 1000 < f.reset_per_mille as u64 {
                sh.stats.resets.fetch_add(1, Ordering::SeqCst);
                reset(&from, &to);
                return;
            }
            if let Some(rate) = f.rate {
                std::thread::sleep(Duration::from_micros(len as u64 * 1_000_000 / rate.max(1)));
            }
            if sh.stop.load(Ordering::SeqCst) || to.write_all(&buf[off..off + len]).is_err() {
                let _ = from.shutdown(Shutdown::Both);
                return;
            }
            sh.stats.bytes.fetch_add(len as u64, Ordering::SeqCst);
            off += len;
        }
    }
}

/// Whether a namespace named `name` exists.
pub fn netns_exists(name: &str) -> bool {
    Path::new(&format!("/var/run/netns/{name}")).exists()
}

#[test]
fn netbed_leaves_no_namespace_process_or_orphan_behind() {
    let Some(mut bed) = Bed::new("cleanup") else {
        return;
    };
    bed.add_host("h1");
    bed.add_host("h2");
    let lond = Lond::start(&bed, "h1", "loc1");
    let h1 = bed.host("h1");
    let proxy = Proxy::start(
        &bed.hub,
        SocketAddr::new(h1.hub_ip.into(), LOND_PORT),
        SocketAddr::new(h1.ip.into(), LOND_PORT),
        Faults::none(),
    );
    // Something left running inside the hub on purpose: the guard must kill it.
    let mut stray = Command::new("sleep");
    stray.arg("60");
    bed.hub.enter_on_exec(&mut stray);
    let mut stray = stray.spawn().unwrap();
    let names = bed.namespaces();
    assert!(names.iter().all(|n| netns_exists(n)));
    assert_eq!(pids_inside(&bed.host("h1").ns.path()), vec![lond.pid()]);
    let lond_pid = lond.pid();
    drop(proxy);
    drop(lond);
    drop(bed);
    for n in &names {
        assert!(!netns_exists(n), "{n} left behind");
    }
    assert!(!Path::new(&format!("/proc/{lond_pid}")).exists());
    let st = stray.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&st),
        Some(9),
        "the process left inside was killed"
    );
    // A namespace of a test process that died without its guards is swept.
    let mut gone = Command::new("true").spawn().unwrap();
    let dead = gone.id();
    gone.wait().unwrap();
    let orphan = format!("{PREFIX}{dead}-0");
    ip_ok(&["netns", "add", &orphan]);
    sweep_orphans();
    assert!(!netns_exists(&orphan), "orphan {orphan} not swept");
}

#[test]
fn netbed_proxy_relays_every_byte_in_order_under_faults_and_resets_on_demand() {
    let Some(mut bed) = Bed::new("proxy") else {
        return;
    };
    bed.add_host("h1");
    let h1 = bed.host("h1");
    let server = SocketAddr::new(h1.ip.into(), LOND_PORT);
    // An echo server inside h1's namespace.
    let l = h1.ns.run(move || TcpListener::bind(server).unwrap());
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut r = c.try_clone().unwrap();
                let mut w = c;
                let _ = io::copy(&mut r, &mut w);
            });
        }
    });
    let proxy = Proxy::start(
        &bed.hub,
        SocketAddr::new(h1.hub_ip.into(), LOND_PORT),
        server,
        Faults {
            delay_ms: (0, 1),
            max_fragment: 512,
            stall_per_mille: 5,
            stall_ms: (20, 60),
            reset_per_mille: 0,
            rate: None,
        },
    );
    let to = proxy.addr;
    let data: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(7919) >> 3) as u8)
        .collect();
    let c = bed.hub.run(move || TcpStream::connect(to).unwrap());
    let mut w = c.try_clone().unwrap();
    let d2 = data.clone();
    let writer = std::thread::spawn(move || w.write_all(&d2).unwrap());
    let mut back = vec![0u8; data.len()];
    let mut r = c;
    r.set_read_timeout(Some(WAIT)).unwrap();
    r.read_exact(&mut back).unwrap();
    writer.join().unwrap();
    assert!(back == data, "bytes changed or reordered");
    assert!(proxy.stats().stalls.load(Ordering::SeqCst) > 0);
    // Reset on every fragment: the client's connection dies with a reset.
    proxy.set_faults(Faults {
        reset_per_mille: 1000,
        ..Faults::none()
    });
    let mut c = bed.hub.run(move || TcpStream::connect(to).unwrap());
    c.set_read_timeout(Some(WAIT)).unwrap();
    c.write_all(b"hello\n").unwrap();
    let mut buf = [0u8; 8];
    let r = c.read(&mut buf);
    assert!(
        matches!(&r, Err(e) if e.kind() == io::ErrorKind::ConnectionReset),
        "{r:?}"
    );
    assert_eq!(proxy.stats().resets.load(Ordering::SeqCst), 1);
}

/// Whether every thread of `pid` has stopped (state `T`). `kill(SIGSTOP)` returns before the
/// threads of a multi-threaded process are all stopped: one may still answer a request.
pub fn all_threads_stopped(pid: i32) -> bool {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.filter_map(|t| t.ok()).all(|t| {
        let st = fs::read_to_string(t.path().join("stat")).unwrap_or_default();
        st.rsplit(')')
            .next()
            .and_then(|rest| rest.split_whitespace().next())
            == Some("T")
    })
}

/// `pid state wchan` for each pid, for failure messages (a stuck process says where it waits).
pub fn proc_report(pids: &[i32]) -> String {
    pids.iter()
        .map(|p| {
            let st = fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
            let state = st
                .rsplit(')')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .next()
                .unwrap_or("?")
                .to_string();
            let wchan = fs::read_to_string(format!("/proc/{p}/wchan")).unwrap_or_default();
            format!("{p} {state} {wchan}")
        })
        .collect::<Vec<_>>()
        .join("; ")
}
