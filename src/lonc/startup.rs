//! lonc start-up: `-n` checking, and everything the parent does before its main loop (spec §2
//! up to the first probes, §6, §7.8): config, user check, "already running", hosts.tab,
//! daemonizing, pid file, the `Starting` line. Then it hands over to `supervisor`.
//!
//! Every failure here is fatal and maps to a documented exit code; after the hand-over the
//! daemon must not die of anything recoverable.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use nix::unistd::{fork, ForkResult};

use super::config::{lon_tab_dir_of, ConfigError, LoncConfig, Problem};
use super::hosts::{load_hosts, Host};
use super::log::Logger;
use super::process::{close_inherited_fds, create_private_dir};
pub use super::process::{EXIT_OK, EXIT_RUNNING, EXIT_STARTUP, EXIT_USAGE};
use super::{preflight, supervisor};
use crate::sys::pidfile::live_pid_in;
use crate::sys::sig::SignalPipe;
use crate::sys::stdio::{warn, Out};

/// Command-line choices.
pub struct Options {
    pub config: PathBuf,
    pub foreground: bool,
}

/// `lonc -n`: everything a real start would check (config, hosts.tab, the user, the
/// directories), every problem as `file:line: error|warning: ...` sorted by file and line,
/// then the plan and a summary. hosts.tab is checked even when the config has fatal errors,
/// as long as the config names `lonTabDir`.
pub fn check(config: &Path) -> i32 {
    let mut out = Out::stdout();
    let mut problems: Vec<Problem> = Vec::new();
    let mut cfg = None;
    let mut tab_dir = None;
    match std::fs::read(config) {
        Err(e) => problems.push(Problem::fatal(config, 0, format!("can't read: {e}"))),
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            tab_dir = lon_tab_dir_of(&text, config);
            match LoncConfig::parse(&text, config) {
                Ok((c, ps)) => {
                    problems.extend(ps);
                    problems.extend(preflight::environment_problems(&c));
                    cfg = Some(c);
                }
                Err(ConfigError::Invalid(ps)) => problems.extend(ps),
                Err(e) => problems.push(Problem::fatal(config, 0, e.to_string())),
            }
        }
    }
    let hosts_tab = cfg
        .as_ref()
        .map(LoncConfig::hosts_tab)
        .or_else(|| tab_dir.map(|d| d.join("hosts.tab")));
    let mut hosts = Vec::new();
    if let Some(tab) = &hosts_tab {
        match load_hosts(tab) {
            Ok((h, hp)) => {
                hosts = h;
                problems.extend(hp);
            }
            Err(e) => problems.push(Problem::fatal(tab, 0, e.to_string())),
        }
    }
    // Stable: problems of one line keep the order they were found in.
    problems.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    for p in &problems {
        out.line(&p.report());
    }
    let errors = problems.iter().filter(|p| p.fatal).count();
    let warnings = problems.len() - errors;
    if let Some(cfg) = &cfg {
        print_plan(&mut out, cfg, &hosts);
    }
    let counts = format!(
        "{errors} error{}, {warnings} warning{}",
        plural(errors),
        plural(warnings)
    );
    if errors > 0 {
        out.line(&format!("configuration has errors ({counts})"));
        EXIT_STARTUP
    } else if warnings > 0 {
        out.line(&format!("configuration OK ({counts})"));
        EXIT_OK
    } else {
        out.line("configuration OK");
        EXIT_OK
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// What a start would do: the local host, the files, and one line per host.
fn print_plan(out: &mut Out, cfg: &LoncConfig, hosts: &[Host]) {
    out.line(&format!(
        "local host {}; user {}; pid file {}; log {}",
        cfg.lon_host_id,
        cfg.user,
        cfg.pid_file().display(),
        cfg.log_file().display()
    ));
    out.line(&format!(
        "would start up to {} children (one per host that answers the probe):",
        hosts.len()
    ));
    for h in hosts {
        let probe = if h.name.trim().is_empty() {
            &h.ip
        } else {
            &h.name
        };
        out.line(&format!(
            "  {}: lond at {}:{}, socket {}, probe {}:{}",
            h.id,
            h.ip,
            cfg.lond_port,
            cfg.socket_path(&h.id).display(),
            probe,
            cfg.probe_port
        ));
    }
}

fn print_config_error(e: &ConfigError, out: &mut Out) {
    match e {
        ConfigError::Invalid(ps) => {
            for p in ps {
                out.line(&p.to_string());
            }
        }
        other => out.line(&other.to_string()),
    }
}

/// Start the daemon; returns the process exit code (the daemon itself exits from its loop).
pub fn run(opts: &Options) -> i32 {
    // Whatever fds the starter leaked to us (not close-on-exec) would be held for the
    // daemon's lifetime; nothing of ours is open yet, so close them all first.
    close_inherited_fds();
    let mut err = Out::stderr();
    let (cfg, problems) = match LoncConfig::load(&opts.config) {
        Ok(x) => x,
        Err(e) => {
            err.text("lonc: ");
            print_config_error(&e, &mut err);
            return EXIT_STARTUP;
        }
    };
    let mut log = Logger::new(cfg.log_file(), cfg.perm_log_file(), cfg.syslog.clone());
    super::log::install_abnormal_exit_hook(cfg.log_file());
    if let Err(e) = crate::sys::logfile::open_append(&cfg.log_file(), crate::sys::logfile::LOG_MODE)
    {
        warn(&format!(
            "lonc: cannot write {}: {e}",
            cfg.log_file().display()
        ));
        return EXIT_STARTUP;
    }
    log.status("Check user ID");
    if let Some(p) = preflight::user_problem(&cfg) {
        warn(&p.msg);
        log.log(&format!("CRITICAL: {}", p.msg));
        mail_admins(&cfg, &p.msg);
        return EXIT_STARTUP;
    }
    if let Some(pid) = live_pid_in(&cfg.pid_file(), "lonc") {
        let msg = format!("lonc already running (pid {pid})");
        warn(&msg);
        log.log(&format!("CRITICAL: {msg}"));
        return EXIT_RUNNING;
    }
    let (hosts, hproblems) = match load_hosts(&cfg.hosts_tab()) {
        Ok(x) => x,
        Err(e) => {
            err.text("lonc: ");
            print_config_error(&e, &mut err);
            return EXIT_STARTUP;
        }
    };
    if let Err(e) = create_private_dir(&cfg.lon_sock_dir) {
        warn(&format!(
            "lonc: cannot create {}: {e}",
            cfg.lon_sock_dir.display()
        ));
        return EXIT_STARTUP;
    }
    if let Some(status_dir) = cfg.status_txt().parent() {
        // Made now so it is not reported as missing; if it cannot be, that is reported below.
        let _ = create_private_dir(status_dir);
    }
    // StrictModes: a directory another local user can write is refused before we trust it.
    let env = preflight::environment_problems(&cfg);
    let fatal: Vec<&Problem> = env.iter().filter(|p| p.fatal).collect();
    if !fatal.is_empty() {
        for p in &fatal {
            let msg = format!("refusing to start: {p}");
            warn(&format!("lonc: {msg}"));
            log.log(&format!("CRITICAL: {msg}"));
        }
        return EXIT_STARTUP;
    }
    let warnings: Vec<&Problem> = problems
        .iter()
        .chain(hproblems.iter())
        .chain(env.iter())
        .collect();
    for p in &warnings {
        warn(&format!("lonc: warning: {p}"));
    }

    log.status("Fork and dissociate");
    let ready_fd = if opts.foreground {
        None
    } else {
        match daemonize() {
            Ok(fd) => Some(fd),
            Err(e) => {
                warn(&format!("lonc: cannot fork: {e}"));
                return EXIT_STARTUP;
            }
        }
    };
    log.after_fork();
    log.set_echo_stderr(opts.foreground);

    log.status("Write PID");
    let pid_file = cfg.pid_file();
    if let Err(e) = crate::sys::pidfile::write(&pid_file) {
        warn(&format!("lonc: cannot write {}: {e}", pid_file.display()));
        return EXIT_STARTUP;
    }
    let sig = match SignalPipe::new(&[
        libc::SIGCHLD,
        libc::SIGTERM,
        libc::SIGINT,
        libc::SIGHUP,
        libc::SIGUSR1,
        libc::SIGQUIT,
    ]) {
        Ok(s) => s,
        Err(e) => {
            warn(&format!("lonc: cannot set up signals: {e}"));
            let _ = std::fs::remove_file(&pid_file);
            return EXIT_STARTUP;
        }
    };
    log.log("CRITICAL: ---------- Starting ----------");
    for p in &warnings {
        log.log(&format!("WARNING: {p}"));
    }
    if let Some(fd) = ready_fd {
        finish_daemonize(fd);
    }
    supervisor::start(cfg, hosts, pid_file, log, sig, opts.foreground)
}

/// Mail the admins about a fatal start-up problem, if a mail program exists (1.29: `mailto`).
fn mail_admins(cfg: &LoncConfig, msg: &str) {
    let to: Vec<&str> = [cfg.adm_email.as_deref(), cfg.sys_email.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    if to.is_empty() {
        return;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let prog = ["mailto", "mail"].into_iter().find_map(|p| {
        std::env::split_paths(&path)
            .map(|d| d.join(p))
            .find(|f| f.is_file())
    });
    let Some(prog) = prog else { return };
    let subj = format!("LON: {} User ID mismatch", cfg.lon_host_id);
    if let Ok(mut c) = std::process::Command::new(prog)
        .arg("-s")
        .arg(subj)
        .arg(to.join(","))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
    {
        if let Some(mut i) = c.stdin.take() {
            let _ = writeln!(i, "{msg}");
        }
        let _ = c.wait();
    }
}

/// Fork; the original process waits for the daemon's "pid file written" byte and exits with
/// 0 (got it) or 1 (the daemon died first). Returns the write end in the daemon.
fn daemonize() -> std::io::Result<std::os::fd::OwnedFd> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    // SAFETY: single-threaded here (no children, no helper threads yet).
    match unsafe { fork() }? {
        ForkResult::Parent { .. } => {
            drop(w);
            let mut f = std::fs::File::from(r);
            let mut b = [0u8; 1];
            let ok = matches!(f.read(&mut b), Ok(1));
            std::process::exit(if ok { EXIT_OK } else { EXIT_STARTUP });
        }
        ForkResult::Child => {
            drop(r);
            nix::unistd::setsid()?;
            Ok(w)
        }
    }
}

/// Tell the waiting launcher we are up, then detach stdio.
fn finish_daemonize(fd: std::os::fd::OwnedFd) {
    let mut f = std::fs::File::from(fd);
    let _ = f.write_all(b"k");
    drop(f);
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        use std::os::fd::AsRawFd;
        for target in 0..=2 {
            let _ = nix::unistd::dup2(null.as_raw_fd(), target);
        }
    }
}
