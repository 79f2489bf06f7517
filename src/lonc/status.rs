//! lonc status page: `loncstatus.txt` (1.29's format plus one line per childless host) and
//! `loncstatus.json` beside it (spec §2 USR1, §7.9).
//!
//! On USR1 the parent rewrites the text file with the header, its own line and one line per host
//! without a child; each child then appends `<pid>\t<status>\t<last log line>`. The parent
//! writes the JSON from its host table plus the lines the children appended. Text building and
//! parsing are pure; only `write_*`/`append_*` touch files.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::sys::fsutil::atomic_write;

/// The header: 1.29's `LONC status <localtime> - parent <pid>`, then ` (started <localtime>)`
/// so a page from an earlier run is told from this one's, and a blank line.
pub fn header(localtime: &str, parent_pid: u32, started: &str) -> String {
    format!("LONC status {localtime} - parent {parent_pid} (started {started})\n\n")
}

/// The page a stopped lonc leaves: the header marked `stopped` (written when it stopped) and
/// the parent's last line; no host lines, as no child runs.
pub fn stopped_page(localtime: &str, parent_pid: u32, started: &str, parent_line: &str) -> String {
    format!(
        "LONC status {localtime} - parent {parent_pid} (started {started}) stopped\n\n{parent_line}"
    )
}

/// The line for a host that has no child: `-\t<state>\t<id> (<n> of <max> attempts)`, and
/// `, next recheck <localtime>` inside the parentheses when `loncRecheck` has one planned.
pub fn childless_line(
    id: &str,
    state: &str,
    attempts: u32,
    max: u32,
    recheck: Option<&str>,
) -> String {
    match recheck {
        Some(t) => format!("-\t{state}\t{id} ({attempts} of {max} attempts, next recheck {t})\n"),
        None => format!("-\t{state}\t{id} ({attempts} of {max} attempts)\n"),
    }
}

/// A child's links, right after its status on the page (only with `loncLinks` above 1):
/// ` [links <open>/<max>, <busy> busy]`.
pub fn links_note(open: usize, max: usize, busy: usize) -> String {
    format!(" [links {open}/{max}, {busy} busy]")
}

/// A child's links as its status field shows them (see [`links_note`]).
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Links {
    pub open: usize,
    pub max: usize,
    pub busy: usize,
}

/// The links a status field names, if it names them.
pub fn links_of(status: &str) -> Option<Links> {
    let at = status.rfind(" [links ")?;
    let rest = &status[at + " [links ".len()..];
    let end = rest.find(" busy]")?;
    let (counts, busy) = rest[..end].split_once(", ")?;
    let (open, max) = counts.split_once('/')?;
    Some(Links {
        open: open.parse().ok()?,
        max: max.parse().ok()?,
        busy: busy.parse().ok()?,
    })
}

/// What the parent keeps of a child's status-page line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildLine {
    pub last_log: String,
    /// Its links, when it reports them (`loncLinks` above 1).
    pub links: Option<Links>,
}

/// Every `<pid>\t<status>\t<lastlog>` line in a status page, by pid.
pub fn child_lines(text: &str) -> BTreeMap<i32, ChildLine> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let mut f = line.splitn(3, '\t');
        if let (Some(pid), Some(status), Some(last)) = (f.next(), f.next(), f.next()) {
            if let Ok(pid) = pid.parse::<i32>() {
                let links = links_of(status);
                out.insert(
                    pid,
                    ChildLine {
                        last_log: last.to_string(),
                        links,
                    },
                );
            }
        }
    }
    out
}

/// One host in `loncstatus.json`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct HostStatus {
    pub id: String,
    /// `running`, `starting` (probe in flight), `unreachable`, `abandoned` or `stopped`.
    pub state: String,
    pub pid: Option<i32>,
    pub attempts: u32,
    pub max_attempts: u32,
    /// Since when the host is in this state.
    pub since: String,
    pub since_epoch: i64,
    pub last_log: Option<String>,
    /// `loncLinks`: the most links the child may hold to this host.
    pub links_max: usize,
    /// The child's links when it reported them (after USR1, with `loncLinks` above 1):
    /// how many are open and how many have an exchange in flight.
    pub links: Option<Links>,
}

/// The whole JSON document. `state` is `running`, or `stopped` once lonc has ended (then
/// `written` is when); `usr1_served` counts the USR1 reports completed (children's lines
/// collected), so a reader that sent USR1 knows when the answer is in.
#[derive(Debug, Serialize)]
pub struct StatusDoc<'a> {
    pub state: &'a str,
    pub parent_pid: u32,
    /// The parent's 1.29 status and last log line, each `<localtime>: <text>`.
    pub parent_status: &'a str,
    pub parent_last_log: &'a str,
    pub started: &'a str,
    pub started_epoch: i64,
    pub written: &'a str,
    pub written_epoch: i64,
    pub usr1_served: u64,
    /// When `loncRecheck` next probes the unreachable and abandoned hosts (none planned: null).
    pub next_recheck: Option<String>,
    pub next_recheck_epoch: Option<i64>,
    pub hosts: &'a [HostStatus],
}

/// Render the JSON document (pretty, one host per block, for humans and scripts alike).
pub fn json(doc: &StatusDoc) -> String {
    let mut s = serde_json::to_string_pretty(doc).unwrap_or_else(|_| "{}".into());
    s.push('\n');
    s
}

/// Replace a status file (the text page or the JSON) atomically, creating `lon-status/` if
/// needed.
pub fn write_page(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    atomic_write(path, text.as_bytes())
}

/// Append one line to the text page with a single write (children share the file).
pub fn append_txt(path: &Path, line: &str) {
    let _ = crate::sys::logfile::append_to(path, line.as_bytes(), crate::sys::logfile::PUBLIC_MODE);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_childless_lines() {
        assert_eq!(
            header("Sun Nov 22 11:31:00 2026", 42, "Sun Nov 22 11:30:00 2026"),
            "LONC status Sun Nov 22 11:31:00 2026 - parent 42 (started Sun Nov 22 11:30:00 2026)\n\n"
        );
        assert_eq!(
            stopped_page("T2", 42, "T1", "42\tT2: Sleeping\tT2: CRITICAL: Shutting down\n"),
            "LONC status T2 - parent 42 (started T1) stopped\n\n42\tT2: Sleeping\tT2: CRITICAL: Shutting down\n"
        );
        assert_eq!(
            childless_line("msul1", "abandoned", 5, 5, None),
            "-\tabandoned\tmsul1 (5 of 5 attempts)\n"
        );
        assert_eq!(
            childless_line("h", "unreachable", 0, 5, Some("Tue Dec  1 10:10:00 2026")),
            "-\tunreachable\th (0 of 5 attempts, next recheck Tue Dec  1 10:10:00 2026)\n"
        );
    }

    #[test]
    fn links_note_reads_back() {
        let note = links_note(3, 4, 2);
        assert_eq!(note, " [links 3/4, 2 busy]");
        let status = format!("Tue Dec  1 10:00:00 2026: Idle h{note}");
        assert_eq!(
            links_of(&status),
            Some(Links {
                open: 3,
                max: 4,
                busy: 2
            })
        );
        assert_eq!(links_of("Tue Dec  1 10:00:00 2026: Idle h"), None);
        assert_eq!(links_of("x [links a/4, 2 busy]"), None);
    }

    #[test]
    fn child_lines_parsed_by_pid() {
        let text = "LONC status x - parent 1\n\n1\tSun: Sleeping\tSun: Done\n-\tunreachable\th (0 of 5 attempts)\n77\tSun: Idle h\tSun: h online\n78\tSun: Idle g [links 2/4, 1 busy]\tSun: g online\n";
        let m = child_lines(text);
        assert_eq!(m[&77].last_log, "Sun: h online");
        assert_eq!(m[&1].last_log, "Sun: Done");
        assert_eq!(m[&1].links, None);
        assert_eq!(
            m[&78].links,
            Some(Links {
                open: 2,
                max: 4,
                busy: 1
            })
        );
        assert_eq!(m.len(), 3);
    }

    #[test]
    fn json_has_every_field() {
        let hosts = vec![HostStatus {
            id: "h".into(),
            state: "running".into(),
            pid: Some(5),
            attempts: 1,
            max_attempts: 5,
            since: "then".into(),
            since_epoch: 0,
            last_log: Some("x".into()),
            links_max: 4,
            links: Some(Links {
                open: 2,
                max: 4,
                busy: 0,
            }),
        }];
        let doc = StatusDoc {
            state: "running",
            parent_pid: 9,
            parent_status: "a",
            parent_last_log: "b",
            started: "then",
            started_epoch: 0,
            usr1_served: 3,
            written: "now",
            written_epoch: 1,
            next_recheck: None,
            next_recheck_epoch: None,
            hosts: &hosts,
        };
        let v: serde_json::Value = serde_json::from_str(&json(&doc)).unwrap();
        assert_eq!(v["parent_pid"], 9);
        assert_eq!(v["state"], "running");
        assert_eq!(v["usr1_served"], 3);
        assert_eq!(v["hosts"][0]["since_epoch"], 0);
        assert_eq!(v["hosts"][0]["state"], "running");
        assert_eq!(v["hosts"][0]["pid"], 5);
        assert_eq!(v["hosts"][0]["last_log"], "x");
        assert_eq!(v["hosts"][0]["links_max"], 4);
        assert_eq!(v["hosts"][0]["links"]["open"], 2);
        assert_eq!(v["hosts"][0]["links"]["busy"], 0);
    }
}
