//! Which records start now: read the control queue and the flags, then start every due
//! record in service order (prior, age, name) within its route's port capacity. A record
//! without a free port simply waits: that is not an attempt.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::rc::Rc;
use std::time::Instant;

use super::attempt::Plan;
use super::control::client_of_record;
use super::daemon::Daemon;
use super::flags;
use super::record::{Record, RecordId, RecordState};
use super::schedule::{self, Candidate};
use super::tablecache::ClientLookup;
use crate::fip::tables::{ClientParams, PhysPort};

/// `reported` keys of a directory that could not be read (logged once per episode).
const SCAN_CONTROL: &str = "scan:control";
const SCAN_FLAGS: &str = "scan:flags";

/// A control entry's metadata as `stat` sees it, not `lstat`: a link to a regular file is a
/// record, as it was for the original. (`DirEntry::metadata` is an lstat relative to the
/// directory: cheap; only a link costs a second, full-path stat.)
fn followed_metadata(ent: &fs::DirEntry) -> std::io::Result<fs::Metadata> {
    let md = ent.metadata()?;
    if md.file_type().is_symlink() {
        fs::metadata(ent.path())
    } else {
        Ok(md)
    }
}

impl Daemon {
    /// Read the control directory into `records`: new records appear, vanished idle ones go.
    /// Only new entries and those inotify named since the last turn are stat'ed (a turn per
    /// event must not cost a stat per waiting record); every entry is at a full scan (start,
    /// rescan, inotify overflow or no inotify at all).
    pub fn sync_records(&mut self) {
        let full = std::mem::take(&mut self.control_full) || !self.control_watched;
        let changed = std::mem::take(&mut self.control_changed);
        let mut seen = HashSet::new();
        let mut odd = HashSet::new();
        let rd = match fs::read_dir(&self.paths.control) {
            Ok(rd) => {
                self.reported.remove(SCAN_CONTROL);
                rd
            }
            Err(e) => {
                // Out of file descriptors, say: the records are unknown now, not gone; keep
                // them (and their attempt counts) until the directory can be read again.
                self.log_once(
                    SCAN_CONTROL.into(),
                    super::log::NO_CLIENT,
                    &format!(
                        "unable to read {}: {e}; records kept, read again at the next turn",
                        self.paths.control.display()
                    ),
                );
                self.control_full = true;
                self.control_changed.extend(changed);
                return;
            }
        };
        for ent in rd.flatten() {
            let Ok(name) = ent.file_name().into_string() else {
                // Its path could not be passed on faithfully; say so once, keep the file.
                let raw = ent.file_name().to_string_lossy().into_owned();
                self.log_once(
                    format!("badname:{raw}"),
                    super::log::NO_CLIENT,
                    &format!("control record {raw:?}: name is not UTF-8; ignored"),
                );
                continue;
            };
            let Some(client) = client_of_record(&name) else {
                continue;
            };
            if !full && !changed.contains(&name) {
                if self.records.contains_key(&name) {
                    seen.insert(name);
                    continue;
                }
                if self.odd_records.contains(&name) {
                    odd.insert(name);
                    continue;
                }
            }
            // Anything but a regular file is reported once while it stays, and kept.
            let md = match followed_metadata(&ent) {
                Ok(md) if md.is_file() => md,
                Ok(_) | Err(_) => {
                    odd.insert(name.clone());
                    if self.odd_records.insert(name.clone()) {
                        self.log.line(
                            super::log::NO_CLIENT,
                            &format!("control record {name} is not a regular file; ignored"),
                        );
                    }
                    continue;
                }
            };
            seen.insert(name.clone());
            let mtime = md.modified().unwrap_or(std::time::UNIX_EPOCH);
            if let Some(r) = self.records.get_mut(&name) {
                if r.running.is_none() {
                    r.mtime = mtime;
                }
                continue;
            }
            let r = Record::new(&name, &client, mtime, RecordId::of(&md));
            if let Some(why) = r.blocked {
                // Once per record: it stays in the status (blocked) while its file stays.
                self.log.line(
                    &client,
                    &format!(
                        "control record {}: {why}; not run, record kept",
                        self.paths.control.join(&name).display()
                    ),
                );
            }
            self.records.insert(name, r);
        }
        self.records
            .retain(|name, r| r.running.is_some() || seen.contains(name));
        // Forget what went away, so it is reported again should it come back.
        self.odd_records.retain(|n| odd.contains(n));
    }

    /// Start every record that may start now, in service order, within port capacity.
    pub fn dispatch(&mut self, now: Instant) {
        self.sync_records();
        let Some((mut in_use, mut busy)) = self.read_flags() else {
            return; // the ports in use are unknown: start nothing
        };
        let (mut cands, mut params) = self.candidates(now, &busy);
        schedule::order(&mut cands);

        for c in cands {
            let cp = params.remove(&c.name).expect("params");
            if busy.contains(&cp.name) {
                // Another record of the same client started in this pass.
                self.records.get_mut(&c.name).expect("record").state = RecordState::BusyElsewhere;
                continue;
            }
            let attempt = self.records[&c.name].attempts + 1;
            let Some((route, port)) = self.route_and_port(&cp, attempt, &in_use) else {
                // Not an attempt: wait for a port, let others go ahead.
                self.records.get_mut(&c.name).expect("record").state = RecordState::WaitingPort;
                continue;
            };
            if let Some(p) = &port {
                *in_use.entry(p.clone()).or_insert(0) += 1;
            }
            busy.insert(cp.name.clone());
            self.start_attempt(
                Plan {
                    record: c.name.clone(),
                    // A copy only for a record that starts now.
                    client: ClientParams::clone(&cp),
                    attempt,
                    route,
                    port,
                },
                now,
            );
        }
    }

    /// The route attempt `attempt` of `cp` uses (the tryalt rule) and a free port of it;
    /// `None` when all its ports are in use. A route without a PORTS entry runs without a
    /// port (warned once per table read).
    fn route_and_port(
        &mut self,
        cp: &ClientParams,
        attempt: u32,
        in_use: &HashMap<PhysPort, u32>,
    ) -> Option<(Option<String>, Option<PhysPort>)> {
        let route = if schedule::use_alt(attempt, cp.tryalt, cp.alt.is_some()) {
            cp.alt.clone()
        } else {
            cp.route.clone()
        };
        let Some(rt) = &route else {
            return Some((None, None));
        };
        let ports = self.tables.ports.route_ports(rt);
        if ports.is_empty() {
            self.log_once(
                format!("route:{rt}"),
                &cp.name,
                &format!("route {rt} has no entry in PORTS; running without a port lock"),
            );
            return Some((route, None));
        }
        let port = schedule::pick_port(&ports, in_use, &self.tables.ports)?;
        Some((route, Some(port)))
    }

    /// Read the in-use flags (logging stale ones once, cleaning up orphaned FTP attempts):
    /// how many flags hold each physical port, and which clients transmit now (live flags
    /// and our own jobs).
    fn read_flags(&mut self) -> Option<(HashMap<PhysPort, u32>, HashSet<String>)> {
        let unlock = self.tables.params.unlockstale;
        let mut in_use: HashMap<PhysPort, u32> = HashMap::new();
        let mut busy: HashSet<String> = HashSet::new();
        let mut seen = Vec::new();
        let mut stale_keys = HashSet::new();
        let found = match flags::scan(&self.paths.x) {
            Ok(f) => {
                self.reported.remove(SCAN_FLAGS);
                f
            }
            Err(e) => {
                self.log_once(
                    SCAN_FLAGS.into(),
                    super::log::NO_CLIENT,
                    &format!(
                        "unable to read the in-use flags in {}: {e}; nothing starts until they can be read",
                        self.paths.x.display()
                    ),
                );
                return None;
            }
        };
        for f in found {
            // Our own child is never stale: exited but not yet reaped (a zombie, which
            // `is_stale` counts as dead), its attempt is finished by the reaper.
            let stale = !self.jobs.contains_key(&f.pid) && f.is_stale();
            if stale && self.orphaned_ftp_attempt(&f) {
                continue;
            }
            seen.push((f.clone(), stale));
            if stale {
                let key = format!("flag:{}", f.path.display());
                if self.reported.insert(key.clone()) {
                    let lock = if f.has_port() && !unlock {
                        format!(
                            "; port {}:{} stays locked until it is removed",
                            f.host, f.port
                        )
                    } else {
                        String::new()
                    };
                    self.log.line(
                        &f.client,
                        &format!(
                            "stale flag {} (pid {} not running){lock}",
                            f.path.display(),
                            f.pid
                        ),
                    );
                }
                stale_keys.insert(key);
            } else {
                busy.insert(f.client.clone());
            }
            if f.has_port() && (!stale || !unlock) {
                *in_use
                    .entry(PhysPort {
                        host: f.host.clone(),
                        port: f.port,
                    })
                    .or_insert(0) += 1;
            }
        }
        self.flags_seen = seen;
        // Forget stale flags that went away, so a flag of the same name is reported again.
        self.reported
            .retain(|k| !k.starts_with("flag:") || stale_keys.contains(k));
        for j in self.jobs.values() {
            busy.insert(j.client.clone());
        }
        Some((in_use, busy))
    }

    /// The records due now whose client may start, with their client's parameters; the
    /// others get the state that says why they wait.
    fn candidates(
        &mut self,
        now: Instant,
        busy: &HashSet<String>,
    ) -> (Vec<Candidate>, HashMap<String, Rc<ClientParams>>) {
        let mut cands = Vec::new();
        let mut params: HashMap<String, Rc<ClientParams>> = HashMap::new();
        let names: Vec<String> = self.records.keys().cloned().collect();
        for name in names {
            let (client, due, idle) = {
                let r = &self.records[&name];
                (
                    r.client.clone(),
                    r.due(now),
                    r.running.is_none() && r.blocked.is_none(),
                )
            };
            if !idle {
                // Running, or never to run: neither needs its client file.
                continue;
            }
            let (lookup, problems) = self.tables.client(&client);
            for p in problems {
                self.log.line(&client, &p);
            }
            let cp = match lookup {
                ClientLookup::Found(cp) => cp,
                ClientLookup::Missing(why) => {
                    let r = self.records.get_mut(&name).expect("record");
                    r.state = RecordState::NoClient;
                    if !r.missing_reported {
                        r.missing_reported = true;
                        self.log
                            .line(&client, &format!("{why}; record {name} kept, waiting"));
                    }
                    continue;
                }
            };
            let r = self.records.get_mut(&name).expect("record");
            r.retry = cp.retry;
            if !due {
                r.state = RecordState::RetryWait;
                continue;
            }
            if busy.contains(&client) {
                r.state = RecordState::BusyElsewhere;
                continue;
            }
            cands.push(Candidate {
                prior: cp.prior,
                mtime: r.mtime,
                name: name.clone(),
            });
            params.insert(name, cp);
        }
        (cands, params)
    }

    /// An FTP attempt of a previous ipsynd (stopped while ftp ran) leaves its flag and its
    /// command file: ftp never deletes either. Once ftp is gone, remove both (the command
    /// file holds a password); the result is unknown, so the record stays and is retried.
    fn orphaned_ftp_attempt(&mut self, f: &flags::FlagInfo) -> bool {
        let Some(name) = f.path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            return false;
        };
        let cmd = self
            .paths
            .x
            .join(name.replacen(flags::PREFIX, super::ftp::CMD_PREFIX, 1));
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
