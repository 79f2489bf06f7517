//! bench-transmit: the transmitter of the ipsynd bench, a compiled program (a shell script's
//! start-up would be the floor measured instead of the daemon's).
//!
//! Called as ipsynd calls a transmitter (`-c CLIENT -q QUEUE [-s HOST -p PORT] -l LOG -r INUSE
//! -z CTRL`; unknown switches are skipped). First thing, it takes the system-wide monotonic
//! clock and appends `CLIENT <ns>` to `$BENCH_STAMPS` (one `O_APPEND` write, so concurrent
//! transmitters never interleave). Then, when `$BENCH_HOLD` is set: a client named `H...`
//! waits until `$BENCH_HOLD/H` exists, a client named `R...` until `$BENCH_HOLD/<CLIENT>`
//! exists (holding a port busy, or a transmitter alive until the bench reaps it on purpose),
//! a client named `Q...` until `$BENCH_HOLD/<control record's file name>` exists (one
//! client's records, released one at a time);
//! a hold ends by itself after 600 s or when `$BENCH_HOLD` goes away, so nothing outlives a
//! dead bench for long. Then it deletes the control record (`-z`) and its in-use flag (`-r`),
//! which is a success to ipsynd, and exits 0.

use loncsyn::bench::clock::mono_ns;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn main() {
    let stamp = mono_ns();
    let mut client = String::new();
    let mut inuse = None;
    let mut ctrl = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "-c" => client = args.next().unwrap_or_default(),
            "-r" => inuse = args.next(),
            "-z" => ctrl = args.next(),
            _ => {}
        }
    }
    if let Some(path) = std::env::var_os("BENCH_STAMPS") {
        let line = format!("{client} {stamp}\n");
        let f = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o644)
            .open(&path);
        if let Ok(mut f) = f {
            let _ = f.write_all(line.as_bytes());
        }
    }
    if let Some(dir) = std::env::var_os("BENCH_HOLD") {
        let dir = PathBuf::from(dir);
        if client.starts_with('H') {
            hold(&dir, &dir.join("H"));
        } else if client.starts_with('R') {
            hold(&dir, &dir.join(&client));
        } else if client.starts_with('Q') {
            // One client's backlog: each record is released on its own.
            if let Some(name) = ctrl.as_deref().and_then(|c| Path::new(c).file_name()) {
                hold(&dir, &dir.join(name));
            }
        }
    }
    for p in [ctrl, inuse].into_iter().flatten() {
        let _ = std::fs::remove_file(p);
    }
}

/// Wait until `file` exists, at most 600 s, and not past the removal of `dir`. Sleeps on
/// inotify (no polling loop: the held transmitters must not load the machine the daemon is
/// measured on).
fn hold(dir: &Path, file: &Path) {
    use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
    let end = Instant::now() + Duration::from_secs(600);
    let ino = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK).ok();
    if let Some(ino) = &ino {
        let _ = ino.add_watch(
            dir,
            AddWatchFlags::IN_CREATE
                | AddWatchFlags::IN_MOVED_TO
                | AddWatchFlags::IN_DELETE_SELF
                | AddWatchFlags::IN_ATTRIB,
        );
    }
    while !file.exists() && dir.is_dir() && Instant::now() < end {
        match &ino {
            Some(ino) => {
                use std::os::fd::AsFd;
                let mut fds = [nix::poll::PollFd::new(
                    ino.as_fd(),
                    nix::poll::PollFlags::POLLIN,
                )];
                let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(1000u16));
                let _ = ino.read_events();
            }
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}
