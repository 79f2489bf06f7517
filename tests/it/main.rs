//! All integration tests in one binary: they run the real daemons (built by cargo for the
//! same profile) against real peers, sockets, files and signals. One binary keeps building
//! and linking cheap enough to run the suite in both the debug and the release profile.

// Helpers shared by the test modules; not every module uses every helper.
#[allow(dead_code)]
mod ipsynd_common;
#[allow(dead_code)]
mod lonc_common;
#[allow(dead_code)]
mod netbed;
#[allow(dead_code)]
mod pkg_common;
mod prereq;

mod bench_tools;
mod fuzz_replay;
mod ipsyn_transfer;
mod ipsynd_basic;
mod ipsynd_check;
mod ipsynd_cli;
mod ipsynd_fds;
mod ipsynd_ftp;
mod ipsynd_ipsyn;
mod ipsynd_lifecycle;
mod ipsynd_ports;
mod ipsynd_trust;
mod layout_imports;
mod lonc_child_ops;
mod lonc_cli;
mod lonc_delayed;
mod lonc_faults;
mod lonc_link_loss;
mod lonc_links;
mod lonc_recheck;
mod lonc_relay;
mod lonc_reload;
mod lonc_signals;
mod lonc_standin;
mod lonc_startup;
mod lonc_status;
mod lonc_trust;
mod netbed_ipsynd;
mod netbed_lonc;
mod pkg_initd;
mod pkg_install;
mod pkg_logrotate;
mod pkg_man;
mod pkg_systemd;
mod pkg_watchdog;
mod readme_figures;
mod sys_files;
mod sys_syslog;
