//! The tables ipsynd reads (`PORTS`, `IPSYND`, `client/*`), cached and re-read on change.
//! A client file's parse is held by the core (its client entry), not here: with one client
//! per waiting record, a second copy of every lookup cost over 100 B per record. The core
//! asks again only after a change (a table read, the file changed, `-f`), so a read here
//! is never one the cache would have saved.
//!
//! Changes are noticed by inotify (the daemon marks the cache dirty) and, as a safety net, by a
//! fingerprint of names, sizes and mtimes taken at every rescan. Every problem found while
//! parsing is returned with `file:line` so the daemon logs it; nothing here is fatal.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::SystemTime;

use crate::fip::paths;
use crate::fip::tables::{self, ClientParams, DaemonParams, PortsTable};

/// Paths of the tables below the FIP root.
#[derive(Debug, Clone)]
pub struct TablePaths {
    pub syn: PathBuf,
    pub clients: PathBuf,
    pub ports: PathBuf,
    pub ipsynd: PathBuf,
}

impl TablePaths {
    pub fn new(root: &Path) -> TablePaths {
        TablePaths {
            syn: paths::tables_syn(root),
            clients: paths::client_tables(root),
            ports: paths::ports(root),
            ipsynd: paths::ipsynd_table(root),
        }
    }
}

/// What a client lookup found.
#[derive(Debug, Clone)]
pub enum ClientLookup {
    /// Shared with the cache: a lookup on every turn for every waiting record costs no copy.
    Found(Rc<ClientParams>),
    /// Missing or unreadable, with the reason for the log.
    Missing(String),
    /// Not read for want of resources (EMFILE, ENFILE, ENOMEM, EAGAIN): not a fact about the
    /// file, so not cached; whoever asked must ask again later.
    Unreadable(String),
}

/// The parsed tables.
pub struct TableCache {
    pub paths: TablePaths,
    pub ports: PortsTable,
    pub params: DaemonParams,
    /// Client files read ahead of the core's asking (`read_ahead`), each taken by the next
    /// `client` call.
    ahead: HashMap<String, ClientLookup>,
    fingerprint: Fingerprint,
}

/// Size and mtime of a table file.
type Stamp = (u64, Option<SystemTime>);

/// What the tables looked like when last read: `PORTS`, `IPSYND`, and every client file by
/// name (a missing file has no entry; a name is a boxed `str`, one word less per client
/// file than a `String`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Fingerprint {
    ports: Option<Stamp>,
    ipsynd: Option<Stamp>,
    clients: BTreeMap<Box<str>, Stamp>,
    /// The client directory could not be listed (EMFILE and the like; a missing directory
    /// lists as empty): `clients` says nothing, and no client counts as changed or gone.
    clients_unlisted: bool,
}

fn stamp(p: &Path) -> Option<Stamp> {
    fs::metadata(p)
        .ok()
        .map(|md| (md.len(), md.modified().ok()))
}

fn fingerprint(paths: &TablePaths) -> Fingerprint {
    let mut clients = BTreeMap::new();
    let mut clients_unlisted = false;
    match fs::read_dir(&paths.clients) {
        Ok(rd) => {
            for e in rd.flatten() {
                if let (Ok(name), Some(st)) = (e.file_name().into_string(), stamp(&e.path())) {
                    clients.insert(name.into_boxed_str(), st);
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(_) => clients_unlisted = true,
    }
    Fingerprint {
        ports: stamp(&paths.ports),
        ipsynd: stamp(&paths.ipsynd),
        clients,
        clients_unlisted,
    }
}

/// What changed on disk since the tables were read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableChange {
    Nothing,
    /// Only these client files (by name) changed, appeared or went.
    Clients(Vec<String>),
    /// `PORTS` or `IPSYND` changed: read everything again.
    Everything,
}

impl TableCache {
    /// Read `PORTS` and `IPSYND` now; problems come back as log lines.
    pub fn load(root: &Path) -> (TableCache, Vec<String>) {
        let paths = TablePaths::new(root);
        let mut t = TableCache {
            ports: PortsTable::parse("", &paths.ports).0,
            params: DaemonParams::default(),
            ahead: HashMap::new(),
            fingerprint: Fingerprint::default(),
            paths,
        };
        let problems = t.reload();
        (t, problems)
    }

    /// Re-read everything (client files lazily, on next use).
    pub fn reload(&mut self) -> Vec<String> {
        let mut problems = Vec::new();
        self.fingerprint = fingerprint(&self.paths);
        self.ahead.clear();
        match fs::read_to_string(&self.paths.ports) {
            Ok(text) => {
                let (p, probs) = PortsTable::parse(&text, &self.paths.ports);
                self.ports = p;
                problems.extend(probs.iter().map(|p| p.to_string()));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.ports = PortsTable::parse("", &self.paths.ports).0;
            }
            Err(e) => {
                // Keep the previous table: a transient read error must not free every port.
                problems.push(format!(
                    "{}: unable to read: {e}",
                    self.paths.ports.display()
                ));
            }
        }
        match fs::read_to_string(&self.paths.ipsynd) {
            Ok(text) => {
                let (p, probs) = tables::parse_ipsynd(&text, &self.paths.ipsynd);
                self.params = p;
                problems.extend(probs.iter().map(|p| p.to_string()));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.params = DaemonParams::default();
            }
            Err(e) => problems.push(format!(
                "{}: unable to read: {e}",
                self.paths.ipsynd.display()
            )),
        }
        problems
    }

    /// What changed since the files were read, judged by name, size and mtime. With
    /// `settled_before`, a file changed later than that is left for now: inotify watches
    /// its directory and will say when its writer has closed it (a truncate-then-write edit
    /// caught in the middle would be read half-written, or empty).
    pub fn changes_on_disk(&self, settled_before: Option<SystemTime>) -> TableChange {
        let now = fingerprint(&self.paths);
        let old = &self.fingerprint;
        let settled = |st: &Option<Stamp>| match (settled_before, st) {
            (Some(t), Some((_, Some(m)))) => *m <= t,
            _ => true,
        };
        if (now.ports != old.ports && settled(&now.ports))
            || (now.ipsynd != old.ipsynd && settled(&now.ipsynd))
        {
            return TableChange::Everything;
        }
        if now.clients_unlisted {
            // Unable to look: every client would seem gone. Compared at the next rescan.
            return TableChange::Nothing;
        }
        let mut names: Vec<String> = now
            .clients
            .iter()
            .filter(|(n, st)| old.clients.get(*n) != Some(st) && settled(&Some(**st)))
            .map(|(n, _)| n.to_string())
            .collect();
        names.extend(
            old.clients
                .keys()
                .filter(|n| !now.clients.contains_key(*n))
                .map(|n| n.to_string()),
        );
        if names.is_empty() {
            TableChange::Nothing
        } else {
            TableChange::Clients(names)
        }
    }

    /// These client files changed (or are to be read again): their fingerprints are taken
    /// now and a read-ahead of theirs is dropped; the other clients, `PORTS` and `IPSYND`
    /// stay as they are.
    pub fn forget_clients<'a>(&mut self, names: impl IntoIterator<Item = &'a String>) {
        for n in names {
            self.ahead.remove(n);
            match stamp(&self.paths.clients.join(n)) {
                Some(st) => self.fingerprint.clients.insert(n.as_str().into(), st),
                None => self.fingerprint.clients.remove(n.as_str()),
            };
        }
    }

    /// The parameters of `client` (uppercase), read now, or taken from a read-ahead. The
    /// second value holds the problems found when the file was parsed now (empty for a
    /// read-ahead: they were returned by `read_ahead`).
    pub fn client(&mut self, client: &str) -> (ClientLookup, Vec<String>) {
        if let Some(c) = self.ahead.remove(client) {
            return (c, Vec::new());
        }
        self.read_client(client)
    }

    /// `client`, read now and kept for the next `client` call (the core, told the file
    /// changed, asks for it at its next turn). One unreadable for want of resources is not
    /// kept.
    pub fn read_ahead(&mut self, client: &str) -> (ClientLookup, Vec<String>) {
        let (found, problems) = self.read_client(client);
        if !matches!(found, ClientLookup::Unreadable(_)) {
            self.ahead.insert(client.to_string(), found.clone());
        }
        (found, problems)
    }

    fn read_client(&mut self, client: &str) -> (ClientLookup, Vec<String>) {
        let path = self.paths.clients.join(client);
        // The fingerprint describes what was read (stamped before reading: a change while
        // reading shows at the next rescan).
        match stamp(&path) {
            Some(st) => self.fingerprint.clients.insert(client.into(), st),
            None => self.fingerprint.clients.remove(client),
        };
        let (found, problems) = match fs::read_to_string(&path) {
            Ok(text) => {
                let (cp, probs) = tables::parse_client(client, &text, &path);
                (
                    ClientLookup::Found(Rc::new(cp)),
                    probs.iter().map(|p| p.to_string()).collect(),
                )
            }
            Err(e) if super::spawn::lacks_resources(&e) => {
                // Not a fact about the file: read it again next time, not from the cache.
                let why = format!("client file {}: {e}", path.display());
                return (ClientLookup::Unreadable(why), Vec::new());
            }
            Err(e) => (
                ClientLookup::Missing(format!("client file {}: {e}", path.display())),
                Vec::new(),
            ),
        };
        (found, problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_caches_and_notices_changes() {
        let root = std::env::temp_dir().join(format!("ipsynd-tablecache-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(root.join("tables/syn/client")).unwrap();
        fs::write(
            root.join("tables/syn/PORTS"),
            "route:a host:h port:1\nnonsense\n",
        )
        .unwrap();
        fs::write(root.join("tables/syn/IPSYND"), "rescan:2\n").unwrap();
        let (mut t, problems) = TableCache::load(&root);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("PORTS:2"), "{problems:?}");
        assert_eq!(t.params.rescan, std::time::Duration::from_secs(2));
        assert_eq!(t.ports.route_ports("A").len(), 1);
        assert_eq!(t.changes_on_disk(None), TableChange::Nothing);

        assert!(matches!(t.client("X").0, ClientLookup::Missing(_)));
        fs::write(root.join("tables/syn/client/X"), "retry:abc\n").unwrap();
        assert_eq!(
            t.changes_on_disk(None),
            TableChange::Clients(vec!["X".into()]),
            "a new client file changes the fingerprint"
        );
        assert_eq!(
            t.reload().len(),
            1,
            "PORTS problems are reported again on reload"
        );
        let (found, probs) = t.client("X");
        assert!(matches!(found, ClientLookup::Found(_)));
        assert_eq!(probs.len(), 1, "retry:abc is reported on parsing");
        // The core keeps what it was given: a lookup is a read, nothing is kept here.
        assert_eq!(t.ahead.len(), 0);
        // A read-ahead is taken by the next lookup, once, its problems said by the read.
        fs::write(root.join("tables/syn/client/X"), "retry:3\nargstyle:bad\n").unwrap();
        let (found, probs) = t.read_ahead("X");
        assert!(matches!(found, ClientLookup::Found(c) if c.retry == 3));
        assert_eq!(probs.len(), 1, "{probs:?}");
        fs::write(root.join("tables/syn/client/X"), "retry:abc\n").unwrap();
        let (found, probs) = t.client("X");
        assert!(
            matches!(found, ClientLookup::Found(c) if c.retry == 3),
            "the read-ahead"
        );
        assert!(probs.is_empty(), "said when read ahead");
        let (found, probs) = t.client("X");
        assert!(
            matches!(found, ClientLookup::Found(c) if c.retry != 3),
            "read again"
        );
        assert_eq!(probs.len(), 1);
        // Forgetting one client reads it again, and only it; PORTS changes everything.
        fs::write(root.join("tables/syn/client/Y"), "retry:1\n").unwrap();
        assert!(matches!(t.client("Y").0, ClientLookup::Found(_)));
        fs::write(root.join("tables/syn/client/X"), "retry:2\n").unwrap();
        fs::remove_file(root.join("tables/syn/client/Y")).unwrap();
        let TableChange::Clients(names) = t.changes_on_disk(None) else {
            panic!("clients only");
        };
        assert_eq!(names, ["X", "Y"]);
        t.forget_clients(&names);
        assert_eq!(t.changes_on_disk(None), TableChange::Nothing);
        assert!(matches!(t.client("Y").0, ClientLookup::Missing(_)));
        let (found, probs) = t.client("X");
        assert!(probs.is_empty());
        assert!(matches!(found, ClientLookup::Found(c) if c.retry == 2));
        fs::write(root.join("tables/syn/PORTS"), "route:b host:h\n").unwrap();
        assert_eq!(t.changes_on_disk(None), TableChange::Everything);
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_client_directory_that_cannot_be_listed_changes_nothing() {
        let root = std::env::temp_dir().join(format!("ipsynd-tablecache3-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(root.join("tables/syn/client")).unwrap();
        fs::write(root.join("tables/syn/client/X"), "retry:1\n").unwrap();
        let (mut t, _) = TableCache::load(&root);
        assert!(matches!(t.client("X").0, ClientLookup::Found(_)));
        // Not a directory any more (ENOTDIR, as EMFILE would): listing fails. Before, that
        // read as "every client file gone", so each rescan said every client had changed.
        fs::remove_dir_all(root.join("tables/syn/client")).unwrap();
        fs::write(root.join("tables/syn/client"), "").unwrap();
        assert_eq!(t.changes_on_disk(None), TableChange::Nothing);
        // A directory that is really gone still takes its clients with it.
        fs::remove_file(root.join("tables/syn/client")).unwrap();
        assert_eq!(
            t.changes_on_disk(None),
            TableChange::Clients(vec!["X".into()])
        );
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_file_still_being_written_is_left_to_inotify() {
        let root = std::env::temp_dir().join(format!("ipsynd-tablecache2-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(root.join("tables/syn/client")).unwrap();
        let (t, _) = TableCache::load(&root);
        // Truncated a moment ago, its writer not done: not read at a rescan.
        let path = root.join("tables/syn/client/X");
        let f = fs::File::create(&path).unwrap();
        let now = SystemTime::now();
        let settled = Some(now - std::time::Duration::from_secs(2));
        assert_eq!(t.changes_on_disk(settled), TableChange::Nothing);
        assert_eq!(
            t.changes_on_disk(None),
            TableChange::Clients(vec!["X".into()])
        );
        // Untouched for longer than that: read (inotify may have missed it).
        f.set_modified(now - std::time::Duration::from_secs(10))
            .unwrap();
        assert_eq!(
            t.changes_on_disk(settled),
            TableChange::Clients(vec!["X".into()])
        );
        fs::write(root.join("tables/syn/PORTS"), "route:a host:h\n").unwrap();
        assert_eq!(
            t.changes_on_disk(settled),
            TableChange::Clients(vec!["X".into()])
        );
        assert_eq!(t.changes_on_disk(None), TableChange::Everything);
        fs::remove_dir_all(&root).unwrap();
    }
}
