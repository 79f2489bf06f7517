//! Test helpers for ipsynd: a temporary FIP tree, a stand-in transmitter script that records
//! its argv, and a handle on a running `ipsynd`. Every wait has a timeout and waits on a fact.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

/// Generous: 2 cores shared by several compilers and test binaries.
pub const WAIT: Duration = Duration::from_secs(20);

pub const IPSYND: &str = env!("CARGO_BIN_EXE_ipsynd");

/// The stand-in transmitter. Knobs come from `knobs/<CLIENT>` (shell assignments):
/// `FAIL=n` fail the first n calls, `SLEEP=s` sleep before finishing, `HOLD=1` wait (at most
/// 60 s) until the test calls [`Fip::release`], `KEEPFLAG=1` forget to delete the flag,
/// `EXIT=c` exit code on failure, `RETOUCH=1` re-create the control record right after the
/// first call deleted it (a new request arriving while the transmission ends). Each call leaves `calls/<CLIENT>/<nnn>.info`
/// (START, PID, FLAG content, then END) and `<nnn>.argv` (one argument per line, `$0` first).
const STANDIN: &str = r#"#!/bin/bash
ROOT='@ROOT@'
fdt=''; for f in /proc/$$/fd/*; do fdt="$fdt $(readlink "$f")"; done
start=$(date +%s.%N)
args=("$@")
client= queue= flag= ctrl= log=
i=0
while [ $i -lt ${#args[@]} ]; do
  case "${args[$i]}" in
    -c) client=${args[$((i+1))]} ;;
    -q) queue=${args[$((i+1))]} ;;
    -l) log=${args[$((i+1))]} ;;
    -r) flag=${args[$((i+1))]} ;;
    -z) ctrl=${args[$((i+1))]} ;;
  esac
  i=$((i+1))
done
if [ -z "$client" ]; then
  n=${#args[@]}
  client=${args[$((n-7))]}; queue=${args[$((n-6))]}; log=${args[$((n-3))]}
  flag=${args[$((n-2))]}; ctrl=${args[$((n-1))]}
fi
FAIL=0 SLEEP=0 HOLD=0 KEEPFLAG=0 EXIT=1 RETOUCH=0
[ -f "$ROOT/knobs/$client" ] && . "$ROOT/knobs/$client"
calls="$ROOT/calls/$client"
mkdir -p "$calls"
seq=$(ls "$calls" | grep -c '\.info$')
base="$calls/$(printf %03d "$seq")"
{ echo "START $start"; echo "PID $$"; echo "FLAG $(cat "$flag" 2>/dev/null)"; echo "FDS $fdt"; echo "ROOT $FIP_ROOT"; } > "$base.info"
printf '%s\n' "$0" "$@" > "$base.argv.tmp"; mv "$base.argv.tmp" "$base.argv"
echo "standin: call $seq for $client" >> "$log"
[ "$SLEEP" != 0 ] && sleep "$SLEEP"
if [ "$HOLD" = 1 ]; then
  n=0; while [ ! -e "$ROOT/release/$client" ] && [ $n -lt 1200 ]; do sleep 0.05; n=$((n+1)); done
fi
rc=0
if [ "$seq" -lt "$FAIL" ]; then
  rc=$EXIT
else
  mkdir -p "$ROOT/sent/$client"
  for f in "$ROOT/spool/syn/$queue"/*; do [ -f "$f" ] && mv "$f" "$ROOT/sent/$client/"; done
  rm -f "$ctrl"
  [ "$RETOUCH" = 1 ] && [ "$seq" = 0 ] && : > "$ctrl"
fi
echo "END $(date +%s.%N)" >> "$base.info"
[ "$KEEPFLAG" = 1 ] || rm -f "$flag"
exit $rc
"#;

/// One recorded call of the stand-in.
#[derive(Debug, Clone)]
pub struct Call {
    pub argv: Vec<String>,
    pub start: f64,
    pub end: Option<f64>,
    pub pid: i32,
    pub flag: String,
    /// Targets of the stand-in shell's open fds (`readlink /proc/$$/fd/*`).
    pub fds: Vec<String>,
    /// `$FIP_ROOT` as the stand-in saw it.
    pub fip_root: String,
}

/// A temporary FIP tree.
pub struct Fip {
    pub root: PathBuf,
    pub standin: PathBuf,
    daemons: Vec<Child>,
}

static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

impl Fip {
    pub fn new(name: &str) -> Fip {
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let root =
            std::env::temp_dir().join(format!("ipsynd-{name}-{}-{n}-{nanos}", std::process::id()));
        for d in [
            "tables/syn/client",
            "tables/syn/route",
            "spool/syn/control",
            "x",
            "log/syn",
            "local",
            "knobs",
            "calls",
            "bin",
            "release",
        ] {
            fs::create_dir_all(root.join(d)).unwrap();
        }
        let standin = root.join("local/standin");
        write_exec(
            &standin,
            &STANDIN.replace("@ROOT@", &root.to_string_lossy()),
        );
        let fip = Fip {
            root,
            standin,
            daemons: Vec::new(),
        };
        // Default transmitter = the stand-in; quick rescans keep table tests short.
        fip.ipsynd_table(&format!(
            "ipsyn:{}\nrescan:1\ngrace:1\n",
            fip.standin.display()
        ));
        fip
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    pub fn ipsynd_table(&self, text: &str) {
        write_atomic(&self.path("tables/syn/IPSYND"), text);
    }

    pub fn ports(&self, text: &str) {
        write_atomic(&self.path("tables/syn/PORTS"), text);
    }

    pub fn client(&self, name: &str, text: &str) {
        write_atomic(&self.path(&format!("tables/syn/client/{name}")), text);
    }

    pub fn knob(&self, client: &str, text: &str) {
        fs::write(self.path(&format!("knobs/{client}")), text).unwrap();
    }

    /// Client file `name` holding `text`, and the stand-in's knobs for its calls.
    pub fn client_knob(&self, name: &str, text: &str, knob: &str) {
        self.client(name, text);
        self.knob(name, knob);
    }

    /// Let the stand-in's `HOLD=1` calls for `client` finish.
    pub fn release(&self, client: &str) {
        fs::write(self.path(&format!("release/{client}")), "").unwrap();
    }

    pub fn record(&self, name: &str) -> PathBuf {
        let p = self.path("spool/syn/control").join(name);
        fs::write(&p, "").unwrap();
        p
    }

    pub fn queue_file(&self, queue: &str, name: &str, content: &str) -> PathBuf {
        let d = self.path(&format!("spool/syn/{queue}"));
        fs::create_dir_all(&d).unwrap();
        let p = d.join(name);
        fs::write(&p, content).unwrap();
        p
    }

    /// Start ipsynd on this tree; stderr goes to `ipsynd.stderr<n>`.
    pub fn start(&mut self) -> i32 {
        self.start_with(|_| {})
    }

    /// Start ipsynd as user `uid` (group `uid` too), with at most `nproc` processes for that
    /// user if given (`RLIMIT_NPROC`; the root user is exempt from it, another one is not,
    /// and root also reads unreadable files). The whole tree is handed over to that user
    /// first (chown, modes kept: ipsynd refuses directories others may write); files the
    /// test creates later must be readable by it. Run by another user than
    /// root, the tests stay that user (which already cannot read a mode-000 file); the
    /// process limit then counts all of that user's processes, so `nproc` needs root.
    pub fn start_as(&mut self, uid: u32, nproc: Option<u64>) -> i32 {
        // SAFETY: geteuid has no preconditions.
        let as_root = unsafe { libc::geteuid() } == 0;
        if as_root {
            hand_over(&self.root, uid);
        }
        self.start_with(|cmd| {
            use std::os::unix::process::CommandExt;
            if as_root {
                cmd.uid(uid).gid(uid);
            }
            if let Some(n) = nproc {
                // SAFETY: setrlimit is async-signal-safe; nothing else runs in the child.
                unsafe {
                    cmd.pre_exec(move || {
                        let lim = libc::rlimit {
                            rlim_cur: n,
                            rlim_max: n,
                        };
                        if libc::setrlimit(libc::RLIMIT_NPROC, &lim) != 0 {
                            return Err(std::io::Error::last_os_error());
                        }
                        Ok(())
                    });
                }
            }
        })
    }

    /// Start ipsynd with extra settings on its command.
    pub fn start_with(&mut self, f: impl FnOnce(&mut Command)) -> i32 {
        let n = self.daemons.len();
        let err = fs::File::create(self.path(&format!("ipsynd.stderr{n}"))).unwrap();
        // The root by `-r` (FIP_ROOT removed): ipsynd must pass it on to transmitters itself.
        let mut cmd = Command::new(IPSYND);
        cmd.arg("-r")
            .arg(&self.root)
            .env_remove("FIP_ROOT")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err);
        f(&mut cmd);
        let child = cmd.spawn().expect("start ipsynd");
        let pid = child.id() as i32;
        self.daemons.push(child);
        assert!(
            self.wait_log(&format!("started, version {}", env!("CARGO_PKG_VERSION"))),
            "ipsynd did not start"
        );
        pid
    }

    /// Send `sig` to the most recent ipsynd and wait for its exit; returns its exit code.
    pub fn stop_with(&mut self, sig: i32) -> Option<i32> {
        let mut child = self.daemons.pop()?;
        unsafe { libc::kill(child.id() as i32, sig) };
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                return st.code();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn signal(&self, sig: i32) {
        let c = self.daemons.last().expect("a running ipsynd");
        unsafe { libc::kill(c.id() as i32, sig) };
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.path("log/ipsynd.log")).unwrap_or_default()
    }

    pub fn wait_log(&self, needle: &str) -> bool {
        wait_for(WAIT, || self.log().contains(needle))
    }

    /// [`Fip::wait_log`] as an assertion: a line containing `needle` comes in time, else the
    /// test fails showing the whole log.
    #[track_caller]
    pub fn expect_log(&self, needle: &str) {
        assert!(
            self.wait_log(needle),
            "no log line with {needle:?} in time; the log:\n{}",
            self.log()
        );
    }

    /// Wait until at least `n` log lines contain `needle`.
    pub fn wait_log_count(&self, needle: &str, n: usize) -> bool {
        wait_for(WAIT, || self.log_count(needle) >= n)
    }

    /// Wait until the status text satisfies `f` (it is rewritten on every change).
    pub fn wait_status(&self, f: impl Fn(&str) -> bool) -> bool {
        wait_for(WAIT, || f(&self.status()))
    }

    /// Number of log lines containing `needle`.
    pub fn log_count(&self, needle: &str) -> usize {
        self.log().lines().filter(|l| l.contains(needle)).count()
    }

    /// The stand-in's completed recordings for `client`, in call order.
    pub fn calls(&self, client: &str) -> Vec<Call> {
        let dir = self.path(&format!("calls/{client}"));
        let mut out = Vec::new();
        for i in 0.. {
            let base = dir.join(format!("{i:03}"));
            let Ok(argv) = fs::read_to_string(base.with_extension("argv")) else {
                break;
            };
            let info = fs::read_to_string(base.with_extension("info")).unwrap_or_default();
            let get = |k: &str| {
                info.lines()
                    .find_map(|l| l.strip_prefix(k).map(|v| v.trim().to_string()))
            };
            out.push(Call {
                argv: argv.lines().map(String::from).collect(),
                start: get("START ").and_then(|v| v.parse().ok()).unwrap_or(0.0),
                end: get("END ").and_then(|v| v.parse().ok()),
                pid: get("PID ").and_then(|v| v.parse().ok()).unwrap_or(0),
                flag: get("FLAG").unwrap_or_default(),
                fip_root: get("ROOT ").unwrap_or_default(),
                fds: get("FDS ")
                    .unwrap_or_default()
                    .split_whitespace()
                    .map(String::from)
                    .collect(),
            });
        }
        out
    }

    pub fn wait_calls(&self, client: &str, n: usize) -> Vec<Call> {
        assert!(
            wait_for(WAIT, || self.calls(client).len() >= n),
            "expected {n} calls for {client}, got {}; log:\n{}",
            self.calls(client).len(),
            self.log()
        );
        self.calls(client)
    }

    pub fn flags(&self) -> Vec<String> {
        fs::read_dir(self.path("x"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("SYN|"))
            .collect()
    }

    pub fn status(&self) -> String {
        fs::read_to_string(self.path("log/syn/ipsynd.status")).unwrap_or_default()
    }

    pub fn exists(&self, rel: &str) -> bool {
        self.path(rel).exists()
    }
}

impl Drop for Fip {
    fn drop(&mut self) {
        for mut c in self.daemons.drain(..) {
            let _ = c.kill();
            let _ = c.wait();
        }
        // Transmitters run in their own sessions: end those still running (pid = pgid).
        if let Ok(rd) = fs::read_dir(self.path("calls")) {
            for client in rd.flatten() {
                for f in fs::read_dir(client.path()).into_iter().flatten().flatten() {
                    let text = fs::read_to_string(f.path()).unwrap_or_default();
                    if let Some(pid) = text.lines().find_map(|l| {
                        l.strip_prefix("PID ")
                            .and_then(|p| p.trim().parse::<i32>().ok())
                    }) {
                        // Only if that pid is still our stand-in (its argv names this
                        // tree): never signal a group that a reused pid now leads.
                        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                        let ours = String::from_utf8_lossy(&cmdline)
                            .contains(self.root.to_string_lossy().as_ref());
                        if ours {
                            unsafe { libc::kill(-pid, libc::SIGKILL) };
                        }
                    }
                }
            }
        }
        if !std::thread::panicking() {
            let _ = fs::remove_dir_all(&self.root);
        } else {
            eprintln!("test tree kept: {}", self.root.display());
        }
    }
}

/// A uid (with no account) that no other test process uses at the same time: derived from
/// this process's pid.
pub fn unshared_uid() -> u32 {
    60_000 + std::process::id() % 5_000
}

/// Give `dir` and everything below it to user and group `uid` (symlinks themselves, not
/// their targets), for an ipsynd running as that user.
pub fn hand_over(dir: &Path, uid: u32) {
    std::os::unix::fs::lchown(dir, Some(uid), Some(uid)).unwrap();
    for e in fs::read_dir(dir).unwrap().flatten() {
        let md = fs::symlink_metadata(e.path()).unwrap();
        if md.is_dir() {
            hand_over(&e.path(), uid);
        } else {
            std::os::unix::fs::lchown(e.path(), Some(uid), Some(uid)).unwrap();
        }
    }
}

pub fn write_exec(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, text).unwrap();
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o755)).unwrap();
    fs::rename(&tmp, path).unwrap();
}

/// Write then rename, as an operator's editor would, so ipsynd never sees half a file.
pub fn write_atomic(path: &Path, text: &str) {
    let name = path.file_name().unwrap().to_string_lossy();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    fs::write(&tmp, text).unwrap();
    fs::rename(&tmp, path).unwrap();
}

/// Run `cmd` (stdout and stderr captured) and wait at most `limit` for it to exit; one
/// that is still running then is killed, and `None` says so.
pub fn run_bounded(cmd: &mut Command, limit: Duration) -> Option<std::process::Output> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    if !wait_for(limit, || child.try_wait().unwrap().is_some()) {
        let _ = child.kill();
        let _ = child.wait_with_output();
        return None;
    }
    Some(child.wait_with_output().unwrap())
}

/// Poll a fact every 20 ms until it holds or `limit` passes.
pub fn wait_for(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Largest number of calls running at once, from recorded start/end times.
pub fn max_overlap(calls: &[Call]) -> usize {
    let mut ev: Vec<(f64, i32)> = Vec::new();
    for c in calls {
        ev.push((c.start, 1));
        ev.push((c.end.unwrap_or(f64::MAX), -1));
    }
    ev.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let (mut cur, mut best) = (0i32, 0i32);
    for (_, d) in ev {
        cur += d;
        best = best.max(cur);
    }
    best as usize
}

/// CPU time (user + system) process `pid` has used so far, in milliseconds (0 once it is
/// gone).
pub fn cpu_ms(pid: i32) -> u64 {
    loncsyn::bench::procfs::cpu_ns(pid as u32).unwrap_or(0) / 1_000_000
}
