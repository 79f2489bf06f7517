//! The man pages (etc/man, mdoc): `mandoc -T lint` reports nothing. It runs in etc/man,
//! where mandoc also finds the pages the others refer to (`.Xr`), so a reference to a page
//! that does not exist is reported too. And etc/man holds exactly the documented pages.

use std::fs;
use std::process::Command;

use crate::pkg_common::{repo, run};

const PAGES: &[&str] = &[
    "ipsyn-recv.8",
    "ipsyn.8",
    "ipsynd.8",
    "ipsynd.tables.5",
    "lonc.8",
    "lonc.conf.5",
    "loncsyn-watchdog.8",
];

#[test]
fn man_pages_pass_mandoc_lint() {
    let dir = repo().join("etc/man");
    let mut found: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    found.sort();
    assert_eq!(found, PAGES, "pages in etc/man");
    let (code, out) = run(Command::new("mandoc")
        .current_dir(&dir)
        .args(["-T", "lint"])
        .args(PAGES));
    assert_eq!(
        (code, out.as_str()),
        (Some(0), ""),
        "mandoc -T lint (Debian mandoc, installed by scripts/setup.sh)"
    );
}
