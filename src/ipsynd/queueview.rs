//! `ipsynd -s`: the queue as a table, the way `postqueue -p` and `uustat -a` show theirs:
//! one row per record (then the flags of transmitters this ipsynd did not start), columns
//! record, client, state, attempt/retry, port, pid, next attempt, age; a last line counts
//! them. Pure: a status document in, text out.

use super::status::{Doc, Row};

/// A flag row, not a record (see `status::Row::state`).
fn is_flag_row(r: &Row) -> bool {
    r.state == "stale" || r.state == "foreign"
}

/// One cell: never empty, never with blanks or control characters (columns stay columns).
fn cell(s: &str) -> String {
    if s.is_empty() {
        return "-".into();
    }
    s.replace(|c: char| c.is_whitespace() || c.is_control(), "_")
}

/// An age as the largest two units: `45s`, `12m05s`, `3h07m`, `2d04h`.
pub fn age(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d{h:02}h")
    } else if h > 0 {
        format!("{h}h{m:02}m")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else {
        format!("{s}s")
    }
}

/// A status time (`YYYY-MM-DDTHH:MM:SS`), the date left out when it is `today`.
fn short_time(t: &str, today: &str) -> String {
    match t.split_once('T') {
        Some((date, time)) if date == today => time.to_string(),
        Some((date, time)) => format!("{date}_{time}"),
        None => cell(t),
    }
}

/// The table for `doc`, at `now` (epoch seconds) on day `today` (`YYYY-MM-DD`).
pub fn render(doc: &Doc, now: u64, today: &str) -> String {
    let mut out = format!(
        "ipsynd pid {}: {} since {}, status of {}\n",
        doc.pid, doc.state, doc.started, doc.written
    );
    let head = [
        "RECORD", "CLIENT", "STATE", "TRY", "PORT", "PID", "NEXT", "AGE",
    ];
    let mut table: Vec<Vec<String>> = vec![head.iter().map(|h| h.to_string()).collect()];
    for r in &doc.records {
        let flag = is_flag_row(r);
        table.push(vec![
            cell(&r.record),
            cell(&r.client),
            cell(&r.state),
            if flag {
                "-".into()
            } else {
                format!("{}/{}", r.attempt, r.retry)
            },
            cell(&r.port),
            if r.pid > 0 {
                r.pid.to_string()
            } else {
                "-".into()
            },
            r.next
                .as_deref()
                .map_or("-".into(), |t| short_time(t, today)),
            if r.since > 0 {
                age(now.saturating_sub(r.since))
            } else {
                "-".into()
            },
        ]);
    }
    let widths: Vec<usize> = (0..head.len())
        .map(|i| {
            table
                .iter()
                .map(|row| row[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in &table {
        let mut line = String::new();
        for (i, c) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(c);
            } else {
                line.push_str(&format!("{c:<w$}  ", w = widths[i]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.push_str(&summary(&doc.records));
    out
}

/// The last line: `-- 3 records: 1 running, 2 waiting`, plus flag rows if any.
fn summary(rows: &[Row]) -> String {
    let records: Vec<&Row> = rows.iter().filter(|r| !is_flag_row(r)).collect();
    let running = records.iter().filter(|r| r.state == "running").count();
    let stale = rows.iter().filter(|r| r.state == "stale").count();
    let foreign = rows.iter().filter(|r| r.state == "foreign").count();
    let mut s = if records.is_empty() {
        "-- queue is empty".to_string()
    } else {
        format!(
            "-- {} record{}: {running} running, {} waiting",
            records.len(),
            if records.len() == 1 { "" } else { "s" },
            records.len() - running
        )
    };
    if foreign > 0 {
        s.push_str(&format!("; {foreign} transmission(s) of an earlier ipsynd"));
    }
    if stale > 0 {
        s.push_str(&format!("; {stale} stale flag(s)"));
    }
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(record: &str, state: &str, pid: i32, since: u64) -> Row {
        Row {
            client: record.trim_start_matches("SYN_").into(),
            state: state.into(),
            attempt: 2,
            retry: 11,
            port: if pid > 0 {
                "obnox:9191".into()
            } else {
                String::new()
            },
            pid,
            next: (pid == 0).then(|| "2026-12-01T10:06:33".into()),
            record: record.into(),
            reason: None,
            since,
        }
    }

    fn doc(records: Vec<Row>) -> Doc {
        Doc {
            state: "running".into(),
            pid: 42,
            ipsynd_pid: 42,
            started: "2026-12-01T09:00:00".into(),
            written: "2026-12-01T10:05:00".into(),
            updated: "2026-12-01T10:05:00".into(),
            stopped: None,
            serial: 9,
            records,
        }
    }

    #[test]
    fn one_row_per_record_in_columns() {
        let d = doc(vec![
            row("SYN_JUKEBOX", "running", 4321, 9_700),
            row("SYN_A", "retry-wait", 0, 6_040),
            row("SYN|001|OLD", "stale", 77, 0),
        ]);
        let t = render(&d, 10_000, "2026-12-01");
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines[0],
            "ipsynd pid 42: running since 2026-12-01T09:00:00, status of 2026-12-01T10:05:00"
        );
        let cols = |l: &str| l.split_whitespace().map(String::from).collect::<Vec<_>>();
        assert_eq!(
            cols(lines[1]),
            ["RECORD", "CLIENT", "STATE", "TRY", "PORT", "PID", "NEXT", "AGE"]
        );
        assert_eq!(
            cols(lines[2]),
            [
                "SYN_JUKEBOX",
                "JUKEBOX",
                "running",
                "2/11",
                "obnox:9191",
                "4321",
                "-",
                "5m00s"
            ]
        );
        assert_eq!(
            cols(lines[3]),
            [
                "SYN_A",
                "A",
                "retry-wait",
                "2/11",
                "-",
                "-",
                "10:06:33",
                "1h06m"
            ]
        );
        assert_eq!(cols(lines[4])[3], "-", "a flag has no attempts");
        // Columns line up: each header word starts where its cells start.
        let at = lines[1].find("STATE").unwrap();
        assert_eq!(&lines[2][at..at + 7], "running");
        assert_eq!(
            lines[5],
            "-- 2 records: 1 running, 1 waiting; 1 stale flag(s)"
        );
        let other_day = render(&d, 10_000, "2026-12-02");
        assert!(other_day.contains("2026-12-01_10:06:33"), "{other_day}");
    }

    #[test]
    fn an_empty_queue_says_so() {
        let t = render(&doc(Vec::new()), 0, "2026-12-01");
        assert!(t.ends_with("-- queue is empty\n"), "{t}");
    }

    #[test]
    fn ages() {
        assert_eq!(age(0), "0s");
        assert_eq!(age(59), "59s");
        assert_eq!(age(61), "1m01s");
        assert_eq!(age(3 * 3600 + 7 * 60), "3h07m");
        assert_eq!(age(2 * 86_400 + 4 * 3600), "2d04h");
    }
}
