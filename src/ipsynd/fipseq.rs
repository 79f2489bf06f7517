//! FipSeq expansion of `script:` and `maxkill:` values, and quote-aware word splitting.
//!
//! The subset implemented (spec §5): `\XX` = two-character field XX of the client file
//! (undefined: empty), `\$S` sequence (3 digits), `\$Z` sequence (4 digits), `\$Y` yy,
//! `\$E` century, `\$I` mm, `\$M` Mon, `\$D` dd, `\$H` HH, `\$N` MM, `\$B` SS, `\$J`
//! Julian day (001..366); lowercase variable letters mean the same; `\\` a backslash;
//! `\r \n \t` as in C. Anything else after a backslash is kept literally (backslash
//! included), so a stray backslash in a path survives.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Local, Timelike};

/// System variables of one expansion: the attempt's sequence number and time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SysVars {
    pub seq: u32,
    pub now: DateTime<Local>,
}

/// The value of system variable `\$c`, or `None` when `c` is not one.
fn sysvar(c: char, vars: &SysVars) -> Option<String> {
    let n = &vars.now;
    Some(match c.to_ascii_uppercase() {
        'S' => format!("{:03}", vars.seq % 1000),
        'Z' => format!("{:04}", vars.seq % 10000),
        'Y' => format!("{:02}", n.year().rem_euclid(100)),
        'E' => format!("{:02}", n.year().div_euclid(100)),
        'I' => format!("{:02}", n.month()),
        'M' => n.format("%b").to_string(),
        'D' => format!("{:02}", n.day()),
        'H' => format!("{:02}", n.hour()),
        'N' => format!("{:02}", n.minute()),
        'B' => format!("{:02}", n.second()),
        'J' => format!("{:03}", n.ordinal()),
        _ => return None,
    })
}

/// Expand FipSeq escapes in `s` (see the module header for the rules).
pub fn expand(s: &str, fields: &BTreeMap<String, String>, vars: &SysVars) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '\\' || i + 1 >= chars.len() {
            out.push(c);
            i += 1;
            continue;
        }
        let next = chars[i + 1];
        match next {
            '\\' => {
                out.push('\\');
                i += 2;
            }
            // C escapes are lowercase only, so `\R1` stays a field reference.
            'r' => {
                out.push('\r');
                i += 2;
            }
            'n' => {
                out.push('\n');
                i += 2;
            }
            't' => {
                out.push('\t');
                i += 2;
            }
            '$' => match chars.get(i + 2).and_then(|&v| sysvar(v, vars)) {
                Some(val) => {
                    out.push_str(&val);
                    i += 3;
                }
                None => {
                    out.push_str("\\$");
                    i += 2;
                }
            },
            a if a.is_ascii_alphanumeric()
                && chars.get(i + 2).is_some_and(|b| b.is_ascii_alphanumeric()) =>
            {
                let code: String = [a, chars[i + 2]]
                    .iter()
                    .collect::<String>()
                    .to_ascii_uppercase();
                if let Some(v) = fields.get(&code) {
                    out.push_str(v);
                }
                i += 3;
            }
            _ => {
                out.push('\\');
                i += 1;
            }
        }
    }
    out
}

/// Split into words on whitespace; double quotes group words and are removed (`"a b"` is
/// one word `a b`, `""` is one empty word, `x"y z"` is `xy z`). An unclosed quote runs to
/// the end.
pub fn split_words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quoted = false;
    for c in s.chars() {
        if c == '"' {
            quoted = !quoted;
            in_word = true;
        } else if c.is_whitespace() && !quoted {
            if in_word {
                words.push(std::mem::take(&mut cur));
                in_word = false;
            }
        } else {
            cur.push(c);
            in_word = true;
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

#[cfg(test)]
mod tests;
