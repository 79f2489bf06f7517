//! A queue's waiting files: the regular, non-dot files of `spool/syn/<queue>` (see
//! [`super::paths::queue_dir`]), in name order. Dot files are FIP's temporary files. I/O
//! (one directory read and a stat per entry).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Regular, non-dot files of a queue directory as `(path, name)`, in name order.
/// A missing directory is an empty queue. Names that are not UTF-8 are skipped (they
/// cannot be named to a remote side faithfully).
pub fn queue_files(dir: &Path) -> io::Result<Vec<(PathBuf, String)>> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        // Follow symlinks like the original's stat(): a link to a regular file is sent.
        match fs::metadata(entry.path()) {
            Ok(m) if m.is_file() => out.push((entry.path(), name)),
            _ => continue,
        }
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_listing_skips_dots_and_dirs_and_sorts() {
        let dir = std::env::temp_dir().join(format!("fip-q-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("sub")).unwrap();
        for n in ["b", "a", ".hidden", "c c"] {
            fs::write(dir.join(n), n).unwrap();
        }
        let names: Vec<String> = queue_files(&dir)
            .unwrap()
            .into_iter()
            .map(|f| f.1)
            .collect();
        assert_eq!(names, ["a", "b", "c c"]);
        assert!(queue_files(&dir.join("missing")).unwrap().is_empty());
        fs::remove_dir_all(&dir).unwrap();
    }
}
