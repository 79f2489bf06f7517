//! The tables of `tables/syn`: the client parameter files, `PORTS` and the optional `IPSYND`
//! file (ipsynd reads them all, ipsyn reads a client file for its route).
//!
//! Every parser is pure (text in, value plus problems out): a bad line never stops the
//! parse, it becomes a [`Problem`] naming `file:line` and the rest of the file is used.
//! Case rules (spec §3, §4): route/alt names are forced uppercase, host names lowercase,
//! script paths and field values keep their case; keywords are case-insensitive.
//!
//! One file per table ([`client`], [`ports`], [`daemon_params`]) over the shared line
//! grammar ([`line`]); this module only names them, so the children import each other
//! and never their parent.

mod client;
mod daemon_params;
mod line;
mod ports;

pub use client::{
    parse_client, ArgStyle, ClientParams, TryAlt, DEFAULT_FTP, MAXTIME_MAX, PRIOR_DEFAULT,
    PRIOR_RANGE, RETRY_DEFAULT, RETRY_RANGE, TIMEOUT_DEFAULT, TIMEOUT_MAX, TRYALT_DEFAULT,
    TRYALT_RANGE,
};
pub use daemon_params::{parse_ipsynd, DaemonParams};
pub use line::{Problem, Severity};
pub use ports::{PhysPort, PortLine, PortsTable};

#[cfg(test)]
mod tests;
