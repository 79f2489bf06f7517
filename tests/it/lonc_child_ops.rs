//! The per-peer child in operation: secrets never shown (status page, JSON, lonc.log, syslog,
//! process titles), process titles, `Idle <id>` once the last client left, clients beyond
//! RLIMIT_NOFILE told `con_lost` (reserve fd), and clients of a failing reconnect told
//! `con_lost` instead of meeting a bare end of file.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::os::unix::process::CommandExt;
use std::time::Duration;

use crate::lonc_common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// The command line `ps` shows for `pid` (trailing NUL padding dropped, NULs as spaces).
fn cmdline(pid: i32) -> String {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let text: Vec<u8> = raw.iter().map(|&b| if b == 0 { b' ' } else { b }).collect();
    String::from_utf8_lossy(&text).trim_end().to_string()
}

fn wait_title(pid: i32, want: &str) -> bool {
    wait_for(WAIT, || cmdline(pid) == want)
}

#[test]
fn encrypt_payload_never_shows_in_status_json_log_syslog_or_title() {
    let mut s = Setup::new("redact", &[peer("alpha")]);
    let syslog_path = s.dir.join("syslog.sock");
    let syslog = UnixDatagram::bind(&syslog_path).unwrap();
    syslog
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    s.set("loncSyslog", syslog_path.to_str().unwrap());
    s.set("loncReplyTimeout", "4");
    let l = s.start();
    assert!(s.wait_online("alpha"));
    let kid = l.children()[0];
    let secret = "OldPw1:NewPw2";
    // Answered after a delay, so the request is in flight while we look.
    let mut c = UnixStream::connect(s.sock("alpha")).unwrap();
    c.set_read_timeout(Some(WAIT)).unwrap();
    c.write_all(format!("encrypt:sleep:2500:passwd:msu:jdoe:{secret}\n").as_bytes())
        .unwrap();
    assert!(wait_got(
        s.standin("alpha"),
        format!("sleep:2500:passwd:msu:jdoe:{secret}").as_bytes(),
        1
    ));
    assert!(
        wait_title(kid, "lonc: alpha busy 1 clients"),
        "{}",
        cmdline(kid)
    );
    l.signal(Signal::SIGUSR1);
    let waiting = "Waiting for reply from alpha: encrypt:sleep:…";
    assert!(
        wait_for(WAIT, || fs::read_to_string(s.status_txt())
            .unwrap_or_default()
            .contains(waiting)),
        "{}",
        fs::read_to_string(s.status_txt()).unwrap_or_default()
    );
    assert!(wait_for(WAIT, || fs::read_to_string(s.status_json())
        .unwrap_or_default()
        .contains(&format!("\"pid\": {kid}"))));
    // The decrypted answer reaches its client, and only it.
    assert_eq!(
        read_line(&mut c).unwrap(),
        format!("passwd:msu:jdoe:{secret}").as_bytes()
    );
    // A timed-out encrypted request names only its command word too.
    assert_eq!(
        ask(&s.sock("alpha"), &format!("encrypt:sleep:9000:{secret}")),
        "con_lost"
    );
    assert!(
        s.wait_log("CRITICAL: Timeout alpha: encrypt:sleep:…"),
        "{}",
        s.log()
    );
    assert!(s.standin("alpha").wait_connections(2, WAIT));
    assert_eq!(ask(&s.sock("alpha"), "ping"), "alpha");
    let mut sent = String::new();
    let mut buf = [0u8; 8192];
    while let Ok(n) = syslog.recv(&mut buf) {
        sent.push_str(&String::from_utf8_lossy(&buf[..n]));
        sent.push('\n');
    }
    assert!(sent.contains("Timeout alpha: encrypt:sleep:…"), "{sent}");
    for (what, text) in [
        (
            "loncstatus.txt",
            fs::read_to_string(s.status_txt()).unwrap(),
        ),
        (
            "loncstatus.json",
            fs::read_to_string(s.status_json()).unwrap(),
        ),
        ("lonc.log", s.log()),
        ("syslog", sent),
    ] {
        for needle in ["OldPw1", "NewPw2", "jdoe", "enc:"] {
            assert!(!text.contains(needle), "{what} shows {needle:?}:\n{text}");
        }
    }
}

#[test]
fn titles_show_the_parent_and_each_child() {
    let s = Setup::new("titles", &[peer("h1"), peer("h2")]);
    let l = s.start();
    assert!(s.wait_online("h1") && s.wait_online("h2"));
    assert!(
        wait_title(l.pid, "lonc: parent 2 children"),
        "{:?}",
        cmdline(l.pid)
    );
    let kids = l.children();
    assert_eq!(kids.len(), 2);
    // wait_online's probe clients may still be leaving.
    let mut titles = Vec::new();
    assert!(
        wait_for(WAIT, || {
            titles = kids.iter().map(|&k| cmdline(k)).collect::<Vec<_>>();
            titles.sort();
            titles == ["lonc: h1 idle 0 clients", "lonc: h2 idle 0 clients"]
        }),
        "{titles:?}"
    );
    titles = kids.iter().map(|&k| cmdline(k)).collect();
    // The name pgrep and killall match stays the program's.
    let comm = fs::read_to_string(format!("/proc/{}/comm", kids[0])).unwrap();
    assert_eq!(comm.trim(), "lonc");
    // Clients are counted; the parent follows its children.
    let h1 = kids[titles.iter().position(|t| t.contains(" h1 ")).unwrap()];
    let a = UnixStream::connect(s.sock("h1")).unwrap();
    let b = UnixStream::connect(s.sock("h1")).unwrap();
    assert!(wait_title(h1, "lonc: h1 idle 2 clients"), "{}", cmdline(h1));
    drop((a, b));
    assert!(wait_title(h1, "lonc: h1 idle 0 clients"), "{}", cmdline(h1));
    assert_eq!(request(&s.sock("h1"), b"close_connection_exit"), None);
    assert!(s.wait_log("CRITICAL: Request Close Connection h1"));
    // The parent restarts it at once; in between it may show 1 child.
    assert!(wait_for(WAIT, || l.children().len() == 2));
    assert!(wait_title(l.pid, "lonc: parent 2 children"));
}

#[test]
fn a_child_reads_idle_once_its_last_client_has_left() {
    let s = Setup::new("idle", &[peer("h1")]);
    let l = s.start();
    assert!(s.wait_online("h1"));
    assert_eq!(ask(&s.sock("h1"), "echo:x"), "x");
    // The request's completion first; Idle once the client is gone (1.29's status field).
    let child_status = || {
        let text = fs::read_to_string(s.status_txt()).unwrap_or_default();
        let kid = l.children().first().copied().unwrap_or(0);
        text.lines()
            .find(|l| l.starts_with(&format!("{kid}\t")))
            .map(|l| l.split('\t').nth(1).unwrap_or("").to_string())
    };
    // The child may take the USR1 before it has seen this client's hang-up: ask again until
    // the page it writes says Idle.
    let idle_reported = || {
        wait_for(WAIT, || {
            let _ = fs::remove_file(s.status_txt());
            l.signal(Signal::SIGUSR1);
            wait_for(Duration::from_secs(2), || child_status().is_some())
                && child_status().unwrap().ends_with(": Idle h1")
        })
    };
    assert!(idle_reported(), "{:?}", child_status());
    // A client that stays connected after its answer: not idle until it leaves.
    let mut c = UnixStream::connect(s.sock("h1")).unwrap();
    c.set_read_timeout(Some(WAIT)).unwrap();
    c.write_all(b"echo:y\n").unwrap();
    assert_eq!(read_line(&mut c).unwrap(), b"y");
    let _ = fs::remove_file(s.status_txt());
    l.signal(Signal::SIGUSR1);
    assert!(wait_for(WAIT, || child_status().is_some()));
    let st = child_status().unwrap();
    assert!(st.ends_with(": Completed h1: echo:y"), "{st}");
    drop(c);
    assert!(idle_reported(), "{:?}", child_status());
}

/// What a client got: a line, end of file, or nothing yet.
#[derive(Debug, Clone, PartialEq)]
enum Got {
    Line(Vec<u8>),
    Eof,
    Nothing,
}

fn try_read(c: &mut UnixStream) -> Got {
    c.set_nonblocking(true).unwrap();
    let mut out = Vec::new();
    let mut b = [0u8; 64];
    loop {
        match c.read(&mut b) {
            Ok(0) => {
                return if out.is_empty() {
                    Got::Eof
                } else {
                    Got::Line(out)
                }
            }
            Ok(n) => {
                out.extend_from_slice(&b[..n]);
                if out.ends_with(b"\n") {
                    out.pop();
                    return Got::Line(out);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                return if out.is_empty() {
                    Got::Nothing
                } else {
                    Got::Line(out)
                };
            }
            Err(_) => {
                return if out.is_empty() {
                    Got::Eof
                } else {
                    Got::Line(out)
                }
            }
        }
    }
}

#[test]
fn clients_beyond_the_fd_limit_get_con_lost_and_one_warning() {
    const LIMIT: u64 = 32;
    let s = Setup::new("emfile", &[peer("h1")]);
    let l = s.start_with(|cmd| {
        // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                let lim = libc::rlimit {
                    rlim_cur: LIMIT,
                    rlim_max: LIMIT,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    });
    assert!(s.wait_online("h1"));
    let kid = l.children()[0];
    let open_fds = || fs::read_dir(format!("/proc/{kid}/fd")).unwrap().count() as u64;
    let free = LIMIT - open_fds();
    let total = free as usize + 12;
    let mut clients: Vec<UnixStream> = (0..total)
        .map(|_| UnixStream::connect(s.sock("h1")).unwrap())
        .collect();
    for c in &mut clients {
        c.write_all(b"echo:waiting\n").ok();
    }
    assert!(
        s.wait_log("WARNING: Out of file descriptors on h1: new clients get con_lost"),
        "{}",
        s.log()
    );
    // Each client is either served or told con_lost, none left waiting. A client's outcome is
    // kept once seen: its answer is consumed by the read, so reading it again finds nothing.
    let mut outcomes = vec![Got::Nothing; clients.len()];
    assert!(wait_for(WAIT, || {
        for (o, c) in outcomes.iter_mut().zip(clients.iter_mut()) {
            if *o == Got::Nothing {
                *o = try_read(c);
            }
        }
        outcomes.iter().all(|o| *o != Got::Nothing)
    }));
    let lost = outcomes
        .iter()
        .filter(|o| **o == Got::Line(b"con_lost".to_vec()))
        .count();
    let served = outcomes
        .iter()
        .filter(|o| **o == Got::Line(b"waiting".to_vec()))
        .count();
    assert_eq!(lost + served, total, "{outcomes:?}");
    assert!(lost >= 10 && served >= 1, "{lost} lost, {served} served");
    eprintln!(
        "emfile: RLIMIT_NOFILE {LIMIT}, {total} clients: {served} served, {lost} told con_lost"
    );
    assert_eq!(
        s.log_count("WARNING: Out of file descriptors on h1"),
        1,
        "{}",
        s.log()
    );
    drop(clients);
    assert_eq!(ask(&s.sock("h1"), "ping"), "h1");
    let end = format!(
        "INFO: h1 accepts clients again; {lost} refused with con_lost while out of file descriptors"
    );
    assert!(s.wait_log(&end), "{}", s.log());
    assert_eq!(l.children(), vec![kid], "the child lived on");
}

#[test]
fn clients_of_a_failing_reconnect_get_con_lost_not_a_bare_eof() {
    let s = Setup::new("failrec", &[peer("h1")]);
    let l = s.start();
    assert!(s.wait_online("h1"));
    let kid = l.children()[0];
    let standin = s.standin("h1");
    // A: connected and accepted, has sent nothing yet.
    let mut a = UnixStream::connect(s.sock("h1")).unwrap();
    assert!(
        wait_title(kid, "lonc: h1 idle 1 clients"),
        "{}",
        cmdline(kid)
    );
    // The link drops; the immediate reconnect's handshake fails, slowly.
    let slow = Duration::from_millis(1500);
    standin.fail_handshakes(Some(slow));
    standin.disconnect_all();
    assert!(wait_for(WAIT, || standin.accepted() >= 2));
    // Give the child time to send `init`, so the stand-in's delay runs while it is frozen.
    std::thread::sleep(Duration::from_millis(200));
    // Frozen while the refusal arrives: B and C wait in the backlog, B with a request.
    kill(Pid::from_raw(kid), Signal::SIGSTOP).unwrap();
    let mut b = UnixStream::connect(s.sock("h1")).unwrap();
    b.write_all(b"ping\n").unwrap();
    let mut c = UnixStream::connect(s.sock("h1")).unwrap();
    std::thread::sleep(slow + Duration::from_millis(500));
    kill(Pid::from_raw(kid), Signal::SIGCONT).unwrap();
    assert!(s.wait_log("WARNING: Init failed h1"), "{}", s.log());
    for (name, cl) in [("A", &mut a), ("B", &mut b), ("C", &mut c)] {
        cl.set_read_timeout(Some(WAIT)).unwrap();
        assert_eq!(
            read_line(cl).as_deref(),
            Some(b"con_lost".as_slice()),
            "client {name}:\n{}",
            s.log()
        );
    }
    standin.fail_handshakes(None);
}

#[test]
fn a_title_longer_than_the_arguments_runs_on_into_the_environment_block() {
    let s = Setup::new("longtitle", &[peer("h1")]);
    // argv is "l\0-c\0access.conf\0-f\0" (20 bytes): the parent's 23-byte title needs room
    // from the environment strings after it.
    let exe = s.dir.join("l");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_lonc"), &exe).unwrap();
    let child = std::process::Command::new(&exe)
        .arg0("l")
        .args(["-c", "access.conf", "-f"])
        .current_dir(&s.dir)
        .env_clear()
        .env("PADDING", "p".repeat(40))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    struct Stop(std::process::Child);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = kill(Pid::from_raw(-(self.0.id() as i32)), Signal::SIGKILL);
            let _ = self.0.wait();
        }
    }
    let _stop = Stop(child);
    assert!(s.wait_online("h1"), "{}", s.log());
    assert!(
        wait_title(pid, "lonc: parent 1 children"),
        "{:?}",
        cmdline(pid)
    );
    let kid = children_of(pid)[0];
    assert!(
        wait_title(kid, "lonc: h1 idle 0 clients"),
        "{:?}",
        cmdline(kid)
    );
}
