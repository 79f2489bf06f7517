#![no_main]
//! libFuzzer harness of `ipsyn_args`; the body is [`targets::ipsyn_args`], shared with the replay test.

#[path = "../targets.rs"]
#[allow(dead_code)]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::ipsyn_args(data));
