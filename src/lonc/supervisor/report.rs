//! The parent's status files (spec §2 USR1, §7.9): USR1's text page (header, the parent's
//! line, one line per host without a child, then USR1 to every child, which appends its own
//! line), and `loncstatus.json`, written from the slots on every change and once the
//! children's lines are in after USR1 (or the collection gave up on them).

use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::Local;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::Supervisor;
use crate::lonc::logfmt::perl_localtime;
use crate::lonc::status::{self, HostStatus, StatusDoc};

/// How long to wait for the children's status lines after USR1 before writing the JSON anyway.
const STATUS_COLLECT: Duration = Duration::from_secs(2);
/// Without inotify (no instance left, the page could not be watched): look this often.
const STATUS_POLL: Duration = Duration::from_millis(50);

/// USR1's collection of the children's lines. The page is watched with inotify, so the
/// parent sleeps until a child has appended (or the collection gives up) instead of reading
/// the page on a timer; only if the watch cannot be set up does it look every `STATUS_POLL`.
pub(super) struct Collect {
    /// Watches the page written just before the children got USR1 (its inode: a page
    /// replaced by a newer USR1 gets a new collection and a new watch).
    watch: Option<Inotify>,
    /// When to read the page next: at once at first and after each append noticed.
    next: Instant,
    give_up: Instant,
}

impl Collect {
    fn start(page: &Path, now: Instant) -> Collect {
        let watch = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK)
            .ok()
            .filter(|i| {
                i.add_watch(
                    page,
                    AddWatchFlags::IN_MODIFY | AddWatchFlags::IN_CLOSE_WRITE,
                )
                .is_ok()
            });
        Collect {
            watch,
            next: now,
            give_up: now + STATUS_COLLECT,
        }
    }

    /// What to poll for the children's appends (none: look again at `next_check`).
    pub(super) fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.watch.as_ref().map(|i| i.as_fd())
    }

    /// When to look at the page again even if nothing was noticed.
    pub(super) fn next_check(&self) -> Instant {
        self.next
    }

    /// The watch fd polled ready: a child wrote; read the page now.
    pub(super) fn noticed(&mut self, now: Instant) {
        if let Some(i) = &self.watch {
            while matches!(i.read_events(), Ok(ev) if !ev.is_empty()) {}
        }
        self.next = now;
    }

    /// The page was read and some running child's line is still missing.
    fn incomplete(&mut self, now: Instant) {
        self.next = match self.watch {
            Some(_) => self.give_up,
            None => (now + STATUS_POLL).min(self.give_up),
        };
    }
}

impl Supervisor {
    /// USR1's report: the log lines, the status page, USR1 to every child (1.29's
    /// checkchildren), and the JSON once the children have answered.
    pub(super) fn usr1_report(&mut self) {
        self.log.log("USR1: Trying to establish connections again");
        self.write_status_header();
        self.log.log("Going to check on the children");
        // The watch goes on the page just written, before any child could append to it.
        self.collect = Some(Collect::start(&self.cfg.status_txt(), Instant::now()));
        let mut pids: Vec<i32> = self.slots.iter().filter_map(|s| s.p.state.pid()).collect();
        pids.sort_by_key(|p| p.to_string());
        for pid in pids {
            if kill(Pid::from_raw(pid), Signal::SIGUSR1).is_err() {
                self.log.log(&format!("CRITICAL: Child {pid} is dead"));
            }
        }
    }

    /// Header, the parent's own line, one line per host without a child (spec §7.9).
    fn write_status_header(&mut self) {
        let mut text = status::header(
            &perl_localtime(&Local::now()),
            std::process::id(),
            &perl_localtime(&self.started),
        );
        text.push_str(&self.log.status_line());
        let recheck = self.next_recheck.map(|(_, w)| perl_localtime(&w));
        for s in &self.slots {
            if let Some(state) = s.p.state.page_state() {
                text.push_str(&status::childless_line(
                    &s.host.id,
                    state,
                    s.p.attempts,
                    self.cfg.max_attempts,
                    recheck.as_deref(),
                ));
            }
        }
        if let Err(e) = status::write_page(&self.cfg.status_txt(), &text) {
            self.log.log(&format!(
                "WARNING: cannot write {}: {e}",
                self.cfg.status_txt().display()
            ));
        }
    }

    /// Collect the children's status lines, then write the JSON (and on every state change).
    pub(super) fn status_json_tick(&mut self) {
        let now = Instant::now();
        if let Some(c) = &self.collect {
            // A slot that changed (a child died, another started) may complete the set too.
            if now >= c.next || self.json_dirty {
                let give_up = c.give_up;
                let text = std::fs::read_to_string(self.cfg.status_txt()).unwrap_or_default();
                let lines = status::child_lines(&text);
                let all = self
                    .slots
                    .iter()
                    .filter_map(|s| s.p.state.pid())
                    .all(|p| lines.contains_key(&p));
                for (pid, last) in lines {
                    if self.slots.iter().any(|s| s.p.state.pid() == Some(pid)) {
                        self.child_last.insert(pid, last);
                    }
                }
                if all || now >= give_up {
                    self.collect = None;
                    self.json_dirty = true;
                    self.usr1_served += 1;
                } else if let Some(c) = self.collect.as_mut() {
                    c.incomplete(now);
                }
            }
        }
        if self.json_dirty {
            self.json_dirty = false;
            self.write_json();
        }
    }

    fn write_json(&mut self) {
        let max = self.cfg.max_attempts;
        let hosts: Vec<HostStatus> = self
            .slots
            .iter()
            .map(|s| {
                let pid = s.p.state.pid();
                HostStatus {
                    id: s.host.id.clone(),
                    state: s.p.state.shown().into(),
                    pid,
                    attempts: s.p.attempts,
                    max_attempts: max,
                    since: perl_localtime(&s.since),
                    since_epoch: s.since.timestamp(),
                    last_log: pid.and_then(|p| self.child_last.get(&p).cloned()),
                }
            })
            .collect();
        self.write_json_doc("running", &hosts);
    }

    fn write_json_doc(&mut self, state: &str, hosts: &[HostStatus]) {
        let now = Local::now();
        let lt = perl_localtime(&now);
        let started = perl_localtime(&self.started);
        let line = self.log.status_line();
        let mut f = line.trim_end_matches('\n').splitn(3, '\t').skip(1);
        let (pstatus, plast) = (f.next().unwrap_or(""), f.next().unwrap_or(""));
        let doc = StatusDoc {
            state,
            parent_pid: std::process::id(),
            parent_status: pstatus,
            parent_last_log: plast,
            started: &started,
            started_epoch: self.started.timestamp(),
            written: &lt,
            written_epoch: now.timestamp(),
            usr1_served: self.usr1_served,
            next_recheck: self.next_recheck.map(|(_, w)| perl_localtime(&w)),
            next_recheck_epoch: self.next_recheck.map(|(_, w)| w.timestamp()),
            hosts,
        };
        match status::write_page(&self.cfg.status_json(), &status::json(&doc)) {
            // Written on every state change: say so once per distinct problem, not each time.
            Err(e) => {
                let msg = format!(
                    "WARNING: cannot write {}: {e}",
                    self.cfg.status_json().display()
                );
                if self.json_error.as_deref() != Some(msg.as_str()) {
                    self.log.log(&msg);
                    self.json_error = Some(msg);
                }
            }
            Ok(()) => self.json_error = None,
        }
    }

    /// On the way out: both status files say `stopped`, with the time, so nobody reads the
    /// last running page (and a dead pid) as live.
    pub(super) fn write_stopped(&mut self) {
        let now = Local::now();
        let hosts: Vec<HostStatus> = self
            .slots
            .iter()
            .map(|s| HostStatus {
                id: s.host.id.clone(),
                state: "stopped".into(),
                pid: None,
                attempts: s.p.attempts,
                max_attempts: self.cfg.max_attempts,
                since: perl_localtime(&now),
                since_epoch: now.timestamp(),
                last_log: None,
            })
            .collect();
        self.next_recheck = None;
        self.write_json_doc("stopped", &hosts);
        let page = status::stopped_page(
            &perl_localtime(&now),
            std::process::id(),
            &perl_localtime(&self.started),
            &self.log.status_line(),
        );
        let _ = status::write_page(&self.cfg.status_txt(), &page);
    }
}
