//! The scheduling rules of spec §§2-10, one test each, driven through events as the shell
//! feeds them. `Site` is a FIP site in miniature: its PORTS, its client files, and a clock
//! that only moves when a test says so. The tests are in the files below by concern.

mod attempt;
mod cost;
mod flags;
mod kill;
mod order;
mod records;
mod request;
mod tables;

use super::*;
use std::path::Path;
use std::time::SystemTime;

use super::super::record::{RecordId, RecordState};
use super::status::STATUS_EVERY;
use crate::fip::tables::PortsTable;
use crate::sys::reap::ExitKind;

const PORTS: &str = "route:one host:h port:1\n\
                     route:multi host:m port:2 multi:2\n\
                     route:alt host:a port:3\n\
                     route:shared host:h port:1\n";

struct Site {
    core: Core,
    now: Now,
    ino: u64,
    pid: i32,
    /// Everything logged so far.
    log: Vec<String>,
}

fn base() -> Now {
    Now {
        mono: Instant::now(),
        wall: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    }
}

impl Site {
    fn new() -> Site {
        Site::with(PORTS, false)
    }

    /// A site with these client files (name, text), read.
    fn on(clients: &[(&str, &str)]) -> Site {
        let mut s = Site::new();
        for (name, text) in clients {
            s.client(name, text);
        }
        s
    }

    /// A backlog: `n` clients `W0`.. on route one, each with one record.
    fn backlog(&mut self, n: usize) {
        for i in 0..n {
            let c = format!("W{i}");
            self.client(&c, "route:one\n");
            self.record(&c);
        }
    }

    fn with(ports: &str, unlockstale: bool) -> Site {
        let mut s = Site {
            core: Core::new(Config {
                control: "/fip/spool/syn/control".into(),
                x: "/fip/x".into(),
            }),
            now: base(),
            ino: 0,
            pid: 1000,
            log: Vec::new(),
        };
        let ports = PortsTable::parse(ports, Path::new("PORTS")).0;
        s.feed(Event::Tables {
            ports,
            unlockstale,
            grace: Duration::from_secs(5),
        });
        s
    }

    /// Feed one event and dispatch; logs are collected, the other actions returned.
    fn feed(&mut self, ev: Event) -> Vec<Action> {
        let acts = self.core.handle(ev, self.now);
        self.keep(acts)
    }

    fn keep(&mut self, acts: Vec<Action>) -> Vec<Action> {
        let mut rest = Vec::new();
        for a in acts {
            match a {
                Action::Log { client, msg } => self.log.push(format!("{client} {msg}")),
                a => rest.push(a),
            }
        }
        rest
    }

    fn client(&mut self, name: &str, text: &str) -> Vec<Action> {
        let cp = crate::fip::tables::parse_client(name, text, Path::new(name)).0;
        self.feed(Event::Client {
            name: name.into(),
            lookup: Lookup::Found(Rc::new(cp)),
        })
    }

    /// A new control record (each one a second younger than the last).
    fn record(&mut self, name: &str) -> Vec<Action> {
        self.ino += 1;
        let mtime = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + self.ino);
        self.feed(Event::RecordSeen {
            name: name.into(),
            kind: EntryKind::Regular {
                id: RecordId {
                    ino: self.ino,
                    born: 0,
                },
                mtime,
            },
        })
    }

    fn id(&self, name: &str) -> (RecordId, SystemTime) {
        let r = &self.core.records[name];
        (r.id, r.mtime)
    }

    /// Answer every Start with a running child; returns (record, pid) in order.
    fn run(&mut self, acts: Vec<Action>) -> Vec<(String, i32)> {
        let mut out = Vec::new();
        let mut queue = acts;
        while !queue.is_empty() {
            let mut next = Vec::new();
            for a in queue {
                if let Action::Start(p) = a {
                    self.pid += 1;
                    let flag = format!("SYN|{:03}|{}", self.pid % 1000, p.client.name);
                    out.push((p.record.clone(), self.pid));
                    let id = self.core.records[p.record.as_str()].id;
                    next.extend(self.feed(Event::Started {
                        record: p.record,
                        pid: self.pid,
                        flag,
                        maxkill: p.client.maxkill.as_ref().map(|m| vec![m.to_string()]),
                        display: "cmd".into(),
                        id,
                    }));
                }
            }
            queue = next;
        }
        out
    }

    /// A new record, its start answered.
    fn go(&mut self, name: &str) -> Vec<(String, i32)> {
        let acts = self.record(name);
        self.run(acts)
    }

    /// A transmitter ends; what starts next is answered.
    fn go_after(&mut self, pid: i32, done: bool, code: i32) -> Vec<(String, i32)> {
        let acts = self.exit(pid, done, code);
        self.run(acts)
    }

    fn flag_of(&self, pid: i32) -> String {
        self.core.jobs[&pid].flag.clone()
    }

    /// The transmitter `pid` ended: `done` = it deleted its record (success). It deletes
    /// its flag first, as ipsyn does.
    fn exit(&mut self, pid: i32, done: bool, code: i32) -> Vec<Action> {
        let record = self.core.jobs[&pid].record.to_string();
        let record_now = (!done).then(|| self.id(&record));
        let flag = self.flag_of(pid);
        let mut acts = self.feed(Event::FlagGone { name: flag });
        acts.extend(self.feed(Event::ChildExited {
            pid,
            how: ExitKind::Code(code),
            flag_left: false,
            record_now,
            group_alive: false,
        }));
        acts
    }

    fn state(&self, name: &str) -> RecordState {
        self.core.records[name].state
    }

    fn later(&mut self, secs: u64) -> Vec<Action> {
        self.now = self.now.after(Duration::from_secs(secs));
        let acts = self.core.dispatch(self.now);
        self.keep(acts)
    }

    fn logged(&self, part: &str) -> usize {
        self.log.iter().filter(|l| l.contains(part)).count()
    }
}

fn starts(acts: &[Action]) -> Vec<(String, u32, Option<String>, Option<PhysPort>)> {
    acts.iter()
        .filter_map(|a| match a {
            Action::Start(p) => {
                Some((p.record.clone(), p.attempt, p.route.clone(), p.port.clone()))
            }
            _ => None,
        })
        .collect()
}

fn port(h: &str, p: u16) -> Option<PhysPort> {
    Some(PhysPort {
        host: h.into(),
        port: p,
    })
}
