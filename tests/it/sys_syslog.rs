//! Both daemons' syslog copies (`sys::syslog`) received by a real `rsyslogd` of the test's
//! own: imuxsock on a private socket, omfile into the test's directory, its own pid file and
//! work directory, nothing that touches the system's logging. Each line must arrive with
//! facility daemon, the severity its CRITICAL/WARNING/INFO prefix says, and the pid of the
//! process that sent it (as the tag says and as the kernel's credentials confirm).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::ipsynd_common::Fip;
use crate::lonc_common::*;

/// A private rsyslogd; stopped (TERM, then KILL) when dropped.
struct Rsyslogd {
    child: Child,
    pub sock: PathBuf,
    pub out: PathBuf,
}

impl Rsyslogd {
    fn start(dir: &Path) -> Rsyslogd {
        let work = dir.join("rsyslog-work");
        fs::create_dir_all(&work).unwrap();
        let sock = dir.join("log.sock");
        let out = dir.join("syslog.out");
        let conf = dir.join("rsyslog.conf");
        // %procid% is the pid from the message's tag; $!pid is the sender's pid from the
        // socket credentials (ParseTrusted).
        fs::write(
            &conf,
            format!(
                r#"global(workDirectory="{work}")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="{sock}" CreatePath="on" Annotate="on" ParseTrusted="on" RateLimit.Interval="0")
template(name="t" type="string" string="%syslogfacility-text%|%syslogseverity-text%|%programname%|%procid%|%$!pid%|%msg%\n")
*.* action(type="omfile" file="{out}" template="t")
"#,
                work = work.display(),
                sock = sock.display(),
                out = out.display()
            ),
        )
        .unwrap();
        // /usr/sbin is not on every PATH.
        let prog = ["/usr/sbin/rsyslogd", "/sbin/rsyslogd"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .unwrap_or("rsyslogd");
        let child = Command::new(prog)
            .arg("-n")
            .arg("-f")
            .arg(&conf)
            .arg("-i")
            .arg(dir.join("rsyslogd.pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("rsyslogd (Debian package rsyslog, installed by scripts/setup.sh)");
        let r = Rsyslogd { child, sock, out };
        assert!(
            wait_for(WAIT, || r.sock.exists()),
            "rsyslogd made no socket"
        );
        // The socket exists a moment before rsyslogd asks for the senders' credentials: send
        // probes until one arrives with them.
        let me = std::process::id().to_string();
        let probe = std::os::unix::net::UnixDatagram::unbound().unwrap();
        assert!(
            wait_for(WAIT, || {
                let _ = probe.send_to(format!("<30>probe[{me}]: ready").as_bytes(), &r.sock);
                std::thread::sleep(std::time::Duration::from_millis(20));
                r.lines().iter().any(|l| l[2] == "probe" && l[4] == me)
            }),
            "rsyslogd never received a probe with credentials"
        );
        r
    }

    /// The received lines: facility, severity, program, tag pid, credential pid, message.
    fn lines(&self) -> Vec<[String; 6]> {
        fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.splitn(6, '|').collect();
                (f.len() == 6).then(|| std::array::from_fn(|i| f[i].trim().to_string()))
            })
            .collect()
    }

    /// Wait for the line whose message contains `needle`.
    fn wait_line(&self, needle: &str) -> [String; 6] {
        let mut found = None;
        wait_for(WAIT, || {
            found = self.lines().into_iter().find(|f| f[5].contains(needle));
            found.is_some()
        });
        found.unwrap_or_else(|| {
            panic!(
                "no syslog line with {needle:?}; got:\n{}",
                fs::read_to_string(&self.out).unwrap_or_default()
            )
        })
    }
}

impl Drop for Rsyslogd {
    fn drop(&mut self) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        if !wait_for(std::time::Duration::from_secs(5), || {
            matches!(self.child.try_wait(), Ok(Some(_)))
        }) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn expect(line: &[String; 6], severity: &str, program: &str, pid: i32) {
    assert_eq!(line[0], "daemon", "{line:?}");
    assert_eq!(line[1], severity, "{line:?}");
    assert_eq!(line[2], program, "{line:?}");
    assert_eq!(
        line[3],
        pid.to_string(),
        "the tag names the sender: {line:?}"
    );
    assert_eq!(line[4], pid.to_string(), "the kernel agrees: {line:?}");
}

#[test]
fn lonc_lines_reach_a_real_rsyslogd() {
    let mut s = Setup::new("rsyslog", &[peer("h1")]);
    let r = Rsyslogd::start(&s.dir);
    s.set("loncSyslog", &r.sock.display().to_string());
    fs::write(s.delayed_dir().join("100.empty.h1"), "").unwrap();
    let l = s.start();
    assert!(s.wait_online("h1"));
    let kids = l.children();
    assert_eq!(kids.len(), 1, "one child for h1");
    expect(
        &r.wait_line("CRITICAL: ---------- Starting ----------"),
        "crit",
        "lonc",
        l.pid,
    );
    expect(&r.wait_line("h1 online"), "info", "lonc", kids[0]);
    expect(
        &r.wait_line("WARNING: Delayed message"),
        "warning",
        "lonc",
        kids[0],
    );
}

#[test]
fn ipsynd_lines_reach_a_real_rsyslogd() {
    let mut f = Fip::new("rsyslog");
    let r = Rsyslogd::start(&f.root.join("local"));
    f.ipsynd_table(&format!(
        "ipsyn:{}\nrescan:1\ngrace:1\nsyslog:{}\n",
        f.standin.display(),
        r.sock.display()
    ));
    let pid = f.start();
    let line = r.wait_line(&format!("- started, version {}", env!("CARGO_PKG_VERSION")));
    expect(&line, "info", "ipsynd", pid);
    // The log file turned into something unwritable: the warning reaches syslog.
    fs::remove_file(f.path("log/ipsynd.log")).unwrap();
    fs::create_dir(f.path("log/ipsynd.log")).unwrap();
    f.signal(libc::SIGHUP);
    expect(
        &r.wait_line("WARNING: unable to write"),
        "warning",
        "ipsynd",
        pid,
    );
    expect(
        &r.wait_line("- SIGHUP: re-reading the tables"),
        "info",
        "ipsynd",
        pid,
    );
    let _ = r.wait_line("- tables read");
    // `syslog:no` in a re-read table stops the copies.
    fs::remove_dir(f.path("log/ipsynd.log")).unwrap();
    f.ipsynd_table(&format!(
        "ipsyn:{}\nrescan:1\nsyslog:no\n",
        f.standin.display()
    ));
    assert!(f.wait_log("tables read"));
    let hups = |r: &Rsyslogd| r.lines().iter().filter(|l| l[5].contains("SIGHUP")).count();
    let n = hups(&r);
    f.signal(libc::SIGHUP);
    assert!(f.wait_log("SIGHUP: re-reading the tables"));
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(hups(&r), n, "no copies after syslog:no");
}
