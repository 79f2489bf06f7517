//! ipsyn, the default transmitter, and its receiver `ipsyn-recv`.
//!
//! ipsynd starts `ipsyn -c CLIENT -q queue [-s host -p port] -l LOG -r INUSE -z CTRL`.
//! ipsyn sends every regular non-dot file of `$FIP_ROOT/spool/syn/<queue>` (name order) to
//! `host:port` over TCP using the framing of [`wire`], deletes each file once the receiver
//! acknowledged it, deletes the control file when everything went, and always deletes the
//! in-use flag. `ipsyn-recv` is the other end: it stores each file atomically in a
//! directory and acknowledges it.
//!
//! A program of its own beside the daemon: it knows the FIP tree through [`crate::fip`]
//! (root, queue listing, the client file for its route) and imports nothing of
//! `crate::ipsynd`; what ipsynd passes it is only its command line (see [`args`]).

pub mod args;
pub mod conn;
pub mod recv;
pub mod send;
pub mod wire;
