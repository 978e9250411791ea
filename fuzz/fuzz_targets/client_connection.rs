//! `nodehttp_fuzzing::client_connection` under libFuzzer (the invariants are documented there).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nodehttp_fuzzing::client_connection(data));
