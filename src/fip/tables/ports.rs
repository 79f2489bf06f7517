//! The `tables/syn/PORTS` table: routes, their physical ports and each port's capacity.
//!
//! A physical port is `(host, port)` (port absent = 0). Its capacity is the largest `multi`
//! on any line naming it (default 1), so several routes on one port share it, and one route
//! on several lines may use any of its ports (capacities add up).

use std::fmt;
use std::path::Path;

use super::line::Problem;

/// A physical port: host (lowercase) and port number (0 = none given).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PhysPort {
    pub host: String,
    pub port: u16,
}

impl fmt::Display for PhysPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// One valid line of PORTS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortLine {
    /// Line number in the file (1-based).
    pub line: usize,
    /// Route name, uppercase.
    pub route: String,
    pub phys: PhysPort,
    /// `multi:` if given on this line.
    pub multi: Option<u32>,
    /// `telnet:` flag: telnet transparency off.
    pub telnet: bool,
    /// `rawtelnet:` flag: binary telnet, no escapes.
    pub rawtelnet: bool,
}

/// The parsed PORTS table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortsTable {
    lines: Vec<PortLine>,
}

/// Largest `multi` accepted; anything above is clamped (a typo, not a real device).
const MULTI_MAX: u32 = 10_000;

impl PortsTable {
    /// Parse PORTS text; malformed lines are skipped and reported with their line number.
    pub fn parse(text: &str, path: &Path) -> (PortsTable, Vec<Problem>) {
        let mut table = PortsTable::default();
        let mut problems = Vec::new();
        for (idx, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with(';') {
                continue;
            }
            match parse_line(line, idx + 1) {
                Ok(pl) => table.lines.push(pl),
                Err(msg) => problems.push(Problem::new(
                    path,
                    idx + 1,
                    format!("{msg}; line skipped: {line}"),
                )),
            }
        }
        (table, problems)
    }

    /// The valid lines, in file order. (The queries below `lines` that only tests ask are
    /// compiled for tests only: ipsynd needs a route's ports and a port's capacity; the
    /// telnet flags are the transmitter's business.)
    #[cfg(test)]
    pub fn lines(&self) -> &[PortLine] {
        &self.lines
    }

    /// Whether `route` (any case) has at least one PORTS line.
    #[cfg(test)]
    pub fn has_route(&self, route: &str) -> bool {
        let r = route.to_ascii_uppercase();
        self.lines.iter().any(|l| l.route == r)
    }

    /// The physical ports of `route` (any case) in file order, without duplicates; empty
    /// when the route has no PORTS entry.
    pub fn route_ports(&self, route: &str) -> Vec<PhysPort> {
        let r = route.to_ascii_uppercase();
        let mut out: Vec<PhysPort> = Vec::new();
        for l in self.lines.iter().filter(|l| l.route == r) {
            if !out.contains(&l.phys) {
                out.push(l.phys.clone());
            }
        }
        out
    }

    /// Capacity of a physical port: the largest `multi` on any line naming it, default 1.
    pub fn capacity(&self, p: &PhysPort) -> u32 {
        self.lines
            .iter()
            .filter(|l| &l.phys == p)
            .filter_map(|l| l.multi)
            .max()
            .unwrap_or(1)
    }

    /// Total capacity of a route (sum over its distinct physical ports).
    #[cfg(test)]
    pub fn route_capacity(&self, route: &str) -> u32 {
        self.route_ports(route)
            .iter()
            .map(|p| self.capacity(p))
            .sum()
    }
}

/// Parse one non-comment line of PORTS.
fn parse_line(line: &str, lineno: usize) -> Result<PortLine, String> {
    let mut route = None;
    let mut host = None;
    let mut port = None;
    let mut multi = None;
    let mut telnet = false;
    let mut rawtelnet = false;
    for tok in line.split_whitespace() {
        let (k, v) = tok
            .split_once(':')
            .ok_or_else(|| format!("token {tok:?} is not key:value"))?;
        let k = k.to_ascii_lowercase();
        let dup = |set: bool| {
            if set {
                Err(format!("{k}: given twice"))
            } else {
                Ok(())
            }
        };
        match k.as_str() {
            "route" => {
                dup(route.is_some())?;
                if v.is_empty() {
                    return Err("route: has no value".into());
                }
                route = Some(v.to_ascii_uppercase());
            }
            "host" => {
                dup(host.is_some())?;
                if v.is_empty() {
                    return Err("host: has no value".into());
                }
                host = Some(v.to_ascii_lowercase());
            }
            "port" => {
                dup(port.is_some())?;
                port = Some(
                    v.parse::<u16>()
                        .map_err(|_| format!("port:{v} is not a port number (0..65535)"))?,
                );
            }
            "multi" => {
                dup(multi.is_some())?;
                let n = v
                    .parse::<u64>()
                    .map_err(|_| format!("multi:{v} is not a number"))?;
                if n == 0 {
                    return Err("multi:0 allows no connection".into());
                }
                multi = Some(n.min(MULTI_MAX as u64) as u32);
            }
            // Flags: any value (usually none) sets them.
            "telnet" => telnet = true,
            "rawtelnet" => rawtelnet = true,
            other => return Err(format!("unknown key {other}:")),
        }
    }
    let route = route.ok_or("no route:")?;
    let host = host.ok_or("no host:")?;
    Ok(PortLine {
        line: lineno,
        route,
        phys: PhysPort {
            host,
            port: port.unwrap_or(0),
        },
        multi,
        telnet,
        rawtelnet,
    })
}
