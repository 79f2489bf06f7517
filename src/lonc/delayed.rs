//! Delayed (store-and-forward) messages: which files a child replays and what each holds.
//!
//! lonnet writes one command per file into `<lonSockDir>/delayed/`, named `...<.hostid>`. The
//! child replays them after every (re)connect in **name order** (the names start with the
//! epoch, so this is oldest first; 1.29 used raw readdir order). Only the suffix is matched,
//! literally (1.29 interpolated the id into a regex unescaped). The replay exchange itself runs
//! in the child's poll loop; this module is the I/O-light part.

use std::fs;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

/// Whether a directory entry named `name` is a delayed message for host `id`.
pub fn is_for_host(name: &str, id: &str) -> bool {
    name.len() > id.len() + 1
        && name.ends_with(id)
        && name.as_bytes()[name.len() - id.len() - 1] == b'.'
}

/// The delayed files for `id` in `dir`, sorted by name. A missing directory gives none.
pub fn pending_files(dir: &Path, id: &str) -> Vec<PathBuf> {
    let mut names: Vec<String> = match fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| is_for_host(n, id))
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names.into_iter().map(|n| dir.join(n)).collect()
}

/// What a delayed file holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Content {
    /// The first line, without its newline (Perl `chomp`).
    Line(Vec<u8>),
    /// The file is empty (or its first line is).
    Empty,
}

/// Read the first line of a delayed file.
pub fn read_first_line(path: &Path) -> io::Result<Content> {
    let mut r = BufReader::new(fs::File::open(path)?);
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line)?;
    if line.last() == Some(&b'\n') {
        line.pop();
    }
    if line.is_empty() {
        Ok(Content::Empty)
    } else {
        Ok(Content::Line(line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffix_match_is_literal() {
        assert!(is_for_host("1014652091.ping.msul1", "msul1"));
        assert!(!is_for_host("1014652091.ping.xmsul1", "msul1"));
        assert!(!is_for_host("msul1", "msul1"));
        assert!(!is_for_host(".msul1x", "msul1"));
        assert!(is_for_host("1.a.b", "a.b"));
        assert!(
            !is_for_host("1.aXb", "a.b"),
            "a dot in the id is not a wildcard"
        );
    }

    #[test]
    fn files_sorted_and_first_line_read() {
        let dir = std::env::temp_dir().join(format!("lonc-delayed-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("200.b.h1"), "second\nignored\n").unwrap();
        fs::write(dir.join("100.a.h1"), "first").unwrap();
        fs::write(dir.join("150.c.h2"), "other host\n").unwrap();
        fs::write(dir.join("300.d.h1"), "").unwrap();
        let files = pending_files(&dir, "h1");
        let names: Vec<_> = files
            .iter()
            .map(|p| p.file_name().unwrap().to_str().unwrap())
            .collect();
        assert_eq!(names, vec!["100.a.h1", "200.b.h1", "300.d.h1"]);
        assert_eq!(
            read_first_line(&files[0]).unwrap(),
            Content::Line(b"first".to_vec())
        );
        assert_eq!(
            read_first_line(&files[1]).unwrap(),
            Content::Line(b"second".to_vec())
        );
        assert_eq!(read_first_line(&files[2]).unwrap(), Content::Empty);
        assert!(pending_files(&dir.join("nope"), "h1").is_empty());
        fs::remove_dir_all(&dir).unwrap();
    }
}
