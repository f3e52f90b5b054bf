#![no_main]
// Thin libFuzzer entry point; the harness and its invariants are in src/server_packets.rs.
libfuzzer_sys::fuzz_target!(|data: &[u8]| vizora_fuzz::server_packets::run(data));
