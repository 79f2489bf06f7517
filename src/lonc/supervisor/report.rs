//! The parent's status files (spec §2 USR1, §7.9): USR1's text page (header, the parent's
//! line, one line per host without a child, then USR1 to every child, which appends its own
//! line), and `loncstatus.json`, written from the hosts' states on every change and once the
//! children's lines are in after USR1 (or the collection gave up on them). The supervisor
//! hands each call a view of its hosts ([`Row`]); nothing here knows the supervisor.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Local};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::policy::HostState;
use crate::lonc::config::LoncConfig;
use crate::lonc::log::Logger;
use crate::lonc::logfmt::perl_localtime;
use crate::lonc::status::{self, ChildLine, HostStatus, StatusDoc};

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

/// One host as the status files show it.
pub(super) struct Row<'a> {
    pub id: &'a str,
    pub state: HostState,
    pub attempts: u32,
    /// Since when it shows its state.
    pub since: DateTime<Local>,
}

/// What the status files carry beside the hosts' states.
pub(super) struct Report {
    /// When this lonc started (for the status files, to tell a live page from a stale one).
    started: DateTime<Local>,
    /// The USR1 report waiting for the children's status lines.
    collect: Option<Collect>,
    /// What each running child last reported on the page (after USR1), by pid.
    child_last: BTreeMap<i32, ChildLine>,
    /// USR1 reports completed (children's lines collected): `lonc -s` waits for it to grow.
    usr1_served: u64,
    /// The last JSON write failure logged (logged again only when it changes).
    json_error: Option<String>,
}

impl Report {
    pub(super) fn new(started: DateTime<Local>) -> Report {
        Report {
            started,
            collect: None,
            child_last: BTreeMap::new(),
            usr1_served: 0,
            json_error: None,
        }
    }

    /// The USR1 collection in progress, if one is.
    pub(super) fn collect(&mut self) -> Option<&mut Collect> {
        self.collect.as_mut()
    }

    pub(super) fn collecting(&self) -> Option<&Collect> {
        self.collect.as_ref()
    }

    /// Forget what a child reported (it is gone; HUP forgets them all).
    pub(super) fn forget(&mut self, pid: i32) {
        self.child_last.remove(&pid);
    }

    pub(super) fn forget_all(&mut self) {
        self.child_last.clear();
    }

    /// USR1's report: the log lines, the status page, USR1 to every child (1.29's
    /// checkchildren); the JSON follows once the children have answered (`tick`).
    pub(super) fn usr1(
        &mut self,
        log: &mut Logger,
        cfg: &LoncConfig,
        rows: &[Row],
        recheck: Option<DateTime<Local>>,
    ) {
        log.log("USR1: Trying to establish connections again");
        self.write_status_header(log, cfg, rows, recheck);
        log.log("Going to check on the children");
        // The watch goes on the page just written, before any child could append to it.
        self.collect = Some(Collect::start(&cfg.status_txt(), Instant::now()));
        let mut pids: Vec<i32> = rows.iter().filter_map(|r| r.state.pid()).collect();
        pids.sort_by_key(|p| p.to_string());
        for pid in pids {
            if kill(Pid::from_raw(pid), Signal::SIGUSR1).is_err() {
                log.log(&format!("CRITICAL: Child {pid} is dead"));
            }
        }
    }

    /// Header, the parent's own line, one line per host without a child (spec §7.9).
    fn write_status_header(
        &mut self,
        log: &mut Logger,
        cfg: &LoncConfig,
        rows: &[Row],
        recheck: Option<DateTime<Local>>,
    ) {
        let mut text = status::header(
            &perl_localtime(&Local::now()),
            std::process::id(),
            &perl_localtime(&self.started),
        );
        text.push_str(&log.status_line());
        let recheck = recheck.map(|w| perl_localtime(&w));
        for r in rows {
            if let Some(state) = r.state.page_state() {
                text.push_str(&status::childless_line(
                    r.id,
                    state,
                    r.attempts,
                    cfg.max_attempts,
                    recheck.as_deref(),
                ));
            }
        }
        if let Err(e) = status::write_page(&cfg.status_txt(), &text) {
            log.log(&format!(
                "WARNING: cannot write {}: {e}",
                cfg.status_txt().display()
            ));
        }
    }

    /// Collect the children's status lines when it is time or `changed` (a host's state
    /// changed: a child died or started, which may complete the set). True once the
    /// collection is over (every running child's line is in, or it gave up): the JSON is due.
    pub(super) fn tick(&mut self, cfg: &LoncConfig, rows: &[Row], changed: bool) -> bool {
        let now = Instant::now();
        let Some(c) = &self.collect else {
            return false;
        };
        if now < c.next && !changed {
            return false;
        }
        let give_up = c.give_up;
        let text = std::fs::read_to_string(cfg.status_txt()).unwrap_or_default();
        let lines = status::child_lines(&text);
        let running = || rows.iter().filter_map(|r| r.state.pid());
        let all = running().all(|p| lines.contains_key(&p));
        for (pid, line) in lines {
            if running().any(|p| p == pid) {
                self.child_last.insert(pid, line);
            }
        }
        if all || now >= give_up {
            self.collect = None;
            self.usr1_served += 1;
            true
        } else {
            if let Some(c) = self.collect.as_mut() {
                c.incomplete(now);
            }
            false
        }
    }

    pub(super) fn write_json(
        &mut self,
        log: &mut Logger,
        cfg: &LoncConfig,
        rows: &[Row],
        recheck: Option<DateTime<Local>>,
    ) {
        let hosts: Vec<HostStatus> = rows
            .iter()
            .map(|r| {
                let pid = r.state.pid();
                let last = pid.and_then(|p| self.child_last.get(&p));
                HostStatus {
                    id: r.id.to_string(),
                    state: r.state.shown().into(),
                    pid,
                    attempts: r.attempts,
                    max_attempts: cfg.max_attempts,
                    since: perl_localtime(&r.since),
                    since_epoch: r.since.timestamp(),
                    last_log: last.map(|c| c.last_log.clone()),
                    links_max: cfg.links,
                    links: last.and_then(|c| c.links),
                }
            })
            .collect();
        self.write_json_doc(log, cfg, "running", &hosts, recheck);
    }

    fn write_json_doc(
        &mut self,
        log: &mut Logger,
        cfg: &LoncConfig,
        state: &str,
        hosts: &[HostStatus],
        recheck: Option<DateTime<Local>>,
    ) {
        let now = Local::now();
        let lt = perl_localtime(&now);
        let started = perl_localtime(&self.started);
        let line = log.status_line();
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
            next_recheck: recheck.map(|w| perl_localtime(&w)),
            next_recheck_epoch: recheck.map(|w| w.timestamp()),
            hosts,
        };
        match status::write_page(&cfg.status_json(), &status::json(&doc)) {
            // Written on every state change: say so once per distinct problem, not each time.
            Err(e) => {
                let msg = format!("WARNING: cannot write {}: {e}", cfg.status_json().display());
                if self.json_error.as_deref() != Some(msg.as_str()) {
                    log.log(&msg);
                    self.json_error = Some(msg);
                }
            }
            Ok(()) => self.json_error = None,
        }
    }

    /// On the way out: both status files say `stopped`, with the time, so nobody reads the
    /// last running page (and a dead pid) as live.
    pub(super) fn write_stopped(&mut self, log: &mut Logger, cfg: &LoncConfig, rows: &[Row]) {
        let now = Local::now();
        let hosts: Vec<HostStatus> = rows
            .iter()
            .map(|r| HostStatus {
                id: r.id.to_string(),
                state: "stopped".into(),
                pid: None,
                attempts: r.attempts,
                max_attempts: cfg.max_attempts,
                since: perl_localtime(&now),
                since_epoch: now.timestamp(),
                last_log: None,
                links_max: cfg.links,
                links: None,
            })
            .collect();
        self.write_json_doc(log, cfg, "stopped", &hosts, None);
        let page = status::stopped_page(
            &perl_localtime(&now),
            std::process::id(),
            &perl_localtime(&self.started),
            &log.status_line(),
        );
        let _ = status::write_page(&cfg.status_txt(), &page);
    }
}
