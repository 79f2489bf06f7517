//! HUP's check of the new configuration and hosts.tab, as a start would do it, before any
//! child is stopped (spec §7.6): a broken one keeps the old one and the running children.

use std::path::Path;

use crate::lonc::config::{LoncConfig, Problem};
use crate::lonc::hosts::{load_hosts, Host};
use crate::lonc::preflight;
use crate::lonc::process::create_private_dir;

/// Re-read config and hosts.tab for HUP and check them as a start would (user, directories);
/// a hosts.tab whose every row is refused counts as broken too (a file caught mid-write).
/// Any fatal problem keeps the old ones.
pub(super) fn reload(path: &Path) -> Result<(LoncConfig, Vec<Host>, Vec<Problem>), String> {
    let (cfg, mut problems) = LoncConfig::load(path).map_err(|e| e.to_string())?;
    let tab = cfg.hosts_tab();
    let (hosts, hp) = load_hosts(&tab).map_err(|e| e.to_string())?;
    if hosts.is_empty() && !hp.is_empty() {
        return Err(format!(
            "{}: no usable host ({} rows refused)",
            tab.display(),
            hp.len()
        ));
    }
    problems.extend(hp);
    create_private_dir(&cfg.lon_sock_dir)
        .map_err(|e| format!("cannot create {}: {e}", cfg.lon_sock_dir.display()))?;
    let env = preflight::environment_problems(&cfg);
    let fatal: Vec<String> = env
        .iter()
        .filter(|p| p.fatal)
        .map(|p| p.to_string())
        .collect();
    if !fatal.is_empty() {
        return Err(fatal.join("; "));
    }
    problems.extend(env);
    Ok((cfg, hosts, problems))
}
