//! The systemd units, as installed (paths filled in, binaries present): `systemd-analyze
//! verify` accepts them without a single complaint. Where systemd-analyze is not installed
//! (it comes with Debian's systemd, which scripts/setup.sh installs) this one check says so
//! and passes, except under `make test`, where it fails (`prereq`).

use std::process::Command;

use crate::pkg_common::{run, TempTree};

#[test]
fn units_pass_systemd_analyze_verify() {
    let (code, _) = run(Command::new("sh").args(["-c", "command -v systemd-analyze"]));
    if code != Some(0) {
        crate::prereq::missing(
            "units_pass_systemd_analyze_verify",
            "systemd-analyze is not installed",
        );
        return;
    }
    let t = TempTree::new("systemd");
    t.install_here();
    let units = t.path("usr/lib/systemd/system");
    let (code, out) = run(Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(units.join("lonc.service"))
        .arg(units.join("ipsynd.service")));
    assert_eq!(
        (code, out.as_str()),
        (Some(0), ""),
        "systemd-analyze verify"
    );
}
