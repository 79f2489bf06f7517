//! A lond stand-in speaking the early-2002 server side (research §6.3-6.5), for tests, demo and
//! bench. Test code, not a daemon: it uses one accept thread plus one thread per connection.
//!
//! Per connection: `init` (non-word characters stripped) gets a challenge (pid followed by epoch
//! seconds, digits only); the echo (stripped the same way) must match, then `ok`. Anything else,
//! or `refuse_handshake`, gets `refused` and the connection is closed ([`Standin::fail_handshakes`]
//! makes handshakes fail slowly at run time). After that every line
//! gets exactly one answer line (see [`respond`]):
//!
//! | request | answer |
//! |---|---|
//! | `ping` | own host id |
//! | `pong` | `<own id>:<peer id>` (the reverse ping as if it worked) |
//! | `ekey` | the buildkey; from now on `enc:` lines are decrypted with lond's key |
//! | `enc:<len>:<hex>` | the inner command's answer; `unknown_cmd` before `ekey` or if malformed |
//! | `auth`, `currentauth`, `passwd`, `makeuser`, `changeuserauth` | `refused` in clear, `unknown_user` encrypted (no user store) |
//! | anything else | `unknown_cmd` |
//!
//! Test-only commands (a real lond answers `unknown_cmd`): `echo:<text>` -> `<text>`,
//! `empty` -> empty line, `sleep:<ms>:<text>` -> `<text>` after the delay, `hold:<text>` ->
//! `<text>` once the test calls [`Standin::release`] with it (a request that stays in flight
//! exactly as long as a test needs, whatever the load), `hang` -> never answer (the
//! connection stays open), `close` -> close without answering, `reset` -> close with
//! RST, `garbage_enc` -> `enc:5:zz`, `truncated_enc` -> a valid `enc:` answer cut short,
//! `encecho:<text>` -> `<text>` as an `enc:` answer (`unknown_cmd` before `ekey`),
//! `flood:<bytes>` -> that many bytes with no newline, then nothing more (the connection stays
//! open until the peer closes it). They work in clear and inside `enc:` lines alike.

use super::cipher::{derive_key, LineCipher};
use std::io::{self, BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A realistic 30-character buildkey (research §7.7 vector 1).
pub const DEFAULT_BUILDKEY: &str = "48213A0ADFEB09AABCDE7C9B055021";

/// Longest request line the stand-in reads (it is test code, but must not eat all memory).
const MAX_REQUEST: usize = 64 * 1024 * 1024;

/// Security commands that lond refused unless they arrived encrypted.
const SECURE_COMMANDS: [&str; 5] = [
    "auth",
    "currentauth",
    "passwd",
    "makeuser",
    "changeuserauth",
];

#[derive(Debug, Clone)]
pub struct StandinOptions {
    /// This lond's host id (`ping` answers it; first part of lond's key).
    pub host_id: String,
    /// The connecting lonc's `lonHostID` (second part of lond's key; `pong` answers it).
    pub peer_id: String,
    /// What `ekey` answers (sent with `\n`; lond's key uses it without).
    pub buildkey: String,
    /// Answer `refused` instead of `ok` after the challenge echo, and close.
    pub refuse_handshake: bool,
    /// Keep every request for [`Standin::received`] (the binary turns this off for benches).
    pub record: bool,
    /// Print each connection and request on stderr.
    pub verbose: bool,
}

impl StandinOptions {
    pub fn new(host_id: &str, peer_id: &str) -> StandinOptions {
        StandinOptions {
            host_id: host_id.to_string(),
            peer_id: peer_id.to_string(),
            buildkey: DEFAULT_BUILDKEY.to_string(),
            refuse_handshake: false,
            record: true,
            verbose: false,
        }
    }
}

/// What the connection does after a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send this line (a `\n` is added).
    Answer(Vec<u8>),
    /// Send this line after the delay.
    Delayed(Duration, Vec<u8>),
    /// Send this line once [`Standin::release`] was called with it.
    Hold(Vec<u8>),
    /// Never answer; keep reading and discarding until the peer goes.
    Hang,
    /// Close without answering.
    Close,
    /// Close with a TCP RST (SO_LINGER 0).
    Reset,
    /// Send this many bytes without a newline, then behave as [`Action::Hang`].
    Flood(usize),
}

/// Per-connection protocol state after the handshake.
#[derive(Debug, Default)]
pub struct Session {
    /// Set by `ekey`: lond's cipher (its own id first, buildkey without `\n`).
    pub cipher: Option<LineCipher>,
}

/// What one request line turns into: the command as dispatched (decrypted for a good `enc:`
/// line) and the action. Pure apart from updating `session`.
pub fn respond(line: &[u8], opts: &StandinOptions, session: &mut Session) -> (Vec<u8>, Action) {
    // lond tested /^enc/; "enc:" keeps the clear `encecho:` test command usable and answers
    // every other line the same way (garbage decrypts to an unknown command).
    if line.starts_with(b"enc:") {
        let Some(cipher) = &session.cipher else {
            return (line.to_vec(), answer("unknown_cmd"));
        };
        return match cipher.decrypt_request(line) {
            Ok(cmd) => {
                let action = dispatch(&cmd, true, opts, session);
                (cmd, action)
            }
            Err(_) => (line.to_vec(), answer("unknown_cmd")),
        };
    }
    (line.to_vec(), dispatch(line, false, opts, session))
}

fn answer(s: &str) -> Action {
    Action::Answer(s.as_bytes().to_vec())
}

fn dispatch(cmd: &[u8], encrypted: bool, opts: &StandinOptions, session: &mut Session) -> Action {
    let (verb, rest) = match cmd.iter().position(|&b| b == b':') {
        Some(i) => (&cmd[..i], Some(&cmd[i + 1..])),
        None => (cmd, None),
    };
    match (verb, rest) {
        (b"ping", None) => answer(&opts.host_id),
        (b"pong", None) => answer(&format!("{}:{}", opts.host_id, opts.peer_id)),
        (b"ekey", None) => {
            let key = derive_key(&opts.host_id, &opts.peer_id, opts.buildkey.as_bytes());
            session.cipher = Some(LineCipher::new(key));
            answer(&opts.buildkey)
        }
        (b"echo", Some(text)) => Action::Answer(text.to_vec()),
        (b"empty", None) => Action::Answer(Vec::new()),
        (b"sleep", Some(arg)) => {
            let Some(colon) = arg.iter().position(|&b| b == b':') else {
                return answer("unknown_cmd");
            };
            let ms = std::str::from_utf8(&arg[..colon])
                .ok()
                .and_then(|s| s.parse::<u64>().ok());
            match ms {
                Some(ms) => Action::Delayed(Duration::from_millis(ms), arg[colon + 1..].to_vec()),
                None => answer("unknown_cmd"),
            }
        }
        (b"hold", Some(text)) => Action::Hold(text.to_vec()),
        (b"hang", None) => Action::Hang,
        (b"flood", Some(n)) => match std::str::from_utf8(n).ok().and_then(|s| s.parse().ok()) {
            Some(n) => Action::Flood(n),
            None => answer("unknown_cmd"),
        },
        (b"close", None) => Action::Close,
        (b"reset", None) => Action::Reset,
        (b"garbage_enc", None) => answer("enc:5:zz"),
        (b"truncated_enc", None) => {
            let cipher = session
                .cipher
                .clone()
                .unwrap_or_else(|| LineCipher::new([0; 16]));
            let mut line = cipher.encrypt_reply(b"this answer was cut short");
            line.truncate(line.len() - 8);
            Action::Answer(line)
        }
        (b"encecho", Some(text)) => match &session.cipher {
            Some(c) => Action::Answer(c.encrypt_reply(text)),
            None => answer("unknown_cmd"),
        },
        (verb, Some(_)) if SECURE_COMMANDS.iter().any(|c| c.as_bytes() == verb) => {
            answer(if encrypted { "unknown_user" } else { "refused" })
        }
        _ => answer("unknown_cmd"),
    }
}

/// lond compared `init` and the challenge after deleting every non-word character.
fn strip_nonword(line: &[u8]) -> Vec<u8> {
    line.iter()
        .copied()
        .filter(|&b| b.is_ascii_alphanumeric() || b == b'_')
        .collect()
}

/// What tests can observe.
#[derive(Debug, Default)]
struct Counters {
    received: Vec<Vec<u8>>,
    received_raw: Vec<Vec<u8>>,
    accepted: usize,
    connections: usize,
    /// The texts [`Standin::release`] was called with: `hold:<text>` answers once its text is here.
    released: Vec<Vec<u8>>,
}

struct Shared {
    opts: StandinOptions,
    stop: AtomicBool,
    /// [`Standin::fail_handshakes`]: 0 = off, else the delay in ms plus one.
    fail_handshakes: AtomicU64,
    counters: Mutex<Counters>,
    changed: Condvar,
    /// A clone of every open connection, by accept number, so `stop` can shut them down.
    open: Mutex<Vec<(usize, TcpStream)>>,
}

impl Shared {
    fn counters(&self) -> MutexGuard<'_, Counters> {
        // A panicking connection thread must not take the observers down with it.
        self.counters.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn update(&self, f: impl FnOnce(&mut Counters)) {
        f(&mut self.counters());
        self.changed.notify_all();
    }

    /// Drops our kept clone of a finished connection, so its descriptor really closes.
    fn forget(&self, id: usize) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.retain(|(i, _)| *i != id);
    }

    fn log(&self, msg: impl FnOnce() -> String) {
        if self.opts.verbose {
            // Not eprintln!: it panics on a closed stderr (`lond-standin --verbose 2>&1 | head`).
            crate::sys::stdio::warn(&format!("lond-standin: {}", msg()));
        }
    }
}

/// A running stand-in; dropping it stops it.
pub struct Standin {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<Vec<JoinHandle<()>>>>,
}

impl Standin {
    /// Binds `addr` (port 0 picks a free port) and serves on background threads.
    pub fn start(addr: SocketAddr, opts: StandinOptions) -> io::Result<Standin> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            opts,
            stop: AtomicBool::new(false),
            fail_handshakes: AtomicU64::new(0),
            counters: Mutex::new(Counters::default()),
            changed: Condvar::new(),
            open: Mutex::new(Vec::new()),
        });
        let acceptor_shared = Arc::clone(&shared);
        let acceptor = std::thread::Builder::new()
            .name("standin-accept".into())
            .spawn(move || accept_loop(listener, acceptor_shared))?;
        Ok(Standin {
            addr,
            shared,
            acceptor: Some(acceptor),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request line received after a handshake, across connections, in arrival order,
    /// without its newline, as dispatched: a well-formed `enc:` line appears decrypted (the
    /// wire form is in [`Standin::received_raw`]); any other line appears as received.
    pub fn received(&self) -> Vec<Vec<u8>> {
        self.shared.counters().received.clone()
    }

    /// The same requests exactly as they came over the wire.
    pub fn received_raw(&self) -> Vec<Vec<u8>> {
        self.shared.counters().received_raw.clone()
    }

    /// Handshakes completed (`ok` sent) so far.
    pub fn connections(&self) -> usize {
        self.shared.counters().connections
    }

    /// TCP connections open right now (lonc's links that have not closed yet).
    pub fn open_connections(&self) -> usize {
        self.shared
            .open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// TCP connections accepted so far (refused handshakes included).
    pub fn accepted(&self) -> usize {
        self.shared.counters().accepted
    }

    /// Answer every `hold:<text>` request with this text, those waiting now and any later one.
    pub fn release(&self, text: &[u8]) {
        self.shared.update(|c| c.released.push(text.to_vec()));
    }

    /// Waits until `connections() >= n`; false on timeout.
    pub fn wait_connections(&self, n: usize, timeout: Duration) -> bool {
        self.wait_until(timeout, |c| c.connections >= n)
    }

    /// Waits until `received().len() >= n`; false on timeout.
    pub fn wait_received(&self, n: usize, timeout: Duration) -> bool {
        self.wait_until(timeout, |c| c.received.len() >= n)
    }

    fn wait_until(&self, timeout: Duration, done: impl Fn(&Counters) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut c = self.shared.counters();
        loop {
            if done(&c) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            c = match self.shared.changed.wait_timeout(c, deadline - now) {
                Ok((guard, _)) => guard,
                Err(e) => e.into_inner().0,
            };
        }
    }

    /// From now on (`Some`), or no longer (`None`): every new handshake waits `delay` after
    /// `init`, then closes the connection without answering (a peer whose handshakes fail
    /// slowly, as under heavy packet loss).
    pub fn fail_handshakes(&self, delay: Option<Duration>) {
        let v = delay.map_or(0, |d| d.as_millis() as u64 + 1);
        self.shared.fail_handshakes.store(v, Ordering::SeqCst);
    }

    /// Closes every open connection from this side (a lond that went away), keeps listening.
    pub fn disconnect_all(&self) {
        let open = std::mem::take(&mut *self.shared.open.lock().unwrap_or_else(|e| e.into_inner()));
        for (_, s) in open {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// Stops listening, closes every connection and joins the threads.
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for Standin {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.disconnect_all();
        // Wake the blocking accept with a connection of our own.
        let mut wake = self.addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        let woke = TcpStream::connect_timeout(&wake, Duration::from_secs(5)).is_ok();
        // Without the wake-up connection the accept thread may never return: leave it.
        if let Some(acceptor) = self.acceptor.take().filter(|_| woke) {
            if let Ok(workers) = acceptor.join() {
                self.disconnect_all();
                for w in workers {
                    let _ = w.join();
                }
            }
        }
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) -> Vec<JoinHandle<()>> {
    let mut workers = Vec::new();
    for (id, incoming) in listener.incoming().enumerate() {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = incoming else { continue };
        let _ = stream.set_nodelay(true);
        if let Ok(clone) = stream.try_clone() {
            shared
                .open
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((id, clone));
        }
        shared.update(|c| c.accepted += 1);
        let conn_shared = Arc::clone(&shared);
        let spawned = std::thread::Builder::new()
            .name("standin-conn".into())
            .spawn(move || {
                let peer = stream.peer_addr().ok();
                if let Err(e) = serve(stream, &conn_shared) {
                    conn_shared.log(|| format!("{peer:?}: {e}"));
                }
                conn_shared.forget(id);
                conn_shared.log(|| format!("{peer:?}: closed"));
            });
        if let Ok(handle) = spawned {
            workers.push(handle);
        }
        // Keep only running workers so a long bench does not pile up handles.
        workers.retain(|w| !w.is_finished());
    }
    workers
}

/// One line without its `\n`; `None` at end of file (a partial last line is dropped).
fn read_line<R: BufRead>(reader: &mut R) -> io::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    let n = <&mut R as io::Read>::take(reader, MAX_REQUEST as u64).read_until(b'\n', &mut line)?;
    if n == 0 || line.last() != Some(&b'\n') {
        return Ok(None);
    }
    line.pop();
    Ok(Some(line))
}

fn send_line(w: &mut TcpStream, line: &[u8]) -> io::Result<()> {
    let mut buf = Vec::with_capacity(line.len() + 1);
    buf.extend_from_slice(line);
    buf.push(b'\n');
    w.write_all(&buf)
}

fn challenge() -> String {
    let epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("{}{}", std::process::id(), epoch)
}

fn serve(stream: TcpStream, shared: &Shared) -> io::Result<()> {
    let opts = &shared.opts;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    let peer = writer.peer_addr()?;
    let Some(init) = read_line(&mut reader)? else {
        return Ok(());
    };
    if strip_nonword(&init) != b"init" {
        shared.log(|| format!("{peer}: refused, first line {:?}", lossy(&init)));
        return send_line(&mut writer, b"refused");
    }
    let fail_ms = shared.fail_handshakes.load(Ordering::SeqCst);
    if fail_ms > 0 {
        if !sleep_unless_stopped(shared, Duration::from_millis(fail_ms - 1)) {
            return Ok(());
        }
        // Closed without a word: lonc learns of it from the end of file alone.
        shared.log(|| format!("{peer}: handshake failed on purpose"));
        return writer.shutdown(Shutdown::Both);
    }
    let challenge = challenge();
    send_line(&mut writer, challenge.as_bytes())?;
    let Some(echo) = read_line(&mut reader)? else {
        return Ok(());
    };
    if opts.refuse_handshake || strip_nonword(&echo) != challenge.as_bytes() {
        shared.log(|| format!("{peer}: refused, challenge answer {:?}", lossy(&echo)));
        return send_line(&mut writer, b"refused");
    }
    send_line(&mut writer, b"ok")?;
    shared.update(|c| c.connections += 1);
    shared.log(|| format!("{peer}: handshake done"));
    let mut session = Session::default();
    while let Some(line) = read_line(&mut reader)? {
        let (dispatched, action) = respond(&line, opts, &mut session);
        shared.log(|| format!("{peer}: > {}", lossy(&dispatched)));
        if opts.record {
            shared.update(|c| {
                c.received_raw.push(line);
                c.received.push(dispatched);
            });
        }
        match action {
            Action::Answer(text) => send_line(&mut writer, &text)?,
            Action::Delayed(delay, text) => {
                if !sleep_unless_stopped(shared, delay) {
                    return Ok(());
                }
                send_line(&mut writer, &text)?;
            }
            Action::Hold(text) => {
                if !wait_released(shared, &text) {
                    return Ok(());
                }
                send_line(&mut writer, &text)?;
            }
            Action::Hang => {
                while read_line(&mut reader)?.is_some() {}
                return Ok(());
            }
            Action::Flood(n) => {
                // An endless answer line: the peer may close on us mid-way (that is the point).
                let chunk = [b'x'; 64 * 1024];
                let mut left = n;
                while left > 0 {
                    let k = left.min(chunk.len());
                    writer.write_all(&chunk[..k])?;
                    left -= k;
                }
                while read_line(&mut reader)?.is_some() {}
                return Ok(());
            }
            Action::Close => return writer.shutdown(Shutdown::Both),
            Action::Reset => {
                // The RST goes out when the last descriptor closes (see `forget`).
                return socket2::SockRef::from(&writer).set_linger(Some(Duration::ZERO));
            }
        }
    }
    Ok(())
}

/// Sleeps in short steps so `stop` is never held up; false if the stand-in is stopping.
fn sleep_unless_stopped(shared: &Shared, delay: Duration) -> bool {
    let deadline = Instant::now() + delay;
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            return false;
        }
        let now = Instant::now();
        if now >= deadline {
            return true;
        }
        std::thread::sleep((deadline - now).min(Duration::from_millis(10)));
    }
}

/// Waits until [`Standin::release`] was called with `text`; false if the stand-in is stopping.
fn wait_released(shared: &Shared, text: &[u8]) -> bool {
    let mut c = shared.counters();
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            return false;
        }
        if c.released.iter().any(|r| r == text) {
            return true;
        }
        // A short wait: `stop` does not notify, so it is looked at again now and then.
        c = match shared.changed.wait_timeout(c, Duration::from_millis(10)) {
            Ok((guard, _)) => guard,
            Err(e) => e.into_inner().0,
        };
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lonc::cipher::CipherError;

    fn opts() -> StandinOptions {
        StandinOptions::new("msul1", "msua3")
    }

    fn say(line: &str, session: &mut Session) -> Action {
        respond(line.as_bytes(), &opts(), session).1
    }

    fn text(a: &Action) -> String {
        match a {
            Action::Answer(t) => String::from_utf8(t.clone()).unwrap(),
            other => panic!("expected an answer, got {other:?}"),
        }
    }

    #[test]
    fn plain_commands() {
        let mut s = Session::default();
        assert_eq!(text(&say("ping", &mut s)), "msul1");
        assert_eq!(text(&say("pong", &mut s)), "msul1:msua3");
        assert_eq!(text(&say("", &mut s)), "unknown_cmd");
        assert_eq!(text(&say("exit", &mut s)), "unknown_cmd");
        assert_eq!(text(&say("ping\r", &mut s)), "unknown_cmd");
        assert_eq!(text(&say("currentauth:msu:smith", &mut s)), "refused");
        assert_eq!(text(&say("echo:a:b c", &mut s)), "a:b c");
        assert_eq!(text(&say("empty", &mut s)), "");
        assert_eq!(text(&say("garbage_enc", &mut s)), "enc:5:zz");
        assert_eq!(say("hang", &mut s), Action::Hang);
        assert_eq!(say("hold:a:b", &mut s), Action::Hold(b"a:b".to_vec()));
        assert_eq!(say("close", &mut s), Action::Close);
        assert_eq!(say("reset", &mut s), Action::Reset);
        assert_eq!(say("flood:1000", &mut s), Action::Flood(1000));
        assert_eq!(text(&say("flood:lots", &mut s)), "unknown_cmd");
        assert_eq!(
            say("sleep:250:late", &mut s),
            Action::Delayed(Duration::from_millis(250), b"late".to_vec())
        );
        assert_eq!(text(&say("sleep:x:late", &mut s)), "unknown_cmd");
        assert_eq!(text(&say("sleep:5", &mut s)), "unknown_cmd");
    }

    #[test]
    fn enc_before_ekey_is_unknown() {
        let mut s = Session::default();
        let line = "enc:21:39ac65fd46aaa973cb0aac49b9741e3b3715372466ad19c8";
        let (dispatched, a) = respond(line.as_bytes(), &opts(), &mut s);
        assert_eq!(dispatched, line.as_bytes());
        assert_eq!(text(&a), "unknown_cmd");
        assert_eq!(text(&say("encecho:x", &mut s)), "unknown_cmd");
    }

    #[test]
    fn ekey_then_research_vector_1_decrypts() {
        let mut s = Session::default();
        assert_eq!(text(&say("ekey", &mut s)), DEFAULT_BUILDKEY);
        let line = "enc:21:39ac65fd46aaa973cb0aac49b9741e3b3715372466ad19c8";
        let (dispatched, a) = respond(line.as_bytes(), &opts(), &mut s);
        assert_eq!(dispatched, b"currentauth:msu:smith");
        assert_eq!(text(&a), "unknown_user");
        // Garbage enc lines are dispatched as received and answered unknown_cmd.
        let (dispatched, a) = respond(b"enc:5:zz", &opts(), &mut s);
        assert_eq!(dispatched, b"enc:5:zz");
        assert_eq!(text(&a), "unknown_cmd");
    }

    #[test]
    fn encrypted_answers_decrypt_on_the_lonc_side() {
        let mut s = Session::default();
        say("ekey", &mut s);
        let lonc = LineCipher::new(derive_key(
            "msul1",
            "msua3",
            format!("{DEFAULT_BUILDKEY}\n").as_bytes(),
        ));
        let req = lonc.encrypt_request(b"encecho:secret answer");
        let (dispatched, a) = respond(&req, &opts(), &mut s);
        assert_eq!(dispatched, b"encecho:secret answer");
        let reply = text(&a);
        assert!(reply.starts_with("enc:13:"), "{reply}");
        assert_eq!(
            lonc.decrypt_reply(reply.as_bytes()).unwrap(),
            b"secret answer"
        );
        let cut = text(&say("truncated_enc", &mut s));
        assert!(matches!(
            lonc.decrypt_reply(cut.as_bytes()),
            Err(CipherError::HexNotWholeBlocks(_))
        ));
        assert!(lonc.decrypt_reply(b"enc:5:zz").is_err());
        // In clear too, once there is a cipher.
        let reply = text(&say("encecho:plain", &mut s));
        assert_eq!(lonc.decrypt_reply(reply.as_bytes()).unwrap(), b"plain");
    }

    #[test]
    fn nonword_stripping() {
        assert_eq!(strip_nonword(b"init\r"), b"init");
        assert_eq!(strip_nonword(b" 12-34 "), b"1234");
    }
}
