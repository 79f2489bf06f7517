//! Looking at the control queue and the flag directory: one entry (for an inotify event)
//! or the whole directory (the rescan), fed to the core as the differences from what it
//! knows. A rescan stats only entries the core does not know (all of them when inotify
//! cannot be trusted: at the start, after an overflow, without a watch).

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::Path;

use super::Shell;
use crate::ipsynd::control::client_of_record;
use crate::ipsynd::core::{EntryKind, Event, FlagSeen};
use crate::ipsynd::flags::{self, FlagInfo};
use crate::ipsynd::log::NO_CLIENT;
use crate::ipsynd::record::RecordId;

/// `reported` keys of a directory that could not be read (logged once per episode).
const SCAN_CONTROL: &str = "scan:control";
const SCAN_FLAGS: &str = "scan:flags";

/// What a control entry is, as `stat` sees it, not `lstat`: a link to a regular file is a
/// record, as it was for the original. `None` when it is gone.
pub(super) fn entry_kind(path: &Path) -> Option<EntryKind> {
    match fs::metadata(path) {
        Ok(md) if md.is_file() => Some(EntryKind::Regular {
            id: RecordId::of(&md),
            mtime: md.modified().unwrap_or(std::time::UNIX_EPOCH),
        }),
        Ok(_) => Some(EntryKind::Other),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            // A dangling link is an entry all the same (reported, kept).
            fs::symlink_metadata(path).ok().map(|_| EntryKind::Other)
        }
        Err(_) => Some(EntryKind::Other),
    }
}

impl Shell {
    /// One control entry named by inotify.
    pub(super) fn control_entry(&mut self, name: String) {
        if client_of_record(&name).is_none() {
            return;
        }
        match entry_kind(&self.paths.control.join(&name)) {
            Some(kind) => self.feed(Event::RecordSeen { name, kind }),
            None => self.feed(Event::RecordGone { name }),
        }
    }

    /// The control directory against the core's records.
    pub(super) fn scan_control(&mut self, full: bool) {
        let rd = match fs::read_dir(&self.paths.control) {
            Ok(rd) => {
                self.reported.remove(SCAN_CONTROL);
                rd
            }
            Err(e) => {
                // Out of file descriptors, say: the records are unknown now, not gone; keep
                // them (and their attempt counts) until the directory can be read again.
                let msg = format!(
                    "unable to read {}: {e}; records kept, read again at the next turn",
                    self.paths.control.display()
                );
                self.log_once(SCAN_CONTROL.into(), NO_CLIENT, &msg);
                self.control_full = true;
                return;
            }
        };
        let mut present: HashSet<String> = HashSet::new();
        for ent in rd.flatten() {
            let Ok(name) = ent.file_name().into_string() else {
                // Its path could not be passed on faithfully; say so once, keep the file.
                let raw = ent.file_name().to_string_lossy().into_owned();
                let msg = format!("control record {raw:?}: name is not UTF-8; ignored");
                self.log_once(format!("badname:{raw}"), NO_CLIENT, &msg);
                continue;
            };
            if client_of_record(&name).is_none() {
                continue;
            }
            if full || !self.core.knows_entry(&name) {
                if let Some(kind) = entry_kind(&ent.path()) {
                    self.feed(Event::RecordSeen {
                        name: name.clone(),
                        kind,
                    });
                } else {
                    continue;
                }
            }
            present.insert(name);
        }
        let gone: Vec<String> = self
            .core
            .entry_names()
            .filter(|n| !present.contains(*n))
            .map(String::from)
            .collect();
        for name in gone {
            self.feed(Event::RecordGone { name });
        }
    }

    /// One flag, read (`None` when it is gone, or was an orphaned FTP attempt's, cleaned up).
    pub(super) fn read_flag(&mut self, name: &str) -> Option<FlagSeen> {
        let client = flags::client_of_flag(name)?;
        let path = self.paths.x.join(name);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
            Err(e) if crate::ipsynd::spawn::lacks_resources(&e) => {
                // Unknown, not empty: read again at the next rescan.
                return None;
            }
            Err(_) => String::new(),
        };
        let info = FlagInfo::from_text(path, client, &text);
        let stale = info.is_stale();
        if stale && self.orphaned_ftp_attempt(&info) {
            return None;
        }
        Some(FlagSeen {
            name: name.to_string(),
            port: info.has_port().then(|| crate::fip::tables::PhysPort {
                host: info.host.clone(),
                port: info.port,
            }),
            client: info.client,
            pid: info.pid,
            start: info.start,
            stale,
        })
    }

    /// A flag named by inotify (created, renamed in, written): read it unless it is ours.
    pub(super) fn flag_entry(&mut self, name: &str) {
        if self.core.own_flag(name) {
            return;
        }
        if let Some(f) = self.read_flag(name) {
            self.feed_flag(f);
        }
    }

    /// Give a flag to the core if it is new or says something else now.
    fn feed_flag(&mut self, f: FlagSeen) {
        let same = self.core.flag(&f.name).is_some_and(|k| {
            k.pid == f.pid
                && k.stale == f.stale
                && k.start == f.start
                && k.port.map(|p| self.core.port(p)) == f.port.as_ref()
        });
        if !same {
            self.feed(Event::FlagSeen(f));
        }
    }

    /// The flag directory against the core's flags; a foreign flag's pid may have died.
    pub(super) fn scan_flags(&mut self) {
        let rd = match fs::read_dir(&self.paths.x) {
            Ok(rd) => {
                self.reported.remove(SCAN_FLAGS);
                rd
            }
            Err(e) => {
                let msg = format!(
                    "unable to read the in-use flags in {}: {e}; read again at the next rescan",
                    self.paths.x.display()
                );
                self.log_once(SCAN_FLAGS.into(), NO_CLIENT, &msg);
                return;
            }
        };
        let mut present: HashSet<String> = HashSet::new();
        let mut names: Vec<String> = Vec::new();
        for ent in rd.flatten() {
            let name = ent.file_name().to_string_lossy().into_owned();
            if flags::client_of_flag(&name).is_some() {
                names.push(name);
            }
        }
        names.sort();
        for name in names {
            if !self.core.own_flag(&name) {
                match self.read_flag(&name) {
                    Some(f) => self.feed_flag(f),
                    None => continue,
                }
            }
            present.insert(name);
        }
        let gone: Vec<String> = self
            .core
            .flags()
            .filter(|(n, _)| !present.contains(*n))
            .map(|(n, _)| n.to_string())
            .collect();
        for name in gone {
            self.feed(Event::FlagGone { name });
        }
    }

    /// An FTP attempt of a previous ipsynd (stopped while ftp ran) leaves its flag and its
    /// command file: ftp never deletes either. Once ftp is gone, remove both (the command
    /// file holds a password); the result is unknown, so the record stays and is retried.
    fn orphaned_ftp_attempt(&mut self, f: &FlagInfo) -> bool {
        let Some(name) = f.path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            return false;
        };
        let cmd =
            self.paths
                .x
                .join(name.replacen(flags::PREFIX, crate::ipsynd::ftp::CMD_PREFIX, 1));
        if !cmd.exists() {
            return false;
        }
        let _ = fs::remove_file(&cmd);
        let _ = fs::remove_file(&f.path);
        self.log.line(
            &f.client,
            &format!(
                "ftp attempt pid {} of an earlier ipsynd has ended; its flag and command file removed, record kept",
                f.pid
            ),
        );
        true
    }
}
