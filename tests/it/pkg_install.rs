//! `make install` / `make uninstall` (scripts/install.sh) into a temporary DESTDIR: the tree
//! holds exactly the documented files, binaries stripped, paths filled in, modes right; an
//! /etc file that was there before or was edited is never overwritten nor removed; and
//! uninstall leaves the tree empty.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use crate::pkg_common::{bin_dir, list_tree, run, run_install, TempTree};

/// What `make install` puts below DESTDIR with the default settings (README, "Install").
const EXPECTED: &[&str] = &[
    "etc/",
    "etc/cron.d/",
    "etc/cron.d/loncsyn-watchdog",
    "etc/default/",
    "etc/default/ipsynd",
    "etc/default/lonc",
    "etc/init.d/",
    "etc/init.d/ipsynd",
    "etc/init.d/lonc",
    "etc/logrotate.d/",
    "etc/logrotate.d/ipsynd",
    "etc/logrotate.d/lonc",
    "fip/",
    "fip/bin/",
    "fip/bin/ipsyn",
    "usr/",
    "usr/local/",
    "usr/local/bin/",
    "usr/local/bin/ipsyn-recv",
    "usr/local/lib/",
    "usr/local/lib/loncsyn/",
    "usr/local/lib/loncsyn/init-functions",
    "usr/local/lib/systemd/",
    "usr/local/lib/systemd/system/",
    "usr/local/lib/systemd/system/ipsynd.service",
    "usr/local/lib/systemd/system/lonc.service",
    "usr/local/sbin/",
    "usr/local/sbin/ipsynd",
    "usr/local/sbin/lonc",
    "usr/local/sbin/loncsyn-watchdog",
    "usr/local/share/",
    "usr/local/share/doc/",
    "usr/local/share/doc/ipsynd/",
    "usr/local/share/doc/ipsynd/examples/",
    "usr/local/share/doc/ipsynd/examples/tables/",
    "usr/local/share/doc/ipsynd/examples/tables/syn/",
    "usr/local/share/doc/ipsynd/examples/tables/syn/IPSYND",
    "usr/local/share/doc/ipsynd/examples/tables/syn/PORTS",
    "usr/local/share/doc/ipsynd/examples/tables/syn/client/",
    "usr/local/share/doc/ipsynd/examples/tables/syn/client/FTPCLIENT",
    "usr/local/share/doc/ipsynd/examples/tables/syn/client/JUKEBOX",
    "usr/local/share/doc/ipsynd/examples/tables/syn/client/POP",
    "usr/local/share/doc/ipsynd/examples/tables/syn/client/REDFLAG",
    "usr/local/share/doc/ipsynd/examples/tables/syn/route/",
    "usr/local/share/doc/ipsynd/examples/tables/syn/route/POPLINE",
    "usr/local/share/doc/lonc/",
    "usr/local/share/doc/lonc/examples/",
    "usr/local/share/doc/lonc/examples/access.conf",
    "usr/local/share/doc/lonc/examples/hosts.tab",
    "usr/local/share/doc/loncsyn/",
    "usr/local/share/doc/loncsyn/install-manifest",
    "usr/local/share/man/",
    "usr/local/share/man/man5/",
    "usr/local/share/man/man5/ipsynd.tables.5",
    "usr/local/share/man/man5/lonc.conf.5",
    "usr/local/share/man/man8/",
    "usr/local/share/man/man8/ipsyn-recv.8",
    "usr/local/share/man/man8/ipsyn.8",
    "usr/local/share/man/man8/ipsynd.8",
    "usr/local/share/man/man8/lonc.8",
    "usr/local/share/man/man8/loncsyn-watchdog.8",
];

fn destdir_vars(dest: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("DESTDIR", dest.display().to_string()),
        ("PREFIX", "/usr/local".into()),
        ("SYSCONFDIR", "/etc".into()),
        ("FIP_ROOT", "/fip".into()),
    ]
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

/// A binary is stripped when it has no symbol table left.
fn stripped(p: &Path) -> bool {
    let (code, out) = run(Command::new("readelf").arg("-S").arg("-W").arg(p));
    assert_eq!(code, Some(0), "readelf {}: {out}", p.display());
    !out.contains(" .symtab ")
}

#[test]
fn install_puts_every_piece_in_place_and_uninstall_removes_exactly_that() {
    let t = TempTree::new("destdir");
    let dest = t.path("dest");
    fs::create_dir(&dest).unwrap();
    run_install("install", &destdir_vars(&dest));
    assert_eq!(list_tree(&dest), EXPECTED, "installed tree");

    for (bin, src) in [
        ("usr/local/sbin/lonc", "lonc"),
        ("usr/local/sbin/ipsynd", "ipsynd"),
        ("fip/bin/ipsyn", "ipsyn"),
        ("usr/local/bin/ipsyn-recv", "ipsyn-recv"),
    ] {
        let p = dest.join(bin);
        assert!(stripped(&p), "{bin} is not stripped");
        assert!(
            !stripped(&bin_dir().join(src)),
            "{src} was stripped already"
        );
        assert_eq!(mode(&p), 0o755, "{bin}");
        // Still the same program: it runs and names itself (ipsyn-recv in its usage).
        let (code, out) = run(Command::new(&p).arg("-v"));
        assert!(
            code.is_some() && out.contains(src),
            "{bin} -v: {code:?} {out}"
        );
    }
    for exe in [
        "usr/local/sbin/loncsyn-watchdog",
        "etc/init.d/lonc",
        "etc/init.d/ipsynd",
    ] {
        assert_eq!(mode(&dest.join(exe)), 0o755, "{exe}");
    }
    assert_eq!(mode(&dest.join("etc/default/lonc")), 0o644);
    assert_eq!(mode(&dest.join("usr/local/share/man/man8/lonc.8")), 0o644);

    // Every @PLACEHOLDER@ is filled in with the paths of these settings (not DESTDIR's).
    for rel in [
        "etc/init.d/lonc",
        "etc/init.d/ipsynd",
        "etc/default/lonc",
        "etc/default/ipsynd",
        "etc/logrotate.d/ipsynd",
        "etc/cron.d/loncsyn-watchdog",
        "usr/local/lib/systemd/system/lonc.service",
        "usr/local/lib/systemd/system/ipsynd.service",
        "usr/local/sbin/loncsyn-watchdog",
        "usr/local/lib/loncsyn/init-functions",
    ] {
        let text = fs::read_to_string(dest.join(rel)).unwrap();
        for ph in [
            "@SBINDIR@",
            "@BINDIR@",
            "@SYSCONFDIR@",
            "@FIP_ROOT@",
            "@LIBDIR@",
        ] {
            assert!(!text.contains(ph), "{rel} still holds {ph}");
        }
        assert!(
            !text.contains(&dest.display().to_string()),
            "{rel} names DESTDIR"
        );
    }
    let unit = fs::read_to_string(dest.join("usr/local/lib/systemd/system/lonc.service")).unwrap();
    assert!(
        unit.contains("ExecStart=/usr/local/sbin/lonc -f -c ${LONC_CONFIG}"),
        "{unit}"
    );
    assert!(
        unit.contains("EnvironmentFile=-/etc/default/lonc"),
        "{unit}"
    );
    let init = fs::read_to_string(dest.join("etc/init.d/ipsynd")).unwrap();
    assert!(init.contains("DAEMON=/usr/local/sbin/ipsynd"), "{init}");
    assert!(
        init.contains(". /usr/local/lib/loncsyn/init-functions"),
        "{init}"
    );
    let defaults = fs::read_to_string(dest.join("etc/default/ipsynd")).unwrap();
    assert!(defaults.contains("\nFIP_ROOT=/fip\n"), "{defaults}");

    // A second install (an upgrade) changes nothing about what uninstall removes.
    run_install("install", &destdir_vars(&dest));
    assert_eq!(list_tree(&dest), EXPECTED, "tree after a second install");

    let out = run_install("uninstall", &destdir_vars(&dest));
    assert_eq!(
        list_tree(&dest),
        Vec::<String>::new(),
        "left after uninstall; {out}"
    );
}

#[test]
fn configuration_files_of_the_site_are_never_overwritten_nor_removed() {
    let t = TempTree::new("conffiles");
    let dest = t.path("dest");
    // The site had its own /etc/default/lonc before the first install.
    fs::create_dir_all(dest.join("etc/default")).unwrap();
    fs::write(
        dest.join("etc/default/lonc"),
        "LONC_CONFIG=/srv/lonc.conf\n",
    )
    .unwrap();
    let out = run_install("install", &destdir_vars(&dest));
    assert!(
        out.contains("kept") && out.contains("etc/default/lonc (it was there before)"),
        "{out}"
    );
    assert_eq!(
        fs::read_to_string(dest.join("etc/default/lonc")).unwrap(),
        "LONC_CONFIG=/srv/lonc.conf\n"
    );

    // An installed one the operator edited survives a reinstall and the uninstall.
    let ipsynd = dest.join("etc/default/ipsynd");
    let mut text = fs::read_to_string(&ipsynd).unwrap();
    text.push_str("IPSYND_WATCHDOG=yes\n");
    fs::write(&ipsynd, &text).unwrap();
    let out = run_install("install", &destdir_vars(&dest));
    assert!(
        out.contains("etc/default/ipsynd (edited since it was installed)"),
        "{out}"
    );
    assert_eq!(fs::read_to_string(&ipsynd).unwrap(), text);

    // An installed one left as it was is upgraded in place: still ours, removed later.
    let logrotate = dest.join("etc/logrotate.d/lonc");
    assert!(logrotate.exists());

    let out = run_install("uninstall", &destdir_vars(&dest));
    assert!(
        out.contains("kept") && out.contains("etc/default/ipsynd"),
        "{out}"
    );
    assert_eq!(
        list_tree(&dest),
        vec![
            "etc/",
            "etc/default/",
            "etc/default/ipsynd",
            "etc/default/lonc"
        ],
        "{out}"
    );
    assert_eq!(fs::read_to_string(&ipsynd).unwrap(), text);
}
