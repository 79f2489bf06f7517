#![no_main]
//! libFuzzer harness of `lonc_config`; the body is [`targets::lonc_config`], shared with the replay test.

#[path = "../targets.rs"]
#[allow(dead_code)]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::lonc_config(data));
