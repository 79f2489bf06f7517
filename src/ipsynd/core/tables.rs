//! `PORTS`, `IPSYND` and the client files: a table read re-indexes the ports and looks
//! every client up again; a client file read or changed re-places only its records.

use std::time::{Duration, Instant};

use super::flags::flag_effect;
use super::index::{Lookup, PortId};
use super::record::Place;
use super::Core;
use crate::fip::tables::PortsTable;

impl Core {
    pub(super) fn tables(
        &mut self,
        ports: PortsTable,
        unlockstale: bool,
        grace: Duration,
        now: Instant,
    ) {
        self.grace = grace;
        // The port indexes from the new table.
        let old_effects: Vec<(Option<PortId>, bool)> = self
            .flags
            .values()
            .map(|f| flag_effect(f, self.unlockstale))
            .collect();
        self.route_ports.clear();
        self.port_routes.clear();
        self.warned_routes.clear();
        for c in self.cap.iter_mut() {
            *c = 1;
        }
        let mut seen_routes: Vec<String> = Vec::new();
        for l in ports.route_names() {
            if !seen_routes.contains(&l) {
                seen_routes.push(l);
            }
        }
        for rt in seen_routes {
            let rid = self.route_id(&rt);
            let phys = ports.route_ports(&rt);
            let mut ids = Vec::new();
            for p in &phys {
                let pid = self.port_id(p);
                self.cap[pid.0 as usize] = ports.capacity(p);
                ids.push(pid);
                let v = self.port_routes.entry(pid).or_default();
                if !v.contains(&rid) {
                    v.push(rid);
                }
            }
            self.route_ports.insert(rid, ids);
        }
        // unlockstale may have changed what stale flags hold.
        self.unlockstale = unlockstale;
        let new_effects: Vec<(Option<PortId>, bool)> = self
            .flags
            .values()
            .map(|f| flag_effect(f, self.unlockstale))
            .collect();
        for ((op, _), (np, _)) in old_effects.into_iter().zip(new_effects) {
            if op != np {
                if let Some(p) = op {
                    self.in_use[p.0 as usize] = self.in_use[p.0 as usize].saturating_sub(1);
                }
                self.take_port(np);
            }
        }
        // Every client is looked up again; a waiting record is tried again (spec §2).
        for c in self.clients.iter_mut() {
            c.lookup = Lookup::Unknown;
        }
        for w in self.route_wait.values_mut() {
            w.clear();
        }
        self.ready.clear();
        for c in self.clients.iter_mut() {
            c.wait = None;
            c.held = None;
        }
        self.timers.clear();
        for r in self.records.values_mut() {
            r.place = Place::None;
        }
        self.replace_all(None, now);
        self.dirty = true;
    }

    pub(super) fn client_read(&mut self, name: &str, lookup: Lookup, now: Instant) {
        let c = self.client_id(name);
        let was_unknown = matches!(self.client(c).lookup, Lookup::Unknown);
        self.client_mut(c).lookup = lookup;
        self.want.remove(&c);
        if was_unknown {
            let held = self
                .client_mut(c)
                .held
                .take()
                .map(|h| *h)
                .unwrap_or_default();
            for n in held {
                if self
                    .records
                    .get(&n)
                    .is_some_and(|r| r.place == Place::Held && r.client == c)
                {
                    self.records.get_mut(&n).expect("record").place = Place::None;
                    self.place(&n, now);
                }
            }
        } else {
            // A changed file: its records are tried, and their problems reported, again.
            self.client_mut(c).held = None;
            self.replace_all(Some(c), now);
        }
    }

    pub(super) fn client_changed(&mut self, name: &str, now: Instant) {
        let Some(&c) = self.client_ids.get(name) else {
            return; // no record ever named it: read when one does
        };
        self.client_mut(c).lookup = Lookup::Unknown;
        self.client_mut(c).held = None;
        self.replace_all(Some(c), now);
    }
}
