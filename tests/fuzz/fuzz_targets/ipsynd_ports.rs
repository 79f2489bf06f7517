#![no_main]
//! libFuzzer harness of `ipsynd_ports`; the body is [`targets::ipsynd_ports`], shared with the replay test.

#[path = "../targets.rs"]
#[allow(dead_code)]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::ipsynd_ports(data));
