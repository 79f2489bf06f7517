//! HUP with a broken new configuration stops nothing: the new config and hosts.tab are
//! checked as a start would check them before any child is told to stop, and the log says
//! why they were not used.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;

use nix::sys::signal::Signal;

use crate::lonc_common::*;

/// Breaks or mends the installation.
type Change<'a> = Box<dyn Fn() + 'a>;

#[test]
fn hup_with_a_broken_config_hosts_tab_or_directory_keeps_every_child() {
    let s = Setup::new("hupbroken", &[peer("h1"), peer("h2")]);
    let l = s.start();
    assert!(s.wait_online("h1") && s.wait_online("h2"));
    let kids = l.children();
    assert_eq!(kids.len(), 2);
    // A client in the middle of its session keeps its link through all of it.
    let mut c = UnixStream::connect(s.sock("h1")).unwrap();
    c.set_read_timeout(Some(WAIT)).unwrap();
    let good_conf = fs::read_to_string(&s.config).unwrap();
    let hosts = s.dir.join("tabs/hosts.tab");
    let good_hosts = fs::read_to_string(&hosts).unwrap();
    let socks = s.dir.join("sockets");
    let breakages: Vec<(&str, Change, Change)> = vec![
        (
            "is not a port number",
            Box::new(|| {
                fs::write(
                    &s.config,
                    format!("{good_conf}PerlSetVar londPort notaport\n"),
                )
                .unwrap()
            }),
            Box::new(|| fs::write(&s.config, &good_conf).unwrap()),
        ),
        (
            "hosts.tab",
            Box::new(|| fs::remove_file(&hosts).unwrap()),
            Box::new(|| fs::write(&hosts, &good_hosts).unwrap()),
        ),
        (
            "no usable host (2 rows refused)",
            Box::new(|| fs::write(&hosts, "-a:d:r:n:127.0.0.1\n..:d:r:n:127.0.0.1\n").unwrap()),
            Box::new(|| fs::write(&hosts, &good_hosts).unwrap()),
        ),
        (
            "is writable by group and others (mode 0777",
            Box::new(|| fs::set_permissions(&socks, fs::Permissions::from_mode(0o777)).unwrap()),
            Box::new(|| fs::set_permissions(&socks, fs::Permissions::from_mode(0o755)).unwrap()),
        ),
    ];
    for (n, (why, breaks, mend)) in breakages.iter().enumerate() {
        breaks();
        l.signal(Signal::SIGHUP);
        assert!(
            s.wait_log_n(
                "CRITICAL: Cannot use the new configuration, keeping the old one and the running children: ",
                n + 1
            ),
            "{why}: {}",
            s.log()
        );
        let line = s
            .log()
            .lines()
            .filter(|l| l.contains("Cannot use the new configuration"))
            .nth(n)
            .unwrap()
            .to_string();
        assert!(line.contains(why), "{why}: {line}");
        assert_eq!(l.children(), kids, "{why}");
        c.write_all(format!("echo:still here {n}\n").as_bytes())
            .unwrap();
        assert_eq!(
            read_line(&mut c),
            Some(format!("still here {n}").into_bytes()),
            "{why}"
        );
        mend();
    }
    assert_eq!(s.log_count("Closing h1"), 0, "{}", s.log());
    assert_eq!(s.log_count("CRITICAL: Restarting"), 0);
    assert_eq!(ask(&s.sock("h2"), "ping"), "h2");
    // All mended: HUP restarts as before.
    l.signal(Signal::SIGHUP);
    assert!(s.wait_log("CRITICAL: Restarting"), "{}", s.log());
    assert!(wait_for(WAIT, || {
        let now = l.children();
        now.len() == 2 && now.iter().all(|p| !kids.contains(p))
    }));
}
