//! The transmitter's argv (spec §5): the expanded `script:` words (or the default ipsyn),
//! then the standard block in switch or positional style; its display form; the name of
//! an attempt's log.
//!
//! The argv is executed directly (no shell), so no argument carries quote characters; the
//! double quotes of the manual appear only in [`display_command`].

use std::path::{Path, PathBuf};

use chrono::{DateTime, Local};

use super::fipseq::{expand, split_words, SysVars};
use crate::fip::tables::{ArgStyle, ClientParams, PhysPort};

/// The per-attempt paths and the queue name passed in the standard block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptPaths {
    /// Queue name under `spool/syn` (lowercase).
    pub queue: String,
    /// The attempt's log, `log/syn/<CLIENT>.<ddMonyy>.<HH>.<MM>`.
    pub log: PathBuf,
    /// The in-use flag, `x/SYN|nnn|<CLIENT>`.
    pub inuse: PathBuf,
    /// The control record (deleted by the transmitter on success).
    pub ctrl: PathBuf,
}

/// The style a client uses: its own `argstyle:` or the daemon's default.
pub fn effective_style(client: &ClientParams, daemon_default: ArgStyle) -> ArgStyle {
    client.argstyle.unwrap_or(daemon_default)
}

/// The script words: `script:` expanded then split; in positional style a bare word equal
/// to a defined two-character field is replaced by its value (the manual's JUKEBOX form).
/// Empty when there is no script or it expands to nothing.
pub fn script_words(client: &ClientParams, style: ArgStyle, vars: &SysVars) -> Vec<String> {
    let Some(script) = client.script.as_deref() else {
        return Vec::new();
    };
    let mut words = split_words(&expand(script, &client.fields, vars));
    if style == ArgStyle::Positional {
        // Never the program itself: only its arguments.
        for w in words.iter_mut().skip(1) {
            if let Some(v) = client.fields.get(w.as_str()) {
                *w = v.clone();
            }
        }
    }
    words
}

/// Build the full argv; `argv[0]` is the program path. `program_default` is used when the
/// client has no `script:` (or it expands to no words). `port` is the allocated physical
/// port, `None` when the route has no PORTS entry. `defhost` is the positional style's host
/// in that case.
pub fn build_argv(
    client: &ClientParams,
    program_default: &Path,
    port: Option<&PhysPort>,
    style: ArgStyle,
    defhost: &str,
    paths: &AttemptPaths,
    vars: &SysVars,
) -> Vec<String> {
    let mut argv = script_words(client, style, vars);
    if argv.is_empty() {
        argv.push(program_default.to_string_lossy().into_owned());
    }
    let path = |p: &Path| p.to_string_lossy().into_owned();
    match style {
        ArgStyle::Switches => {
            argv.extend([
                "-c".into(),
                client.name.to_string(),
                "-q".into(),
                paths.queue.clone(),
            ]);
            if let Some(p) = port {
                argv.extend(["-s".into(), p.host.clone(), "-p".into(), p.port.to_string()]);
            }
            argv.extend([
                "-l".into(),
                path(&paths.log),
                "-r".into(),
                path(&paths.inuse),
                "-z".into(),
                path(&paths.ctrl),
            ]);
        }
        ArgStyle::Positional => {
            let (host, portno) = match port {
                Some(p) => (p.host.clone(), p.port.to_string()),
                None => (defhost.to_string(), "0".to_string()),
            };
            argv.extend([
                client.name.to_string(),
                paths.queue.clone(),
                host,
                portno,
                path(&paths.log),
                path(&paths.inuse),
                path(&paths.ctrl),
            ]);
        }
    }
    argv
}

/// Indices of the three flag paths (log, in-use, control) at the end of an argv built by
/// [`build_argv`], whichever style.
fn flag_path_indices(argv: &[String]) -> Vec<usize> {
    let n = argv.len();
    let switch = n >= 7 && argv[n - 2] == "-z" && argv[n - 4] == "-r" && argv[n - 6] == "-l";
    if switch {
        vec![n - 5, n - 3, n - 1]
    } else if n >= 8 {
        vec![n - 3, n - 2, n - 1]
    } else {
        Vec::new()
    }
}

/// The command line as the manual displays it: words separated by spaces, the log, in-use
/// and control paths in double quotes, and any other word that is empty or holds
/// whitespace or a quote also quoted (so the display splits back into the same argv).
pub fn display_command(argv: &[String]) -> String {
    let quoted = flag_path_indices(argv);
    argv.iter()
        .enumerate()
        .map(|(i, w)| {
            let needs = w.is_empty() || w.chars().any(|c| c.is_whitespace() || c == '"');
            if quoted.contains(&i) || needs {
                format!("\"{}\"", w.replace('"', ""))
            } else {
                w.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The name of an attempt's log: `<CLIENT>.<ddMonyy>.<HH>.<MM>`, e.g. `JUKEBOX.10Jan97.14.10`.
pub fn attempt_log_name(client: &str, now: &DateTime<Local>) -> String {
    format!(
        "{}.{}",
        client.to_ascii_uppercase(),
        now.format("%d%b%y.%H.%M")
    )
}

#[cfg(test)]
mod tests;
