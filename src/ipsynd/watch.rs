//! What ipsynd watches with inotify, and reading the events: the control queue (a new record
//! is acted on at once), `x/` (a flag going away frees a port) and the table directories
//! (a table file complete: closed after writing or renamed into place).

use std::path::Path;

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};

use super::daemon::Daemon;
use super::log::NO_CLIENT;

/// Watches and what they mean.
pub(super) struct Watches {
    pub inotify: Option<Inotify>,
    pub control: Option<WatchDescriptor>,
    pub x: Option<WatchDescriptor>,
    /// `tables/syn/client`: a change there re-reads just that client's file.
    pub clients: Option<WatchDescriptor>,
}

impl Daemon {
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
        self.control_watched = control.is_some();
        // A flag going away frees a port or a client.
        let x = add(&self.paths.x, W::IN_DELETE | W::IN_MOVED_FROM);
        // Tables: act when a file is complete (close after write, or renamed into place).
        let tflags = W::IN_CLOSE_WRITE | W::IN_MOVED_TO | W::IN_DELETE | W::IN_MOVED_FROM;
        add(&self.tables.paths.syn.clone(), tflags);
        let clients = add(&self.tables.paths.clients.clone(), tflags);
        Watches {
            inotify: Some(inotify),
            control,
            x,
            clients,
        }
    }

    /// Drain inotify; returns whether all tables must be read again (`PORTS`, `IPSYND`,
    /// overflow). A client file's event names just that client (`clients_dirty`), a control
    /// event the entry the next scan must stat; flag events need no bookkeeping (every turn
    /// reads `x/`).
    pub(super) fn read_events(&mut self, i: &Inotify, w: &Watches) -> bool {
        let mut tables = false;
        while let Ok(events) = i.read_events() {
            if events.is_empty() {
                break;
            }
            for ev in events {
                if ev.mask.contains(AddWatchFlags::IN_Q_OVERFLOW) {
                    tables = true;
                    self.control_full = true;
                    continue;
                }
                if Some(ev.wd) == w.control {
                    match ev.name.map(|n| n.into_string()) {
                        Some(Ok(n)) => {
                            self.control_changed.insert(n);
                        }
                        _ => self.control_full = true,
                    }
                    continue;
                }
                if Some(ev.wd) == w.x {
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
                    self.clients_dirty.insert(name);
                } else {
                    tables = true;
                }
            }
        }
        tables
    }
}
