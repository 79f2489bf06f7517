//! Interning: clients, routes and physical ports by number, and their names back.

use std::rc::Rc;

use super::index::{ClientEntry, ClientId, PortId, RouteId};
use super::Core;
use crate::fip::tables::PhysPort;

impl Core {
    pub(super) fn client_id(&mut self, name: &str) -> ClientId {
        if let Some(&id) = self.client_ids.get(name) {
            return id;
        }
        let id = ClientId(self.clients.len() as u32);
        let rc: Rc<str> = Rc::from(name);
        self.clients.push(ClientEntry::new(rc.clone()));
        self.client_ids.insert(rc, id);
        id
    }

    pub(super) fn route_id(&mut self, name: &str) -> RouteId {
        if let Some(&id) = self.route_ids.get(name) {
            return id;
        }
        let id = RouteId(self.routes.len() as u32);
        let rc: Rc<str> = Rc::from(name);
        self.routes.push(rc.clone());
        self.route_ids.insert(rc, id);
        id
    }

    pub(super) fn port_id(&mut self, p: &PhysPort) -> PortId {
        if let Some(&id) = self.port_ids.get(p) {
            return id;
        }
        let id = PortId(self.ports.len() as u32);
        self.ports.push(p.clone());
        self.port_ids.insert(p.clone(), id);
        self.cap.push(1);
        self.in_use.push(0);
        id
    }

    /// A client's name.
    pub fn client_name(&self, c: ClientId) -> &str {
        &self.clients[c.0 as usize].name
    }

    /// How many physical ports the core has seen (`PortId`s are `0..port_count`).
    pub fn port_count(&self) -> usize {
        self.ports.len()
    }

    /// A port's `host:port`.
    pub fn port(&self, p: PortId) -> &PhysPort {
        &self.ports[p.0 as usize]
    }

    pub(super) fn client(&self, c: ClientId) -> &ClientEntry {
        &self.clients[c.0 as usize]
    }

    pub(super) fn client_mut(&mut self, c: ClientId) -> &mut ClientEntry {
        &mut self.clients[c.0 as usize]
    }
}
