//! Running out of file descriptors (issue 7 §5): an attempt that cannot get its flag, log,
//! `/dev/null` or the spawn's pipe waits and is tried again, never counted as an attempt
//! (counting could end in giving up and deleting the request).

use std::fs;
use std::time::Duration;

use crate::ipsynd_common::*;

/// Set process `pid`'s soft `RLIMIT_NOFILE` to `n` (below the fds it holds already: those
/// stay open, every new one fails with EMFILE), the hard limit kept. Returns the soft limit
/// it had.
fn set_nofile(pid: i32, n: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: valid rlimit pointers; pid is our own child.
    unsafe {
        assert_eq!(
            libc::prlimit(pid, libc::RLIMIT_NOFILE, std::ptr::null(), &mut lim),
            0
        );
        let was = lim.rlim_cur;
        lim.rlim_cur = n.min(lim.rlim_max);
        let rc = libc::prlimit(pid, libc::RLIMIT_NOFILE, &lim, std::ptr::null_mut());
        assert_eq!(rc, 0, "prlimit: {}", std::io::Error::last_os_error());
        was
    }
}

/// The lowest fd number `pid` has free. `RLIMIT_NOFILE` bounds fd numbers, not their count:
/// with the soft limit at this number no new fd can be had, even where the table has holes.
fn lowest_free_fd(pid: i32) -> u64 {
    let open: std::collections::BTreeSet<u64> = fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    (0..).find(|n| !open.contains(n)).unwrap()
}

#[test]
fn running_out_of_file_descriptors_is_not_an_attempt() {
    let mut fip = Fip::new("nofile");
    // retry:2: two counted failures would give up and delete the record.
    fip.client("FDS", "timeout:1\nretry:2\n");
    let pid = fip.start();
    assert!(fip.wait_status(|s| s.contains("state=running")));
    std::thread::sleep(Duration::from_millis(200)); // idle: only its own fds are open
    let base = lowest_free_fd(pid);
    // Every limit from "no new fd at all" to "one short of what a spawn holds at once"
    // (flag, two log fds, /dev/null, the spawn's two pipe ends): each failure point in turn.
    let mut original = None;
    for extra in 0..=8 {
        let was = set_nofile(pid, base + extra);
        original.get_or_insert(was);
        if extra == 0 {
            fip.record("FDS");
        }
        std::thread::sleep(Duration::from_millis(1500));
    }
    set_nofile(pid, original.unwrap());
    fip.expect_log("FDS attempt 1/2 started");
    fip.expect_log("FDS attempt 1 done");
    let stderr = fs::read_to_string(fip.path("ipsynd.stderr0")).unwrap_or_default();
    let said = format!("{}\n{stderr}", fip.log());
    assert!(said.contains("not counted as an attempt"), "{said}");
    assert!(said.contains("Too many open files"), "{said}");
    for bad in ["Execlp", "failed (", "gave up"] {
        assert!(!said.contains(bad), "{bad}:\n{said}");
    }
    assert_eq!(fip.calls("FDS").len(), 1);
    assert!(!fip.exists("spool/syn/control/FDS"));
    assert_eq!(fip.stop_with(libc::SIGTERM), Some(0));
}

/// A client file that cannot be read for want of fds is not a missing file: no inotify event
/// will ever come for it, so the rescan reads it again, and the record waits meanwhile
/// without a log line per rescan.
#[test]
fn a_client_file_unreadable_for_want_of_fds_is_read_again_at_the_next_rescan() {
    let mut fip = Fip::new("nofile-client");
    fip.client("FDC", "timeout:1\nretry:2\n");
    let pid = fip.start();
    assert!(fip.wait_status(|s| s.contains("state=running")));
    std::thread::sleep(Duration::from_millis(200));
    let was = set_nofile(pid, lowest_free_fd(pid));
    // The file changes (inotify needs no new fd), so it is read again, and that read fails.
    fip.client("FDC", "timeout:1\nretry:2\nprior:3\n");
    let stderr = || fs::read_to_string(fip.path("ipsynd.stderr0")).unwrap_or_default();
    // Said on stderr only: the log file cannot be opened either.
    assert!(
        wait_for(WAIT, || stderr().contains("FDC client file changed")),
        "{}",
        stderr()
    );
    fip.record("FDC");
    // Three rescans (rescan:1) at a limit that lets nothing be opened.
    std::thread::sleep(Duration::from_millis(3500));
    set_nofile(pid, was);
    fip.expect_log("FDC client file read");
    fip.expect_log("FDC attempt 1 done");
    let said = stderr();
    let once = |what: &str| said.lines().filter(|l| l.contains(what)).count() == 1;
    assert!(once("record FDC kept, waiting"), "said once:\n{said}");
    assert!(
        once("FDC client file changed"),
        "not at each rescan:\n{said}"
    );
    assert_eq!(fip.calls("FDC").len(), 1);
    assert_eq!(fip.stop_with(libc::SIGTERM), Some(0));
}
