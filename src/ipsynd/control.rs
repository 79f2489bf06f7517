//! Control records and queues: which client a record in `spool/syn/control` names, and
//! which files of a queue are waiting.
//!
//! A record is any regular file whose name does not start with `.`; its content is ignored.
//! The client is the last `|`-separated part of the name, a leading `SYN_` removed,
//! uppercased (spec §2). A client name becomes file and directory names (its table file, its
//! queue, its flag and logs), so [`refusal`] says which names must never run. Queue listings
//! skip dot files (FIP's temporary files).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The client a control record names, or `None` for a name that is no record (empty, or a
/// dot file). The client may be one that must not run (empty after `SYN_`, `..`, `CONTROL`):
/// such a record is still a record, kept and reported (see [`refusal`]).
pub fn client_of_record(file_name: &str) -> Option<String> {
    if file_name.is_empty() || file_name.starts_with('.') {
        return None;
    }
    let last = file_name.rsplit('|').next().unwrap_or(file_name).trim();
    let bare = match last.get(..4) {
        Some(p) if p.eq_ignore_ascii_case("SYN_") => &last[4..],
        _ => last,
    };
    Some(bare.trim().to_ascii_uppercase())
}

/// The longest client name whose file names still fit the usual 255-byte limit: the attempt
/// log `<CLIENT>.ddMonyy.HH.MM` adds 14 bytes (the flag `SYN|nnn|` 8, the FTP command file
/// `SYNFTP|nnn|` 11).
pub const CLIENT_NAME_MAX: usize = 241;

/// Why a record naming `client` must never start a transmission, if it must not. A client
/// name becomes the file `tables/syn/client/<CLIENT>`, the queue `spool/syn/<client>` (which
/// the transmitter empties) and the names of its flag and logs: a name that is no plain file
/// name would reach outside those directories, and the queue `control` is the control queue
/// itself, whose records the transmitter would send and delete.
pub fn refusal(client: &str) -> Option<&'static str> {
    if client.is_empty() {
        Some("the record names no client")
    } else if client == "." || client == ".." || client.contains('/') || client.contains('\0') {
        Some("the client name is no plain file name")
    } else if client.starts_with('-') {
        // It reads as a switch to the transmitter: positional `-C -c host ...` made ipsyn
        // send the queue `host`, another client's.
        Some("the client name starts with '-' (a switch to the transmitter)")
    } else if queue_name(client) == "control" {
        Some("the client's queue would be spool/syn/control, the control queue itself")
    } else if client.len() > CLIENT_NAME_MAX {
        Some("the client name is too long for its flag and log file names")
    } else {
        None
    }
}

/// The queue directory of a client: `spool/syn/<client lowercase>` under `root`.
pub fn queue_dir(root: &Path, queue: &str) -> PathBuf {
    root.join("spool/syn").join(queue)
}

/// The default queue name of a client (its name in lowercase).
pub fn queue_name(client: &str) -> String {
    client.to_ascii_lowercase()
}

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
    fn plain_client_name() {
        assert_eq!(client_of_record("JUKEBOX").as_deref(), Some("JUKEBOX"));
        assert_eq!(client_of_record("jukebox").as_deref(), Some("JUKEBOX"));
    }

    #[test]
    fn syn_prefix_and_pipes() {
        assert_eq!(client_of_record("SYN_jukebox").as_deref(), Some("JUKEBOX"));
        assert_eq!(client_of_record("syn_Jukebox").as_deref(), Some("JUKEBOX"));
        assert_eq!(
            client_of_record("SYN|123|JUKEBOX").as_deref(),
            Some("JUKEBOX")
        );
        assert_eq!(client_of_record("a|b|SYN_pop").as_deref(), Some("POP"));
        // Only a leading SYN_ goes.
        assert_eq!(client_of_record("MYSYN_X").as_deref(), Some("MYSYN_X"));
    }

    #[test]
    fn no_record() {
        assert_eq!(client_of_record(""), None);
        assert_eq!(client_of_record(".JUKEBOX"), None);
        assert_eq!(client_of_record(".tmp|X"), None);
    }

    #[test]
    fn clients_that_must_not_run() {
        let refused = |record: &str| refusal(&client_of_record(record).expect("a record"));
        for record in ["SYN_", "X|", "a|..", "SYN_..", "SYN_.", "x| . "] {
            assert!(refused(record).is_some(), "{record:?}");
        }
        // The control queue itself, however the record spells it.
        for record in [
            "CONTROL",
            "SYN_CONTROL",
            "syn_control",
            "SYN|001|Control",
            " control",
        ] {
            let why = refused(record).unwrap_or_else(|| panic!("{record:?} must be refused"));
            assert!(why.contains("spool/syn/control"), "{why}");
        }
        // Names a file name cannot hold (a record's name never does), refused all the same.
        assert!(refusal("A/B").is_some());
        assert!(refusal("../CONTROL").is_some());
        assert!(refusal("A\0B").is_some());
        assert!(refused("SYN_-c").is_some() && refused("a|-Q").is_some());
        let long = "L".repeat(CLIENT_NAME_MAX);
        assert_eq!(refusal(&long), None);
        assert!(refusal(&format!("{long}L")).is_some());
        for fine in [
            "CONTROLS",
            "XCONTROL",
            "CONTROL_2",
            ".HIDDEN",
            "A B",
            "JUKEBOX",
        ] {
            assert_eq!(refusal(fine), None, "{fine}");
        }
    }

    #[test]
    fn queue_listing_skips_dots_and_dirs_and_sorts() {
        let dir = std::env::temp_dir().join(format!("ipsynd-q-{}", std::process::id()));
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
        assert_eq!(
            queue_dir(Path::new("/fip"), "jukebox"),
            Path::new("/fip/spool/syn/jukebox")
        );
        assert_eq!(queue_name("JUKEBOX"), "jukebox");
    }
}
