//! ipsynd on the namespace test bed: ipsynd (and the real `ipsyn` transmitters it starts) run
//! in the hub namespace; the receiving system is an `ipsyn-recv` in a namespace of its own,
//! reached through the test's TCP proxy, which slows the link down so a transmission is still
//! under way when the test kills something. Each scenario checks what the operator sees (log,
//! status, flags) and that nothing is lost or sent twice.

use std::collections::BTreeMap;
use std::fs;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::ipsynd_common::{wait_for, Fip, WAIT};
use crate::netbed::*;

const IPSYN: &str = env!("CARGO_BIN_EXE_ipsyn");

/// Bytes per second through the proxy: 6 files of 64 KiB take about 3 s.
const RATE: u64 = 128 * 1024;

/// `n` distinct files of `size` bytes, by name.
fn payload(tag: &str, n: usize, size: usize) -> BTreeMap<String, Vec<u8>> {
    (0..n)
        .map(|i| {
            let data: Vec<u8> = (0..size)
                .map(|j| {
                    ((j as u32)
                        .wrapping_mul(2654435761)
                        .wrapping_add(i as u32 * 97)
                        >> 11) as u8
                })
                .collect();
            (format!("{tag}-{i:02}.dat"), data)
        })
        .collect()
}

/// What the receiver stored (regular non-dot files), by name.
fn received(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') {
            out.insert(name, fs::read(e.path()).unwrap());
        }
    }
    out
}

/// Every `sent <name>` line in the client's attempt logs, counted per name.
fn sent_counts(fip: &Fip, client: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for e in fs::read_dir(fip.path("log/syn"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with(&format!("{client}.")) {
            continue;
        }
        for line in fs::read_to_string(e.path()).unwrap_or_default().lines() {
            if let Some(rest) = line.split_once(" sent ").map(|x| x.1) {
                if let Some((file, _)) = rest.rsplit_once(" (") {
                    *out.entry(file.to_string()).or_insert(0) += 1;
                }
            }
        }
    }
    out
}

/// The bed: a receiver on host `rx` behind a slow proxy on the hub side of its link, and a
/// FIP tree whose route `NEWS` points at the proxy.
struct IpsynBed {
    proxy: Proxy,
    _rx: Proc,
    out: std::path::PathBuf,
    fip: Fip,
    bed: Bed,
}

fn ipsyn_bed(test: &str) -> Option<IpsynBed> {
    let mut bed = Bed::new(test)?;
    bed.add_host("rx");
    let out = bed.dir.join("received");
    let rx = start_receiver(&bed, "rx", &out);
    let h = bed.host("rx");
    let proxy = Proxy::start(
        &bed.hub,
        SocketAddr::new(IpAddr::V4(h.hub_ip), LOND_PORT),
        SocketAddr::new(IpAddr::V4(h.ip), LOND_PORT),
        Faults {
            rate: Some(RATE),
            ..Faults::none()
        },
    );
    let fip = Fip::new(test);
    fip.ipsynd_table(&format!("ipsyn:{IPSYN}\nrescan:1\ngrace:1\n"));
    fip.ports(&format!("route:NEWS host:{} port:{LOND_PORT}\n", h.hub_ip));
    Some(IpsynBed {
        proxy,
        _rx: rx,
        out,
        fip,
        bed,
    })
}

impl IpsynBed {
    fn start(&mut self) -> i32 {
        let hub = &self.bed.hub;
        self.fip.start_with(|c| hub.enter_on_exec(c))
    }

    fn queue(&self, client: &str, files: &BTreeMap<String, Vec<u8>>) {
        let q = self
            .fip
            .path(&format!("spool/syn/{}", client.to_lowercase()));
        fs::create_dir_all(&q).unwrap();
        for (name, data) in files {
            fs::write(q.join(name), data).unwrap();
        }
    }

    fn queued(&self, client: &str) -> Vec<String> {
        let q = self
            .fip
            .path(&format!("spool/syn/{}", client.to_lowercase()));
        let mut v: Vec<String> = fs::read_dir(q)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    fn bytes(&self) -> u64 {
        self.proxy
            .stats()
            .bytes
            .load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// The pid in an in-use flag (`<ROUTE> <host> <port> <pid> <start>`).
fn flag_pid(fip: &Fip) -> Option<i32> {
    let f = fip.flags().into_iter().next()?;
    let text = fs::read_to_string(fip.path("x").join(f)).ok()?;
    text.split_whitespace().nth(3)?.parse().ok()
}

#[test]
fn netbed_kill9_of_ipsynd_mid_transmission_then_restart_sends_everything_once() {
    let Some(mut b) = ipsyn_bed("kill9d") else {
        return;
    };
    let files = payload("pop", 6, 64 * 1024);
    b.fip.client("POP", "route:NEWS\ntimeout:1\nretry:5\n");
    b.queue("POP", &files);
    let old_pid = b.start();
    let ctrl = b.fip.record("POP");
    // Mid-transmission: some bytes went, most did not.
    assert!(
        wait_for(WAIT, || b.bytes() > 64 * 1024),
        "no transmission: {}",
        b.fip.log()
    );
    let tx = flag_pid(&b.fip).expect("a flag with the transmitter's pid");
    b.fip.signal(libc::SIGKILL);
    let t_kill = Instant::now();
    // Restarted at once: the killed ipsynd is dead but unreaped (a zombie; the test is its
    // parent and reaps it only at the end).
    assert!(wait_for(WAIT, || !crate::lonc_common::alive(old_pid)));
    assert!(b.bytes() < 6 * 64 * 1024, "already finished: too fast");
    b.start();
    assert!(
        b.fip.wait_log_count("started, version", 2),
        "the restart was refused\n{}",
        b.fip.log()
    );
    // The new ipsynd sees the live transmitter's flag and leaves it alone.
    assert!(
        b.fip.wait_status(|s| s.contains("POP busy-elsewhere")),
        "{}\n{}",
        b.fip.status(),
        b.fip.log()
    );
    assert!(
        wait_for(WAIT, || !ctrl.exists()),
        "the orphaned transmission did not finish\n{}",
        b.fip.log()
    );
    say(&format!(
        "netbed kill9d: transmitter {tx} finished {:?} after ipsynd's kill -9; proxy: {} \
         connection(s), {} bytes",
        t_kill.elapsed(),
        b.proxy.connections(),
        b.bytes()
    ));
    // Nothing lost, nothing twice: one connection, every file once, byte for byte.
    assert_eq!(received(&b.out), files);
    assert_eq!(
        b.proxy.connections(),
        1,
        "a second transmission was started"
    );
    assert!(sent_counts(&b.fip, "POP").values().all(|&n| n == 1));
    assert_eq!(sent_counts(&b.fip, "POP").len(), files.len());
    assert!(b.queued("POP").is_empty());
    assert!(b.fip.flags().is_empty(), "the transmitter removed its flag");
    assert!(!loncsyn::ipsyn::recv::has_temp_files(&b.out));
    // The new ipsynd never started a POP attempt of its own.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(b.proxy.connections(), 1);
    assert!(
        !b.fip.log().contains("POP attempt 1 started"),
        "{}",
        b.fip.log()
    );
}

#[test]
fn netbed_kill9_of_a_transmitter_leaves_its_port_stale_and_unused() {
    let Some(mut b) = ipsyn_bed("kill9tx") else {
        return;
    };
    let pop = payload("pop", 6, 64 * 1024);
    let news = payload("news", 2, 1024);
    b.fip.client("POP", "route:NEWS\ntimeout:1\nretry:5\n");
    b.fip.client("NEWS", "route:NEWS\ntimeout:1\nretry:5\n");
    b.queue("POP", &pop);
    b.queue("NEWS", &news);
    b.start();
    let ctrl = b.fip.record("POP");
    assert!(wait_for(WAIT, || b.bytes() > 64 * 1024), "{}", b.fip.log());
    let tx = flag_pid(&b.fip).expect("a flag with the transmitter's pid");
    let flag = b.fip.path("x").join(b.fip.flags().remove(0));
    // SAFETY: kill has no memory preconditions; tx is the transmitter ipsynd started.
    assert_eq!(unsafe { libc::kill(tx, libc::SIGKILL) }, 0);
    b.fip.record("NEWS");
    // The flag stays (nobody removed it), the port stays locked: NEWS waits, POP's retry too.
    assert!(
        b.fip
            .wait_status(|s| s.contains("POP stale") && s.contains("NEWS waiting-port")),
        "{}\n{}",
        b.fip.status(),
        b.fip.log()
    );
    assert!(b.fip.wait_log("stale flag"), "{}", b.fip.log());
    let conns = b.proxy.connections();
    // Several rescans and POP's 1 s retry timeout pass: still nothing uses the port.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(b.proxy.connections(), conns, "the stale port was reused");
    assert_eq!(conns, 1);
    assert!(flag.exists() && ctrl.exists());
    // Nothing lost: what was not acknowledged is still queued, what arrived is whole.
    let got = received(&b.out);
    for (name, data) in &got {
        assert_eq!(pop.get(name), Some(data), "{name} arrived damaged");
    }
    let queued = b.queued("POP");
    for name in pop.keys() {
        assert!(
            got.contains_key(name) || queued.contains(name),
            "{name} is lost: neither received nor queued"
        );
    }
    assert!(!loncsyn::ipsyn::recv::has_temp_files(&b.out));
    say(&format!(
        "netbed kill9tx: killed transmitter {tx} after {} bytes; {} of 6 files arrived, {} \
         still queued; port unused for 3 s",
        b.bytes(),
        got.len(),
        queued.len()
    ));
    // The operator frees the port (as the original's SYN does): both clients finish.
    fs::remove_file(&flag).unwrap();
    assert!(
        wait_for(WAIT, || !ctrl.exists()
            && !b.fip.path("spool/syn/control/NEWS").exists()),
        "{}",
        b.fip.log()
    );
    let mut all = pop.clone();
    all.extend(news.clone());
    assert_eq!(received(&b.out), all);
    assert!(b.queued("POP").is_empty() && b.queued("NEWS").is_empty());
    // At most the one file in flight at the kill went twice (acknowledged, not yet deleted).
    let twice = sent_counts(&b.fip, "POP")
        .values()
        .filter(|&&n| n > 1)
        .count();
    assert!(twice <= 1, "{:?}", sent_counts(&b.fip, "POP"));
}
