#![no_main]
//! libFuzzer harness of `lonc_hosts`; the body is [`targets::lonc_hosts`], shared with the replay test.

#[path = "../targets.rs"]
#[allow(dead_code)]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::lonc_hosts(data));
