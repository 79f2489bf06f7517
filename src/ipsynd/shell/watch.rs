//! What ipsynd watches with inotify, and turning the events into core events: the control
//! queue (a new record is acted on at once), `x/` (a flag appearing takes a port, one going
//! away frees it) and the table directories (a table file complete: closed after writing or
//! renamed into place, never on a bare modification, so it is never read half-written).

use std::path::Path;

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};

use super::Shell;
use crate::ipsynd::core::Event;
use crate::ipsynd::log::NO_CLIENT;

/// Watches and what they mean.
pub(super) struct Watches {
    pub inotify: Option<Inotify>,
    pub control: Option<WatchDescriptor>,
    pub x: Option<WatchDescriptor>,
    /// `tables/syn/client`: a change there re-reads just that client's file.
    pub clients: Option<WatchDescriptor>,
    /// `tables/syn` (`PORTS`, `IPSYND`).
    pub tables: Option<WatchDescriptor>,
}

impl Shell {
    pub(super) fn watch(&mut self) -> Watches {
        let inotify = match Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK) {
            Ok(i) => i,
            Err(e) => {
                self.log.line(
                    NO_CLIENT,
                    &format!("inotify unavailable ({e}); rescanning only"),
                );
                return Watches {
                    inotify: None,
                    control: None,
                    x: None,
                    clients: None,
                    tables: None,
                };
            }
        };
        let add = |p: &Path, f: AddWatchFlags| match inotify.add_watch(p, f) {
            Ok(wd) => Some(wd),
            Err(e) => {
                self.log
                    .line(NO_CLIENT, &format!("unable to watch {}: {e}", p.display()));
                None
            }
        };
        use AddWatchFlags as W;
        // A record's content is ignored, so its creation is enough to act on; a rewrite or
        // touch changes its age (mtime).
        let control = add(
            &self.paths.control,
            W::IN_CREATE
                | W::IN_MOVED_TO
                | W::IN_DELETE
                | W::IN_MOVED_FROM
                | W::IN_ATTRIB
                | W::IN_CLOSE_WRITE,
        );
        // A flag going away frees a port or a client; one appearing (another transmitter's)
        // takes them.
        let x = add(
            &self.paths.x,
            W::IN_DELETE | W::IN_MOVED_FROM | W::IN_CREATE | W::IN_MOVED_TO | W::IN_CLOSE_WRITE,
        );
        // Tables: act when a file is complete (close after write, or renamed into place).
        let tflags = W::IN_CLOSE_WRITE | W::IN_MOVED_TO | W::IN_DELETE | W::IN_MOVED_FROM;
        let tables = add(&self.tables.paths.syn.clone(), tflags);
        let clients = add(&self.tables.paths.clients.clone(), tflags);
        Watches {
            inotify: Some(inotify),
            control,
            x,
            clients,
            tables,
        }
    }

    /// Drain inotify. A control event costs a stat of its entry, a flag event a read of its
    /// flag, a client file event a re-read of that client; `PORTS`, `IPSYND` or an overflow
    /// re-read every table (once per batch).
    pub(super) fn read_events(&mut self, w: &Watches) {
        let Some(i) = &w.inotify else {
            return;
        };
        let mut tables = false;
        let mut overflow = false;
        let mut clients: Vec<String> = Vec::new();
        while let Ok(events) = i.read_events() {
            if events.is_empty() {
                break;
            }
            for ev in events {
                if ev.mask.contains(AddWatchFlags::IN_Q_OVERFLOW) {
                    overflow = true;
                    continue;
                }
                if Some(ev.wd) == w.control {
                    match ev.name.map(|n| n.into_string()) {
                        Some(Ok(n)) => self.control_entry(n),
                        _ => self.control_full = true,
                    }
                    continue;
                }
                if Some(ev.wd) == w.x {
                    let Some(n) = ev.name.map(|n| n.to_string_lossy().into_owned()) else {
                        continue;
                    };
                    if ev
                        .mask
                        .intersects(AddWatchFlags::IN_DELETE | AddWatchFlags::IN_MOVED_FROM)
                    {
                        self.feed(Event::FlagGone { name: n });
                    } else {
                        self.flag_entry(&n);
                    }
                    continue;
                }
                let name = ev
                    .name
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if name.starts_with('.') {
                    continue; // an editor's or writer's temporary file
                }
                if Some(ev.wd) == w.clients && !name.is_empty() {
                    if !clients.contains(&name) {
                        clients.push(name);
                    }
                } else {
                    tables = true;
                }
            }
        }
        if overflow {
            // Events were lost: everything is looked at again.
            self.reload_tables();
            self.scan_flags();
            self.scan_control(true);
            return;
        }
        if tables {
            self.reload_tables();
        } else if !clients.is_empty() {
            self.clients_changed(&clients);
        }
        if std::mem::take(&mut self.control_full) {
            self.scan_control(true);
        }
    }
}
