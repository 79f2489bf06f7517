//! The ipsyn wire protocol, shared by the sender (`ipsyn`) and the receiver (`ipsyn-recv`).
//!
//! One TCP connection per transmission; every control line is ASCII ending in `\n`:
//!
//! ```text
//! sender                                receiver
//! IPSYN 1 <CLIENT>\n              -->
//!                                 <--   OK IPSYN 1\n            (or ERR <reason>\n, close)
//! FILE <size> <name>\n<size bytes> -->
//!                                 <--   OK <name>\n             stored (temp file, fsync, rename)
//!                                 <--   ERR <name> <reason>\n   not stored; the connection goes on
//! ... one FILE per queued file ...
//! QUIT\n                          -->
//!                                 <--   BYE\n                   (then close)
//! ```
//!
//! The sender deletes a file only after its `OK <name>`. A name is 1..=255 bytes, has no
//! `/`, NUL, CR or LF, and does not start with `.`; spaces are allowed (the name runs to the
//! end of the line). `<size>` is decimal.

/// Protocol version spoken by this build.
pub const VERSION: u32 = 1;
/// Longest control line accepted (name 255 bytes plus keyword and size, with room to spare).
pub const MAX_LINE: usize = 1024;

/// Why a file name cannot go on the wire (or into the receiver's directory).
pub fn name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("empty name")
    } else if name.len() > 255 {
        Some("name longer than 255 bytes")
    } else if name.starts_with('.') {
        Some("name starts with a dot")
    } else if name.contains(['/', '\0', '\r', '\n']) {
        Some("name holds '/', NUL, CR or LF")
    } else {
        None
    }
}

/// The greeting line.
pub fn hello(client: &str) -> String {
    format!("IPSYN {VERSION} {client}\n")
}

/// Parse a greeting; the client name (may be empty).
pub fn parse_hello(line: &str) -> Result<String, String> {
    let mut parts = line.splitn(3, ' ');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("IPSYN"), Some(v), rest) if v == VERSION.to_string() => {
            Ok(rest.unwrap_or("").to_string())
        }
        (Some("IPSYN"), Some(v), _) => Err(format!("unsupported version {v}")),
        _ => Err("not an IPSYN greeting".into()),
    }
}

/// The receiver's answer to a good greeting.
pub fn hello_ok() -> String {
    format!("OK IPSYN {VERSION}\n")
}

/// The header line of one file.
pub fn file_header(size: u64, name: &str) -> String {
    format!("FILE {size} {name}\n")
}

/// A line the receiver reads between files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    File { size: u64, name: String },
    Quit,
}

/// Parse a request line (without its `\n`). The name is returned even when it is not
/// acceptable (the receiver must still read the body, then refuse it).
pub fn parse_request(line: &str) -> Result<Request, String> {
    if line == "QUIT" {
        return Ok(Request::Quit);
    }
    let rest = line
        .strip_prefix("FILE ")
        .ok_or_else(|| format!("unknown request {:?}", truncate(line)))?;
    let (size, name) = rest
        .split_once(' ')
        .ok_or_else(|| "FILE line without a name".to_string())?;
    let size = size
        .parse::<u64>()
        .map_err(|_| format!("bad size {:?}", truncate(size)))?;
    Ok(Request::File {
        size,
        name: name.to_string(),
    })
}

/// The receiver's verdict on one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ack {
    Ok(String),
    Err(String, String),
}

impl Ack {
    /// The line on the wire.
    pub fn line(&self) -> String {
        match self {
            Ack::Ok(name) => format!("OK {name}\n"),
            Ack::Err(name, why) => format!("ERR {name} {}\n", why.replace('\n', " ")),
        }
    }
}

/// Parse the receiver's answer to the file `name` (names may hold spaces, so the name is
/// matched, not split off).
pub fn parse_ack(line: &str, name: &str) -> Result<Ack, String> {
    if line.strip_prefix("OK ") == Some(name) {
        return Ok(Ack::Ok(name.to_string()));
    }
    if let Some(rest) = line.strip_prefix("ERR ") {
        if let Some(why) = rest.strip_prefix(name) {
            return Ok(Ack::Err(name.to_string(), why.trim().to_string()));
        }
    }
    Err(format!(
        "unexpected answer for {name}: {:?}",
        truncate(line)
    ))
}

/// At most 80 characters of a peer's line, for log messages.
pub fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greeting_round_trip() {
        assert_eq!(hello("JUKEBOX"), "IPSYN 1 JUKEBOX\n");
        assert_eq!(parse_hello("IPSYN 1 JUKEBOX").unwrap(), "JUKEBOX");
        assert_eq!(parse_hello("IPSYN 1").unwrap(), "");
        assert!(parse_hello("IPSYN 2 X").unwrap_err().contains("version 2"));
        assert!(parse_hello("GET / HTTP/1.0").is_err());
        assert_eq!(hello_ok(), "OK IPSYN 1\n");
    }

    #[test]
    fn requests() {
        assert_eq!(
            parse_request(file_header(12, "a b.txt").trim_end()).unwrap(),
            Request::File {
                size: 12,
                name: "a b.txt".into()
            }
        );
        assert_eq!(parse_request("QUIT").unwrap(), Request::Quit);
        assert!(parse_request("FILE x name").is_err());
        assert!(parse_request("FILE 12").is_err());
        assert!(parse_request("FILE -1 n").is_err());
        assert!(parse_request("HELO").is_err());
        // The name comes back even when unacceptable; the receiver judges it.
        assert_eq!(
            parse_request("FILE 0 ../x").unwrap(),
            Request::File {
                size: 0,
                name: "../x".into()
            }
        );
    }

    #[test]
    fn acks() {
        assert_eq!(Ack::Ok("a b".into()).line(), "OK a b\n");
        assert_eq!(parse_ack("OK a b", "a b").unwrap(), Ack::Ok("a b".into()));
        let e = Ack::Err("n".into(), "disk\nfull".into());
        assert_eq!(e.line(), "ERR n disk full\n");
        assert_eq!(
            parse_ack("ERR n disk full", "n").unwrap(),
            Ack::Err("n".into(), "disk full".into())
        );
        assert!(parse_ack("OK other", "n").is_err());
        assert!(parse_ack("BYE", "n").is_err());
    }

    #[test]
    fn names() {
        assert_eq!(name_problem("story.txt"), None);
        assert_eq!(name_problem("with space"), None);
        assert!(name_problem("").is_some());
        assert!(name_problem(".hidden").is_some());
        assert!(name_problem("..").is_some());
        assert!(name_problem("a/b").is_some());
        assert!(name_problem("a\nb").is_some());
        assert!(name_problem(&"x".repeat(256)).is_some());
        assert_eq!(name_problem(&"x".repeat(255)), None);
    }
}
