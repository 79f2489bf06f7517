//! The life of one attempt: flag, per-attempt log, spawn, and the verdict when the child
//! has been reaped (ending one that overruns `maxtime` is `kill.rs`).

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use chrono::Local;

use super::argv::{self, AttemptPaths};
use super::daemon::{Daemon, Job, JobKind};
use super::fipseq::{expand, split_words, SysVars};
use super::flags::{self, content_prefix};
use super::record::{after_failure, AfterFailure, RecordId, RecordState};
use super::spawn::{self, lacks_resources, out_of_fds, FlagFill, Stdio3};
use crate::fip::paths::queue_name;
use crate::fip::tables::{ClientParams, PhysPort};
use crate::sys::reap::ExitKind;

/// Everything needed to start one attempt, decided by [`Daemon::dispatch`].
pub struct Plan {
    pub record: String,
    pub client: ClientParams,
    pub attempt: u32,
    pub route: Option<String>,
    pub port: Option<PhysPort>,
}

/// Open a per-attempt log for appending (children write their output to it): mode 0600, as
/// it holds traffic; never through a symlink (`sys::logfile`).
pub fn open_append(path: &Path) -> std::io::Result<fs::File> {
    crate::sys::logfile::open_append(path, crate::sys::logfile::SECRET_MODE)
}

/// The command of one attempt, ready to spawn.
struct Command {
    argv: Vec<String>,
    kind: JobKind,
    stdin: Stdio,
    /// The first line of the attempt log (the manual's display form).
    display: String,
}

/// What an attempt whose child runs keeps, besides its plan and command.
struct Started {
    flag: std::path::PathBuf,
    log: std::path::PathBuf,
    /// Where the child's output starts in the log.
    log_offset: u64,
    /// The control record at the start (see `Record::id`).
    record_id: RecordId,
    /// The expanded `maxkill:` words (same FipSeq values as the attempt's argv).
    maxkill: Option<Vec<String>>,
}

/// `host:port` for the status, empty without a port.
fn port_text(port: Option<&PhysPort>) -> String {
    port.map(|p| format!("{}:{}", p.host, p.port))
        .unwrap_or_default()
}

/// Why an attempt ends before its spawn.
enum Early {
    /// FTP mode with an empty queue: nothing to send, the request is fulfilled.
    NothingToSend,
    /// Counted as a failed attempt.
    Failed(String),
    /// The system is short of resources (file descriptors): wait, not counted.
    Deferred(String),
}

/// `ROUTE host port ` + pid + ` start\n`, the in-use flag's one line (spec §10.1).
fn flag_fill<'a>(file: &'a fs::File, plan: &Plan) -> FlagFill<'a> {
    FlagFill {
        file,
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
    }
}

impl Daemon {
    /// Create the flag, build the command, write the attempt log's first line, spawn. What
    /// a spawn that fails means is [`Daemon::spawn_failed`]'s.
    pub(super) fn start_attempt(&mut self, plan: Plan, now: Instant) {
        let name = plan.client.name.clone();
        let ctrl = self.paths.control.join(&plan.record);
        let Ok(id) = fs::metadata(&ctrl).map(|m| RecordId::of(&m)) else {
            return; // gone meanwhile: nothing to do
        };
        let (file, flag_path, seq) = match flags::create(&self.paths.x, &name, &mut self.seq) {
            Ok(v) => v,
            Err(e) => {
                // A system problem, not the client's: wait, but do not count an attempt
                // (counting could end in deleting the request).
                self.log
                    .line(&name, &format!("unable to create the in-use flag: {e}"));
                self.defer(&plan.record, plan.client.timeout, now);
                return;
            }
        };
        let wall = Local::now();
        let vars = SysVars { seq, now: wall };
        let log_path = self.paths.logsyn.join(argv::attempt_log_name(&name, &wall));
        let mut cmd = match self.command(&plan, &flag_path, &ctrl, &log_path, &vars) {
            Ok(c) => c,
            Err(early) => {
                drop(file);
                let _ = fs::remove_file(&flag_path);
                self.end_early(&plan, early, now);
                return;
            }
        };
        let Some((stdout, stderr, log_offset)) =
            self.open_attempt_log(&name, &log_path, &cmd.display)
        else {
            // Out of file descriptors: no attempt without its log; wait, not counted.
            drop(file);
            let _ = fs::remove_file(&flag_path);
            if let JobKind::Ftp(j) = &cmd.kind {
                let _ = fs::remove_file(&j.cmdfile);
            }
            self.defer(&plan.record, plan.client.timeout, now);
            return;
        };
        let stdio = Stdio3 {
            // The child's; what stays in `cmd` is for the job and the log.
            stdin: std::mem::replace(&mut cmd.stdin, Stdio::null()),
            stdout,
            stderr,
        };
        let res = spawn::spawn(
            &cmd.argv,
            stdio,
            Some(flag_fill(&file, &plan)),
            &self.paths.root,
        );
        drop(file);
        match res {
            Ok(pid) => {
                let cp = &plan.client;
                let started = Started {
                    flag: flag_path,
                    log: log_path,
                    log_offset,
                    record_id: id,
                    maxkill: cp
                        .maxkill
                        .as_ref()
                        .map(|m| split_words(&expand(m, &cp.fields, &vars))),
                };
                self.attempt_started(plan, pid, cmd, started, now);
            }
            Err(e) => self.spawn_failed(&plan, &cmd, &flag_path, &log_path, &e, now),
        }
    }

    /// The attempt's child runs: remember it as a job and the record as running.
    fn attempt_started(
        &mut self,
        plan: Plan,
        pid: i32,
        cmd: Command,
        started: Started,
        now: Instant,
    ) {
        let cp = &plan.client;
        let rec = self.records.get_mut(&plan.record).expect("record");
        rec.attempts = plan.attempt;
        rec.retry = cp.retry;
        rec.port = port_text(plan.port.as_ref());
        rec.running = Some(pid);
        rec.id = started.record_id;
        rec.state = RecordState::Running;
        rec.next_at = None;
        rec.next_wall = None;
        let mut kind = cmd.kind;
        if let JobKind::Ftp(j) = &mut kind {
            j.log_offset = started.log_offset;
        }
        let job = Job {
            record: plan.record.clone(),
            client: cp.name.clone(),
            attempt: plan.attempt,
            flag: started.flag,
            log: started.log,
            started: now,
            deadline: (cp.maxtime > 0).then(|| now + Duration::from_secs(cp.maxtime)),
            killed: false,
            kill_reason: "",
            maxkill: started.maxkill,
            timeout: cp.timeout,
            kind,
        };
        self.jobs.insert(pid, job);
        let via = match (&plan.route, &plan.port) {
            (Some(r), Some(p)) => format!(" route {r} port {}:{}", p.host, p.port),
            (Some(r), None) => format!(" route {r}"),
            (None, _) => String::new(),
        };
        self.log.line(
            &cp.name,
            &format!(
                "attempt {}/{} started{via} pid {pid}: {}",
                plan.attempt, cp.retry, cmd.display
            ),
        );
    }

    /// No child runs: its flag (and FTP command file) go. A fork that failed (process limit,
    /// memory) or a lack of file descriptors (the spawn's pipe or `/dev/null`) is a system problem, not the client's: like a flag that cannot be created, the
    /// record waits without counting an attempt (counting could end in deleting the
    /// request). A program that could not be executed is a failed attempt.
    fn spawn_failed(
        &mut self,
        plan: &Plan,
        cmd: &Command,
        flag: &Path,
        log: &Path,
        e: &std::io::Error,
        now: Instant,
    ) {
        let _ = fs::remove_file(flag);
        if let JobKind::Ftp(j) = &cmd.kind {
            let _ = fs::remove_file(&j.cmdfile);
        }
        let name = &plan.client.name;
        let fork_failed = lacks_resources(e);
        let msg = if out_of_fds(e) {
            format!("out of file descriptors ({e}); not counted as an attempt")
        } else if fork_failed {
            format!("could not fork ({e}); not counted as an attempt")
        } else {
            let errno = e.raw_os_error().unwrap_or(0);
            format!("Execlp error {errno} ({}: {e})", cmd.argv[0])
        };
        if let Ok(mut f) = open_append(log) {
            let _ = writeln!(f, "{msg}");
        }
        self.log.line(name, &msg);
        if fork_failed {
            self.defer(&plan.record, plan.client.timeout, now);
            return;
        }
        if let Some(rec) = self.records.get_mut(&plan.record) {
            rec.attempts = plan.attempt;
            rec.retry = plan.client.retry;
            rec.port = port_text(plan.port.as_ref());
        }
        self.record_failure(
            &plan.record,
            name,
            plan.client.timeout,
            now,
            "could not start",
        );
    }

    /// The argv (transmitter or ftp) of an attempt, built before the fork.
    fn command(
        &mut self,
        plan: &Plan,
        flag: &Path,
        ctrl: &Path,
        log: &Path,
        vars: &SysVars,
    ) -> Result<Command, Early> {
        let cp = &plan.client;
        if let Some(ftpcmd) = &cp.useftp {
            return match super::ftp::prepare(self, cp, ftpcmd, plan.port.as_ref(), vars.seq) {
                Ok(Some((argv, job, stdin))) => Ok(Command {
                    display: format!(
                        "{} < {}",
                        argv::display_command(&argv),
                        job.cmdfile.display()
                    ),
                    argv,
                    kind: JobKind::Ftp(job),
                    stdin,
                }),
                Ok(None) => Err(Early::NothingToSend),
                Err(e) if lacks_resources(&e) => Err(Early::Deferred(format!(
                    "ftp set-up failed ({e}); not counted as an attempt"
                ))),
                Err(e) => Err(Early::Failed(format!("ftp set-up failed: {e}"))),
            };
        }
        let params = &self.tables.params;
        let program = params
            .ipsyn
            .clone()
            .unwrap_or_else(|| self.paths.root.join("bin/ipsyn"));
        let defhost = params.defhost.as_deref().unwrap_or(&self.defhost);
        let paths = AttemptPaths {
            queue: queue_name(&cp.name),
            log: log.to_path_buf(),
            inuse: flag.to_path_buf(),
            ctrl: ctrl.to_path_buf(),
        };
        let style = argv::effective_style(cp, params.argstyle);
        let argv = argv::build_argv(
            cp,
            &program,
            plan.port.as_ref(),
            style,
            defhost,
            &paths,
            vars,
        );
        Ok(Command {
            display: argv::display_command(&argv),
            argv,
            kind: JobKind::Transmitter,
            stdin: Stdio::null(),
        })
    }

    /// Append the display line to the attempt log and open it as the child's stdout and
    /// stderr; also returns where the child's output will start. `None` when the file
    /// descriptors ran out (the attempt must wait); another error runs the attempt without
    /// its log.
    fn open_attempt_log(
        &mut self,
        client: &str,
        log: &Path,
        display: &str,
    ) -> Option<(Stdio, Stdio, u64)> {
        let opened = open_append(log).and_then(|mut f| {
            writeln!(f, "{display}")?;
            let offset = f.metadata()?.len();
            Ok((f.try_clone()?, f, offset))
        });
        match opened {
            Ok((a, b, offset)) => Some((Stdio::from(a), Stdio::from(b), offset)),
            Err(e) if lacks_resources(&e) => {
                self.log.line(
                    client,
                    &format!(
                        "unable to open {} ({e}); not counted as an attempt",
                        log.display()
                    ),
                );
                None
            }
            Err(e) => {
                self.log
                    .line(client, &format!("unable to write {}: {e}", log.display()));
                Some((Stdio::null(), Stdio::null(), 0))
            }
        }
    }

    fn end_early(&mut self, plan: &Plan, early: Early, now: Instant) {
        let name = &plan.client.name;
        match early {
            Early::NothingToSend => {
                let _ = fs::remove_file(self.paths.control.join(&plan.record));
                self.records.remove(&plan.record);
                self.log
                    .line(name, "ftp: queue empty, nothing to send; record removed");
            }
            Early::Deferred(why) => {
                self.log.line(name, &why);
                self.defer(&plan.record, plan.client.timeout, now);
            }
            Early::Failed(why) => {
                if let Some(r) = self.records.get_mut(&plan.record) {
                    r.attempts = plan.attempt;
                    r.retry = plan.client.retry;
                }
                self.record_failure(&plan.record, name, plan.client.timeout, now, &why);
            }
        }
    }

    /// Try again `timeout` seconds from now without counting an attempt.
    fn defer(&mut self, record: &str, timeout: u64, now: Instant) {
        if let Some(r) = self.records.get_mut(record) {
            r.retry_in(now, Duration::from_secs(timeout.max(1)));
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
                r.retry_in(now, d);
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
        let same_record = self
            .records
            .get(&job.record)
            .map(|r| r.id)
            .and_then(|id| fs::metadata(&ctrl).ok().map(|m| RecordId::of(&m) == id))
            .unwrap_or(false);
        let secs = now.duration_since(job.started).as_secs();
        if !same_record {
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
            format!("{}, {how}", job.kill_reason)
        } else {
            format!("{how}, control record still there")
        };
        self.record_failure(&job.record, &job.client, job.timeout, now, &why);
    }
}
