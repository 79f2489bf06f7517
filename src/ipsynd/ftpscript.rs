//! FTP mode, the pure parts (spec §7): the command file fed to ftp on stdin, and judging
//! which files went from ftp's verbose output.
//!
//! Judging works on what the Debian/BSD `ftp -v` client prints: for every `put` it first
//! prints `local: <path> remote: <name>`, then (with `-d`) the commands it sends
//! (`---> STOR <name>`) and, thanks to `-v`, every server reply. A file counts as sent when
//! a `226` or `250` reply appears in its section, i.e. after its `local:` line and before
//! the next one. ftp's exit status says nothing (it exits 0 after failed transfers).

use std::path::PathBuf;

/// Whether `line` is a `user` or `proxy user` command (any case, any spacing).
fn is_user_line(line: &str) -> bool {
    let words: Vec<String> = line
        .split_whitespace()
        .take(2)
        .map(|w| w.to_ascii_lowercase())
        .collect();
    matches!(words.first().map(String::as_str), Some("user"))
        || (words.len() == 2 && words[0] == "proxy" && words[1] == "user")
}

/// Quote a word for ftp's own argument parser when it holds whitespace or is empty.
fn ftp_word(w: &str) -> String {
    if w.is_empty() || w.chars().any(char::is_whitespace) {
        format!("\"{w}\"")
    } else {
        w.to_string()
    }
}

/// Whether a path or name can be written into the command file: no control character (a
/// newline would start a command of its own, and ftp's `!` runs a local shell) and no
/// double quote (ftp's quoting has no escape for it).
pub fn ftp_safe(s: &str) -> bool {
    !s.chars().any(|c| c.is_control() || c == '"')
}

/// The FTP command file: the `ftpline:` lines in order (in `user` and `proxy user` lines the
/// first comma becomes a space, `user logon,passwd` -> `user logon passwd`), then
/// `put <path> <name>` per file whose path and name are [`ftp_safe`] (the others are left
/// out, so judged not sent), then `quit`. Every line ends with `\n`.
pub fn command_file(ftplines: &[String], files: &[(PathBuf, String)]) -> String {
    let mut out = String::new();
    for l in ftplines {
        if is_user_line(l) {
            out.push_str(&l.replacen(',', " ", 1));
        } else {
            out.push_str(l);
        }
        out.push('\n');
    }
    for (path, name) in files {
        let path = path.to_string_lossy();
        if !ftp_safe(&path) || !ftp_safe(name) {
            continue;
        }
        out.push_str(&format!("put {} {}\n", ftp_word(&path), ftp_word(name)));
    }
    out.push_str("quit\n");
    out
}

/// One `put` section of ftp's output: its `<path> remote: <name>` header and whether the
/// transfer completed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PutSection {
    header: String,
    completed: bool,
}

/// What follows `local: ` in a `local: <path> remote: <name>` line. It is not split here:
/// a name may itself hold ` remote: `.
fn put_header(line: &str) -> Option<String> {
    let rest = line.strip_prefix("local: ")?;
    rest.contains(" remote: ")
        .then(|| rest.trim_end_matches('\r').to_string())
}

/// Whether `line` is a server reply with code 226 or 250 (`226 ...` or `226-...`).
fn is_completion_reply(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() >= 3
        && (&b[..3] == b"226" || &b[..3] == b"250")
        && (b.len() == 3 || b[3] == b' ' || b[3] == b'-')
}

/// Cut ftp's output into `put` sections.
fn sections(ftp_output: &str) -> Vec<PutSection> {
    let mut out: Vec<PutSection> = Vec::new();
    for line in ftp_output.lines() {
        if let Some(header) = put_header(line) {
            out.push(PutSection {
                header,
                completed: false,
            });
        } else if let Some(cur) = out.last_mut() {
            if is_completion_reply(line) {
                cur.completed = true;
            }
        }
    }
    out
}

/// Per file (same order as `files`): whether ftp's output shows its STOR answered with
/// 226 or 250. Sections are matched to files by remote name, in order, so a name that
/// appears twice is judged twice. A header is the file's whose `<path> remote: <name>` it is,
/// else the one with the longest name it ends with: `x remote: y` must not be taken for `y`
/// (that would credit `y` with the other file's transfer, and `y` would be deleted unsent).
pub fn judge(ftp_output: &str, files: &[(PathBuf, String)]) -> Vec<bool> {
    let mut result = vec![false; files.len()];
    let mut taken = vec![false; files.len()];
    for s in sections(ftp_output) {
        let exact =
            |i: &usize| s.header == format!("{} remote: {}", files[*i].0.display(), files[*i].1);
        let ends = |i: &usize| {
            let head = s.header.strip_suffix(files[*i].1.as_str());
            head.is_some_and(|h| h.ends_with(" remote: "))
        };
        let free = (0..files.len()).filter(|&i| !taken[i]);
        let found = free.clone().find(exact).or_else(|| {
            free.filter(ends)
                .min_by_key(|&i| (std::cmp::Reverse(files[i].1.len()), i))
        });
        if let Some(i) = found {
            taken[i] = true;
            result[i] = s.completed;
        }
    }
    result
}

#[cfg(test)]
mod tests;
