//! In-use flags (`x/SYN|nnn|CLIENT`): the ports and clients they hold, stale ones.

use super::index::PortId;
use super::{log, Action, Core, Flag, FlagSeen};

/// A flag's accounting: which port it holds, whether its client transmits.
pub(super) fn flag_effect(f: &Flag, unlock: bool) -> (Option<PortId>, bool) {
    if f.own {
        return (None, false);
    }
    let port = f.port.filter(|_| !f.stale || !unlock);
    (port, !f.stale)
}

impl Core {
    pub(super) fn flag_seen(&mut self, f: FlagSeen, out: &mut Vec<Action>) {
        if self.own_flag(&f.name) {
            return; // ours: counted through its job
        }
        let client = self.client_id(&f.client);
        let port = f.port.as_ref().map(|p| self.port_id(p));
        let (reported, old) = match self.flags.get(f.name.as_str()) {
            Some(old) => (old.reported && old.stale, Some(old.clone())),
            None => (false, None),
        };
        let new = Flag {
            client,
            port,
            pid: f.pid,
            start: f.start,
            stale: f.stale,
            own: false,
            reported: reported || f.stale,
        };
        if f.stale && !reported {
            let lock = match &f.port {
                Some(p) if !self.unlockstale => {
                    format!(
                        "; port {}:{} stays locked until it is removed",
                        p.host, p.port
                    )
                }
                _ => String::new(),
            };
            log(
                out,
                &f.client,
                format!(
                    "stale flag {}/{} (pid {} not running){lock}",
                    self.cfg.x, f.name, f.pid
                ),
            );
        }
        let new_effect = flag_effect(&new, self.unlockstale);
        self.flags.insert(f.name.into_boxed_str(), new.clone());
        self.dirty = true;
        // Take first, then free: a port or client in both is never woken in between.
        self.take_port(new_effect.0);
        if new_effect.1 {
            self.busy(new.client, true);
        }
        if let Some(old) = old {
            let (op, ob) = flag_effect(&old, self.unlockstale);
            if ob {
                self.busy(old.client, false);
            }
            self.free_port(op);
        }
    }

    pub(super) fn flag_gone(&mut self, name: &str) {
        let Some(f) = self.flags.remove(name) else {
            return;
        };
        self.dirty = true;
        if f.own {
            // The transmitter deleted its flag: the port is free, the client stays busy
            // until the job is reaped.
            let job = self.jobs.values_mut().find(|j| *j.flag == *name);
            if let Some(j) = job {
                if j.holds_port {
                    j.holds_port = false;
                    let p = j.port;
                    self.free_port(p);
                }
            }
            return;
        }
        let (p, b) = flag_effect(&f, self.unlockstale);
        if b {
            self.busy(f.client, false);
        }
        self.free_port(p);
    }
}
