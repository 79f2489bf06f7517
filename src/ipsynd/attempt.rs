//! The life of one attempt:
//! flag, per-attempt log, spawn, maxtime, and the verdict when the child has been reaped.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Instant, SystemTime};

use chrono::Local;
use nix::sys::signal::Signal;

use super::argv::{self, AttemptPaths};
use super::control::queue_name;
use super::daemon::{Daemon, Job, JobKind};
use super::fipseq::{expand, split_words, SysVars};
use super::flags::{self, content_prefix};
use super::record::{after_failure, AfterFailure};
use super::spawn::{self, FlagFill, Stdio3};
use super::tables::{ClientParams, PhysPort};
use crate::sys::reap::ExitKind;

/// Everything needed to start one attempt, decided by [`Daemon::dispatch`].
pub struct Plan {
    pub record: String,
    pub client: ClientParams,
    pub attempt: u32,
    pub route: Option<String>,
    pub port: Option<PhysPort>,
}

/// Open a log file for appending (children write their output to it).
pub fn open_append(path: &Path) -> std::io::Result<fs::File> {
    OpenOptions::new().create(true).append(true).open(path)
}

impl Daemon {
    /// Create the flag, write the attempt log's first line, spawn. A spawn failure is a
    /// failed attempt.
    pub(super) fn start_attempt(&mut self, plan: Plan, now: Instant) {
        let cp = &plan.client;
        let ctrl = self.paths.control.join(&plan.record);
        let inode = match fs::metadata(&ctrl) {
            Ok(md) => md.ino(),
            Err(_) => return, // gone meanwhile: nothing to do
        };
        let (file, flag_path, seq) = match flags::create(&self.paths.x, &cp.name, &mut self.seq) {
            Ok(v) => v,
            Err(e) => {
                self.log
                    .line(&cp.name, &format!("unable to create the in-use flag: {e}"));
                let timeout = cp.timeout;
                self.record_failure(&plan.record, &cp.name, timeout, now, "no flag");
                return;
            }
        };
        let wall = Local::now();
        let vars = SysVars { seq, now: wall };
        let log_path = self
            .paths
            .logsyn
            .join(argv::attempt_log_name(&cp.name, &wall));
        let port_label = plan
            .port
            .as_ref()
            .map(|p| format!("{}:{}", p.host, p.port))
            .unwrap_or_default();
        let fill = FlagFill {
            file: &file,
            prefix: content_prefix(
                plan.route.as_deref(),
                plan.port.as_ref().map(|p| p.host.as_str()),
                plan.port.as_ref().map_or(0, |p| p.port),
            ),
            suffix: format!(
                " {}\n",
                SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs())
            ),
        };
        let (argv, kind, stdin) = if let Some(ftpcmd) = &cp.useftp {
            match super::ftp::prepare(self, cp, ftpcmd, plan.port.as_ref(), seq) {
                Ok(Some((argv, job, stdin))) => (argv, JobKind::Ftp(job), stdin),
                Ok(None) => {
                    // Nothing queued: nothing to send, the request is fulfilled.
                    drop(file);
                    let _ = fs::remove_file(&flag_path);
                    let _ = fs::remove_file(&ctrl);
                    self.log.line(
                        &cp.name,
                        "ftp: queue empty, nothing to send; record removed",
                    );
                    self.records.remove(&plan.record);
                    return;
                }
                Err(e) => {
                    drop(file);
                    let _ = fs::remove_file(&flag_path);
                    self.log.line(&cp.name, &format!("ftp: {e}"));
                    self.records.get_mut(&plan.record).expect("record").attempts = plan.attempt;
                    self.record_failure(
                        &plan.record,
                        &cp.name,
                        cp.timeout,
                        now,
                        "ftp set-up failed",
                    );
                    return;
                }
            }
        } else {
            let program = self
                .tables
                .params
                .ipsyn
                .clone()
                .unwrap_or_else(|| self.paths.root.join("bin/ipsyn"));
            let style = argv::effective_style(cp, self.tables.params.argstyle);
            let defhost = self
                .tables
                .params
                .defhost
                .clone()
                .unwrap_or_else(|| self.defhost.clone());
            let paths = AttemptPaths {
                queue: queue_name(&cp.name),
                log: log_path.clone(),
                inuse: flag_path.clone(),
                ctrl: ctrl.clone(),
            };
            let argv = argv::build_argv(
                cp,
                &program,
                plan.port.as_ref(),
                style,
                &defhost,
                &paths,
                &vars,
            );
            (argv, JobKind::Transmitter, Stdio::null())
        };
        let display = match &kind {
            JobKind::Ftp(j) => {
                format!("{} < {}", argv::display_command(&argv), j.cmdfile.display())
            }
            JobKind::Transmitter => argv::display_command(&argv),
        };
        let out = open_append(&log_path).and_then(|mut f| {
            writeln!(f, "{display}")?;
            Ok(f)
        });
        let (stdout, stderr) = match out.and_then(|f| Ok((f.try_clone()?, f))) {
            Ok((a, b)) => (Stdio::from(a), Stdio::from(b)),
            Err(e) => {
                self.log.line(
                    &cp.name,
                    &format!("unable to write {}: {e}", log_path.display()),
                );
                (Stdio::null(), Stdio::null())
            }
        };
        let log_offset = fs::metadata(&log_path).map_or(0, |m| m.len());
        let res = spawn::spawn(
            &argv,
            Stdio3 {
                stdin,
                stdout,
                stderr,
            },
            Some(fill),
            &self.paths.root,
        );
        drop(file);
        let rec = self.records.get_mut(&plan.record).expect("record");
        rec.attempts = plan.attempt;
        rec.retry = cp.retry;
        rec.port = port_label.clone();
        match res {
            Ok(pid) => {
                rec.running = Some(pid);
                rec.inode = inode;
                rec.state = "running";
                rec.next_at = None;
                rec.next_wall = None;
                let mut kind = kind;
                if let JobKind::Ftp(j) = &mut kind {
                    j.log_offset = log_offset;
                }
                let maxkill = cp
                    .maxkill
                    .as_ref()
                    .map(|m| split_words(&expand(m, &cp.fields, &vars)));
                self.jobs.insert(
                    pid,
                    Job {
                        record: plan.record.clone(),
                        client: cp.name.clone(),
                        attempt: plan.attempt,
                        flag: flag_path,
                        log: log_path,
                        started: now,
                        deadline: (cp.maxtime > 0)
                            .then(|| now + std::time::Duration::from_secs(cp.maxtime)),
                        killed: false,
                        maxkill,
                        timeout: cp.timeout,
                        kind,
                    },
                );
                let via = match (&plan.route, port_label.is_empty()) {
                    (Some(r), false) => format!(" route {r} port {port_label}"),
                    (Some(r), true) => format!(" route {r}"),
                    (None, _) => String::new(),
                };
                self.log.line(
                    &cp.name,
                    &format!(
                        "attempt {}/{} started{via} pid {pid}: {display}",
                        plan.attempt, cp.retry
                    ),
                );
            }
            Err(e) => {
                let _ = fs::remove_file(&flag_path);
                let errno = e.raw_os_error().unwrap_or(0);
                let msg = format!("Execlp error {errno} ({}: {e})", argv[0]);
                if let Ok(mut f) = open_append(&log_path) {
                    let _ = writeln!(f, "{msg}");
                }
                self.log.line(&cp.name, &msg);
                if let JobKind::Ftp(j) = &kind {
                    let _ = fs::remove_file(&j.cmdfile);
                }
                let timeout = cp.timeout;
                self.record_failure(&plan.record, &cp.name, timeout, now, "could not start");
            }
        }
    }

    /// A failed attempt (already counted in `attempts`): schedule the next or give up.
    pub fn record_failure(
        &mut self,
        record: &str,
        client: &str,
        timeout: u64,
        now: Instant,
        why: &str,
    ) {
        let Some(r) = self.records.get_mut(record) else {
            return;
        };
        r.running = None;
        match after_failure(r.attempts, r.retry, timeout) {
            AfterFailure::RetryIn(d) => {
                r.next_at = Some(now + d);
                r.next_wall = Some(SystemTime::now() + d);
                r.state = "retry-wait";
                let msg = format!(
                    "attempt {}/{} failed ({why}); next attempt in {}s",
                    r.attempts,
                    r.retry,
                    d.as_secs()
                );
                self.log.line(client, &msg);
            }
            AfterFailure::GiveUp => {
                let n = r.attempts;
                self.records.remove(record);
                let path = self.paths.control.join(record);
                let removed = match fs::remove_file(&path) {
                    Ok(()) => "control record deleted".to_string(),
                    Err(e) => format!("unable to delete {}: {e}", path.display()),
                };
                self.log.line(
                    client,
                    &format!("gave up after {n} attempts ({why}); {removed}; queued files kept"),
                );
            }
        }
    }

    /// The child `pid` of `job` has been reaped.
    pub fn finish_attempt(&mut self, pid: i32, mut job: Job, how: ExitKind) {
        let now = Instant::now();
        if let JobKind::Ftp(f) = &mut job.kind {
            super::ftp::finish(self, &job.client, &job.record, &job.log, f, how);
            // ipsynd is the transmitter in FTP mode: it removes its own flag.
            let _ = fs::remove_file(&job.flag);
        } else if job.killed {
            let _ = fs::remove_file(&job.flag);
        } else if job.flag.exists() {
            self.log.line(
                &job.client,
                &format!(
                    "transmitter pid {pid} ended without deleting its flag {}",
                    job.flag.display()
                ),
            );
        }
        let ctrl = self.paths.control.join(&job.record);
        let same_inode = self
            .records
            .get(&job.record)
            .map(|r| r.inode)
            .and_then(|ino| fs::metadata(&ctrl).ok().map(|m| m.ino() == ino))
            .unwrap_or(false);
        let secs = now.duration_since(job.started).as_secs();
        if !same_inode {
            self.log.line(
                &job.client,
                &format!(
                    "attempt {} done ({how}, {secs}s): transmission complete",
                    job.attempt
                ),
            );
            // The record is gone (or is a new request under the same name).
            self.records.remove(&job.record);
            return;
        }
        let why = if job.killed {
            format!("killed after maxtime, {how}")
        } else {
            format!("{how}, control record still there")
        };
        self.record_failure(&job.record, &job.client, job.timeout, now, &why);
    }

    /// maxtime passed: run maxkill (pid appended) or TERM the group; KILL after the grace.
    pub fn kill_overrun(&mut self, pid: i32, now: Instant) {
        let grace = self.tables.params.grace;
        let Some(job) = self.jobs.get_mut(&pid) else {
            return;
        };
        job.killed = true;
        let client = job.client.clone();
        let secs = now.duration_since(job.started).as_secs();
        match job.maxkill.clone() {
            Some(mut words) if !words.is_empty() => {
                words.push(pid.to_string());
                let out = open_append(&job.log).ok();
                let stdio = Stdio3 {
                    stdin: Stdio::null(),
                    stdout: out
                        .as_ref()
                        .and_then(|f| f.try_clone().ok())
                        .map_or(Stdio::null(), Stdio::from),
                    stderr: out.map_or(Stdio::null(), Stdio::from),
                };
                match spawn::spawn(&words, stdio, None, &self.paths.root) {
                    Ok(kpid) => {
                        self.helpers.insert(kpid, client.clone());
                        self.kill_after.push((pid, now + grace, client.clone()));
                        self.log.line(
                            &client,
                            &format!(
                                "pid {pid} over maxtime ({secs}s): maxkill started: {}",
                                words.join(" ")
                            ),
                        );
                    }
                    Err(e) => {
                        spawn::kill_group(pid, Signal::SIGKILL);
                        self.log.line(
                            &client,
                            &format!("pid {pid} over maxtime ({secs}s): maxkill could not start ({e}); SIGKILL sent"),
                        );
                    }
                }
            }
            _ => {
                spawn::kill_group(pid, Signal::SIGTERM);
                self.kill_after.push((pid, now + grace, client.clone()));
                self.log.line(
                    &client,
                    &format!("pid {pid} over maxtime ({secs}s): SIGTERM sent to its process group"),
                );
            }
        }
    }
}
