//! lonc on the namespace test bed: lonc runs in the hub namespace, each peer is a
//! `lond-standin` process in a namespace of its own behind a veth pair (see `netbed`). Each
//! scenario asserts what the operator sees (log lines, status JSON, what clients get) and that
//! nothing is lost (delayed files intact until delivered, every answer matches its request).

use std::fs;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::lonc_common::{ask, read_line, request, Lonc, Peer, Setup, LOCAL_ID};
use crate::netbed::*;

static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// A lonc installation (temp dir, config, hosts.tab) whose peers are at `peers` addresses,
/// lond's port [`LOND_PORT`]; the short delays of `lonc_common` apply.
fn setup_at(name: &str, peers: &[(&str, Ipv4Addr)]) -> Setup {
    let c = COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("lonc-nb-{}-{c}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    for d in ["logs", "tabs", "sockets/delayed", "html"] {
        fs::create_dir_all(dir.join(d)).unwrap();
    }
    let s = Setup {
        config: dir.join("access.conf"),
        dir,
        port: LOND_PORT,
        peers: peers
            .iter()
            .map(|(id, ip)| Peer {
                id: id.to_string(),
                ip: *ip,
                standin: None,
            })
            .collect(),
        extra: Vec::new(),
    };
    s.write_hosts();
    s.write_config();
    s
}

/// `setup_at` with every host of the bed at its own address.
fn setup(bed: &Bed, name: &str) -> Setup {
    let peers: Vec<(&str, Ipv4Addr)> = bed.hosts.iter().map(|h| (h.id.as_str(), h.ip)).collect();
    setup_at(name, &peers)
}

/// A bed named `name` with a host for each of `ids`, each with its lond running (in that order).
fn bed_with_londs(name: &str, ids: &[&str]) -> Option<(Bed, Vec<Lond>)> {
    let mut bed = Bed::new(name)?;
    for id in ids {
        bed.add_host(id);
    }
    let londs = ids
        .iter()
        .map(|id| Lond::start(&bed, id, LOCAL_ID))
        .collect();
    Some((bed, londs))
}

/// A bed named `name` with one host, h1, its lond running, and a [`Proxy`] (no faults yet) on
/// the hub's side of h1's link: the installation `name` has lonc talk to the proxy, the proxy
/// to h1.
fn proxied_h1(name: &str) -> Option<(Bed, Lond, Proxy, Setup)> {
    let (bed, mut londs) = bed_with_londs(name, &["h1"])?;
    let h1 = bed.host("h1");
    let proxy = Proxy::start(
        &bed.hub,
        SocketAddr::new(IpAddr::V4(h1.hub_ip), LOND_PORT),
        SocketAddr::new(IpAddr::V4(h1.ip), LOND_PORT),
        Faults::none(),
    );
    let s = setup_at(name, &[("h1", h1.hub_ip)]);
    Some((bed, londs.remove(0), proxy, s))
}

/// Start lonc inside the hub namespace and wait for its initial children.
fn start(bed: &Bed, s: &Setup) -> Lonc {
    s.start_with(|c| bed.hub.enter_on_exec(c))
}

/// The `state` of host `id` in `loncstatus.json`, if written.
fn json_state(s: &Setup, id: &str) -> Option<String> {
    let text = fs::read_to_string(s.status_json()).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["hosts"]
        .as_array()?
        .iter()
        .find(|h| h["id"] == id)
        .and_then(|h| h["state"].as_str().map(String::from))
}

fn wait_online(s: &Setup, id: &str) -> bool {
    let p = s.sock(id);
    wait_for(WAIT, || UnixStream::connect(&p).is_ok())
}

/// One exchange, timed.
fn timed_ask(sock: &Path, line: &str) -> (Option<String>, Duration) {
    let t = Instant::now();
    let r = request(sock, line.as_bytes()).map(|a| String::from_utf8_lossy(&a).into_owned());
    (r, t.elapsed())
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// A client with its request already sent.
fn send(sock: &Path, line: &str) -> UnixStream {
    let mut c = UnixStream::connect(sock).unwrap();
    c.set_read_timeout(Some(WAIT)).unwrap();
    c.write_all(format!("{line}\n").as_bytes()).unwrap();
    c
}

#[test]
fn netbed_lonc_relays_across_namespaces() {
    let Some((bed, londs)) = bed_with_londs("relay", &["h1", "h2"]) else {
        return;
    };
    let (l1, l2) = (&londs[0], &londs[1]);
    let s = setup(&bed, "relay");
    let lonc = start(&bed, &s);
    assert!(
        wait_online(&s, "h1") && wait_online(&s, "h2"),
        "{}",
        s.log()
    );
    assert_eq!(ask(&s.sock("h1"), "ping"), "h1");
    assert_eq!(
        ask(&s.sock("h2"), "encrypt:encecho:over the veth"),
        "over the veth"
    );
    assert_eq!(l1.got("ping"), 1);
    assert_eq!(l2.got("encecho:over the veth"), 1);
    // lonc really runs in the hub: its children connected from 10.200.<k>.1.
    assert!(
        l1.proc.stderr().contains("10.200.1.1:"),
        "{}",
        l1.proc.stderr()
    );
    drop(lonc);
}

#[test]
fn netbed_frozen_peer_times_out_its_clients_and_the_others_keep_their_latency() {
    let Some((bed, londs)) = bed_with_londs("sigstop", &["h1", "h2", "h3"]) else {
        return;
    };
    let l1 = &londs[0];
    let mut s = setup(&bed, "sigstop");
    // Long enough that a request held up behind the frozen peer would stand out (>= 3 s)
    // from any delay a loaded machine adds.
    s.set("loncReplyTimeout", "3");
    s.set("loncInitTimeout", "3");
    s.set("loncMaxAttempts", "3");
    let lonc = start(&bed, &s);
    for id in ["h1", "h2", "h3"] {
        assert!(wait_online(&s, id), "{}", s.log());
    }
    let kids = lonc.children();
    let pings = |n: usize| -> Vec<Duration> {
        let mut v = Vec::new();
        for i in 0..n {
            for id in ["h2", "h3"] {
                let (a, d) = timed_ask(&s.sock(id), &format!("echo:{id}-{i}"));
                assert_eq!(a.as_deref(), Some(format!("{id}-{i}").as_str()));
                v.push(d);
            }
        }
        v
    };
    let mut before = pings(20);
    l1.proc.signal(libc::SIGSTOP);
    assert!(
        wait_for(WAIT, || all_threads_stopped(l1.pid())),
        "lond h1 not stopped: {}",
        proc_report(&[l1.pid()])
    );
    // Three clients of the frozen peer: one in flight, two queued behind it.
    let t0 = Instant::now();
    let mut waiting: Vec<UnixStream> = (0..3)
        .map(|i| send(&s.sock("h1"), &format!("echo:frozen {i}")))
        .collect();
    // Meanwhile the other peers are asked as before, from another thread.
    let stop = Arc::new(AtomicBool::new(false));
    let during = Arc::new(Mutex::new(Vec::new()));
    let asker = {
        let (stop, during) = (Arc::clone(&stop), Arc::clone(&during));
        let socks = [s.sock("h2"), s.sock("h3")];
        std::thread::spawn(move || {
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                for sock in &socks {
                    let (a, d) = timed_ask(sock, &format!("echo:during-{i}"));
                    assert_eq!(a.as_deref(), Some(format!("during-{i}").as_str()));
                    during.lock().unwrap().push(d);
                }
                i += 1;
                // A steady client, not a busy loop: two cores are shared.
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let mut answers = Vec::new();
    for c in waiting.iter_mut() {
        answers.push(read_line(c).map(|a| String::from_utf8_lossy(&a).into_owned()));
    }
    let lost_after = t0.elapsed();
    // Keep asking while the child's reconnects to the frozen peer time out in init.
    assert!(
        wait_for(WAIT, || s.log().contains("Timed out during init: h1")),
        "answers {answers:?} after {lost_after:?}; lonc children {}; lond {}\n{}",
        proc_report(&kids),
        proc_report(&[l1.pid()]),
        s.log()
    );
    stop.store(true, Ordering::SeqCst);
    asker.join().unwrap();
    l1.proc.signal(libc::SIGCONT);
    let mut during = during.lock().unwrap().clone();
    let (mb, md) = (median(&mut before), median(&mut during));
    let worst = *during.iter().max().unwrap();
    say(&format!(
        "netbed sigstop: con_lost after {lost_after:?}; h2/h3 median before {mb:?}, during {md:?} \
         ({} asks), worst during {worst:?}",
        during.len()
    ));
    for a in &answers {
        assert_eq!(a.as_deref(), Some("con_lost"), "{}", s.log());
    }
    // At loncReplyTimeout (3 s) after the request, with slack for a loaded machine.
    assert!(lost_after >= Duration::from_millis(2900), "{lost_after:?}");
    assert!(lost_after < Duration::from_secs(6), "{lost_after:?}");
    assert!(
        s.log().contains("CRITICAL: Timeout h1: echo:frozen "),
        "{}",
        s.log()
    );
    // Generous bounds: the other peers never wait for the frozen one's timeouts.
    assert!(during.len() >= 10, "only {} asks", during.len());
    assert!(
        md <= mb * 5 + Duration::from_millis(50),
        "median {md:?} vs {mb:?}"
    );
    assert!(worst < Duration::from_millis(2000), "worst {worst:?}");
}

#[test]
fn netbed_twenty_silent_hosts_at_start_cost_one_probe_timeout() {
    let Some(mut bed) = Bed::new("silent20") else {
        return;
    };
    let t_bed = Instant::now();
    bed.add_host("up");
    let ids: Vec<String> = (1..=20).map(|i| format!("s{i:02}")).collect();
    for id in &ids {
        bed.add_host(id);
        bed.silence(id);
    }
    say(&format!(
        "netbed silent20: 21 namespaces in {:?}",
        t_bed.elapsed()
    ));
    let _up = Lond::start(&bed, "up", LOCAL_ID);
    let mut s = setup(&bed, "silent20");
    s.set("loncProbeTimeout", "2");
    let t0 = Instant::now();
    let _lonc = start(&bed, &s);
    let took = t0.elapsed();
    say(&format!(
        "netbed silent20: start-up with 20 silent hosts took {took:?}"
    ));
    // The probes really waited (the hosts are silent, not refusing) ...
    assert!(took >= Duration::from_millis(1900), "{took:?}\n{}", s.log());
    // ... all at once: one 2 s timeout, not twenty (40 s); slack for two busy cores.
    assert!(took < Duration::from_secs(6), "{took:?}");
    for id in &ids {
        assert!(
            s.log().contains(&format!(
                "WARNING: {id} is not reachable (probe timed out), no child started"
            )),
            "{}",
            s.log()
        );
    }
    assert!(wait_online(&s, "up"));
    assert_eq!(ask(&s.sock("up"), "ping"), "up");
    assert!(wait_for(WAIT, || ids
        .iter()
        .all(|id| json_state(&s, id).as_deref() == Some("unreachable"))));
}

/// A lond that crashes on every connection: it accepts, reads the `init` line and dies (the
/// connection is reset, the port refuses until its supervisor has restarted it 100 ms later).
/// Records when each connection came.
struct CrashingLond {
    stop: Arc<AtomicBool>,
    accepts: Arc<Mutex<Vec<Instant>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl CrashingLond {
    fn start(h: &Host) -> CrashingLond {
        let stop = Arc::new(AtomicBool::new(false));
        let accepts = Arc::new(Mutex::new(Vec::new()));
        let addr = SocketAddr::new(IpAddr::V4(h.ip), LOND_PORT);
        let (st, acc) = (Arc::clone(&stop), Arc::clone(&accepts));
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = h.ns.spawn(move || {
            let mut first = Some(tx);
            while !st.load(Ordering::SeqCst) {
                let l = std::net::TcpListener::bind(addr).unwrap();
                l.set_nonblocking(true).unwrap();
                if let Some(tx) = first.take() {
                    tx.send(()).unwrap();
                }
                let conn = loop {
                    if st.load(Ordering::SeqCst) {
                        return;
                    }
                    match l.accept() {
                        Ok((c, _)) => break c,
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                };
                acc.lock().unwrap().push(Instant::now());
                conn.set_nonblocking(false).unwrap();
                conn.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                let mut b = [0u8; 64];
                let _ = (&conn).read(&mut b);
                reset_now(&conn);
                drop(l);
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        rx.recv().unwrap();
        CrashingLond {
            stop,
            accepts,
            thread: Some(thread),
        }
    }

    fn accepts(&self) -> Vec<Instant> {
        self.accepts.lock().unwrap().clone()
    }
}

impl Drop for CrashingLond {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn netbed_crash_looping_peer_stays_within_max_attempts_is_abandoned_and_comes_back_by_recheck() {
    let Some(mut bed) = Bed::new("crashloop") else {
        return;
    };
    bed.add_host("h1");
    bed.add_host("h2");
    let crash = CrashingLond::start(bed.host("h1"));
    let _l2 = Lond::start(&bed, "h2", LOCAL_ID);
    let mut s = setup(&bed, "crashloop");
    s.set("loncMaxAttempts", "3");
    s.set("loncBackoffMin", "0.3");
    s.set("loncBackoffMax", "0.5");
    s.set("loncRecheck", "4");
    let _lonc = start(&bed, &s);
    assert!(
        s.wait_log("INFO: Skipping h1 (3 of 3 attempts)"),
        "{}",
        s.log()
    );
    assert!(wait_for(WAIT, || json_state(&s, "h1").as_deref()
        == Some("abandoned")));
    // Up to the first Skipping: one start and exactly loncMaxAttempts restarts, each failing
    // in init, none numbered beyond the maximum.
    let log = s.log();
    let upto: Vec<&str> = log
        .lines()
        .take_while(|l| !l.contains("INFO: Skipping h1"))
        .collect();
    let count = |needle: &str| upto.iter().filter(|l| l.contains(needle)).count();
    assert_eq!(count("INFO: Trying to reconnect for h1 ("), 3, "{log}");
    assert_eq!(count("WARNING: Init failed h1 ("), 4, "{log}");
    for n in 1..=3 {
        assert_eq!(
            count(&format!(
                "INFO: Trying to reconnect for h1 ({n} of 3 attempts)"
            )),
            1
        );
    }
    assert!(!log.contains("(4 of 3 attempts)"));
    // The back-off separates the attempts: at least loncBackoffMin between connections.
    let acc = crash.accepts();
    assert!(acc.len() >= 4);
    let gaps: Vec<Duration> = acc[..4].windows(2).map(|w| w[1] - w[0]).collect();
    say(&format!("netbed crashloop: gaps between attempts {gaps:?}"));
    for g in &gaps {
        assert!(*g >= Duration::from_millis(290), "{gaps:?}");
        assert!(*g < Duration::from_secs(4), "{gaps:?}");
    }
    // The other peer never noticed.
    assert_eq!(ask(&s.sock("h2"), "ping"), "h2");
    // The peer stops crashing; the recheck (not a USR1) brings it back.
    drop(crash);
    let t0 = Instant::now();
    let l1 = Lond::start(&bed, "h1", LOCAL_ID);
    assert!(
        wait_for(WAIT, || request(&s.sock("h1"), b"ping")
            == Some(b"h1".to_vec())),
        "{}",
        s.log()
    );
    say(&format!(
        "netbed crashloop: back {:?} after the peer was healthy",
        t0.elapsed()
    ));
    assert!(l1.connections() >= 1);
    assert!(!s.log().contains("USR1"), "{}", s.log());
    assert!(
        s.log().contains("INFO: Recheck after 4 s: probing h1"),
        "{}",
        s.log()
    );
    assert!(wait_for(WAIT, || json_state(&s, "h1").as_deref() == Some("running")));
}

#[test]
fn netbed_link_down_during_requests_con_lost_then_delayed_replayed_by_recheck() {
    let Some((bed, londs)) = bed_with_londs("linkdown", &["h1", "h2"]) else {
        return;
    };
    let l1 = &londs[0];
    let mut s = setup(&bed, "linkdown");
    s.set("loncReplyTimeout", "2");
    s.set("loncProbeTimeout", "1");
    s.set("loncMaxAttempts", "2");
    s.set("loncRecheck", "2");
    let _lonc = start(&bed, &s);
    assert!(wait_online(&s, "h1") && wait_online(&s, "h2"));
    // One request in flight (lond answers it after 4 s, too late), two queued behind it.
    let t_sent = Instant::now();
    let mut waiting = vec![send(&s.sock("h1"), "sleep:4000:too late")];
    assert!(wait_for(WAIT, || l1.got("sleep:4000:too late") == 1));
    bed.link_down("h1");
    waiting.push(send(&s.sock("h1"), "echo:queued 1"));
    waiting.push(send(&s.sock("h1"), "encrypt:encecho:queued 2"));
    // The other peer is unaffected meanwhile.
    for i in 0..20 {
        let (a, d) = timed_ask(&s.sock("h2"), &format!("echo:h2 {i}"));
        assert_eq!(a, Some(format!("h2 {i}")));
        // Waiting behind h1 would take its reply timeout (2 s).
        assert!(d < Duration::from_millis(1500), "{d:?}");
    }
    let mut got = Vec::new();
    for c in waiting.iter_mut() {
        got.push(read_line(c).map(|a| String::from_utf8_lossy(&a).into_owned()));
    }
    let lost_after = t_sent.elapsed();
    say(&format!(
        "netbed linkdown: con_lost {lost_after:?} after the request (loncReplyTimeout 2 s)"
    ));
    for a in &got {
        assert_eq!(a.as_deref(), Some("con_lost"), "{}", s.log());
    }
    assert!(lost_after >= Duration::from_millis(1900), "{lost_after:?}");
    assert!(lost_after < Duration::from_secs(5), "{lost_after:?}");
    assert!(s
        .log()
        .contains("CRITICAL: Timeout h1: sleep:4000:too late"));
    // lonnet's part during the outage: messages for h1 are left in the delayed directory.
    let d = s.delayed_dir();
    let msgs = [
        ("100.echo.h1", "echo:delayed one\n"),
        ("200.encecho.h1", "encrypt:encecho:delayed two\n"),
        ("300.echo.h1", "echo:delayed three\n"),
    ];
    for (name, text) in msgs {
        fs::write(d.join(name), text).unwrap();
    }
    // The reconnect fails (network unreachable): the host ends up without a child.
    assert!(s.wait_log("WARNING: Couldn't connect h1 ("), "{}", s.log());
    assert!(wait_for(WAIT, || matches!(
        json_state(&s, "h1").as_deref(),
        Some("unreachable") | Some("abandoned")
    )));
    assert!(!s.sock("h1").exists());
    // Two recheck periods with the link still down: the files stay as they were.
    std::thread::sleep(Duration::from_secs(4));
    for (name, text) in msgs {
        assert_eq!(fs::read_to_string(d.join(name)).unwrap(), text, "{name}");
    }
    assert_eq!(ask(&s.sock("h2"), "ping"), "h2");
    let t_up = Instant::now();
    bed.link_up("h1");
    for want in [
        "Delayed echo:delayed one to h1: >delayed one<",
        "Delayed echo:delayed three to h1: >delayed three<",
    ] {
        assert!(s.wait_log(want), "{}", s.log());
    }
    say(&format!(
        "netbed linkdown: delayed messages replayed {:?} after the link came back",
        t_up.elapsed()
    ));
    for (name, _) in msgs {
        assert!(!d.join(name).exists(), "{name} not delivered");
    }
    for m in [
        "echo:delayed one",
        "encecho:delayed two",
        "echo:delayed three",
    ] {
        assert_eq!(l1.got(m), 1, "{m}: {:?}", l1.received());
    }
    let perm = fs::read_to_string(s.perm_path()).unwrap();
    assert!(perm.contains(":S:h1:echo:delayed one:"), "{perm}");
    assert!(
        perm.contains(":S:h1:encrypt:encecho:delayed two:"),
        "{perm}"
    );
    assert!(!s.log().contains("USR1"), "no USR1 was needed\n{}", s.log());
    assert!(
        s.log().contains("INFO: Recheck after 2 s: probing h1"),
        "{}",
        s.log()
    );
    assert_eq!(ask(&s.sock("h1"), "ping"), "h1");
}

/// Send `n` requests per client thread through lonc and check each answer against its own
/// request. Returns (matched, con_lost, no socket, end of file without a line).
fn hammer(sock: &Path, threads: usize, n: usize) -> (usize, usize, usize, usize, Vec<String>) {
    let res = Arc::new(Mutex::new((0, 0, 0, 0, Vec::new())));
    let mut hs = Vec::new();
    for t in 0..threads {
        let (sock, res) = (sock.to_path_buf(), Arc::clone(&res));
        hs.push(std::thread::spawn(move || {
            for i in 0..n {
                let token = format!("t{t}-r{i}-{}", "x".repeat(i % 40));
                let line = if i % 3 == 0 {
                    format!("encrypt:encecho:{token}")
                } else {
                    format!("echo:{token}")
                };
                // The child is being restarted while its socket is missing (lonnet's
                // con_lost): count it, and ask again once the socket is back, so every
                // request gets an answer from lonc in the end.
                let end = Instant::now() + WAIT;
                let mut c = loop {
                    match UnixStream::connect(&sock) {
                        Ok(c) => break c,
                        Err(_) if Instant::now() < end => {
                            res.lock().unwrap().2 += 1;
                            std::thread::sleep(Duration::from_millis(100));
                        }
                        Err(e) => panic!("{sock:?} never came back: {e}"),
                    }
                };
                c.set_read_timeout(Some(WAIT)).unwrap();
                let _ = c.write_all(format!("{line}\n").as_bytes());
                let got = read_line(&mut c);
                let mut r = res.lock().unwrap();
                match got {
                    Some(a) if a == token.as_bytes() => r.0 += 1,
                    Some(a) if a == b"con_lost" => r.1 += 1,
                    None => r.3 += 1,
                    Some(a) => {
                        r.4.push(format!("{line} -> {:?}", String::from_utf8_lossy(&a)))
                    }
                }
            }
        }));
    }
    for h in hs {
        h.join().unwrap();
    }
    let r = res.lock().unwrap();
    (r.0, r.1, r.2, r.3, r.4.clone())
}

#[test]
fn netbed_heavy_delay_and_loss_every_answer_matches_its_request() {
    // lonc talks to the proxy (on the hub's side of h1's link), the proxy to h1.
    let Some((bed, l1, proxy, mut s)) = proxied_h1("lossy") else {
        return;
    };
    s.set("loncReplyTimeout", "1");
    s.set("loncInitTimeout", "2");
    s.set("loncMaxAttempts", "1000");
    let _lonc = start(&bed, &s);
    assert!(wait_online(&s, "h1"), "{}", s.log());
    assert_eq!(ask(&s.sock("h1"), "ping"), "h1");
    proxy.set_faults(Faults {
        delay_ms: (0, 15),
        max_fragment: 7,
        stall_per_mille: 10,
        stall_ms: (200, 1500),
        reset_per_mille: 3,
        rate: None,
    });
    let t0 = Instant::now();
    let (ok, lost, nosock, eof, bad) = hammer(&s.sock("h1"), 4, 12);
    let st = proxy.stats();
    say(&format!(
        "netbed lossy: {:?} for 48 requests: {ok} matched, {lost} con_lost, {nosock} times no socket, \
         {eof} bare EOF; proxy {} connections, {} stalls, {} resets; lond got {} requests",
        t0.elapsed(),
        st.connections.load(Ordering::SeqCst),
        st.stalls.load(Ordering::SeqCst),
        st.resets.load(Ordering::SeqCst),
        l1.received().len()
    ));
    assert!(bad.is_empty(), "answers that do not match: {bad:#?}");
    // Every request got exactly one outcome, never a bare EOF (a client accepted while a
    // reconnect handshake fails gets con_lost too).
    assert_eq!(ok + lost + eof, 48);
    assert_eq!(eof, 0, "clients left with a bare EOF\n{}", s.log());
    // lonc never sends a request twice (a con_lost one is not retried behind the client's back).
    let mut seen = std::collections::HashSet::new();
    for r in l1.received() {
        if r.contains(":t") {
            assert!(seen.insert(r.clone()), "{r} reached lond twice");
        }
    }
    assert!(seen.len() >= ok);
    // A quiet machine gets 29-44 of 48 through; a loaded one (8 builds at once) as few as 4.
    assert!(ok >= 4, "too few answers got through: {ok}");
    // Back to a clean path: everything answers again.
    proxy.set_faults(Faults::none());
    assert!(wait_for(WAIT, || request(&s.sock("h1"), b"echo:clean")
        == Some(b"clean".to_vec())));
}

#[test]
fn netbed_clients_arriving_while_a_reconnect_handshake_fails_get_con_lost_never_eof() {
    let Some((bed, _l1, proxy, mut s)) = proxied_h1("eof") else {
        return;
    };
    s.set("loncBackoffMin", "2");
    s.set("loncBackoffMax", "2");
    let _lonc = start(&bed, &s);
    assert!(wait_online(&s, "h1"), "{}", s.log());
    // From now on the path holds every fragment 0.8 s, then dies: the request in flight is
    // lost, and so is the handshake of the immediate reconnect.
    proxy.set_faults(Faults {
        stall_per_mille: 1000,
        stall_ms: (800, 800),
        reset_per_mille: 1000,
        ..Faults::none()
    });
    let first = send(&s.sock("h1"), "echo:first");
    // Clients keep arriving until the failing child has closed its socket: some land in the
    // listener's backlog, or are accepted with their request unread, as the handshake fails.
    let sock = s.sock("h1");
    let hs: Vec<_> = (0..4)
        .map(|t| {
            let sock = sock.clone();
            std::thread::spawn(move || {
                let (mut lost, mut eof, mut other) = (0, 0, Vec::new());
                let end = Instant::now() + WAIT;
                while Instant::now() < end {
                    let Ok(mut c) = UnixStream::connect(&sock) else {
                        break;
                    };
                    c.set_read_timeout(Some(WAIT)).unwrap();
                    let _ = c.write_all(format!("echo:{t}\n").as_bytes());
                    match read_line(&mut c) {
                        Some(x) if x == b"con_lost" => lost += 1,
                        Some(x) => other.push(String::from_utf8_lossy(&x).into_owned()),
                        None => eof += 1,
                    }
                }
                (lost, eof, other)
            })
        })
        .collect();
    let mut first = first;
    assert_eq!(read_line(&mut first), Some(b"con_lost".to_vec()));
    let (mut lost, mut eof) = (0, 0);
    for h in hs {
        let (l, e, other) = h.join().unwrap();
        assert!(other.is_empty(), "{other:?}");
        lost += l;
        eof += e;
    }
    say(&format!(
        "netbed eof: clients during the failing reconnect: {lost} con_lost, {eof} bare EOF"
    ));
    assert!(s.log().contains("WARNING: Init failed h1 ("), "{}", s.log());
    assert!(lost >= 4, "{lost}");
    assert_eq!(eof, 0, "clients left with a bare EOF\n{}", s.log());
}

#[test]
fn netbed_kill9_of_the_lonc_parent_mid_request_and_an_immediate_restart() {
    let Some((bed, londs)) = bed_with_londs("kill9parent", &["h1"]) else {
        return;
    };
    let l1 = &londs[0];
    let s = setup(&bed, "kill9parent");
    let old = start(&bed, &s);
    assert!(wait_online(&s, "h1"));
    let old_kids = old.children();
    let mut a = send(&s.sock("h1"), "sleep:1500:in flight");
    assert!(wait_for(WAIT, || l1.got("sleep:1500:in flight") == 1));
    // The killed parent stays a zombie: the test (its parent) does not reap it yet.
    old.signal(nix::sys::signal::Signal::SIGKILL);
    // Restart as soon as the kill has taken effect: the old parent is dead but unreaped, a
    // zombie still holding its pid (what the pid file names).
    assert!(wait_for(WAIT, || !crate::lonc_common::alive(old.pid)));
    assert!(
        fs::read_to_string(format!("/proc/{}/stat", old.pid)).is_ok_and(|st| st
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')),
        "the old parent should still be a zombie"
    );
    let t0 = Instant::now();
    let mut new = s.spawn_with(|c| bed.hub.enter_on_exec(c));
    let started = wait_for(WAIT, || {
        s.log_count("Done starting initial servers") >= 2 || new.wait_exit(Duration::ZERO).is_some()
    });
    assert!(
        started && !s.log().contains("already running"),
        "the restart was refused:\n{}",
        s.log()
    );
    say(&format!(
        "netbed kill9parent: new lonc up {:?} after kill -9",
        t0.elapsed()
    ));
    // The request in flight is finished by the old child (parent death = TERM).
    assert_eq!(
        read_line(&mut a).map(|x| String::from_utf8_lossy(&x).into_owned()),
        Some("in flight".into())
    );
    assert!(wait_for(WAIT, || old_kids
        .iter()
        .all(|&k| !crate::lonc_common::alive(k))));
    // The old child's exit did not take the new child's socket with it.
    assert!(wait_online(&s, "h1"), "{}", s.log());
    for i in 0..5 {
        assert_eq!(
            ask(&s.sock("h1"), &format!("echo:after {i}")),
            format!("after {i}")
        );
    }
    let pid: i32 = fs::read_to_string(s.pid_path())
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(pid, new.pid);
    drop(old);
}
