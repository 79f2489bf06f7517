#![no_main]
//! libFuzzer harness of `ipsyn_wire`; the body is [`targets::ipsyn_wire`], shared with the replay test.

#[path = "../targets.rs"]
#[allow(dead_code)]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::ipsyn_wire(data));
