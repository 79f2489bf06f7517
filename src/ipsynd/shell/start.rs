//! Carrying out the core's `Start`: flag, argv, per-attempt log, spawn; the answer goes
//! back to the core as `Started` or `StartFailed`. Which failures count as an attempt is
//! decided here only as far as the I/O tells it (a fork that failed, or a lack of file
//! descriptors, is the machine's problem; an exec error is the attempt's).

use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::SystemTime;

use chrono::Local;

use super::{JobFiles, Shell, Spawned};
use crate::fip::paths::queue_name;
use crate::ipsynd::argv::{self, AttemptPaths};
use crate::ipsynd::core::{spawn_failure, Event, Plan, SpawnFailure, StartFailure};
use crate::ipsynd::fipseq::{expand, split_words, SysVars};
use crate::ipsynd::flags::{self, content_prefix};
use crate::ipsynd::ftp::FtpJob;
use crate::ipsynd::record::RecordId;
use crate::ipsynd::spawn::{self, lacks_resources, FlagFill, Io, Stdio3};

/// Open a per-attempt log for appending (children write their output to it): mode 0600, as
/// it holds traffic; never through a symlink (`sys::logfile`).
pub fn open_append(path: &Path) -> std::io::Result<fs::File> {
    crate::sys::logfile::open_append(path, crate::sys::logfile::SECRET_MODE)
}

/// The command of one attempt, ready to spawn.
struct Command {
    argv: Vec<String>,
    ftp: Option<FtpJob>,
    stdin: Io,
    /// The first line of the attempt log (the manual's display form).
    display: String,
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
        suffix: format!(" {}\n", crate::sys::clock::epoch_secs(SystemTime::now())),
    }
}

impl Shell {
    fn start_failed(&mut self, plan: &Plan, why: StartFailure) {
        self.feed(Event::StartFailed {
            record: plan.record.clone(),
            why,
        });
    }

    /// Create the flag, build the command, write the attempt log's first line, spawn.
    pub(super) fn start(&mut self, plan: Plan) {
        let name = plan.client.name.clone();
        let ctrl = self.paths.control.join(&plan.record);
        let Ok(id) = fs::metadata(&ctrl).map(|m| RecordId::of(&m)) else {
            return self.start_failed(&plan, StartFailure::Gone); // gone meanwhile
        };
        let (file, flag_path, seq) = match flags::create(&self.paths.x, &name, &mut self.seq) {
            Ok(v) => v,
            Err(e) => {
                // A system problem, not the client's: wait, but do not count an attempt
                // (counting could end in deleting the request).
                self.log
                    .line(&name, &format!("unable to create the in-use flag: {e}"));
                return self.start_failed(&plan, StartFailure::Deferred);
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
                return self.end_early(&plan, early);
            }
        };
        let Some((stdout, stderr, log_offset)) =
            self.open_attempt_log(&name, &log_path, &cmd.display)
        else {
            // Out of file descriptors: no attempt without its log; wait, not counted.
            drop(file);
            let _ = fs::remove_file(&flag_path);
            if let Some(j) = &cmd.ftp {
                let _ = fs::remove_file(&j.cmdfile);
            }
            return self.start_failed(&plan, StartFailure::Deferred);
        };
        let stdio = Stdio3 {
            // The child's; what stays in `cmd` is for the job and the log.
            stdin: std::mem::replace(&mut cmd.stdin, Io::Null),
            stdout,
            stderr,
        };
        // The exec's outcome comes later (`exec_outcomes`): ipsynd goes on meanwhile.
        let res = spawn::start(
            &cmd.argv,
            stdio,
            Some(flag_fill(&file, &plan)),
            &self.paths.root,
        );
        drop(file);
        match res {
            Ok(sp) => {
                let pid = sp.pid();
                self.spawning.insert(
                    pid,
                    Spawned {
                        sp,
                        program: cmd.argv[0].clone(),
                    },
                );
                let cp = &plan.client;
                let maxkill = cp
                    .maxkill
                    .as_ref()
                    .map(|m| split_words(&expand(m, &cp.fields, &vars)));
                let mut ftp = cmd.ftp;
                if let Some(j) = &mut ftp {
                    j.log_offset = log_offset;
                }
                let flag = flag_path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                self.jobs.insert(
                    pid,
                    JobFiles {
                        log: log_path,
                        flag: flag_path,
                        ftp,
                    },
                );
                self.feed(Event::Started {
                    record: plan.record.clone(),
                    pid,
                    flag,
                    maxkill,
                    display: cmd.display,
                    id,
                });
            }
            Err(e) => self.spawn_failed(&plan, &cmd, &flag_path, &log_path, &e),
        }
    }

    /// The children whose exec's outcome has come: those that run are forgotten here, those
    /// that could not exec are failed attempts (`exec_failed`).
    pub(super) fn exec_outcomes(&mut self) {
        let mut failed = Vec::new();
        self.spawning.retain(|pid, s| match s.sp.check() {
            None => true,
            Some(Ok(())) => false,
            Some(Err(e)) => {
                failed.push((*pid, std::mem::take(&mut s.program), e));
                false
            }
        });
        for (pid, program, e) in failed {
            self.exec_failed(pid, &program, &e);
        }
    }

    /// Child `pid` was reaped: its exec's outcome, if not yet known, is now (the child is
    /// gone, so its end of the pipe is closed). True when it could not exec: then it was a
    /// failed attempt, not a transmitter that ended.
    pub(super) fn exec_failed_before_exit(&mut self, pid: i32) -> bool {
        let Some(mut s) = self.spawning.remove(&pid) else {
            return false;
        };
        match s.sp.wait() {
            Ok(()) => false,
            Err(e) => {
                let program = std::mem::take(&mut s.program);
                self.exec_failed(pid, &program, &e);
                true
            }
        }
    }

    /// Whether child `pid` runs its program (or is no attempt of ours still starting):
    /// for one whose exec's outcome is not known yet, that is waited for (microseconds);
    /// one that never ran is then dealt with as at its reap (`exec_failed`).
    pub(super) fn ran(&mut self, pid: i32) -> bool {
        !self.exec_failed_before_exit(pid)
    }

    /// Stopping (TERM, INT, or a poll that failed): the outcome of every exec still
    /// unknown is waited for, and an attempt that never ran is told to the core as at its
    /// reap, so its flag (and FTP command file) goes and the stop does not take it for a
    /// running one. Nothing new starts from here on.
    pub(super) fn exec_outcomes_at_stop(&mut self) {
        self.stopping = true;
        let pids: Vec<i32> = self.spawning.keys().copied().collect();
        for pid in pids {
            self.exec_failed_before_exit(pid);
        }
    }

    /// Attempt `pid` never ran `program`. The errno decides, as for a spawn that failed at
    /// once (`spawn_failed`): the exec's (`Execlp error N`, a failed attempt), or the
    /// system's (out of fds or memory before the exec: not counted, the record waits). Its
    /// files are taken before the core hears of it: what the core starts next may reuse
    /// the pid.
    fn exec_failed(&mut self, pid: i32, program: &str, e: &std::io::Error) {
        let files = self.jobs.remove(&pid);
        let errno = e.raw_os_error().unwrap_or(0);
        let kind = spawn_failure(errno);
        let msg = match kind {
            SpawnFailure::OutOfFds => {
                format!("out of file descriptors ({e}); not counted as an attempt")
            }
            SpawnFailure::NoFork => format!("could not fork ({e}); not counted as an attempt"),
            SpawnFailure::Exec => format!("Execlp error {errno} ({program}: {e})"),
        };
        let client = self
            .core
            .job(pid)
            .map(|j| self.core.client_name(j.client).to_string());
        if let Some(f) = &files {
            if let Ok(mut log) = open_append(&f.log) {
                let _ = writeln!(log, "{msg}");
            }
            // The core's RemoveFlag finds no files of ours any more: removed here.
            let _ = fs::remove_file(&f.flag);
            if let Some(j) = &f.ftp {
                let _ = fs::remove_file(&j.cmdfile);
            }
        }
        if let Some(c) = &client {
            self.log.line(c, &msg);
        }
        self.feed(Event::ExecFailed {
            pid,
            counted: !kind.deferred(),
        });
    }

    /// No child runs: its flag (and FTP command file) go. A fork that failed (process limit,
    /// memory) or a lack of file descriptors (the spawn's pipe or `/dev/null`) is a system
    /// problem, not the client's: like a flag that cannot be created, the record waits
    /// without counting an attempt (counting could end in deleting the request). A program
    /// that could not be executed is a failed attempt.
    fn spawn_failed(
        &mut self,
        plan: &Plan,
        cmd: &Command,
        flag: &Path,
        log: &Path,
        e: &std::io::Error,
    ) {
        let _ = fs::remove_file(flag);
        if let Some(j) = &cmd.ftp {
            let _ = fs::remove_file(&j.cmdfile);
        }
        let name = &plan.client.name;
        let errno = e.raw_os_error().unwrap_or(0);
        let msg = match spawn_failure(errno) {
            SpawnFailure::OutOfFds => {
                format!("out of file descriptors ({e}); not counted as an attempt")
            }
            SpawnFailure::NoFork => format!("could not fork ({e}); not counted as an attempt"),
            SpawnFailure::Exec => format!("Execlp error {errno} ({}: {e})", cmd.argv[0]),
        };
        if let Ok(mut f) = open_append(log) {
            let _ = writeln!(f, "{msg}");
        }
        self.log.line(name, &msg);
        self.start_failed(plan, StartFailure::Spawn { errno });
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
            let prepared = crate::ipsynd::ftp::prepare(
                &self.log,
                &self.paths.root,
                &self.paths.x,
                cp,
                ftpcmd,
                plan.port.as_ref(),
                vars.seq,
            );
            return match prepared {
                Ok(Some((argv, job, stdin))) => Ok(Command {
                    display: format!(
                        "{} < {}",
                        argv::display_command(&argv),
                        job.cmdfile.display()
                    ),
                    argv,
                    ftp: Some(job),
                    stdin: Io::from(stdin),
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
            ftp: None,
            stdin: Io::Null,
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
    ) -> Option<(Io, Io, u64)> {
        let opened = open_append(log).and_then(|mut f| {
            writeln!(f, "{display}")?;
            let offset = f.metadata()?.len();
            Ok((f.try_clone()?, f, offset))
        });
        match opened {
            Ok((a, b, offset)) => Some((Io::from(a), Io::from(b), offset)),
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
                Some((Io::Null, Io::Null, 0))
            }
        }
    }

    fn end_early(&mut self, plan: &Plan, early: Early) {
        let name = &plan.client.name;
        match early {
            Early::NothingToSend => {
                let _ = fs::remove_file(self.paths.control.join(&plan.record));
                self.log
                    .line(name, "ftp: queue empty, nothing to send; record removed");
                self.start_failed(plan, StartFailure::NothingToSend);
            }
            Early::Deferred(why) => {
                self.log.line(name, &why);
                self.start_failed(plan, StartFailure::Deferred);
            }
            Early::Failed(why) => self.start_failed(plan, StartFailure::Failed(why)),
        }
    }
}
