//! The FIP directory layout below the root, in one place: every path ipsynd or ipsyn builds
//! from the root comes from here. Pure (path arithmetic only, nothing is touched).

use std::path::{Path, PathBuf};

/// `spool/syn/control`: the control records, one per transmission wanted.
pub fn control(root: &Path) -> PathBuf {
    root.join("spool/syn/control")
}

/// The queue directory `spool/syn/<queue>`: the files a client's transmission sends.
pub fn queue_dir(root: &Path, queue: &str) -> PathBuf {
    root.join("spool/syn").join(queue)
}

/// The default queue name of a client (its name in lowercase).
pub fn queue_name(client: &str) -> String {
    client.to_ascii_lowercase()
}

/// `x/`: in-use flags, FTP command files, the pid file and `x/ctl`.
pub fn x(root: &Path) -> PathBuf {
    root.join("x")
}

/// `log/`: ipsynd's own log and status files.
pub fn log(root: &Path) -> PathBuf {
    root.join("log")
}

/// `log/syn`: the per-attempt transmitter logs.
pub fn log_syn(root: &Path) -> PathBuf {
    root.join("log/syn")
}

/// `tables/syn`: the syndication tables.
pub fn tables_syn(root: &Path) -> PathBuf {
    root.join("tables/syn")
}

/// `tables/syn/client`: one parameter file per client.
pub fn client_tables(root: &Path) -> PathBuf {
    tables_syn(root).join("client")
}

/// `tables/syn/client/<CLIENT>`.
pub fn client_table(root: &Path, client: &str) -> PathBuf {
    client_tables(root).join(client)
}

/// `tables/syn/route/<ROUTE>`: `host:` and `port:` of a route without a `PORTS` entry.
pub fn route_table(root: &Path, route: &str) -> PathBuf {
    tables_syn(root).join("route").join(route)
}

/// `tables/syn/PORTS`: the physical ports.
pub fn ports(root: &Path) -> PathBuf {
    tables_syn(root).join("PORTS")
}

/// `tables/syn/IPSYND`: the daemon's own parameters.
pub fn ipsynd_table(root: &Path) -> PathBuf {
    tables_syn(root).join("IPSYND")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fip_layout() {
        let r = Path::new("/fip");
        assert_eq!(control(r), Path::new("/fip/spool/syn/control"));
        assert_eq!(queue_dir(r, "jukebox"), Path::new("/fip/spool/syn/jukebox"));
        assert_eq!(queue_name("JUKEBOX"), "jukebox");
        assert_eq!(x(r), Path::new("/fip/x"));
        assert_eq!(log(r), Path::new("/fip/log"));
        assert_eq!(log_syn(r), Path::new("/fip/log/syn"));
        assert_eq!(tables_syn(r), Path::new("/fip/tables/syn"));
        assert_eq!(client_tables(r), Path::new("/fip/tables/syn/client"));
        assert_eq!(
            client_table(r, "POP"),
            Path::new("/fip/tables/syn/client/POP")
        );
        assert_eq!(route_table(r, "R1"), Path::new("/fip/tables/syn/route/R1"));
        assert_eq!(ports(r), Path::new("/fip/tables/syn/PORTS"));
        assert_eq!(ipsynd_table(r), Path::new("/fip/tables/syn/IPSYND"));
    }
}
