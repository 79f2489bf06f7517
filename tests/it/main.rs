//! All integration tests in one binary: they run the real daemons (built by cargo for the
//! same profile) against real peers, sockets, files and signals. One binary keeps building
//! and linking cheap enough to run the suite in both the debug and the release profile.

// Helpers shared by the test modules; not every module uses every helper.
#[allow(dead_code)]
mod ipsynd_common;
#[allow(dead_code)]
mod lonc_common;

mod ipsyn_transfer;
mod ipsynd_basic;
mod ipsynd_ftp;
mod ipsynd_ipsyn;
mod ipsynd_lifecycle;
mod ipsynd_ports;
mod lonc_delayed;
mod lonc_faults;
mod lonc_relay;
mod lonc_signals;
mod lonc_standin;
mod lonc_startup;
mod sys_files;
mod sys_syslog;
