//! The tables ipsynd reads (`PORTS`, `IPSYND`, `client/*`), cached and re-read on change.
//!
//! Changes are noticed by inotify (the daemon marks the cache dirty) and, as a safety net, by a
//! fingerprint of names, sizes and mtimes taken at every rescan. Every problem found while
//! parsing is returned with `file:line` so the daemon logs it; nothing here is fatal.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::tables::{self, ClientParams, DaemonParams, PortsTable};

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
        let syn = root.join("tables/syn");
        TablePaths {
            clients: syn.join("client"),
            ports: syn.join("PORTS"),
            ipsynd: syn.join("IPSYND"),
            syn,
        }
    }
}

/// What a client lookup found.
#[derive(Debug, Clone)]
pub enum ClientLookup {
    Found(Box<ClientParams>),
    /// Missing or unreadable, with the reason for the log.
    Missing(String),
}

/// The parsed tables.
pub struct TableCache {
    pub paths: TablePaths,
    pub ports: PortsTable,
    pub params: DaemonParams,
    clients: HashMap<String, ClientLookup>,
    fingerprint: Vec<(String, u64, Option<SystemTime>)>,
}

fn fingerprint(paths: &TablePaths) -> Vec<(String, u64, Option<SystemTime>)> {
    let mut out = Vec::new();
    let mut stat = |p: &Path| {
        if let Ok(md) = fs::metadata(p) {
            out.push((
                p.to_string_lossy().into_owned(),
                md.len(),
                md.modified().ok(),
            ));
        }
    };
    stat(&paths.ports);
    stat(&paths.ipsynd);
    if let Ok(rd) = fs::read_dir(&paths.clients) {
        let mut names: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
        names.sort();
        for p in names {
            stat(&p);
        }
    }
    out
}

impl TableCache {
    /// Read `PORTS` and `IPSYND` now; problems come back as log lines.
    pub fn load(root: &Path) -> (TableCache, Vec<String>) {
        let paths = TablePaths::new(root);
        let mut t = TableCache {
            ports: PortsTable::parse("", &paths.ports).0,
            params: DaemonParams::default(),
            clients: HashMap::new(),
            fingerprint: Vec::new(),
            paths,
        };
        let problems = t.reload();
        (t, problems)
    }

    /// Re-read everything (client files lazily, on next use).
    pub fn reload(&mut self) -> Vec<String> {
        let mut problems = Vec::new();
        self.fingerprint = fingerprint(&self.paths);
        self.clients.clear();
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

    /// Whether the files changed since the last (re)load, judged by name, size and mtime.
    pub fn changed_on_disk(&self) -> bool {
        fingerprint(&self.paths) != self.fingerprint
    }

    /// The parameters of `client` (uppercase). The second value holds the problems found when
    /// the file was parsed now (empty when it came from the cache).
    pub fn client(&mut self, client: &str) -> (ClientLookup, Vec<String>) {
        if let Some(c) = self.clients.get(client) {
            return (c.clone(), Vec::new());
        }
        let path = self.paths.clients.join(client);
        let (found, problems) = match fs::read_to_string(&path) {
            Ok(text) => {
                let (cp, probs) = tables::parse_client(client, &text, &path);
                (
                    ClientLookup::Found(Box::new(cp)),
                    probs.iter().map(|p| p.to_string()).collect(),
                )
            }
            Err(e) => (
                ClientLookup::Missing(format!("client file {}: {e}", path.display())),
                Vec::new(),
            ),
        };
        self.clients.insert(client.to_string(), found.clone());
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
        assert!(!t.changed_on_disk());

        assert!(matches!(t.client("X").0, ClientLookup::Missing(_)));
        fs::write(root.join("tables/syn/client/X"), "retry:abc\n").unwrap();
        assert!(
            t.changed_on_disk(),
            "a new client file changes the fingerprint"
        );
        // Cached until reloaded.
        assert!(matches!(t.client("X").0, ClientLookup::Missing(_)));
        assert_eq!(
            t.reload().len(),
            1,
            "PORTS problems are reported again on reload"
        );
        let (found, probs) = t.client("X");
        assert!(matches!(found, ClientLookup::Found(_)));
        assert_eq!(probs.len(), 1, "retry:abc is reported once, on parsing");
        assert!(t.client("X").1.is_empty(), "cached the second time");
        fs::remove_dir_all(&root).unwrap();
    }
}
