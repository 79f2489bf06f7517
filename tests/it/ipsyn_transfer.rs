//! ipsyn and ipsyn-recv, run as real processes over loopback TCP.
//!
//! Every test has its own FIP root under the temp directory and its own receiver on an
//! ephemeral port; every wait is bounded.

use std::fs;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const IPSYN: &str = env!("CARGO_BIN_EXE_ipsyn");
const RECV: &str = env!("CARGO_BIN_EXE_ipsyn-recv");
/// Generous: two cores are shared by several builds at once.
const LONG: Duration = Duration::from_secs(20);

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A FIP root with a client `POP` whose queue is `spool/syn/pop`.
struct Root {
    dir: PathBuf,
}

impl Root {
    fn new(tag: &str) -> Root {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("ipsyn-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        for d in [
            "spool/syn/pop",
            "spool/syn/control",
            "x",
            "log/syn",
            "out",
            "tables/syn/client",
            "tables/syn/route",
        ] {
            fs::create_dir_all(dir.join(d)).unwrap();
        }
        fs::write(dir.join("spool/syn/control/POP"), "").unwrap();
        fs::write(dir.join("x/SYN|001|POP"), "POP 127.0.0.1 0 0 0\n").unwrap();
        Root { dir }
    }
    fn p(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }
    fn queue(&self, name: &str, data: &[u8]) {
        fs::write(self.p("spool/syn/pop").join(name), data).unwrap();
    }
    fn flag(&self) -> PathBuf {
        self.p("x/SYN|001|POP")
    }
    fn ctrl(&self) -> PathBuf {
        self.p("spool/syn/control/POP")
    }
    fn log(&self) -> PathBuf {
        self.p("log/syn/POP.10Jan97.14.10")
    }
    fn log_text(&self) -> String {
        fs::read_to_string(self.log()).unwrap_or_default()
    }
    /// The switch-style standard block with an explicit receiver.
    fn switch_args(&self, port: u16) -> Vec<String> {
        let mut a: Vec<String> = ["-c", "POP", "-q", "pop", "-s", "127.0.0.1", "-p"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        a.push(port.to_string());
        a.extend(self.tail());
        a
    }
    fn tail(&self) -> Vec<String> {
        vec![
            "-l".into(),
            self.log().display().to_string(),
            "-r".into(),
            self.flag().display().to_string(),
            "-z".into(),
            self.ctrl().display().to_string(),
        ]
    }
    fn queued(&self) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(self.p("spool/syn/pop"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + LONG;
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A running ipsyn-recv; killed on drop.
struct Receiver {
    child: Child,
    port: u16,
}

impl Receiver {
    fn start(out: &Path, extra: &[&str]) -> Receiver {
        let pf = out.with_extension(format!("port{}", COUNTER.fetch_add(1, Ordering::SeqCst)));
        let child = Command::new(RECV)
            .args(["--listen", "127.0.0.1:0", "--dir"])
            .arg(out)
            .arg("--port-file")
            .arg(&pf)
            .args(extra)
            .spawn()
            .unwrap();
        wait_for("the receiver's port file", || {
            fs::read_to_string(&pf).is_ok_and(|s| s.ends_with('\n'))
        });
        let port = fs::read_to_string(&pf).unwrap().trim().parse().unwrap();
        let _ = fs::remove_file(&pf);
        Receiver { child, port }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run ipsyn to completion (bounded).
fn ipsyn(root: &Root, args: &[String]) -> ExitStatus {
    let mut child = Command::new(IPSYN)
        .args(args)
        .env("FIP_ROOT", &root.dir)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_child(&mut child)
}

fn wait_child(child: &mut Child) -> ExitStatus {
    let end = Instant::now() + LONG;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if Instant::now() > end {
            let _ = child.kill();
            panic!("ipsyn did not finish in time");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A port with nobody listening: bind an ephemeral port and close it again.
fn dead_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn files_arrive_byte_identical_and_everything_is_cleaned_up() {
    let root = Root::new("ok");
    let big: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    root.queue("big.bin", &big);
    root.queue("story one.txt", b"line 1\r\nline 2\n\0binary\xff");
    root.queue("empty", b"");
    root.queue(".partial", b"being written");
    fs::create_dir(root.p("spool/syn/pop/subdir")).unwrap();
    let rx = Receiver::start(&root.p("out"), &[]);
    let st = ipsyn(&root, &root.switch_args(rx.port));
    assert_eq!(st.code(), Some(0), "log:\n{}", root.log_text());
    assert_eq!(fs::read(root.p("out/big.bin")).unwrap(), big);
    assert_eq!(
        fs::read(root.p("out/story one.txt")).unwrap(),
        b"line 1\r\nline 2\n\0binary\xff"
    );
    assert_eq!(fs::read(root.p("out/empty")).unwrap(), b"");
    assert!(!root.p("out/.partial").exists());
    // Sent files gone, the dot file and the directory untouched.
    assert_eq!(root.queued(), [".partial", "subdir"]);
    assert!(!root.ctrl().exists(), "control file removed on success");
    assert!(!root.flag().exists(), "flag always removed");
    assert!(!loncsyn::ipsyn::recv::has_temp_files(&root.p("out")));
    let log = root.log_text();
    assert!(
        log.contains("ipsyn POP sent big.bin (3000000 bytes)"),
        "{log}"
    );
    assert!(log.contains("sent story one.txt (23 bytes)"), "{log}");
    assert!(
        log.contains("done: 3 files, 3 sent, 0 left; exit 0"),
        "{log}"
    );
}

#[test]
fn receiver_down_keeps_files_and_control_but_removes_flag() {
    let root = Root::new("down");
    root.queue("a", b"alpha");
    root.queue("b", b"beta");
    let st = ipsyn(&root, &root.switch_args(dead_port()));
    assert_ne!(st.code(), Some(0));
    assert_eq!(st.code(), Some(1));
    assert_eq!(root.queued(), ["a", "b"]);
    assert!(root.ctrl().exists(), "control kept for the next attempt");
    assert!(!root.flag().exists(), "flag removed even on failure");
    let log = root.log_text();
    assert!(log.contains("cannot connect to 127.0.0.1:"), "{log}");
    assert!(
        log.contains("done: 2 files, 0 sent, 2 left; exit 1"),
        "{log}"
    );
}

#[test]
fn refused_file_is_kept_and_the_rest_goes_on() {
    let root = Root::new("refuse");
    root.queue("a", b"first");
    root.queue("b", b"second");
    root.queue("c", b"third");
    let rx = Receiver::start(&root.p("out"), &["--reject-after", "1"]);
    let st = ipsyn(&root, &root.switch_args(rx.port));
    assert_eq!(st.code(), Some(1));
    assert_eq!(fs::read(root.p("out/a")).unwrap(), b"first");
    assert!(!root.p("out/b").exists() && !root.p("out/c").exists());
    assert_eq!(root.queued(), ["b", "c"], "refused files stay queued");
    assert!(root.ctrl().exists());
    assert!(!root.flag().exists());
    let log = root.log_text();
    assert!(log.contains("not sent b: receiver refused"), "{log}");
    assert!(
        log.contains("done: 3 files, 1 sent, 2 left; exit 1"),
        "{log}"
    );
}

#[test]
fn empty_queue_succeeds_without_a_receiver() {
    let root = Root::new("empty");
    let st = ipsyn(&root, &root.switch_args(dead_port()));
    assert_eq!(st.code(), Some(0));
    assert!(!root.ctrl().exists());
    assert!(!root.flag().exists());
    assert!(root.log_text().contains("nothing to send"));
}

#[test]
fn positional_style_and_extra_leading_words() {
    let root = Root::new("pos");
    root.queue("x", b"positional");
    let rx = Receiver::start(&root.p("out"), &[]);
    let args: Vec<String> = vec![
        "-1".into(),
        "234765403299".into(),
        "-z".into(),
        "BINGCROSBY".into(),
        "POP".into(),
        "pop".into(),
        "127.0.0.1".into(),
        rx.port.to_string(),
        root.log().display().to_string(),
        root.flag().display().to_string(),
        root.ctrl().display().to_string(),
    ];
    let st = ipsyn(&root, &args);
    assert_eq!(st.code(), Some(0), "{}", root.log_text());
    assert_eq!(fs::read(root.p("out/x")).unwrap(), b"positional");
    assert!(!root.ctrl().exists() && !root.flag().exists());
    // Switch style with script words before the block: the last -z wins.
    root.queue("y", b"switches");
    fs::write(root.ctrl(), "").unwrap();
    fs::write(root.flag(), "").unwrap();
    let mut args: Vec<String> = ["-1", "234", "-z", "BINGCROSBY"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(root.switch_args(rx.port));
    assert_eq!(ipsyn(&root, &args).code(), Some(0));
    assert_eq!(fs::read(root.p("out/y")).unwrap(), b"switches");
    assert!(!root.ctrl().exists() && !root.flag().exists());
}

#[test]
fn without_ports_entry_the_route_file_names_the_receiver() {
    let root = Root::new("route");
    root.queue("r", b"via route file");
    let rx = Receiver::start(&root.p("out"), &[]);
    fs::write(root.p("tables/syn/client/POP"), "route:popline\n").unwrap();
    fs::write(
        root.p("tables/syn/route/POPLINE"),
        format!("; route file\nhost:127.0.0.1\nport:{}\n", rx.port),
    )
    .unwrap();
    let mut args: Vec<String> = ["-c", "POP", "-q", "pop"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(root.tail());
    assert_eq!(ipsyn(&root, &args).code(), Some(0), "{}", root.log_text());
    assert_eq!(fs::read(root.p("out/r")).unwrap(), b"via route file");
    // And with no route file at all: a local failure, files kept, flag gone.
    fs::remove_file(root.p("tables/syn/route/POPLINE")).unwrap();
    root.queue("s", b"stays");
    fs::write(root.flag(), "").unwrap();
    fs::write(root.ctrl(), "").unwrap();
    assert_eq!(ipsyn(&root, &args).code(), Some(111));
    assert_eq!(root.queued(), ["s"]);
    assert!(root.ctrl().exists() && !root.flag().exists());
    assert!(root.log_text().contains("POPLINE"), "{}", root.log_text());
}

#[test]
fn usage_error_still_removes_the_flag() {
    let root = Root::new("usage");
    let mut args = root.switch_args(1);
    let i = args.iter().position(|a| a == "-p").unwrap();
    args[i + 1] = "http".into();
    let st = ipsyn(&root, &args);
    assert_eq!(st.code(), Some(100));
    assert!(!root.flag().exists());
    assert!(root.ctrl().exists());
}

#[test]
fn sigterm_while_the_receiver_stalls() {
    let root = Root::new("term");
    root.queue("a", b"never acknowledged");
    // A peer that accepts and then says nothing.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let mut child = Command::new(IPSYN)
        .args(root.switch_args(port))
        .env("FIP_ROOT", &root.dir)
        .spawn()
        .unwrap();
    silent.set_nonblocking(true).unwrap();
    let mut conn = None;
    wait_for("ipsyn to connect", || {
        conn = silent.accept().ok();
        conn.is_some()
    });
    // Wait for its greeting: ipsyn is now blocked waiting for our answer.
    let (mut s, _) = conn.unwrap();
    s.set_read_timeout(Some(LONG)).unwrap();
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"IPSYN 1 POP"));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let st = wait_child(&mut child);
    assert_eq!(st.code(), Some(128 + libc::SIGTERM));
    assert!(!root.flag().exists(), "flag removed on SIGTERM");
    assert!(root.ctrl().exists());
    assert_eq!(root.queued(), ["a"]);
    assert!(
        root.log_text().contains("stopped by signal 15"),
        "{}",
        root.log_text()
    );
}

#[test]
fn stalled_receiver_times_out() {
    let root = Root::new("idle");
    root.queue("a", b"x");
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut args = root.switch_args(silent.local_addr().unwrap().port());
    args.extend(["-t".to_string(), "1".to_string()]);
    let st = ipsyn(&root, &args);
    assert_eq!(st.code(), Some(1));
    assert!(!root.flag().exists());
    assert_eq!(root.queued(), ["a"]);
    assert!(root.log_text().contains("timed out"), "{}", root.log_text());
}

#[test]
fn two_senders_share_one_receiver() {
    let a = Root::new("two-a");
    let b = Root::new("two-b");
    let out = a.p("out");
    for i in 0..20 {
        a.queue(
            &format!("a{i:02}"),
            format!("from a {i}").repeat(1000).as_bytes(),
        );
        b.queue(
            &format!("b{i:02}"),
            format!("from b {i}").repeat(1000).as_bytes(),
        );
    }
    let rx = Receiver::start(&out, &[]);
    let spawn = |r: &Root| {
        Command::new(IPSYN)
            .args(r.switch_args(rx.port))
            .env("FIP_ROOT", &r.dir)
            .spawn()
            .unwrap()
    };
    let (mut ca, mut cb) = (spawn(&a), spawn(&b));
    assert_eq!(wait_child(&mut ca).code(), Some(0), "{}", a.log_text());
    assert_eq!(wait_child(&mut cb).code(), Some(0), "{}", b.log_text());
    assert_eq!(fs::read_dir(&out).unwrap().count(), 40);
    assert_eq!(
        fs::read_to_string(out.join("b07")).unwrap(),
        "from b 7".repeat(1000)
    );
}

#[test]
fn receiver_refuses_bad_names_and_non_ipsyn_peers() {
    use std::io::Write;
    let root = Root::new("names");
    let rx = Receiver::start(&root.p("out"), &[]);
    let mut s = std::net::TcpStream::connect(("127.0.0.1", rx.port)).unwrap();
    s.set_read_timeout(Some(LONG)).unwrap();
    s.write_all(b"IPSYN 1 POP\nFILE 3 a/evil\nabcFILE 2 .dot\nxyFILE 2 good\nokQUIT\n")
        .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert_eq!(
        answer,
        "OK IPSYN 1\nERR a/evil name holds '/', NUL, CR or LF\nERR .dot name starts with a dot\nOK good\nBYE\n"
    );
    assert_eq!(fs::read(root.p("out/good")).unwrap(), b"ok");
    assert!(!root.p("evil").exists());
    let mut s = std::net::TcpStream::connect(("127.0.0.1", rx.port)).unwrap();
    s.set_read_timeout(Some(LONG)).unwrap();
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert_eq!(answer, "ERR not an IPSYN greeting\n");
}

#[test]
fn interrupted_upload_leaves_nothing_in_the_directory() {
    use std::io::Write;
    let root = Root::new("cut");
    let out = root.p("out");
    let rx = Receiver::start(&out, &[]);
    let mut s = std::net::TcpStream::connect(("127.0.0.1", rx.port)).unwrap();
    s.set_read_timeout(Some(LONG)).unwrap();
    s.write_all(b"IPSYN 1 POP\nFILE 1000 half\n").unwrap();
    s.write_all(&[b'x'; 500]).unwrap();
    let mut greeting = [0u8; 11];
    s.read_exact(&mut greeting).unwrap();
    assert_eq!(&greeting, b"OK IPSYN 1\n");
    wait_for("the temporary file", || {
        loncsyn::ipsyn::recv::has_temp_files(&out)
    });
    // The sender goes away mid-file: the partial file is dropped, nothing appears.
    drop(s);
    wait_for("the temporary file to go", || {
        !loncsyn::ipsyn::recv::has_temp_files(&out)
    });
    assert!(!out.join("half").exists());
    // The receiver still serves.
    root.queue("after", b"still alive");
    assert_eq!(ipsyn(&root, &root.switch_args(rx.port)).code(), Some(0));
    assert_eq!(fs::read(out.join("after")).unwrap(), b"still alive");
}

#[test]
fn version_and_usage() {
    let out = Command::new(IPSYN).arg("-v").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ipsyn "));
    let out = Command::new(IPSYN).output().unwrap();
    assert_eq!(out.status.code(), Some(100));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage: ipsyn"));
    let out = Command::new(RECV).args(["--listen"]).output().unwrap();
    assert_eq!(out.status.code(), Some(100));
    let out = Command::new(RECV)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--dir",
            "/nonexistent/ipsyn-recv",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(111));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a directory"));
}

/// Make every file and directory of `dir` usable by anybody (for runs as another user).
fn open_up(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for e in fs::read_dir(dir).unwrap().flatten() {
        let md = e.metadata().unwrap();
        if md.is_dir() {
            fs::set_permissions(e.path(), fs::Permissions::from_mode(0o777)).unwrap();
            open_up(&e.path());
        } else {
            fs::set_permissions(e.path(), fs::Permissions::from_mode(0o666)).unwrap();
        }
    }
}

#[test]
fn unreadable_file_is_kept_and_the_rest_goes_on() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let root = Root::new("unreadable");
    root.queue("a", b"first");
    root.queue("b", b"secret");
    root.queue("c", b"third");
    let rx = Receiver::start(&root.p("out"), &[]);
    open_up(&root.dir);
    fs::set_permissions(&root.dir, fs::Permissions::from_mode(0o777)).unwrap();
    fs::set_permissions(root.p("spool/syn/pop/b"), fs::Permissions::from_mode(0o000)).unwrap();
    // root reads any file: then ipsyn runs as nobody, for whom b is unreadable.
    let mut cmd = Command::new(IPSYN);
    cmd.args(root.switch_args(rx.port))
        .env("FIP_ROOT", &root.dir)
        .stderr(Stdio::piped());
    if unsafe { libc::geteuid() } == 0 {
        cmd.uid(65534).gid(65534);
    }
    let st = wait_child(&mut cmd.spawn().unwrap());
    assert_eq!(st.code(), Some(1), "{}", root.log_text());
    assert_eq!(fs::read(root.p("out/a")).unwrap(), b"first");
    assert_eq!(fs::read(root.p("out/c")).unwrap(), b"third");
    assert!(!root.p("out/b").exists());
    assert_eq!(root.queued(), ["b"], "the unreadable file stays queued");
    assert!(root.ctrl().exists(), "not everything went: control kept");
    assert!(!root.flag().exists());
    let log = root.log_text();
    assert!(log.contains("not sent b: cannot read"), "{log}");
    assert!(
        log.contains("done: 3 files, 2 sent, 1 left; exit 1"),
        "{log}"
    );
}
