//! Signal delivery through a self-pipe: handlers only set a flag and write one byte.
//!
//! The main loop polls [`SignalPipe::fd`]; on readiness it calls [`SignalPipe::take`] for the
//! signals it cares about. The flag is registered before the pipe writer, so the flag is set
//! before the wake-up byte arrives. After `fork` a child must call [`SignalPipe::unregister`]
//! on the parent's pipe (so its handlers stop writing into the parent's pipe) and build its own.
//!
//! Ownership: `signal_hook::low_level::pipe::register` takes ownership of the write end it is
//! given and closes it when the action is unregistered. Each signal therefore gets its own
//! duplicate of the write end (`try_clone`), so every fd is closed exactly once: by
//! signal-hook, on [`Drop`]. Handing one shared fd to `register_raw` for several signals (as an
//! earlier version did) closed the same number once per signal, and in release builds silently
//! closed whatever file had reused it.

use std::collections::HashMap;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use signal_hook::SigId;

/// A set of signals routed to flags plus a wake-up pipe.
pub struct SignalPipe {
    reader: UnixStream,
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
            // Each registration owns its own duplicate: signal-hook closes it on unregister.
            ids.push(signal_hook::low_level::pipe::register(
                sig,
                writer.try_clone()?,
            )?);
            flags.insert(sig, flag);
        }
        // `writer` itself is dropped here: only the registered duplicates stay open.
        drop(writer);
        Ok(SignalPipe { reader, flags, ids })
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
    /// Unregistering drops each action, which closes the duplicate write end it owns.
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    fn fd_is_open(fd: i32) -> bool {
        // SAFETY: F_GETFD only queries the descriptor table.
        unsafe { libc::fcntl(fd, libc::F_GETFD) != -1 }
    }

    /// Several signals on one pipe, dropped and built again: every write end is closed once.
    /// With one shared write end handed to signal-hook per signal, the drop closed the same
    /// number several times, which a debug build aborts on ("owned file descriptor already
    /// closed") and a release build turns into closing someone else's file.
    #[test]
    fn dropping_a_pipe_closes_only_its_own_fds() {
        for _ in 0..3 {
            let pipe = SignalPipe::new(&[libc::SIGWINCH, libc::SIGURG]).unwrap();
            let bystander = std::fs::File::open("/dev/null").unwrap();
            let fd = bystander.as_raw_fd();
            drop(pipe);
            assert!(
                fd_is_open(fd),
                "dropping the pipe closed fd {fd} it did not own"
            );
            drop(bystander);
        }
    }

    #[test]
    fn a_signal_sets_its_flag_and_wakes_the_pipe() {
        let pipe = SignalPipe::new(&[libc::SIGWINCH, libc::SIGURG]).unwrap();
        // SAFETY: raising a signal whose handler signal-hook installed above.
        unsafe { libc::raise(libc::SIGURG) };
        let mut fds = [libc::pollfd {
            fd: pipe.fd().as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 1, 2000) };
        assert_eq!(n, 1);
        pipe.drain();
        assert!(pipe.take(libc::SIGURG));
        assert!(!pipe.take(libc::SIGURG));
    }
}
