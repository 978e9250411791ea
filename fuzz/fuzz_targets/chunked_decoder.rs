//! `nodehttp_fuzzing::chunked_decoder` under libFuzzer (the invariants are documented there).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nodehttp_fuzzing::chunked_decoder(data));
