//! Another process's cost as `/proc` shows it: CPU time (`schedstat`'s nanoseconds on the CPU,
//! falling back to `stat`'s utime+stime ticks), voluntary context switches (each one a sleep,
//! so a count of wake-ups), run state, resident memory and private memory (`smaps_rollup`).

use std::fs;

/// Nanoseconds `pid` has spent on a CPU (user + system), or `None` if it is gone.
pub fn cpu_ns(pid: u32) -> Option<u64> {
    if let Ok(s) = fs::read_to_string(format!("/proc/{pid}/schedstat")) {
        if let Some(ns) = s.split_whitespace().next().and_then(|f| f.parse().ok()) {
            return Some(ns);
        }
    }
    let f = stat_fields(pid)?;
    // Fields 14 and 15 (utime, stime) in clock ticks; USER_HZ is 100 on Linux.
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks * 10_000_000)
}

/// The fields of `/proc/<pid>/stat` after the command name (field 3, the state, first).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: split after the last ')'.
    let rest = &s[s.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// The run state letter (`R`, `S`, `D`, `Z`, ...).
pub fn state(pid: u32) -> Option<char> {
    stat_fields(pid)?.first()?.chars().next()
}

/// A `Key: value` number from `/proc/<pid>/status` (`VmRSS` in KiB, `voluntary_ctxt_switches`).
pub fn status_value(pid: u32, key: &str) -> Option<u64> {
    key_value(&format!("/proc/{pid}/status"), key)
}

/// A `Key: value kB` number from `/proc/<pid>/smaps_rollup` (`Private_Dirty`, `Rss`, `Pss`),
/// in KiB: the whole process's mappings summed by the kernel.
pub fn smaps_value(pid: u32, key: &str) -> Option<u64> {
    key_value(&format!("/proc/{pid}/smaps_rollup"), key)
}

/// The number after `key:` in a file of `Key: value [unit]` lines (both files' format).
fn key_value(path: &str, key: &str) -> Option<u64> {
    let s = fs::read_to_string(path).ok()?;
    s.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        if k == key {
            v.split_whitespace().next()?.parse().ok()
        } else {
            None
        }
    })
}

/// Sum of [`cpu_ns`] over several processes (a gone one counts 0).
pub fn cpu_ns_sum(pids: &[u32]) -> u64 {
    pids.iter().filter_map(|&p| cpu_ns(p)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_process() {
        let me = std::process::id();
        assert!(cpu_ns(me).is_some());
        // /proc/<pid>/stat is the main thread's: running, or sleeping while the test harness
        // waits for this test's thread.
        assert!(matches!(state(me), Some('R' | 'S')), "{:?}", state(me));
        assert!(status_value(me, "VmRSS").unwrap() > 0);
        assert!(status_value(me, "voluntary_ctxt_switches").is_some());
        assert_eq!(status_value(me, "NoSuchKey"), None);
        assert!(smaps_value(me, "Private_Dirty").unwrap() > 0);
        assert!(smaps_value(me, "Rss").unwrap() >= smaps_value(me, "Private_Dirty").unwrap());
        assert_eq!(smaps_value(me, "NoSuchKey"), None);
    }
}
