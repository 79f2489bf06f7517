//! The body of every fuzz target, one function each, shared by the libFuzzer harnesses
//! (`tests/fuzz/fuzz_targets/*.rs`, `cargo fuzz`, nightly flags) and the stable replay test
//! (`tests/it/fuzz_replay.rs`), which runs every corpus and regression input through the
//! same function. Each function takes raw bytes and panics when a property fails, so a
//! finding is a panic in both worlds.
//!
//! Properties checked, beyond "does not panic": a parser's problems all name the file and a
//! line that exists; values come out in their documented ranges and case; what is encoded
//! decodes back (`enc:` lines, ipsyn's wire lines, flag files, the displayed argv); LineBuf's
//! lines are the input cut after each newline whatever the chunking.
//!
//! Multi-part inputs are cut at NUL bytes ([`parts`]), so corpus files stay readable text.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use loncsyn::fip::{paths, tables};
use loncsyn::ipsynd::{argv, control, fipseq, flags, ftpscript};
use loncsyn::lonc::{cipher, config, handshake, hosts, linebuf, log};

/// A target's body: panics when a property fails.
pub type Target = fn(&[u8]);

/// Every target, by name: the replay test walks this list, the harnesses name one each.
pub const TARGETS: &[(&str, Target)] = &[
    ("lonc_config", lonc_config),
    ("lonc_hosts", lonc_hosts),
    ("lonc_enc", lonc_enc),
    ("lonc_linebuf", lonc_linebuf),
    ("lonc_handshake", lonc_handshake),
    ("ipsynd_ports", ipsynd_ports),
    ("ipsynd_client", ipsynd_client),
    ("ipsynd_params", ipsynd_params),
    ("ipsynd_fipseq", ipsynd_fipseq),
    ("ipsynd_control", ipsynd_control),
    ("ipsynd_ftp_judge", ipsynd_ftp_judge),
    ("ipsyn_wire", ipsyn_wire),
    ("ipsyn_recv", ipsyn_recv),
    ("ipsyn_args", ipsyn_args),
];

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// The input cut at NUL bytes, each part as (lossy) text; missing parts are empty.
fn parts(data: &[u8], n: usize) -> Vec<String> {
    let mut out: Vec<String> = data.splitn(n, |&b| b == 0).map(text).collect();
    out.resize(n, String::new());
    out
}

/// Lines as the parsers count them (`str::lines`: a final line without newline counts).
fn line_count(text: &str) -> usize {
    text.lines().count()
}

/// Every problem names `path` and a line of the file (1-based, within the text).
fn check_lines(what: &str, path: &Path, text: &str, problems: &[(PathBuf, usize, String)]) {
    let n = line_count(text).max(text.split('\n').count());
    for (file, line, msg) in problems {
        assert_eq!(file, path, "{what}: problem names another file: {msg}");
        assert!(
            (1..=n).contains(line),
            "{what}: problem without a line of the file (line {line} of {n}): {msg}"
        );
    }
}

/// lonc logs a problem as it is (1.29's log has no escaping) and `-n` prints it: text from
/// the file must come out escaped, so one problem is one line and forges no other.
fn one_visible_line(what: &str, problems: &[config::Problem]) {
    for p in problems {
        let m = p.to_string();
        assert!(
            !m.contains(char::is_control),
            "{what}: control character in {m:?}"
        );
    }
}

// ---- lonc -------------------------------------------------------------------------------

/// lonc's config (`PerlSetVar NAME VALUE` lines).
pub fn lonc_config(data: &[u8]) {
    let path = Path::new("/etc/httpd/conf/loncapa.conf");
    let t = text(data);
    let problems = match config::LoncConfig::parse(&t, path) {
        Ok((cfg, problems)) => {
            assert!(problems.iter().all(|p| !p.fatal), "fatal problem in Ok");
            assert!(cfg.backoff_min <= cfg.backoff_max);
            assert!(!cfg.probe_timeout.is_zero() && !cfg.init_timeout.is_zero());
            assert!(!cfg.reply_timeout.is_zero());
            assert!(cfg.max_line > 0 && cfg.max_answer > 0);
            assert!(cfg.lond_port != 0 && cfg.probe_port != 0);
            let id = &cfg.lon_host_id;
            assert!(!id.is_empty() && !id.contains('/') && id != "." && id != "..");
            // A value is one word (1.29 kept the third field only).
            for (k, v) in &cfg.vars {
                assert!(
                    !k.is_empty() && !k.contains(char::is_whitespace),
                    "key {k:?}"
                );
                assert!(!v.contains(char::is_whitespace), "value {v:?}");
            }
            problems
        }
        Err(config::ConfigError::Invalid(problems)) => {
            assert!(
                problems.iter().any(|p| p.fatal),
                "Invalid without a fatal problem"
            );
            problems
        }
        Err(e) => panic!("parse gave a read error: {e}"),
    };
    // Line 0 is "the file as a whole": only for a required key that no line sets.
    let lined: Vec<_> = problems
        .iter()
        .filter(|p| !(p.line == 0 && p.msg.starts_with("no PerlSetVar ")))
        .map(|p| (p.file.clone(), p.line, p.to_string()))
        .collect();
    check_lines("lonc config", path, &t, &lined);
    one_visible_line("lonc config", &problems);
    for p in &problems {
        assert!(p.to_string().starts_with(&path.display().to_string()));
    }
}

/// hosts.tab rows `id:domain:role:name:ip`.
pub fn lonc_hosts(data: &[u8]) {
    let path = Path::new("/home/httpd/lonTabs/hosts.tab");
    let t = text(data);
    let (list, problems) = hosts::parse_hosts(&t, path);
    let lined: Vec<_> = problems
        .iter()
        .map(|p| (p.file.clone(), p.line, p.to_string()))
        .collect();
    check_lines("hosts.tab", path, &t, &lined);
    one_visible_line("hosts.tab", &problems);
    assert!(problems.iter().all(|p| !p.fatal));
    let rows: Vec<&str> = t.split('\n').collect();
    let mut seen = std::collections::BTreeSet::new();
    for h in &list {
        assert!(seen.insert(h.id.clone()), "host {} twice", h.id);
        // The id names a socket file: one plain path component under lonSockDir.
        let sock = Path::new("/home/httpd/sockets").join(&h.id);
        assert_eq!(
            sock.parent(),
            Some(Path::new("/home/httpd/sockets")),
            "{:?}",
            h.id
        );
        assert!(matches!(
            Path::new(&h.id).components().collect::<Vec<_>>()[..],
            [Component::Normal(_)]
        ));
        // Settled detail 8.7: letters, digits, `.`, `_`, `-`, not starting with `-` or `.`.
        assert!(
            h.id.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
                && !h.id.starts_with(['-', '.']),
            "host id {:?} is not a plain name",
            h.id
        );
        assert!(!h.ip.is_empty() && h.ip != "0");
        for f in [&h.id, &h.domain, &h.role, &h.name, &h.ip] {
            assert_eq!(f.trim(), f.as_str(), "field not trimmed");
            assert!(!f.contains(':'));
        }
        assert!(
            rows[h.line - 1].contains(h.id.as_str()),
            "line {} of {}",
            h.line,
            h.id
        );
    }
}

/// `enc:<len>:<hex>` lines: decrypting never panics, and what lonc encrypts decrypts back.
/// Parts: remote id, local id, buildkey, the line.
pub fn lonc_enc(data: &[u8]) {
    let mut it = data.splitn(4, |&b| b == 0);
    let remote = text(it.next().unwrap_or(b"alpha"));
    let local = text(it.next().unwrap_or(b"beta"));
    let buildkey = it.next().unwrap_or(b"1234567890\n").to_vec();
    let line = it.next().unwrap_or(data);
    let key = cipher::derive_key(&remote, &local, &buildkey);
    let c = cipher::LineCipher::new(key);
    for decrypt in [
        cipher::LineCipher::decrypt_reply,
        cipher::LineCipher::decrypt_request,
    ] {
        if let Ok(plain) = decrypt(&c, line) {
            let body = line.strip_suffix(b"\n").unwrap_or(line);
            let len: usize = std::str::from_utf8(&body[4..body.len()])
                .ok()
                .and_then(|s| s.split(':').next())
                .and_then(|s| s.parse().ok())
                .expect("an accepted line has a decimal length");
            assert_eq!(plain.len(), len, "length field not honoured");
        }
    }
    // What lonc sends decrypts to what it meant, for any bytes, and is one ASCII line.
    for enc in [c.encrypt_request(line), c.encrypt_reply(line)] {
        assert!(enc.is_ascii() && !enc.contains(&b'\n'));
        let hex = enc.rsplit(|&b| b == b':').next().unwrap();
        assert_eq!(hex.len(), 16 * (line.len() / 8 + 1));
        assert_eq!(c.decrypt_reply(&enc).as_deref(), Ok(line));
        let mut with_nl = enc.clone();
        with_nl.push(b'\n');
        assert_eq!(c.decrypt_request(&with_nl).as_deref(), Ok(line));
    }
}

/// Newline framing: whatever the chunking, the lines out are the input cut after each
/// newline, and the partial rest is what follows the last one. The input alternates a
/// control byte (chunk length, how many lines to take) and the chunk itself.
pub fn lonc_linebuf(data: &[u8]) {
    let mut lb = linebuf::LineBuf::new();
    let mut ob = linebuf::OutBuf::new();
    let mut stream: Vec<u8> = Vec::new();
    let mut lines: Vec<Vec<u8>> = Vec::new();
    let mut written: Vec<u8> = Vec::new();
    let mut i = 0;
    while i < data.len() {
        let ctl = data[i];
        i += 1;
        let len = usize::from(ctl & 0x1f).min(data.len() - i);
        let chunk = &data[i..i + len];
        i += len;
        stream.extend_from_slice(chunk);
        lb.push(chunk);
        ob.extend(chunk);
        // Take 0..=3 lines now (0: let them pile up; 3: usually drain).
        for _ in 0..(ctl >> 5) % 4 {
            match lb.next_line() {
                Some(l) => lines.push(l),
                None => break,
            }
        }
        // Write out a part of what is pending, as a short write would.
        let n = (usize::from(ctl >> 3) * 3).min(ob.pending().len());
        written.extend_from_slice(&ob.pending()[..n]);
        ob.consume(n);
    }
    while let Some(l) = lb.next_line() {
        lines.push(l);
    }
    let cut = stream
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    let expected: Vec<Vec<u8>> = stream[..cut]
        .split_inclusive(|&b| b == b'\n')
        .map(<[u8]>::to_vec)
        .collect();
    assert_eq!(
        lines, expected,
        "lines differ from the input cut at newlines"
    );
    assert_eq!(lb.partial_len(), stream.len() - cut, "partial rest");
    for l in &lines {
        assert_eq!(linebuf::chomp(l), &l[..l.len() - 1]);
    }
    written.extend_from_slice(ob.pending());
    assert_eq!(written, stream, "OutBuf lost or reordered bytes");
    ob.consume(ob.pending().len());
    assert!(ob.is_empty() && ob.pending().is_empty());
}

/// The handshake with lond, fed whatever lond says: every log text is one line with its
/// control characters escaped, the phases only move forward, and the key is the one derived
/// from the ekey answer. Parts: the peer id, then lond's lines.
pub fn lonc_handshake(data: &[u8]) {
    use handshake::{Action, Event, Phase};
    let (remote, said) = match data.iter().position(|&b| b == 0) {
        Some(p) => (text(&data[..p]), &data[p + 1..]),
        None => ("alpha".to_string(), data),
    };
    let local = "beta";
    let order = |p: Phase| match p {
        Phase::Connecting => 0,
        Phase::AwaitChallenge => 1,
        Phase::AwaitOk => 2,
        Phase::PongDelay => 3,
        Phase::AwaitPong => 4,
        Phase::AwaitEkey => 5,
        Phase::Up => 6,
    };
    let mut phase = Phase::Connecting;
    // LineBuf hands over whole lines only, each with its newline.
    let mut lines = said
        .split_inclusive(|&b| b == b'\n')
        .filter(|l| l.ends_with(b"\n"));
    let mut ev_line: Option<&[u8]> = None;
    for round in 0..64 {
        let ev = match (round, phase) {
            (0, _) => Event::Connected,
            (_, Phase::PongDelay) => Event::DelayOver,
            _ => match lines.next() {
                Some(l) => {
                    ev_line = Some(l);
                    Event::Line(l)
                }
                None => break,
            },
        };
        let before = phase;
        let (next, actions) = handshake::step(phase, ev, &remote, local);
        assert!(order(next) >= order(before), "{before:?} -> {next:?}");
        for a in &actions {
            match a {
                Action::Log(m) | Action::Status(m) => {
                    // The peer's bytes are escaped; only the peer id (ours) is not.
                    let m = m.replace(remote.as_str(), "");
                    assert!(!m.contains(|c: char| c.is_control()), "log text {m:?}");
                }
                Action::Up(key) => {
                    assert_eq!(before, Phase::AwaitEkey);
                    let l = ev_line.expect("Up follows a line");
                    assert_eq!(*key, cipher::derive_key(&remote, local, l));
                }
                Action::Send(b) => assert!(b.ends_with(b"\n") || b.is_empty()),
                Action::StartDelay | Action::Fail => {}
            }
        }
        if actions.contains(&Action::Fail) || next == Phase::Up {
            break;
        }
        phase = next;
    }
    let s = log::shown(said);
    assert!(
        !s.contains(|c: char| c.is_control()),
        "shown() let a control character through"
    );
}

// ---- ipsynd -----------------------------------------------------------------------------

fn ipsynd_lined(problems: &[tables::Problem]) -> Vec<(PathBuf, usize, String)> {
    problems
        .iter()
        .map(|p| (p.file.clone(), p.line, p.to_string()))
        .collect()
}

/// `tables/syn/PORTS`.
pub fn ipsynd_ports(data: &[u8]) {
    let path = Path::new("/fip/tables/syn/PORTS");
    let t = text(data);
    let (table, problems) = tables::PortsTable::parse(&t, path);
    check_lines("PORTS", path, &t, &ipsynd_lined(&problems));
    let routes: Vec<String> = t
        .split_whitespace()
        .filter_map(|tok| tok.split_once(':'))
        .filter(|(k, _)| k.eq_ignore_ascii_case("route"))
        .map(|(_, v)| v.to_string())
        .collect();
    for r in routes {
        let ports = table.route_ports(&r);
        for (i, p) in ports.iter().enumerate() {
            assert_eq!(p.host, p.host.to_ascii_lowercase());
            assert!(!p.host.is_empty());
            assert!(!ports[..i].contains(p), "route_ports repeats {p}");
            assert!((1..=10_000).contains(&table.capacity(p)));
        }
        assert_eq!(
            table.route_ports(&r.to_ascii_lowercase()),
            ports,
            "route case"
        );
    }
}

/// A client parameter file; parts: client name, file text.
pub fn ipsynd_client(data: &[u8]) {
    let path = Path::new("/fip/tables/syn/client/POP");
    let (name, t) = match data.iter().position(|&b| b == 0) {
        Some(p) => (text(&data[..p]), text(&data[p + 1..])),
        None => ("pop".to_string(), text(data)),
    };
    let (c, problems) = tables::parse_client(&name, &t, path);
    check_lines("client file", path, &t, &ipsynd_lined(&problems));
    assert_eq!(&*c.name, c.name.to_ascii_uppercase());
    for r in [&c.route, &c.alt].into_iter().flatten() {
        assert!(!r.is_empty() && **r == r.to_ascii_uppercase());
    }
    assert!(c.timeout <= tables::TIMEOUT_MAX && c.maxtime <= tables::MAXTIME_MAX);
    assert!((tables::RETRY_RANGE.0..=tables::RETRY_RANGE.1).contains(&c.retry));
    assert!((tables::PRIOR_RANGE.0..=tables::PRIOR_RANGE.1).contains(&c.prior));
    if let tables::TryAlt::Every(n) = c.tryalt {
        assert!(
            (tables::TRYALT_RANGE.0..=tables::TRYALT_RANGE.1).contains(&n),
            "tryalt {n}"
        );
    }
    for k in c.fields.keys() {
        assert!(
            k.len() == 2
                && k.bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        );
    }
    for l in &c.ftplines {
        assert!(!l.contains('\n'), "an ftpline spans lines");
    }
    if c.script.is_some() {
        assert!(!c.script.as_deref().unwrap().is_empty());
    }
}

/// `tables/syn/IPSYND`.
pub fn ipsynd_params(data: &[u8]) {
    let path = Path::new("/fip/tables/syn/IPSYND");
    let t = text(data);
    let (d, problems) = tables::parse_ipsynd(&t, path);
    check_lines("IPSYND", path, &t, &ipsynd_lined(&problems));
    assert!((1..=3600).contains(&d.rescan.as_secs()) && d.rescan.subsec_nanos() == 0);
    assert!(d.grace.as_secs() <= 600);
    if let Some(h) = &d.defhost {
        assert!(!h.is_empty() && *h == h.to_ascii_lowercase());
    }
    if let Some(p) = &d.ipsyn {
        assert!(!p.as_os_str().is_empty());
    }
}

/// FipSeq expansion and word splitting. Parts: the `script:` value, a client file (for the
/// fields), the time as decimal seconds, then argv words one per line.
pub fn ipsynd_fipseq(data: &[u8]) {
    let p = parts(data, 4);
    let (client, _) = tables::parse_client("POP", &p[1], Path::new("/fip/tables/syn/client/POP"));
    let secs: i64 = p[2].trim().parse().unwrap_or(852_905_400);
    let now = chrono::DateTime::from_timestamp(secs.rem_euclid(4_102_444_800), 0)
        .expect("in range")
        .with_timezone(&chrono::Local);
    let vars = fipseq::SysVars {
        seq: (secs as u32) % 100_000,
        now,
    };
    let s = &p[0];
    let out = fipseq::expand(s, &client.fields, &vars);
    if !s.contains('\\') {
        assert_eq!(&out, s, "text without a backslash changed");
    }
    // `\\` is a backslash: escaping every backslash expands back to the text.
    assert_eq!(
        &fipseq::expand(&s.replace('\\', "\\\\"), &client.fields, &vars),
        s
    );
    let none = BTreeMap::new();
    let _ = fipseq::expand(s, &none, &vars);

    let words = fipseq::split_words(&out);
    assert!(
        words.iter().all(|w| !w.contains('"')),
        "a quote survived splitting"
    );
    if !out.contains('"') {
        let plain: Vec<&str> = out.split_whitespace().collect();
        assert_eq!(
            words, plain,
            "without quotes, words are whitespace-separated"
        );
    }
    // The displayed command line splits back into the same argv (argv.rs), quotes dropped.
    for argv in [
        words.clone(),
        p[3].split('\n').map(str::to_string).collect(),
    ] {
        let shown = argv::display_command(&argv);
        let back = fipseq::split_words(&shown);
        let want: Vec<String> = argv.iter().map(|w| w.replace('"', "")).collect();
        assert_eq!(back, want, "display {shown:?} does not split back");
    }
    let _ = argv::script_words(&client, tables::ArgStyle::Positional, &vars);
    let _ = argv::script_words(&client, tables::ArgStyle::Switches, &vars);
}

/// Control-record names (and in-use flag names and contents, the other names ipsynd
/// reads back): the client they name must be safe to use as a file name.
pub fn ipsynd_control(data: &[u8]) {
    let p = parts(data, 2);
    let name = &p[0];
    let client = control::client_of_record(name);
    assert_eq!(
        client.is_none(),
        name.is_empty() || name.starts_with('.'),
        "record or not: {name:?}"
    );
    if let Some(c) = &client {
        assert!(!c.contains('|'));
        assert_eq!(*c, c.to_ascii_uppercase());
        assert_eq!(c.trim(), c.as_str());
        if control::refusal(c).is_none() {
            // One plain component: the table file, queue, flag and logs stay in their dirs.
            for n in [c.clone(), paths::queue_name(c), flags::flag_name(999, c)] {
                assert!(
                    matches!(
                        Path::new(&n).components().collect::<Vec<_>>()[..],
                        [Component::Normal(_)]
                    ),
                    "{n:?} is not one path component"
                );
                assert!(!n.contains('\0'));
            }
            assert_ne!(paths::queue_name(c), "control");
            assert!(c.len() <= control::CLIENT_NAME_MAX);
            let q = paths::queue_dir(Path::new("/fip"), &paths::queue_name(c));
            assert_eq!(q.parent(), Some(Path::new("/fip/spool/syn")));
        }
        for seq in [0, 7, 999, 1000, u32::MAX] {
            if !c.is_empty() {
                assert_eq!(
                    flags::client_of_flag(&flags::flag_name(seq, c)).as_ref(),
                    Some(c)
                );
            }
        }
    }
    let _ = flags::client_of_flag(name);
    // Flag content: what ipsynd writes, it reads back.
    if let Some((route, host, port, pid, start)) = flags::parse_content(&p[1]) {
        let again = format!(
            "{}{pid} {start}",
            flags::content_prefix(Some(&route), Some(&host), port)
        );
        let back = flags::parse_content(&again).expect("written content parses");
        assert_eq!(back.2, port);
        assert_eq!((back.3, back.4), (pid, start));
    }
}

/// Judging ftp's verbose output, and the command file it answers. Parts: ftp's output,
/// the remote names one per line, ftplines one per line, which files a synthetic transcript
/// shows as stored (one `1`/`0` per file).
pub fn ipsynd_ftp_judge(data: &[u8]) {
    let p = parts(data, 4);
    let files: Vec<(PathBuf, String)> = p[1]
        .split('\n')
        .filter(|n| !n.is_empty())
        .map(|n| {
            (
                PathBuf::from(format!("/fip/spool/syn/pop/{n}")),
                n.to_string(),
            )
        })
        .collect();
    let verdict = ftpscript::judge(&p[0], &files);
    assert_eq!(verdict.len(), files.len());
    let any_completion = p[0]
        .lines()
        .any(|l| l.starts_with("226") || l.starts_with("250"));
    for (i, sent) in verdict.iter().enumerate() {
        if *sent {
            assert!(any_completion, "judged sent without a 226/250 reply");
            assert!(p[0].contains(&format!(" remote: {}", files[i].1)));
        }
    }

    // The command file: no name or path can add a command line of its own.
    let ftplines: Vec<String> = p[2].lines().map(str::to_string).collect();
    let cmd = ftpscript::command_file(&ftplines, &files);
    assert!(cmd.ends_with("quit\n"));
    let safe: Vec<&(PathBuf, String)> = files
        .iter()
        .filter(|(path, n)| ftpscript::ftp_safe(&path.to_string_lossy()) && ftpscript::ftp_safe(n))
        .collect();
    let cmd_lines: Vec<&str> = cmd.split_inclusive('\n').collect();
    assert_eq!(cmd_lines.len(), ftplines.len() + safe.len() + 1, "{cmd:?}");
    let puts = &cmd_lines[ftplines.len()..ftplines.len() + safe.len()];
    assert!(puts.iter().all(|l| l.starts_with("put ")));

    // A transcript as ftp prints it for these puts is judged as it says, file by file.
    let stored: Vec<bool> = (0..safe.len())
        .map(|i| p[3].as_bytes().get(i) == Some(&b'1'))
        .collect();
    let mut transcript = String::from("220 ready\n---> USER alice\n230 Login successful.\n");
    for ((path, name), ok) in safe.iter().zip(&stored) {
        transcript.push_str(&format!("local: {} remote: {name}\n", path.display()));
        transcript.push_str(&format!("---> STOR {name}\n150 Ok to send data.\n"));
        transcript.push_str(if *ok {
            "226 Transfer complete.\n"
        } else {
            "550 Denied.\n"
        });
    }
    transcript.push_str("---> QUIT\n221 Goodbye.\n");
    let safe_files: Vec<(PathBuf, String)> = safe.iter().map(|f| (*f).clone()).collect();
    let names_distinct = {
        let mut n: Vec<&String> = safe_files.iter().map(|f| &f.1).collect();
        n.sort();
        n.windows(2).all(|w| w[0] != w[1])
    };
    if names_distinct {
        assert_eq!(
            ftpscript::judge(&transcript, &safe_files),
            stored,
            "{transcript:?}"
        );
    }
}

/// ipsyn's wire lines: any line parses without panic, and what the sender and receiver
/// write parses back to what they meant. Parts: a line, a name, a size, a reason.
pub fn ipsyn_wire(data: &[u8]) {
    use loncsyn::ipsyn::wire;
    let p = parts(data, 4);
    let line = &p[0];
    let _ = wire::parse_hello(line);
    if let Ok(wire::Request::File { name, .. }) = wire::parse_request(line) {
        let _ = wire::name_problem(&name);
    }
    let _ = wire::parse_ack(line, &p[1]);
    let _ = wire::truncate(line);
    assert!(wire::truncate(line).chars().count() <= 80);

    let name = &p[1];
    let size: u64 = p[2].trim().parse().unwrap_or(p[2].len() as u64);
    let why = &p[3];
    let chomp = |s: String| {
        s.strip_suffix('\n')
            .expect("a line ends with \\n")
            .to_string()
    };
    if !name.contains('\n') {
        assert_eq!(
            wire::parse_hello(&chomp(wire::hello(name))),
            Ok(name.clone())
        );
    }
    if wire::name_problem(name).is_none() {
        assert!(!name.contains(['\n', '\r', '/', '\0']));
        let header = wire::file_header(size, name);
        assert_eq!(header.matches('\n').count(), 1);
        assert_eq!(
            wire::parse_request(&chomp(header)),
            Ok(wire::Request::File {
                size,
                name: name.clone()
            })
        );
        let ok = wire::Ack::Ok(name.clone());
        assert_eq!(wire::parse_ack(&chomp(ok.line()), name), Ok(ok));
        let err = wire::Ack::Err(name.clone(), why.clone());
        let eline = err.line();
        assert_eq!(eline.matches('\n').count(), 1, "an ERR answer spans lines");
        match wire::parse_ack(&chomp(eline), name) {
            Ok(wire::Ack::Err(n, w)) => {
                assert_eq!(&n, name);
                assert_eq!(w, why.replace('\n', " ").trim());
            }
            other => panic!("ERR line parsed as {other:?}"),
        }
    }
    assert_eq!(wire::parse_request("QUIT"), Ok(wire::Request::Quit));
}

/// A fresh directory for one run of the receiver (in memory where /dev/shm exists, so fsync
/// costs nothing); removed by [`Scratch::drop`].
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        use std::sync::atomic::{AtomicU64, Ordering};
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let base = Path::new("/dev/shm");
        let base = if base.is_dir() {
            base.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!(
            "loncsyn-fuzz-recv.{}.{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }

    /// Every file in the directory, by name.
    fn files(&self) -> BTreeMap<String, Vec<u8>> {
        std::fs::read_dir(&self.0)
            .unwrap()
            .flatten()
            .map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                (name, std::fs::read(e.path()).unwrap())
            })
            .collect()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn recv_opts(dir: &Path) -> loncsyn::ipsyn::recv::RecvOptions {
    loncsyn::ipsyn::recv::RecvOptions {
        listen: String::new(),
        dir: dir.to_path_buf(),
        port_file: None,
        reject_after: None,
        idle: std::time::Duration::from_secs(1),
    }
}

/// The receiver's framing over a whole connection. Any bytes, in reads of any size: no
/// panic, whole answer lines, nothing stored under a bad name, no temporary file left. And
/// decode(encode(x)) == x: a session written as the sender writes it (greeting, `FILE`
/// header and body per file, `QUIT`), in reads of any size, stores exactly those files and
/// answers each in order. Parts: the client, then name and body alternately; the first byte
/// sets the read size.
pub fn ipsyn_recv(data: &[u8]) {
    use loncsyn::ipsyn::{recv, wire};
    let step = 1 + usize::from(data.first().copied().unwrap_or(0) % 64);

    // How TCP cuts the stream into reads changes nothing: the same answers and files as
    // when everything arrives in one read.
    let raw = Scratch::new();
    let (out, closed) = recv::answer_session(recv_opts(&raw.0), data.chunks(step));
    let whole = Scratch::new();
    let (out1, closed1) = recv::answer_session(recv_opts(&whole.0), [data]);
    assert_eq!(
        text(&out),
        text(&out1),
        "answers depend on the read size {step}"
    );
    assert_eq!(closed, closed1);
    assert_eq!(
        raw.files(),
        whole.files(),
        "files depend on the read size {step}"
    );
    drop(whole);
    assert!(
        out.is_empty() || out.ends_with(b"\n"),
        "answer not a whole line"
    );
    for name in raw.files().keys() {
        assert!(
            !name.starts_with('.'),
            "left a temporary or dot file {name:?}"
        );
        assert_eq!(wire::name_problem(name), None);
    }
    drop(raw);

    let p: Vec<String> = data
        .get(1..)
        .unwrap_or(&[])
        .split(|&b| b == 0)
        .map(text)
        .collect();
    let client = p[0].replace(['\n', '\r'], " ");
    let mut session = wire::hello(&client).into_bytes();
    let mut want = wire::hello_ok();
    let mut stored: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut stored_all = true;
    if wire::hello(&client).len() - 1 > wire::MAX_LINE {
        want = "ERR - line too long\n".into();
        stored_all = false;
    }
    for pair in p[1..].chunks(2) {
        if !stored_all {
            break;
        }
        // The sender never puts a name with a newline on the wire (it would end the line).
        let name = pair[0].replace('\n', " ");
        let body = pair.get(1).cloned().unwrap_or_default().into_bytes();
        let header = wire::file_header(body.len() as u64, &name);
        session.extend_from_slice(header.as_bytes());
        session.extend_from_slice(&body);
        if header.len() - 1 > wire::MAX_LINE {
            want.push_str("ERR - line too long\n");
            stored_all = false;
            break;
        }
        // The receiver reads the header line without a trailing CR.
        let seen = name.trim_end_matches('\r').to_string();
        match wire::name_problem(&seen) {
            None => {
                want.push_str(&wire::Ack::Ok(seen.clone()).line());
                stored.insert(seen, body);
            }
            Some(why) => want.push_str(&wire::Ack::Err(seen, why.into()).line()),
        }
    }
    session.extend_from_slice(b"QUIT\n");
    if stored_all {
        want.push_str("BYE\n");
    }
    let dir = Scratch::new();
    let (out, closed) = recv::answer_session(recv_opts(&dir.0), session.chunks(step));
    assert_eq!(text(&out), want, "answers of an encoded session");
    assert!(closed, "QUIT did not end the session");
    assert_eq!(dir.files(), stored, "files stored from an encoded session");
}

/// The transmitter's argv: what ipsynd builds for a client it runs, ipsyn reads back as the
/// same client, queue, port and paths, whatever the client's name, port or script words;
/// and any words parse without panic. Parts: the control record's name, the client file,
/// the style (`p` positional), the PORTS host, its port, script words one per line.
pub fn ipsyn_args(data: &[u8]) {
    use loncsyn::ipsyn::args;
    let p = parts(data, 6);
    let raw: Vec<String> = p[5].split('\n').map(str::to_string).collect();
    let _ = args::parse(&raw);
    let _ = args::flag_of(&raw);

    let record = p[0].replace('/', "_");
    let Some(client) = control::client_of_record(&record) else {
        return;
    };
    if control::refusal(&client).is_some() {
        return; // ipsynd never runs it
    }
    let (mut c, _) = tables::parse_client(&client, &p[1], Path::new("/fip/tables/syn/client/X"));
    c.script = (!p[5].is_empty()).then(|| {
        let words: Vec<String> = raw.iter().map(|w| w.replace('"', "")).collect();
        format!("/fip/bin/ipsyn {}", argv::display_command(&words)).into()
    });
    let style = match p[2].as_str() {
        "p" => tables::ArgStyle::Positional,
        _ => tables::ArgStyle::Switches,
    };
    // A PORTS host is one token, lowercase, non-empty; no host name starts with `-` (it
    // would read as a switch).
    let host = p[3]
        .split_whitespace()
        .next()
        .filter(|h| !h.starts_with('-'));
    let port = host.map(|h| tables::PhysPort {
        host: h.to_ascii_lowercase(),
        port: p[4].trim().parse().unwrap_or(0),
    });
    let paths = argv::AttemptPaths {
        queue: paths::queue_name(&c.name),
        log: PathBuf::from(format!("/fip/log/syn/{}.01Jan97.00.00", c.name)),
        inuse: PathBuf::from("/fip/x").join(flags::flag_name(1, &c.name)),
        ctrl: PathBuf::from("/fip/spool/syn/control").join(&record),
    };
    let now = chrono::DateTime::from_timestamp(852_076_800, 0)
        .unwrap()
        .with_timezone(&chrono::Local);
    let vars = fipseq::SysVars { seq: 1, now };
    let av = argv::build_argv(
        &c,
        Path::new("/fip/bin/ipsyn"),
        port.as_ref(),
        style,
        "localhost",
        &paths,
        &vars,
    );
    let words = &av[1..];
    // The script's own words (what stands before the standard block), after substitution.
    let block = match (style, &port) {
        (tables::ArgStyle::Positional, _) => 7,
        (tables::ArgStyle::Switches, Some(_)) => 14,
        (tables::ArgStyle::Switches, None) => 10,
    };
    let script = &av[1..av.len() - block];
    let has = |sw: &str| script.iter().any(|w| w == sw);
    if style == tables::ArgStyle::Positional && has("-c") {
        // ipsyn cannot tell the styles apart: with a `-c` anywhere it reads switches
        // (args.rs: "without any -c, the last seven words are read as the positional block").
        return;
    }
    let a = match args::parse(words) {
        Ok(a) => a,
        // The script may give -t or -p itself; a bad value is refused, rightly.
        Err(_) if has("-t") || has("-p") => return,
        Err(e) => panic!("ipsyn refuses {av:?}: {e}"),
    };
    assert_eq!(a.client, &*c.name, "client of {av:?}");
    assert_eq!(a.queue, paths.queue, "queue of {av:?}");
    assert_eq!(a.log.as_ref(), Some(&paths.log));
    assert_eq!(a.inuse.as_ref(), Some(&paths.inuse));
    assert_eq!(a.ctrl.as_ref(), Some(&paths.ctrl));
    assert_eq!(args::flag_of(words).as_ref(), Some(&paths.inuse));
    let (host, portno) = match (&port, style) {
        (Some(pp), _) => (Some(pp.host.clone()), pp.port),
        (None, tables::ArgStyle::Positional) => (Some("localhost".to_string()), 0),
        (None, tables::ArgStyle::Switches) => (None, 0),
    };
    if port.is_none() && style == tables::ArgStyle::Switches && (has("-s") || has("-p")) {
        return; // the script names the receiver itself, as the words-before-the-block rule allows
    }
    assert_eq!(a.host, host.filter(|h| h != "-"), "host of {av:?}");
    assert_eq!(a.port, (portno != 0).then_some(portno), "port of {av:?}");
}
