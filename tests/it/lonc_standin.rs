//! The lond stand-in, driven by a plain TcpStream client doing what a lonc child does:
//! handshake, `ekey`, encrypted requests; plus its test-only commands and the binary.

use loncsyn::lonc::cipher::{derive_key, LineCipher};
use loncsyn::lonc::standin::{Standin, StandinOptions, DEFAULT_BUILDKEY};
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(15);

struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Client {
    fn connect(addr: SocketAddr) -> Client {
        let s = TcpStream::connect_timeout(&addr, TIMEOUT).expect("connect");
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        Client {
            reader: BufReader::new(s.try_clone().unwrap()),
            writer: s,
        }
    }

    fn send(&mut self, line: &[u8]) {
        let mut buf = line.to_vec();
        buf.push(b'\n');
        self.writer.write_all(&buf).unwrap();
    }

    /// One line with its newline; empty at end of file.
    fn read_raw(&mut self) -> std::io::Result<Vec<u8>> {
        let mut line = Vec::new();
        self.reader.read_until(b'\n', &mut line)?;
        Ok(line)
    }

    fn ask(&mut self, line: &str) -> String {
        self.send(line.as_bytes());
        let got = self.read_raw().expect("answer");
        let text = String::from_utf8(got).unwrap();
        text.strip_suffix('\n')
            .unwrap_or_else(|| panic!("no newline in {text:?}"))
            .to_string()
    }

    /// init, challenge echo (newline included, as 1.29), expects `ok`.
    fn handshake(addr: SocketAddr) -> Client {
        let mut c = Client::connect(addr);
        c.send(b"init");
        let challenge = c.read_raw().unwrap();
        assert!(
            challenge.len() > 1
                && challenge[..challenge.len() - 1]
                    .iter()
                    .all(u8::is_ascii_digit)
        );
        c.writer.write_all(&challenge).unwrap();
        assert_eq!(c.read_raw().unwrap(), b"ok\n");
        c
    }

    /// `ekey` and the lonc-side cipher (buildkey WITH its newline).
    fn ekey(&mut self, remote: &str, local: &str) -> LineCipher {
        self.send(b"ekey");
        let bk = self.read_raw().unwrap();
        assert_eq!(bk.last(), Some(&b'\n'));
        LineCipher::new(derive_key(remote, local, &bk))
    }
}

fn start(host: &str, peer: &str) -> Standin {
    Standin::start(
        "127.0.0.1:0".parse().unwrap(),
        StandinOptions::new(host, peer),
    )
    .unwrap()
}

#[test]
fn handshake_ping_pong_and_encrypted_request() {
    let lond = start("msul1", "msua3");
    let mut c = Client::handshake(lond.local_addr());
    assert!(lond.wait_connections(1, TIMEOUT));
    assert_eq!(c.ask("pong"), "msul1:msua3");
    let cipher = c.ekey("msul1", "msua3");
    assert_eq!(c.ask("ping"), "msul1");
    // Research §7.7 vector 1, byte for byte on the wire.
    let line = cipher.encrypt_request(b"currentauth:msu:smith");
    assert_eq!(
        line,
        b"enc:21:39ac65fd46aaa973cb0aac49b9741e3b3715372466ad19c8".to_vec()
    );
    c.send(&line);
    assert_eq!(c.read_raw().unwrap(), b"unknown_user\n");
    // An encrypted test command and an encrypted answer.
    let answer =
        c.ask(std::str::from_utf8(&cipher.encrypt_request(b"encecho:hello there")).unwrap());
    assert_eq!(
        cipher.decrypt_reply(answer.as_bytes()).unwrap(),
        b"hello there"
    );
    let echoed = c.ask(std::str::from_utf8(&cipher.encrypt_request(b"echo:plain back")).unwrap());
    assert_eq!(echoed, "plain back");
    assert!(lond.wait_received(6, TIMEOUT));
    let received: Vec<String> = lond
        .received()
        .into_iter()
        .map(|l| String::from_utf8(l).unwrap())
        .collect();
    assert_eq!(
        received,
        [
            "pong",
            "ekey",
            "ping",
            "currentauth:msu:smith",
            "encecho:hello there",
            "echo:plain back"
        ]
    );
    let raw = lond.received_raw();
    assert_eq!(raw[3], line);
    assert_eq!(lond.connections(), 1);
    lond.stop();
}

#[test]
fn test_only_commands() {
    let lond = start("msul1", "msua3");
    let mut c = Client::handshake(lond.local_addr());
    assert_eq!(c.ask("echo:a:b:c"), "a:b:c");
    assert_eq!(c.ask("empty"), "");
    assert_eq!(c.ask("nonsense"), "unknown_cmd");
    assert_eq!(c.ask("exit"), "unknown_cmd");
    assert_eq!(c.ask("auth:msu:jdoe:pw"), "refused");
    assert_eq!(c.ask("garbage_enc"), "enc:5:zz");
    assert_eq!(c.ask("encecho:x"), "unknown_cmd", "no cipher before ekey");
    let cipher = c.ekey("msul1", "msua3");
    let answer = c.ask("encecho:in clear");
    assert_eq!(
        cipher.decrypt_reply(answer.as_bytes()).unwrap(),
        b"in clear"
    );
    let cut = c.ask("truncated_enc");
    assert!(cut.starts_with("enc:"), "{cut}");
    assert!(cipher.decrypt_reply(cut.as_bytes()).is_err());
    let t0 = Instant::now();
    assert_eq!(c.ask("sleep:300:late"), "late");
    assert!(t0.elapsed() >= Duration::from_millis(300));
    // Bytes pass unchanged, \r included.
    c.send(b"echo:\xff\x01 x\r");
    assert_eq!(c.read_raw().unwrap(), b"\xff\x01 x\r\n");
}

#[test]
fn close_reset_and_hang() {
    let lond = start("msul1", "msua3");
    let mut c = Client::handshake(lond.local_addr());
    c.send(b"close");
    assert_eq!(
        c.read_raw().unwrap(),
        b"",
        "close: end of file without an answer"
    );

    let mut c = Client::handshake(lond.local_addr());
    c.send(b"reset");
    let mut buf = [0u8; 16];
    let err = c
        .reader
        .read(&mut buf)
        .expect_err("reset must be an error, not EOF");
    assert_eq!(err.kind(), ErrorKind::ConnectionReset);

    let mut c = Client::handshake(lond.local_addr());
    c.writer
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    c.send(b"hang");
    let err = c.read_raw().expect_err("hang must not answer");
    assert!(matches!(
        err.kind(),
        ErrorKind::WouldBlock | ErrorKind::TimedOut
    ));
    // Stopping the stand-in closes the hung connection too.
    c.writer.set_read_timeout(Some(TIMEOUT)).unwrap();
    lond.stop();
    assert_eq!(c.read_raw().unwrap_or_default(), b"");
}

#[test]
fn hold_answers_once_released_and_stop_ends_a_held_request() {
    let lond = start("msul1", "msua3");
    let mut c = Client::handshake(lond.local_addr());
    c.send(b"hold:one");
    c.send(b"echo:two");
    assert!(lond.wait_received(1, TIMEOUT));
    // Nothing answered before the release: the held request blocks its connection.
    c.writer.set_nonblocking(true).unwrap();
    let mut b = [0u8; 1];
    let peek = c.writer.peek(&mut b);
    assert!(
        matches!(&peek, Err(e) if e.kind() == ErrorKind::WouldBlock),
        "{peek:?}"
    );
    c.writer.set_nonblocking(false).unwrap();
    lond.release(b"other");
    lond.release(b"one");
    assert_eq!(c.read_raw().unwrap(), b"one\n");
    assert_eq!(c.read_raw().unwrap(), b"two\n");
    // A text released once stays released.
    assert_eq!(c.ask("hold:one"), "one");
    c.send(b"hold:never");
    assert!(lond.wait_received(4, TIMEOUT));
    lond.stop();
    assert_eq!(c.read_raw().unwrap_or_default(), b"");
}

#[test]
fn refused_handshakes() {
    let mut opts = StandinOptions::new("msul1", "msua3");
    opts.refuse_handshake = true;
    let lond = Standin::start("127.0.0.1:0".parse().unwrap(), opts).unwrap();
    let mut c = Client::connect(lond.local_addr());
    c.send(b"init");
    let challenge = c.read_raw().unwrap();
    c.writer.write_all(&challenge).unwrap();
    assert_eq!(c.read_raw().unwrap(), b"refused\n");
    assert_eq!(c.read_raw().unwrap(), b"");
    assert_eq!(lond.connections(), 0);
    assert_eq!(lond.accepted(), 1);

    let lond = start("msul1", "msua3");
    // Wrong challenge echo.
    let mut c = Client::connect(lond.local_addr());
    c.send(b"init");
    c.read_raw().unwrap();
    c.send(b"12345");
    assert_eq!(c.read_raw().unwrap(), b"refused\n");
    // Not init at all.
    let mut c = Client::connect(lond.local_addr());
    c.send(b"ping");
    assert_eq!(c.read_raw().unwrap(), b"refused\n");
    // lond strips non-word characters: "init\r" is fine.
    let mut c = Client::connect(lond.local_addr());
    c.send(b"init\r");
    let challenge = c.read_raw().unwrap();
    c.writer.write_all(&challenge).unwrap();
    assert_eq!(c.read_raw().unwrap(), b"ok\n");
    assert!(lond.wait_connections(1, TIMEOUT));
}

#[test]
fn key_mismatch_of_short_ids_gives_unknown_cmd() {
    // Research §7.7 vector 4: ids + buildkey < 32 characters, lonc's key has the "\n" in it.
    let mut opts = StandinOptions::new("l1", "a1");
    opts.buildkey = "5A0ADFEB09A1B3".into();
    let lond = Standin::start("127.0.0.1:0".parse().unwrap(), opts).unwrap();
    let mut c = Client::handshake(lond.local_addr());
    let cipher = c.ekey("l1", "a1");
    let line = cipher.encrypt_request(b"echo:x");
    c.send(&line);
    assert_eq!(c.read_raw().unwrap(), b"unknown_cmd\n");
}

#[test]
fn many_connections_at_once() {
    let lond = start("msul1", "msua3");
    let mut clients: Vec<Client> = (0..8)
        .map(|_| Client::handshake(lond.local_addr()))
        .collect();
    assert!(lond.wait_connections(8, TIMEOUT));
    for (i, c) in clients.iter_mut().enumerate() {
        assert_eq!(c.ask(&format!("echo:{i}")), i.to_string());
    }
    lond.disconnect_all();
    for c in clients.iter_mut() {
        assert_eq!(c.read_raw().unwrap_or_default(), b"");
    }
    // Still listening after disconnect_all.
    let mut c = Client::handshake(lond.local_addr());
    assert_eq!(c.ask("ping"), "msul1");
}

fn wait_for_file(path: &Path, child: &mut Child) -> String {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            if text.ends_with('\n') {
                return text;
            }
        }
        if let Some(st) = child.try_wait().unwrap() {
            panic!("lond-standin exited early: {st}");
        }
        assert!(Instant::now() < deadline, "no port file {}", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lonc-standin-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn binary_writes_port_file_serves_and_stops_on_term() {
    let dir = temp_dir("bin");
    let port_file = dir.join("port");
    let mut child = Command::new(env!("CARGO_BIN_EXE_lond-standin"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--host-id",
            "msul1",
            "--peer-id",
            "msua3",
        ])
        .args(["--buildkey", DEFAULT_BUILDKEY, "--port-file"])
        .arg(&port_file)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let port: u16 = wait_for_file(&port_file, &mut child)
        .trim()
        .parse()
        .unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut c = Client::handshake(addr);
    assert_eq!(c.ask("pong"), "msul1:msua3");
    let cipher = c.ekey("msul1", "msua3");
    let answer = c.ask(std::str::from_utf8(&cipher.encrypt_request(b"encecho:42")).unwrap());
    assert_eq!(cipher.decrypt_reply(answer.as_bytes()).unwrap(), b"42");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(Instant::now() < deadline, "lond-standin did not stop");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
    assert!(!port_file.exists(), "port file removed at exit");
    assert_eq!(c.read_raw().unwrap_or_default(), b"");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn binary_usage_error_is_64() {
    let st = Command::new(env!("CARGO_BIN_EXE_lond-standin"))
        .arg("--bogus")
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(64));
}
