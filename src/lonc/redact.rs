//! The one way client and peer bytes become text that others can read: status strings, the
//! status page and JSON, `lonc.log`, syslog, process titles (spec §8.1).
//!
//! [`shown`] escapes control characters and cuts long text, and it redacts secrets: the payload
//! of an `encrypt:` request (`encrypt:passwd:msu:jdoe:OldPw1:NewPw2` becomes
//! `encrypt:passwd:…`) and every `enc:` line, whose hex is only obfuscated (the IDEA key comes
//! from public host ids and a buildkey sent in clear), so it is as good as the decrypted answer
//! or request it carries. Decrypted answers themselves only ever go to their client. The
//! command word stays so an operator still sees what kind of request waits or failed.
//! `lonnet.perm.log` (mode 0600) is the one place that keeps whole records (spec §7.4).

use std::fmt::Write as _;

/// Longest piece of client or peer text put into one log message (requests can be 16 MiB).
pub const MAX_LOGGED_TEXT: usize = 400;

/// What stands for the hidden part.
pub const MARKER: &str = "…";

/// Longest command word kept after `encrypt:`; anything longer is no command word.
const MAX_WORD: usize = 32;

/// Bytes from a client or a peer as text for others to read: secrets redacted (see the module
/// header), lossy UTF-8, control characters escaped, cut at [`MAX_LOGGED_TEXT`] so a 16 MiB
/// request does not become a 16 MiB log line.
pub fn shown(bytes: &[u8]) -> String {
    if let Some(rest) = bytes.strip_prefix(b"encrypt:") {
        return encrypt_shown(rest);
    }
    if bytes.starts_with(b"enc:") {
        return format!("enc:{MARKER}");
    }
    escaped(bytes)
}

/// `encrypt:<word>:…`, or `encrypt:<word>` when nothing follows the word, or `encrypt:…` when
/// what follows `encrypt:` is not a plain command word.
fn encrypt_shown(rest: &[u8]) -> String {
    let end = rest.iter().position(|&b| b == b':').unwrap_or(rest.len());
    let word = &rest[..end];
    let plain = !word.is_empty()
        && word.len() <= MAX_WORD
        && word.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_');
    match (plain, end == rest.len()) {
        (true, true) => format!("encrypt:{}", escaped(word)),
        (true, false) => format!("encrypt:{}:{MARKER}", escaped(word)),
        (false, _) => format!("encrypt:{MARKER}"),
    }
}

/// Lossy UTF-8 with `\n`, `\r` and other control characters escaped, cut at
/// [`MAX_LOGGED_TEXT`] bytes with the full length said.
fn escaped(bytes: &[u8]) -> String {
    let cut = bytes.len() > MAX_LOGGED_TEXT;
    let part = &bytes[..bytes.len().min(MAX_LOGGED_TEXT)];
    let mut out = String::with_capacity(part.len() + 8);
    for ch in String::from_utf8_lossy(part).chars() {
        match ch {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            // Written in place: no allocation per escaped byte.
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    if cut {
        let _ = write!(out, "...({} bytes)", bytes.len());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_escaped_and_cut() {
        assert_eq!(shown(b"ping"), "ping");
        assert_eq!(shown(b"a\r\n\x01b"), "a\\r\\n\\x01b");
        let long = vec![b'x'; MAX_LOGGED_TEXT + 5];
        let s = shown(&long);
        assert!(s.ends_with(&format!("...({} bytes)", MAX_LOGGED_TEXT + 5)));
        assert!(s.len() < MAX_LOGGED_TEXT + 30);
    }

    #[test]
    fn encrypt_requests_keep_only_their_command_word() {
        assert_eq!(
            shown(b"encrypt:passwd:msu:jdoe:OldPw1:NewPw2"),
            "encrypt:passwd:…"
        );
        assert_eq!(shown(b"encrypt:ping"), "encrypt:ping");
        assert_eq!(shown(b"encrypt:"), "encrypt:…");
        assert_eq!(shown(b"encrypt::secret"), "encrypt:…");
        // Not a command word: nothing of it shows.
        assert_eq!(shown(b"encrypt:my secret pw:x"), "encrypt:…");
        assert_eq!(shown(b"encrypt:a\nb:c"), "encrypt:…");
        let long = [b"encrypt:".as_slice(), &[b'p'; 40], b":x"].concat();
        assert_eq!(shown(&long), "encrypt:…");
        // Long payloads are not cut into view either.
        let big = [b"encrypt:makeuser:".as_slice(), &[b's'; 1000]].concat();
        assert_eq!(shown(&big), "encrypt:makeuser:…");
    }

    #[test]
    fn enc_lines_are_hidden_whole() {
        assert_eq!(shown(b"enc:32:0123456789abcdef0123456789abcdef"), "enc:…");
        assert_eq!(shown(b"enc:"), "enc:…");
        // Only the exact prefixes: other words starting alike are plain requests.
        assert_eq!(shown(b"encecho:x"), "encecho:x");
        assert_eq!(shown(b"ENCRYPT:passwd:x"), "ENCRYPT:passwd:x");
    }
}
