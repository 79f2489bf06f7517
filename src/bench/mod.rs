//! Bench instruments (only with the `testkit` feature; the daemons never link this): what the
//! bench tools in `src/bin/bench-*.rs` share. `clock` reads the system-wide monotonic clock
//! (comparable across processes, so a transmitter's exec stamp can be set against its
//! creator's), `stats` takes percentiles and medians, `procfs` reads another process's CPU time,
//! wake-ups and memory from `/proc`, `args` is a tiny `--key value` parser, `net` one stream type over TCP or Unix and `ppoll`.

pub mod args;
pub mod clock;
pub mod net;
pub mod procfs;
pub mod stats;
