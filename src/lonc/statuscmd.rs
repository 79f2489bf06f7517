//! `lonc -s [--json]`: ask the running lonc for its status and print it, as `postfix status`
//! or an LSB init script's `status` would. The running lonc is asked through USR1 (1.29's
//! status request, which also resets the attempt counters and retries abandoned hosts); the
//! answer is `loncstatus.json` once its `usr1_served` count has grown. The wait is bounded.
//!
//! Exit codes follow LSB for `status`: 0 running, 1 not running but the pid file is left,
//! 3 not running, 4 unknown (unreadable config, or the daemon cannot be signalled).

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::config::LoncConfig;
use crate::sys::pidfile::live_pid_in;
use crate::sys::stdio::{warn, Out};

pub const EXIT_RUNNING: i32 = 0;
pub const EXIT_DEAD_PID_FILE: i32 = 1;
pub const EXIT_NOT_RUNNING: i32 = 3;
pub const EXIT_UNKNOWN: i32 = 4;

/// Longest wait for the answer beyond what a start-up in progress may take (USR1 waits for
/// the initial probes) and the children's lines (2 s).
const ANSWER_SLACK: Duration = Duration::from_secs(5);
const MIN_ANSWER_WAIT: Duration = Duration::from_secs(10);

/// Run `lonc -s`; returns the exit code.
pub fn run(config: &Path, as_json: bool) -> i32 {
    let cfg = match LoncConfig::load(config) {
        Ok((c, _)) => c,
        Err(e) => {
            warn(&format!("lonc: {e}"));
            return EXIT_UNKNOWN;
        }
    };
    let mut out = Out::stdout();
    let pid_file = cfg.pid_file();
    let Some(pid) = live_pid_in(&pid_file, "lonc") else {
        let stale = std::fs::read_to_string(&pid_file).ok();
        let (code, what) = match &stale {
            Some(p) => (
                EXIT_DEAD_PID_FILE,
                format!(
                    "lonc is not running (pid file {} names {}, which is not a live lonc)",
                    pid_file.display(),
                    p.trim()
                ),
            ),
            None => (EXIT_NOT_RUNNING, "lonc is not running".to_string()),
        };
        if as_json {
            let doc = serde_json::json!({
                "state": "not running",
                "pid_file": pid_file.display().to_string(),
                "stale_pid": stale.and_then(|p| p.trim().parse::<i64>().ok()),
                "last": read_json(&cfg.status_json()),
            });
            out.line(&serde_json::to_string_pretty(&doc).unwrap_or_default());
        } else {
            out.line(&what);
        }
        return code;
    };
    let served = |v: &Option<Value>| {
        v.as_ref()
            .filter(|v| v["parent_pid"].as_i64() == Some(pid as i64))
            .and_then(|v| v["usr1_served"].as_u64())
    };
    let before = served(&read_json(&cfg.status_json()));
    if let Err(e) = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGUSR1,
    ) {
        warn(&format!("lonc: cannot signal lonc (pid {pid}): {e}"));
        return EXIT_UNKNOWN;
    }
    let limit = (cfg.probe_timeout + ANSWER_SLACK).max(MIN_ANSWER_WAIT);
    let end = Instant::now() + limit;
    let mut doc = None;
    while Instant::now() < end {
        let v = read_json(&cfg.status_json());
        // A lonc counts its reports from 0, so ours makes the count at least 1.
        if served(&v).unwrap_or(0) > before.unwrap_or(0) {
            doc = v;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let fresh = doc.is_some();
    let doc = doc.or_else(|| read_json(&cfg.status_json()));
    if !fresh {
        warn(&format!(
            "lonc: lonc (pid {pid}) did not answer within {} s; showing its last page",
            limit.as_secs()
        ));
    }
    let code = if fresh { EXIT_RUNNING } else { EXIT_UNKNOWN };
    match doc {
        Some(v) if as_json => out.text(&format!(
            "{}\n",
            serde_json::to_string_pretty(&v).unwrap_or_default()
        )),
        Some(v) => out.text(&render(&v)),
        None => out.line(&format!(
            "lonc is running (pid {pid}); no status page at {}",
            cfg.status_json().display()
        )),
    }
    // Running, but what it is doing is not known: LSB's "status unknown", as `ipsynd -s`.
    code
}

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

fn s(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) if s.is_empty() => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The human table: the parent's lines, then one row per host (id, state, pid, attempts,
/// since, last log line), columns padded to their widest cell. With `loncLinks` above 1 for
/// any host, a LINKS column after ATTEMPTS says `open/max, n busy` (`-/max`
/// while the child has not reported them).
pub fn render(v: &Value) -> String {
    let mut out = format!(
        "lonc {} (pid {}), started {}, page written {}\n",
        s(&v["state"]),
        s(&v["parent_pid"]),
        s(&v["started"]),
        s(&v["written"])
    );
    out.push_str(&format!(
        "parent: {}; last log {}\n",
        s(&v["parent_status"]),
        s(&v["parent_last_log"])
    ));
    if !v["next_recheck"].is_null() {
        out.push_str(&format!("next recheck {}\n", s(&v["next_recheck"])));
    }
    let hosts: Vec<&Value> = v["hosts"].as_array().into_iter().flatten().collect();
    let with_links = hosts.iter().any(|h| h["links_max"].as_u64() > Some(1));
    let mut head = vec!["ID", "STATE", "PID", "ATTEMPTS"];
    if with_links {
        head.push("LINKS");
    }
    head.extend(["SINCE", "LAST LOG"]);
    let mut rows: Vec<Vec<String>> = vec![head.into_iter().map(String::from).collect()];
    for h in hosts {
        let mut row = vec![
            s(&h["id"]),
            s(&h["state"]),
            s(&h["pid"]),
            format!("{}/{}", s(&h["attempts"]), s(&h["max_attempts"])),
        ];
        if with_links {
            row.push(links_cell(h));
        }
        row.extend([s(&h["since"]), s(&h["last_log"])]);
        rows.push(row);
    }
    let last = rows[0].len() - 1;
    let widths: Vec<usize> = (0..last)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    for r in &rows {
        let mut line = String::new();
        for (c, w) in widths.iter().enumerate() {
            line.push_str(&format!("{:<w$}  ", r[c]));
        }
        line.push_str(&r[last]);
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `open/max, n busy` (as on the status page) from a host's `links`, `-/max` when not reported.
fn links_cell(h: &Value) -> String {
    let max = s(&h["links_max"]);
    match (h["links"]["open"].as_u64(), h["links"]["busy"].as_u64()) {
        (Some(open), Some(busy)) => format!("{open}/{max}, {busy} busy"),
        _ => format!("-/{max}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_lists_parent_and_one_padded_row_per_host() {
        let v = serde_json::json!({
            "state": "running", "parent_pid": 7, "started": "S", "written": "W",
            "parent_status": "T: Sleeping", "parent_last_log": "T: x",
            "next_recheck": "R",
            "hosts": [
                {"id": "h1", "state": "running", "pid": 8, "attempts": 0, "max_attempts": 5,
                 "since": "T1", "last_log": "T: h1 online"},
                {"id": "longer", "state": "unreachable", "pid": null, "attempts": 2,
                 "max_attempts": 5, "since": "T2", "last_log": null}
            ]
        });
        let t = render(&v);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "lonc running (pid 7), started S, page written W");
        assert_eq!(lines[1], "parent: T: Sleeping; last log T: x");
        assert_eq!(lines[2], "next recheck R");
        assert_eq!(
            lines[3],
            "ID      STATE        PID  ATTEMPTS  SINCE  LAST LOG"
        );
        assert_eq!(
            lines[4],
            "h1      running      8    0/5       T1     T: h1 online"
        );
        assert_eq!(lines[5], "longer  unreachable  -    2/5       T2     -");
        assert!(
            !t.contains("LINKS"),
            "no column while every host has one link"
        );
    }

    #[test]
    fn render_adds_a_links_column_when_a_host_may_hold_several() {
        let v = serde_json::json!({
            "state": "running", "parent_pid": 7, "started": "S", "written": "W",
            "parent_status": "P", "parent_last_log": "L",
            "hosts": [
                {"id": "h1", "state": "running", "pid": 8, "attempts": 0, "max_attempts": 5,
                 "since": "T1", "last_log": "x", "links_max": 4,
                 "links": {"open": 2, "max": 4, "busy": 1}},
                {"id": "h2", "state": "running", "pid": 9, "attempts": 0, "max_attempts": 5,
                 "since": "T2", "last_log": "y", "links_max": 4, "links": null}
            ]
        });
        let t = render(&v);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines[2],
            "ID  STATE    PID  ATTEMPTS  LINKS        SINCE  LAST LOG"
        );
        assert_eq!(
            lines[3],
            "h1  running  8    0/5       2/4, 1 busy  T1     x"
        );
        assert_eq!(
            lines[4],
            "h2  running  9    0/5       -/4          T2     y"
        );
    }
}
