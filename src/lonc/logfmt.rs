//! lonc log, perm-log and time formats (Perl scalar localtime), as 1.29 wrote them.
//!
//! Pure formatting only; the writer (files, syslog) lives in `lonc::log`.

use chrono::{DateTime, Local, TimeZone};

/// Perl's `scalar localtime`: `Sun Nov 22 11:31:00 2026`, the day padded with a space to
/// width 2 (`Mon Feb  4 09:05:01 2002`).
pub fn perl_localtime<Tz: TimeZone>(t: &DateTime<Tz>) -> String
where
    Tz::Offset: std::fmt::Display,
{
    t.format("%a %b %e %H:%M:%S %Y").to_string()
}

/// One lonc.log line: `<localtime> (<pid>) [<status>]: <msg>\n`. `status` is the current
/// status string as the caller keeps it (1.29: `"<localtime>: <what>"`).
pub fn log_line(t: &DateTime<Local>, pid: u32, status: &str, msg: &str) -> String {
    format!("{} ({pid}) [{status}]: {msg}\n", perl_localtime(t))
}

/// One lonnet.perm.log record: `<epoch>:<msg>:<localtime>\n`.
pub fn perm_line(t: &DateTime<Local>, msg: &str) -> String {
    format!("{}:{msg}:{}\n", t.timestamp(), perl_localtime(t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{FixedOffset, Utc};

    #[test]
    fn day_is_space_padded() {
        let t = Utc.with_ymd_and_hms(2002, 2, 4, 9, 5, 1).unwrap();
        assert_eq!(perl_localtime(&t), "Mon Feb  4 09:05:01 2002");
        let t = Utc.with_ymd_and_hms(2026, 11, 22, 11, 31, 0).unwrap();
        assert_eq!(perl_localtime(&t), "Sun Nov 22 11:31:00 2026");
    }

    #[test]
    fn local_offset_is_not_printed() {
        let tz = FixedOffset::east_opt(3600).unwrap();
        let t = tz.with_ymd_and_hms(2002, 2, 25, 15, 48, 11).unwrap();
        assert_eq!(perl_localtime(&t), "Mon Feb 25 15:48:11 2002");
    }

    #[test]
    fn log_and_perm_lines() {
        let t = Local.with_ymd_and_hms(2002, 2, 25, 15, 48, 11).unwrap();
        let lt = perl_localtime(&t);
        let status = format!("{lt}: Write PID");
        assert_eq!(
            log_line(
                &t,
                4321,
                &status,
                "CRITICAL: ---------- Starting ----------"
            ),
            format!("{lt} (4321) [{lt}: Write PID]: CRITICAL: ---------- Starting ----------\n")
        );
        assert_eq!(
            perm_line(&t, "S:msul1:encrypt:ping"),
            format!("{}:S:msul1:encrypt:ping:{lt}\n", t.timestamp())
        );
        assert!(lt.starts_with("Mon Feb 25 15:48:11 2002"));
    }
}
