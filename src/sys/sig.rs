//! Signal delivery through a self-pipe: handlers only set a flag and write one byte.
//!
//! The main loop polls [`SignalPipe::fd`]; on readiness it calls [`SignalPipe::take`] for the
//! signals it cares about. The flag is registered before the pipe writer, so the flag is set
//! before the wake-up byte arrives. After `fork` a child must call [`SignalPipe::unregister`]
//! on the parent's pipe (so its handlers stop writing into the parent's pipe) and build its own.

use std::collections::HashMap;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use signal_hook::SigId;

/// A set of signals routed to flags plus a wake-up pipe.
pub struct SignalPipe {
    reader: UnixStream,
    // Kept so the write end stays open as long as the handlers may write to it.
    _writer: UnixStream,
    flags: HashMap<i32, Arc<AtomicBool>>,
    ids: Vec<SigId>,
}

impl SignalPipe {
    /// Route `signals` (e.g. `libc::SIGTERM`) to this pipe.
    pub fn new(signals: &[i32]) -> io::Result<SignalPipe> {
        let (reader, writer) = UnixStream::pair()?;
        reader.set_nonblocking(true)?;
        writer.set_nonblocking(true)?;
        let mut flags = HashMap::new();
        let mut ids = Vec::new();
        for &sig in signals {
            let flag = Arc::new(AtomicBool::new(false));
            ids.push(signal_hook::flag::register(sig, Arc::clone(&flag))?);
            // One write end shared by every signal: `register_raw` does not take ownership,
            // and `_writer` keeps the fd open for as long as the handlers may use it.
            ids.push(signal_hook::low_level::pipe::register_raw(
                sig,
                writer.as_raw_fd(),
            )?);
            flags.insert(sig, flag);
        }
        Ok(SignalPipe {
            reader,
            _writer: writer,
            flags,
            ids,
        })
    }

    /// The fd to poll for readability.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.reader.as_fd()
    }

    /// Empty the pipe. Call once per wake-up, before [`SignalPipe::take`].
    pub fn drain(&self) {
        let mut buf = [0u8; 64];
        let mut r = &self.reader;
        while let Ok(n) = r.read(&mut buf) {
            if n == 0 {
                break;
            }
        }
    }

    /// Whether `sig` arrived since the last call (clears the flag).
    pub fn take(&self, sig: i32) -> bool {
        self.flags
            .get(&sig)
            .map(|f| f.swap(false, Ordering::SeqCst))
            .unwrap_or(false)
    }

    /// Remove the handlers of this pipe (after fork, in the child). Dispositions go back to
    /// default only where signal-hook restores them; callers that need a precise disposition
    /// set it themselves afterwards. Dropping the pipe does the same.
    pub fn unregister(self) {
        drop(self)
    }
}

impl Drop for SignalPipe {
    /// The handlers write to `_writer`'s fd number: they must be gone before it closes, or a
    /// later signal would write into whatever file reuses that number.
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}
