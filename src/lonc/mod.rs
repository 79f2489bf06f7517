//! lonc: the LON-CAPA connection daemon (behaviour of rev 1.29, see `shared/spec/lonc.md`).
//!
//! Pure pieces (`config`, `hosts`, `cipher`, `logfmt`) carry their own unit tests; the
//! process pieces (`supervisor`, `child`) are covered by the integration tests in `tests/`.

pub mod child;
pub mod cipher;
pub mod config;
pub mod delayed;
pub mod hosts;
pub mod log;
pub mod logfmt;
pub mod standin;
pub mod status;
pub mod supervisor;
