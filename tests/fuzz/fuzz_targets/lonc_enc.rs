#![no_main]
//! libFuzzer harness of `lonc_enc`; the body is [`targets::lonc_enc`], shared with the replay test.

#[path = "../targets.rs"]
#[allow(dead_code)]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::lonc_enc(data));
