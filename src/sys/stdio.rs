//! Output of the command-line tools that never panics: `println!` panics when the reader
//! of a pipe has gone (`ipsynd -s | head -0`: Rust ignores SIGPIPE, so the write fails with
//! EPIPE). These report the error instead, and the tool decides; a lost diagnostic on a
//! closed stderr is simply lost. Tested through the binaries (`tests/it/ipsynd_cli.rs`).

use std::io::{self, Write};

/// Write `text` to stdout and flush it.
pub fn out(text: &str) -> io::Result<()> {
    let mut o = io::stdout().lock();
    o.write_all(text.as_bytes())?;
    o.flush()
}

/// Write `text` to stderr; errors are ignored (there is nowhere left to report them).
pub fn err(text: &str) {
    let _ = io::stderr().lock().write_all(text.as_bytes());
}
