#![no_main]
// Thin libFuzzer entry point; the harness and its invariants are in src/stored_row.rs.
libfuzzer_sys::fuzz_target!(|data: &[u8]| vizora_fuzz::stored_row::run(data));
