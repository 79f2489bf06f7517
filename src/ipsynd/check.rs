//! `ipsynd -n`: check everything a start would read and refuse, and start nothing
//! (what `postfix check` does). Reads `PORTS`, `IPSYND` and every client file, makes the
//! StrictModes checks of the directories (`strict.rs`), and looks across the files: routes
//! without a PORTS entry, transmitters that are not there, client files no record can name.
//!
//! Every problem is one line, `file:line: error|warning: message` (`file: ...` where no one
//! line is meant), sorted by file and line, then one summary line. Exit 0 when there is no
//! error (warnings allowed), 1 otherwise. Errors are what a start refuses (a directory) or
//! what is not used as written (a line skipped, a value replaced by its default).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::spawn::resolve_program;
use super::strict;
use super::tablecache::TablePaths;
use crate::fip::tables::{self, DaemonParams, PortsTable, Problem, Severity};

/// What was found, and how much was looked at.
pub struct Report {
    pub problems: Vec<Problem>,
    pub files: usize,
    pub dirs: usize,
}

/// `keyword:value` lines of a table: (line number, keyword lowercase, value).
fn keyword_lines(text: &str) -> Vec<(usize, String, String)> {
    text.lines()
        .enumerate()
        .filter_map(|(i, raw)| {
            let l = raw.trim();
            if l.is_empty() || l.starts_with(';') {
                return None;
            }
            let (k, v) = l.split_once(':')?;
            Some((i + 1, k.trim().to_ascii_lowercase(), v.trim().to_string()))
        })
        .collect()
}

/// Whether `p` is a regular file someone may execute.
fn executable(p: &Path) -> bool {
    fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The program a command line runs, if it can be told before expansion.
fn program_of(cmd: &str) -> Option<PathBuf> {
    let first = cmd.split_whitespace().next()?.trim_matches('"');
    (!first.contains('\\')).then(|| resolve_program(first).unwrap_or_else(|_| PathBuf::from(first)))
}

/// Read a table file: its text, `None` when it does not exist, or an error problem.
fn read(path: &Path, problems: &mut Vec<Problem>) -> Option<String> {
    match fs::read_to_string(path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            problems.push(Problem::new(path, 0, format!("unable to read: {e}")));
            None
        }
    }
}

/// Check the tree at `root` for a daemon running as `euid`.
pub fn check(root: &Path, euid: u32) -> Report {
    let mut problems = Vec::new();
    let mut files = 0;
    let dirs = strict::checked_dirs(root);
    for d in &dirs {
        if !d.exists() {
            problems.push(Problem::warning(
                d,
                0,
                "does not exist; ipsynd creates it (mode 0755) at start",
            ));
        }
    }
    for u in strict::unsafe_dirs(root, euid) {
        if u.path.exists() {
            let why = u
                .why
                .strip_prefix(&*u.path.to_string_lossy())
                .unwrap_or(&u.why);
            let why = why.trim_start_matches(':').trim();
            problems.push(Problem::new(
                &u.path,
                0,
                format!("{why}; ipsynd refuses to start"),
            ));
        }
    }
    let ctl = root.join(super::ctl::DIR);
    if ctl.exists() {
        if let Err(u) = strict::private_dir(&ctl, euid) {
            problems.push(Problem::new(
                &ctl,
                0,
                format!("{u}; ipsynd refuses to start"),
            ));
        }
    }

    let tp = TablePaths::new(root);
    let mut params = DaemonParams::default();
    let mut ipsyn_line = 0;
    if let Some(text) = read(&tp.ipsynd, &mut problems) {
        files += 1;
        let (p, probs) = tables::parse_ipsynd(&text, &tp.ipsynd);
        params = p;
        problems.extend(probs);
        ipsyn_line = keyword_lines(&text)
            .iter()
            .rfind(|(_, k, _)| k == "ipsyn")
            .map_or(0, |(n, _, _)| *n);
    }
    if let Some(w) = strict::root_warning(euid, params.root) {
        let w = w.trim_start_matches("WARNING: ");
        problems.push(Problem::warning(&tp.ipsynd, 0, w));
    }
    let ports = match read(&tp.ports, &mut problems) {
        Some(text) => {
            files += 1;
            let (p, probs) = PortsTable::parse(&text, &tp.ports);
            problems.extend(probs);
            p
        }
        None => {
            if tp.ports.exists() {
                PortsTable::default()
            } else {
                problems.push(Problem::warning(
                    &tp.ports,
                    0,
                    "does not exist: every route runs without a port lock",
                ));
                PortsTable::default()
            }
        }
    };

    let mut ipsyn_users = 0;
    let mut names: Vec<_> = fs::read_dir(&tp.clients)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_else(|_| Vec::new());
    names.sort();
    for path in names {
        let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        if !path.is_file() {
            problems.push(Problem::warning(&path, 0, "not a regular file, never read"));
            continue;
        }
        if name != name.to_ascii_uppercase() {
            problems.push(Problem::warning(
                &path,
                0,
                format!(
                    "records name clients in uppercase, so this file is never read (rename it to {})",
                    name.to_ascii_uppercase()
                ),
            ));
        }
        if let Some(why) = super::control::refusal(&name.to_ascii_uppercase()) {
            problems.push(Problem::new(&path, 0, format!("{why}; never run")));
        }
        let Some(text) = read(&path, &mut problems) else {
            continue;
        };
        files += 1;
        let (cp, probs) = tables::parse_client(&name, &text, &path);
        problems.extend(probs);
        let lines = keyword_lines(&text);
        let line_of = |key: &str| {
            lines
                .iter()
                .rfind(|(_, k, _)| k == key)
                .map_or(0, |(n, _, _)| *n)
        };
        for (key, route) in [("route", &cp.route), ("alt", &cp.alt)] {
            if let Some(r) = route {
                if ports.route_ports(r).is_empty() {
                    problems.push(Problem::warning(
                        &path,
                        line_of(key),
                        format!(
                            "route {r} has no entry in PORTS; its attempts run without a port lock"
                        ),
                    ));
                }
            }
        }
        let program = match (&cp.useftp, &cp.script) {
            (Some(cmd), _) => program_of(cmd).map(|p| (p, line_of("useftp"), "useftp")),
            (None, Some(cmd)) => program_of(cmd).map(|p| (p, line_of("script"), "script")),
            (None, None) => {
                ipsyn_users += 1;
                None
            }
        };
        if let Some((p, line, key)) = program {
            if !executable(&p) {
                problems.push(Problem::warning(
                    &path,
                    line,
                    format!(
                        "{key}: {} is not an executable file here; attempts fail (Execlp error) until it is",
                        p.display()
                    ),
                ));
            }
        }
    }
    if ipsyn_users > 0 {
        let program = params
            .ipsyn
            .clone()
            .unwrap_or_else(|| root.join("bin/ipsyn"));
        if !executable(&program) {
            let (file, line) = if ipsyn_line > 0 {
                (tp.ipsynd.clone(), ipsyn_line)
            } else {
                (program.clone(), 0)
            };
            problems.push(Problem::warning(
                &file,
                line,
                format!(
                    "the transmitter {} is not an executable file; the attempts of {ipsyn_users} client(s) without script: or useftp: fail until it is",
                    program.display()
                ),
            ));
        }
    }
    Report {
        problems,
        files,
        dirs: dirs.len() + 1,
    }
}

/// The lines `ipsynd -n` prints, sorted by file and line, and the summary.
pub fn render(report: &mut Report) -> String {
    report
        .problems
        .sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    let mut out = String::new();
    for p in &report.problems {
        let at = if p.line > 0 {
            format!("{}:{}", p.file.display(), p.line)
        } else {
            p.file.display().to_string()
        };
        let msg = p.msg.replace(|c: char| c.is_control(), "?");
        out.push_str(&format!("{at}: {}: {msg}\n", p.severity.word()));
    }
    let count = |s: Severity| report.problems.iter().filter(|p| p.severity == s).count();
    let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    let (e, w) = (count(Severity::Error), count(Severity::Warning));
    let what = if e + w == 0 {
        "no problems".to_string()
    } else {
        format!("{}, {}", plural(e, "error"), plural(w, "warning"))
    };
    out.push_str(&format!(
        "ipsynd -n: {what} ({}, {} checked)\n",
        plural(report.files, "table file"),
        if report.dirs == 1 {
            "1 directory".to_string()
        } else {
            format!("{} directories", report.dirs)
        }
    ));
    out
}

/// Whether the report holds an error.
pub fn has_errors(report: &Report) -> bool {
    report
        .problems
        .iter()
        .any(|p| p.severity == Severity::Error)
}

/// `ipsynd -n [-r ROOT]`: 0 without errors, 1 with.
pub fn run(root: &Path) -> i32 {
    let mut report = check(root, nix::unistd::geteuid().as_raw());
    crate::sys::stdio::Out::stdout().text(&render(&mut report));
    i32::from(has_errors(&report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_sort_by_file_and_line_and_are_counted() {
        let mut r = Report {
            problems: vec![
                Problem::new(Path::new("/f/b"), 3, "x"),
                Problem::warning(Path::new("/f/a"), 9, "y"),
                Problem::warning(Path::new("/f/b"), 1, "z\nw"),
                Problem::new(Path::new("/f/a"), 0, "whole"),
            ],
            files: 2,
            dirs: 5,
        };
        assert_eq!(
            render(&mut r),
            "/f/a: error: whole\n/f/a:9: warning: y\n/f/b:1: warning: z?w\n/f/b:3: error: x\n\
             ipsynd -n: 2 errors, 2 warnings (2 table files, 5 directories checked)\n"
        );
        assert!(has_errors(&r));
        let mut clean = Report {
            problems: Vec::new(),
            files: 1,
            dirs: 1,
        };
        assert_eq!(
            render(&mut clean),
            "ipsynd -n: no problems (1 table file, 1 directory checked)\n"
        );
        assert!(!has_errors(&clean));
    }

    #[test]
    fn keyword_lines_number_lines_from_one() {
        assert_eq!(
            keyword_lines("; c\n\nROUTE: a \nnocolon\n"),
            [(3, "route".to_string(), "a".to_string())]
        );
    }
}
