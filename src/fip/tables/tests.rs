//! Unit tests of the client, PORTS and IPSYND parsers.

use std::path::Path;

use super::*;

fn client(text: &str) -> (ClientParams, Vec<Problem>) {
    parse_client("jukebox", text, Path::new("/fip/tables/syn/client/JUKEBOX"))
}

fn msgs(p: &[Problem]) -> Vec<String> {
    p.iter().map(|p| p.to_string()).collect()
}

#[test]
fn manual_jukebox_file() {
    let text = ";\tJUKEBOX\nROUTE:funnycomms\nC1:234765403299\nALT:funnycomms\nA1:234765400319\n\
                L1:SECRET\nL2:BINGCROSBY\nscript:/fip/local/funnies -1 C1 -2 C2 -y L1 -z L2\n";
    let (c, p) = client(text);
    assert!(p.is_empty(), "{:?}", msgs(&p));
    assert_eq!(&*c.name, "JUKEBOX");
    assert_eq!(c.route.as_deref(), Some("FUNNYCOMMS"));
    assert_eq!(c.alt.as_deref(), Some("FUNNYCOMMS"));
    assert_eq!(
        c.script.as_deref(),
        Some("/fip/local/funnies -1 C1 -2 C2 -y L1 -z L2")
    );
    assert_eq!(c.fields.len(), 4);
    assert_eq!(c.fields["C1"], "234765403299");
    assert_eq!(c.fields["L2"], "BINGCROSBY");
}

#[test]
fn defaults() {
    let (c, p) = client("");
    assert!(p.is_empty());
    assert_eq!(c, ClientParams::defaults("JUKEBOX"));
    assert_eq!(c.timeout, 90);
    assert_eq!(c.retry, 11);
    assert_eq!(c.prior, 50);
    assert_eq!(c.maxtime, 0);
    assert_eq!(c.tryalt, TryAlt::Every(5));
    assert_eq!(c.route, None);
    assert_eq!(c.script, None);
    assert_eq!(c.useftp, None);
    assert_eq!(c.argstyle, None);
}

#[test]
fn keywords_case_insensitive_and_comments() {
    let (c, p) = client("; a comment\n\n   ; indented comment\nTimeOut: 30 \nPRIOR:7\nRetry:4\n");
    assert!(p.is_empty(), "{:?}", msgs(&p));
    assert_eq!((c.timeout, c.prior, c.retry), (30, 7, 4));
}

#[test]
fn case_rules() {
    let (c, _) =
        client("route:x25Slow\nalt:Hayes12\nscript:/Fip/Local/MixedCase \"Red\"\nc1:MiXeD\n");
    assert_eq!(c.route.as_deref(), Some("X25SLOW"));
    assert_eq!(c.alt.as_deref(), Some("HAYES12"));
    assert_eq!(c.script.as_deref(), Some("/Fip/Local/MixedCase \"Red\""));
    // Field codes are uppercased; their values keep their case.
    assert_eq!(c.fields["C1"], "MiXeD");
}

#[test]
fn clamping_logged_with_file_and_line() {
    let (c, p) = client("timeout:-5\nretry:500\nprior:0\nmaxtime:999999\ntryalt:1\n");
    assert_eq!((c.timeout, c.retry, c.prior, c.maxtime), (0, 100, 1, 86400));
    assert_eq!(c.tryalt, TryAlt::Every(2));
    let m = msgs(&p);
    assert_eq!(m.len(), 5, "{m:?}");
    assert_eq!(
        m[0],
        "/fip/tables/syn/client/JUKEBOX:1: timeout:-5 is below 0, using 0"
    );
    assert_eq!(
        m[1],
        "/fip/tables/syn/client/JUKEBOX:2: retry:500 is above 100, using 100"
    );
    assert!(m[2].starts_with("/fip/tables/syn/client/JUKEBOX:3: prior:0 is below 1"));
    assert!(m[3].starts_with("/fip/tables/syn/client/JUKEBOX:4: maxtime:999999 is above 86400"));
    assert!(m[4].starts_with("/fip/tables/syn/client/JUKEBOX:5: tryalt:1 is below 2"));
}

#[test]
fn upper_bounds_kept_exactly() {
    let (c, p) = client("timeout:86400\nretry:100\nprior:99\nmaxtime:86400\ntryalt:100\n");
    assert!(p.is_empty(), "{:?}", msgs(&p));
    assert_eq!(
        (c.timeout, c.retry, c.prior, c.maxtime),
        (86400, 100, 99, 86400)
    );
    assert_eq!(c.tryalt, TryAlt::Every(100));
    let (c, _) = client("prior:100\ntryalt:101\nretry:0\n");
    assert_eq!((c.prior, c.tryalt, c.retry), (99, TryAlt::Every(100), 1));
}

#[test]
fn huge_numbers_clamp_instead_of_overflowing() {
    let (c, p) = client("timeout:99999999999999999999999999999999999999999999\n");
    assert_eq!(c.timeout, 86400);
    assert_eq!(p.len(), 1);
}

#[test]
fn non_numbers_fall_back_to_defaults() {
    let (c, p) = client("timeout:soon\nretry:lots\nprior:high\nmaxtime:10m\ntryalt:odd\n");
    assert_eq!((c.timeout, c.retry, c.prior, c.maxtime), (90, 11, 50, 0));
    assert_eq!(c.tryalt, TryAlt::Every(5));
    let m = msgs(&p);
    assert_eq!(m.len(), 5);
    assert_eq!(
        m[0],
        "/fip/tables/syn/client/JUKEBOX:1: timeout:soon is not a number, using the default 90"
    );
    assert!(m[4].contains(":5: tryalt:odd is not a number"));
}

#[test]
fn tryalt_default_follows_retry() {
    // Settled 3: max(2, retry/2) when retry is given, else 5.
    assert_eq!(client("retry:11\n").0.tryalt, TryAlt::Every(5));
    assert_eq!(client("retry:20\n").0.tryalt, TryAlt::Every(10));
    assert_eq!(client("retry:3\n").0.tryalt, TryAlt::Every(2));
    assert_eq!(client("retry:1\n").0.tryalt, TryAlt::Every(2));
    assert_eq!(client("retry:100\n").0.tryalt, TryAlt::Every(50));
    // Clamped retry counts as given (retry:500 -> 100 -> 50).
    assert_eq!(client("retry:500\n").0.tryalt, TryAlt::Every(50));
    // A retry that is not a number is not "given".
    assert_eq!(client("retry:x\n").0.tryalt, TryAlt::Every(5));
    // An explicit tryalt wins, wherever it is in the file.
    assert_eq!(client("tryalt:7\nretry:20\n").0.tryalt, TryAlt::Every(7));
    assert_eq!(client("retry:20\ntryalt:EVEN\n").0.tryalt, TryAlt::Even);
}

#[test]
fn useftp_and_ftplines() {
    let (c, p) =
        client("useftp:\nftpline:user logon,passwd\nftpline:cd /remote/path\nftpline:binary\n");
    assert!(p.is_empty());
    assert_eq!(c.useftp.as_deref(), Some("/usr/bin/ftp -dinv"));
    assert_eq!(
        &*c.ftplines,
        ["user logon,passwd", "cd /remote/path", "binary"]
    );
    let (c, _) = client("useftp:/usr/ucb/ftp -zSx\n");
    assert_eq!(c.useftp.as_deref(), Some("/usr/ucb/ftp -zSx"));
}

#[test]
fn useftp_and_script_both_warns() {
    let (c, p) = client("script:/bin/x\nuseftp:\n");
    assert!(c.useftp.is_some() && c.script.is_some());
    assert_eq!(
        msgs(&p),
        ["/fip/tables/syn/client/JUKEBOX:2: both useftp: and script: given; useftp: wins"]
    );
}

#[test]
fn bad_lines_are_reported_and_skipped() {
    let (c, p) = client("route:A\nthis line has no colon\nfrobnicate:1\nremsys:WHATEVER\nargstyle:sideways\nroute:\nscript:\n");
    let m = msgs(&p);
    assert_eq!(m.len(), 5, "{m:?}");
    assert!(m[0].contains(":2: not keyword:value"));
    assert!(m[1].contains(":3: unknown keyword frobnicate:"));
    assert!(m[2].contains(":5: argstyle:sideways"));
    assert!(m[3].contains(":6: route: has no value"));
    assert!(m[4].contains(":7: script: has no value"));
    // An empty route: clears the route given before (last line wins).
    assert_eq!(c.route, None);
    assert_eq!(c.argstyle, None);
}

#[test]
fn argstyle_and_maxkill() {
    let (c, _) = client("argstyle:Positional\nmaxkill:/fip/local/killer.sff \\C1\nmaxtime:600\n");
    assert_eq!(c.argstyle, Some(ArgStyle::Positional));
    assert_eq!(c.maxkill.as_deref(), Some("/fip/local/killer.sff \\C1"));
    assert_eq!(c.maxtime, 600);
}

#[test]
fn value_keeps_colons() {
    let (c, _) = client("script:/bin/x http://a:8/b\nC1:a:b\n");
    assert_eq!(c.script.as_deref(), Some("/bin/x http://a:8/b"));
    assert_eq!(c.fields["C1"], "a:b");
}

// ---- PORTS ----

fn ports(text: &str) -> (PortsTable, Vec<Problem>) {
    PortsTable::parse(text, Path::new("/fip/tables/syn/PORTS"))
}

fn pp(host: &str, port: u16) -> PhysPort {
    PhysPort {
        host: host.into(),
        port,
    }
}

#[test]
fn shared_physical_port() {
    let (t, p) = ports(
        "; comment\nroute:hayes12\thost:svr3\tport:1103\nroute:hayes24 host:svr3 port:1103\n\
         route:hayes96  host:SVR3  port:1103\n",
    );
    assert!(p.is_empty(), "{:?}", msgs(&p));
    for r in ["HAYES12", "hayes24", "Hayes96"] {
        assert_eq!(t.route_ports(r), [pp("svr3", 1103)]);
    }
    assert_eq!(t.capacity(&pp("svr3", 1103)), 1);
}

#[test]
fn one_route_on_several_lines_adds_up() {
    let (t, p) = ports("route:x25slow\thost:bigpad\tmulti:7\nroute:x25slow\thost:lilpad\n");
    assert!(p.is_empty());
    assert_eq!(t.route_ports("X25SLOW"), [pp("bigpad", 0), pp("lilpad", 0)]);
    assert_eq!(t.capacity(&pp("bigpad", 0)), 7);
    assert_eq!(t.capacity(&pp("lilpad", 0)), 1);
    assert_eq!(t.route_capacity("x25slow"), 8);
}

#[test]
fn capacity_is_largest_multi_naming_the_port() {
    let (t, _) = ports(
        "route:a host:h port:9 multi:2\nroute:b host:h port:9 multi:5\nroute:c host:h port:9\n",
    );
    assert_eq!(t.capacity(&pp("h", 9)), 5);
    assert_eq!(t.route_ports("c"), [pp("h", 9)]);
    // Duplicates within one route are listed once.
    let (t, _) = ports("route:a host:h port:9\nroute:a host:h port:9 multi:3\n");
    assert_eq!(t.route_ports("a"), [pp("h", 9)]);
    assert_eq!(t.route_capacity("a"), 3);
}

#[test]
fn no_entry_is_empty() {
    let (t, _) = ports("route:a host:h\n");
    assert!(t.route_ports("FUNNYCOMMS").is_empty());
    assert!(!t.has_route("funnycomms"));
    assert!(t.has_route("A"));
    assert_eq!(t.capacity(&pp("nowhere", 1)), 1);
}

#[test]
fn flags_and_case() {
    let (t, p) = ports("ROUTE:funnycomms HOST:ObnoxiousNoise PORT:9191 TELNET:\nroute:raw host:r port:1 rawtelnet:\n");
    assert!(p.is_empty());
    let l = &t.lines()[0];
    assert_eq!(l.route, "FUNNYCOMMS");
    assert_eq!(l.phys, pp("obnoxiousnoise", 9191));
    assert!(l.telnet && !l.rawtelnet);
    let l = &t.lines()[1];
    assert!(!l.telnet && l.rawtelnet);
}

#[test]
fn malformed_lines_with_line_numbers() {
    let (t, p) = ports(
        "route:good host:g port:1\nroute:nohost port:2\nhost:noroute\nroute:x host:h port:99999\n\
         route:x host:h multi:many\nroute:x host:h multi:0\nroute:x host:h bogus:1\n\
         route:x garbage host:h\nroute:x route:y host:h\nroute:good2 host:g2\n",
    );
    let m = msgs(&p);
    assert_eq!(m.len(), 8, "{m:?}");
    let want = [
        (2, "no host:"),
        (3, "no route:"),
        (4, "port:99999 is not a port number"),
        (5, "multi:many is not a number"),
        (6, "multi:0 allows no connection"),
        (7, "unknown key bogus:"),
        (8, "token \"garbage\" is not key:value"),
        (9, "route: given twice"),
    ];
    for (got, (line, text)) in m.iter().zip(want) {
        let prefix = format!("/fip/tables/syn/PORTS:{line}: {text}");
        assert!(got.starts_with(&prefix), "{got} !~ {prefix}");
        assert!(got.contains("line skipped"));
    }
    // The good lines are still used.
    assert_eq!(t.lines().len(), 2);
    assert_eq!(t.route_ports("GOOD2"), [pp("g2", 0)]);
}

// ---- IPSYND ----

#[test]
fn ipsynd_defaults_and_values() {
    let path = Path::new("/fip/tables/syn/IPSYND");
    let (d, p) = parse_ipsynd("", path);
    assert!(p.is_empty());
    assert_eq!(d, DaemonParams::default());
    assert_eq!(d.rescan, std::time::Duration::from_secs(5));
    assert_eq!(d.grace, std::time::Duration::from_secs(5));
    assert_eq!(d.argstyle, ArgStyle::Switches);
    assert!(!d.unlockstale);
    let (d, p) = parse_ipsynd(
        "; ipsynd\nRESCAN:2\nipsyn:/opt/fip/bin/ipsyn\ndefhost:Spider3\nargstyle:positional\nunlockstale:YES\ngrace:1\n",
        path,
    );
    assert!(p.is_empty(), "{:?}", msgs(&p));
    assert_eq!(d.rescan.as_secs(), 2);
    assert_eq!(d.ipsyn.as_deref(), Some(Path::new("/opt/fip/bin/ipsyn")));
    assert_eq!(d.defhost.as_deref(), Some("spider3"));
    assert_eq!(d.argstyle, ArgStyle::Positional);
    assert!(d.unlockstale);
    assert_eq!(d.grace.as_secs(), 1);
}

#[test]
fn ipsynd_bad_values() {
    let path = Path::new("IPSYND");
    let (d, p) = parse_ipsynd(
        "rescan:0\ngrace:x\nunlockstale:maybe\nargstyle:odd\nfoo:1\nnocolon\n",
        path,
    );
    assert_eq!(d.rescan.as_secs(), 1);
    assert_eq!(d.grace.as_secs(), 5);
    assert!(!d.unlockstale);
    let m = msgs(&p);
    assert_eq!(m.len(), 6, "{m:?}");
    for (i, s) in m.iter().enumerate() {
        assert!(s.starts_with(&format!("IPSYND:{}: ", i + 1)), "{s}");
    }
}

#[test]
fn ipsynd_syslog_takes_the_values_lonc_syslog_takes() {
    let path = Path::new("IPSYND");
    for (v, want) in [
        ("yes", Some("/dev/log")),
        ("1", Some("/dev/log")),
        ("no", None),
        ("OFF", None),
        ("/run/test/log.sock", Some("/run/test/log.sock")),
    ] {
        let (d, p) = parse_ipsynd(&format!("syslog:{v}\n"), path);
        assert!(p.is_empty(), "{v}: {:?}", msgs(&p));
        assert_eq!(d.syslog.as_deref(), want.map(Path::new), "{v}");
    }
    let (d, p) = parse_ipsynd("syslog:run/log.sock\n", path);
    assert_eq!(d.syslog.as_deref(), Some(Path::new("/dev/log")));
    assert_eq!(msgs(&p).len(), 1);
    assert!(
        msgs(&p)[0].starts_with("IPSYND:1: syslog: "),
        "{:?}",
        msgs(&p)
    );
    let (d, p) = parse_ipsynd("syslog:maybe\n", path);
    assert_eq!(d.syslog, None);
    assert!(msgs(&p)[0].contains("neither yes, no nor an absolute path"));
}

// ---- the example tree in etc/ipsynd parses cleanly ----

#[test]
fn example_tables_parse_without_problems() {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("etc/ipsynd/tables/syn");
    let read = |rel: &str| std::fs::read_to_string(base.join(rel)).unwrap();
    let (t, p) = PortsTable::parse(&read("PORTS"), &base.join("PORTS"));
    assert!(p.is_empty(), "{:?}", msgs(&p));
    assert_eq!(t.route_capacity("X25SLOW"), 8);
    assert_eq!(t.route_ports("HAYES96"), t.route_ports("HAYES12"));
    let (d, p) = parse_ipsynd(&read("IPSYND"), &base.join("IPSYND"));
    assert!(p.is_empty(), "{:?}", msgs(&p));
    assert_eq!(d, DaemonParams::default());
    for name in ["JUKEBOX", "POP", "FTPCLIENT", "REDFLAG"] {
        let rel = format!("client/{name}");
        let (c, p) = parse_client(name, &read(&rel), &base.join(&rel));
        assert!(p.is_empty(), "{name}: {:?}", msgs(&p));
        if let Some(r) = &c.route {
            assert!(
                t.has_route(r) || &**r == "FUNNYCOMMS",
                "{name}: {r} not in PORTS"
            );
        }
    }
    let (c, _) = parse_client("REDFLAG", &read("client/REDFLAG"), Path::new("REDFLAG"));
    assert_eq!(c.tryalt, TryAlt::Every(3));
    let (c, _) = parse_client("POP", &read("client/POP"), Path::new("POP"));
    assert_eq!((c.timeout, c.retry, c.prior, c.maxtime), (30, 6, 10, 600));
    assert_eq!(c.tryalt, TryAlt::Every(3));
}

#[test]
fn ipsynd_root_key() {
    let path = Path::new("IPSYND");
    assert!(!parse_ipsynd("", path).0.root);
    let (d, p) = parse_ipsynd("root:yes\n", path);
    assert!(d.root && p.is_empty());
    let (d, p) = parse_ipsynd("root:perhaps\n", path);
    assert!(!d.root);
    assert_eq!(
        msgs(&p),
        ["IPSYND:1: root:perhaps is neither yes nor no, using no"]
    );
}

/// ipsynd keeps one parsed client file per client, and a backlog may have a client per
/// waiting record: boxed strings keep the struct (and its allocation) small.
#[cfg(target_pointer_width = "64")]
#[test]
fn a_parsed_client_file_stays_small() {
    let size = std::mem::size_of::<ClientParams>();
    assert!(size <= 176, "ClientParams is {size} bytes");
}
