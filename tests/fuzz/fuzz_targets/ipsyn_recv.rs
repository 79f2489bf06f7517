#![no_main]
//! libFuzzer harness of `ipsyn_recv`; the body is [`targets::ipsyn_recv`], shared with the replay test.

#[path = "../targets.rs"]
#[allow(dead_code)]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::ipsyn_recv(data));
