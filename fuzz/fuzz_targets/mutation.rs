#![no_main]
// Thin libFuzzer entry point; the harness and its invariants are in src/mutation.rs.
libfuzzer_sys::fuzz_target!(|data: &[u8]| vizora_fuzz::mutation::run(data));
