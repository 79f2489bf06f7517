//! Control records: which client a record in `spool/syn/control` names, and which client
//! names must never run. Pure. (The queues themselves are [`crate::fip`]'s.)
//!
//! A record is any regular file whose name does not start with `.`; its content is ignored.
//! The client is the last `|`-separated part of the name, a leading `SYN_` removed,
//! uppercased (spec §2). A client name becomes file and directory names (its table file, its
//! queue, its flag and logs), so [`refusal`] says which names must never run.

use crate::fip::paths::queue_name;

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
}
