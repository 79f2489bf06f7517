//! lonc hosts.tab parsing: rows `id:domain:role:name:ip` (spec §1).
//!
//! Kept from 1.29: fields split on `:`, fields past the fifth ignored, a row whose ip is empty
//! (or `0`, false in Perl) skipped silently, a later row for the same id replaces the earlier.
//! Fixed: a trailing `\r` and blanks around every field are trimmed, blank lines and `#`
//! comment lines are skipped, and a malformed row (fewer than five fields, or an id that is not
//! a plain name, see [`id_problem`]) is reported with its line number and skipped.

use super::config::{ConfigError, Problem};
use std::path::Path;

/// One reachable-in-principle peer from hosts.tab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub id: String,
    pub domain: String,
    pub role: String,
    pub name: String,
    pub ip: String,
    /// 1-based line in hosts.tab, for messages.
    pub line: usize,
}

/// An id becomes `<lonSockDir>/<id>`, a process title, a log word and a delayed-file suffix,
/// so it must be a plain name: ASCII letters, digits, `.`, `_`, `-`, not starting with `-` (an
/// option to whatever reads it) or `.` (hidden, `.`, `..`) (spec §8.7).
pub fn id_problem(id: &str) -> Option<&'static str> {
    let plain = |b: u8| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-';
    if id.is_empty() {
        Some("empty host id")
    } else if !id.bytes().all(plain) {
        Some("host id is not a plain name (letters, digits, '.', '_', '-')")
    } else if id.starts_with('-') || id.starts_with('.') {
        Some("host id starts with '-' or '.'")
    } else {
        None
    }
}

/// Parses hosts.tab text. Problems are warnings (`fatal == false`); the row is skipped.
pub fn parse_hosts(text: &str, path: &Path) -> (Vec<Host>, Vec<Problem>) {
    let mut hosts: Vec<Host> = Vec::new();
    let mut problems = Vec::new();
    for (idx, raw) in text.split('\n').enumerate() {
        let lineno = idx + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split(':').map(str::trim).collect();
        if fields.len() < 5 {
            problems.push(Problem::warning(
                path,
                lineno,
                format!(
                    "malformed host row {line:?}: {} fields, expected id:domain:role:name:ip; skipped",
                    fields.len()
                ),
            ));
            continue;
        }
        let ip = fields[4];
        if ip.is_empty() || ip == "0" {
            continue;
        }
        if let Some(why) = id_problem(fields[0]) {
            problems.push(Problem::warning(
                path,
                lineno,
                format!("malformed host row {line:?}: {why}; skipped"),
            ));
            continue;
        }
        let host = Host {
            id: fields[0].to_string(),
            domain: fields[1].to_string(),
            role: fields[2].to_string(),
            name: fields[3].to_string(),
            ip: ip.to_string(),
            line: lineno,
        };
        if let Some(pos) = hosts.iter().position(|h| h.id == host.id) {
            let earlier = hosts.remove(pos);
            problems.push(Problem::warning(
                path,
                lineno,
                format!(
                    "host {} listed again (first on line {}); this row wins",
                    host.id, earlier.line
                ),
            ));
        }
        hosts.push(host);
    }
    (hosts, problems)
}

/// Reads and parses hosts.tab; only an unreadable file is an error.
pub fn load_hosts(path: &Path) -> Result<(Vec<Host>, Vec<Problem>), ConfigError> {
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(parse_hosts(&String::from_utf8_lossy(&bytes), path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("/home/httpd/lonTabs/hosts.tab")
    }

    #[test]
    fn ordinary_rows() {
        let text = "msul1:msu:library:zaphod.lite.msu.edu:35.8.63.51\n\
                    msua3:msu:access:agrajag.lite.msu.edu:35.8.63.68\n";
        let (hosts, problems) = parse_hosts(text, p());
        assert!(problems.is_empty());
        assert_eq!(
            hosts[0],
            Host {
                id: "msul1".into(),
                domain: "msu".into(),
                role: "library".into(),
                name: "zaphod.lite.msu.edu".into(),
                ip: "35.8.63.51".into(),
                line: 1,
            }
        );
        assert_eq!(hosts[1].id, "msua3");
        assert_eq!(hosts[1].line, 2);
    }

    #[test]
    fn crlf_blanks_and_empty_ip() {
        let text = "\r\n  msul1 : msu:library:zaphod:127.0.0.1 \r\n\n\
                    gone:msu:access:gone.example::\nzero:msu:access:z:0\n\
                    # a comment:with:five:fields:1.2.3.4\n   \n";
        let (hosts, problems) = parse_hosts(text, p());
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(hosts.len(), 1);
        assert_eq!(hosts[0].id, "msul1");
        assert_eq!(hosts[0].ip, "127.0.0.1");
        assert_eq!(hosts[0].line, 2);
    }

    #[test]
    fn malformed_rows_reported_with_line() {
        let text = "ok:d:r:n:127.0.0.1\nshort:d:r\n:d:r:n:127.0.0.2\n../x:d:r:n:127.0.0.3\n";
        let (hosts, problems) = parse_hosts(text, p());
        assert_eq!(hosts.len(), 1);
        assert_eq!(
            problems.iter().map(|p| p.line).collect::<Vec<_>>(),
            vec![2, 3, 4]
        );
        assert!(problems.iter().all(|p| !p.fatal));
        assert!(problems[0]
            .to_string()
            .starts_with("/home/httpd/lonTabs/hosts.tab:2: malformed"));
    }

    #[test]
    fn ids_that_are_not_plain_names_are_refused_with_their_line() {
        let text = "ok-1.a_b:d:r:n:127.0.0.1\n-n:d:r:n:127.0.0.2\nsp ace:d:r:n:127.0.0.3\n\
                    bin\u{1}\u{fffd}:d:r:n:127.0.0.4\n/:d:r:n:127.0.0.5\n..:d:r:n:127.0.0.6\n\
                    .hidden:d:r:n:127.0.0.7\nsl/ash:d:r:n:127.0.0.8\ntab\tbed:d:r:n:127.0.0.9\n\
                    Z9:d:r:n:127.0.0.10\n";
        let (hosts, problems) = parse_hosts(text, p());
        let ids: Vec<&str> = hosts.iter().map(|h| h.id.as_str()).collect();
        assert_eq!(ids, ["ok-1.a_b", "Z9"]);
        assert_eq!(
            problems.iter().map(|p| p.line).collect::<Vec<_>>(),
            vec![2, 3, 4, 5, 6, 7, 8, 9]
        );
        assert!(problems.iter().all(|p| !p.fatal));
        // The row is shown escaped, so a control byte cannot mangle the report.
        let shown = problems[2].to_string();
        assert!(
            shown.starts_with("/home/httpd/lonTabs/hosts.tab:4: "),
            "{shown}"
        );
        assert!(shown.contains("\\u{1}"), "{shown}");
        assert!(!shown.contains('\u{1}'), "{shown}");
    }

    #[test]
    fn extra_fields_ignored_and_later_row_wins() {
        let text = "a:d:r:n:127.0.0.1:extra\nb:d:r:n:127.0.0.2\na:d:r:m:127.0.0.9\n";
        let (hosts, problems) = parse_hosts(text, p());
        assert_eq!(hosts.len(), 2);
        assert_eq!(hosts[0].id, "b");
        assert_eq!(hosts[1].ip, "127.0.0.9");
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].line, 3);
    }

    #[test]
    fn example_hosts_tab_parses_cleanly() {
        let (hosts, problems) = parse_hosts(include_str!("../../etc/lonc/hosts.tab"), p());
        assert!(problems.is_empty(), "{problems:?}");
        let ids: Vec<&str> = hosts.iter().map(|h| h.id.as_str()).collect();
        assert_eq!(ids, ["msul1", "msua3", "annarborl1"]);
    }

    #[test]
    fn load_missing_file_is_read_error() {
        let err = load_hosts(Path::new("/nonexistent/hosts.tab")).unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }));
    }
}
