#![no_main]
//! libFuzzer harness of `ipsynd_client`; the body is [`targets::ipsynd_client`], shared with the replay test.

#[path = "../targets.rs"]
#[allow(dead_code)]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::ipsynd_client(data));
