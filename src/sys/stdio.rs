//! Command-line output that never panics. `println!` panics when stdout is a closed pipe
//! (`lonc -n | head -0`: Rust ignores SIGPIPE, so the write fails with EPIPE), and a CLI must
//! not die with a backtrace for that: what cannot be written is dropped, the exit code stays
//! the command's own.

use std::io::Write;

/// stdout or stderr, written line by line, errors ignored.
pub struct Out {
    stderr: bool,
}

impl Out {
    pub fn stdout() -> Out {
        Out { stderr: false }
    }

    pub fn stderr() -> Out {
        Out { stderr: true }
    }

    /// Write `text` as it is.
    pub fn text(&mut self, text: &str) {
        let _ = if self.stderr {
            std::io::stderr().lock().write_all(text.as_bytes())
        } else {
            let mut o = std::io::stdout().lock();
            o.write_all(text.as_bytes()).and_then(|()| o.flush())
        };
    }

    /// Write `line` and a newline.
    pub fn line(&mut self, line: &str) {
        self.text(&format!("{line}\n"));
    }
}

/// One line to stdout, never panicking.
pub fn say(line: &str) {
    Out::stdout().line(line);
}

/// One line to stderr, never panicking.
pub fn warn(line: &str) {
    Out::stderr().line(line);
}
