//! Replays every input a fuzz target crashed on (kept by `scripts/fuzz` in
//! tests/fuzz_regressions/<target>/), and the targets' seed inputs
//! (fuzz/seeds/<target>/), through the very harness that found it: the
//! harness files of fuzz/src/ are included here with `#[path]`, so the
//! invariants checked under the fuzzer are the ones checked here. A fixed
//! crash stays fixed; a folder that does not exist yet replays nothing.

#[path = "../../../fuzz/src/codec.rs"]
mod codec;
#[path = "../../../fuzz/src/mutation.rs"]
mod mutation;
#[path = "../../../fuzz/src/replay.rs"]
mod replay;
#[path = "../../../fuzz/src/server_packets.rs"]
mod server_packets;
#[path = "../../../fuzz/src/stored_row.rs"]
mod stored_row;

fn replay(target: &str, run: fn(&[u8])) {
    replay::replay(env!("CARGO_MANIFEST_DIR"), target, run);
}

#[test]
fn codec_inputs_replay() {
    replay("codec", codec::run);
}

#[test]
fn mutation_inputs_replay() {
    replay("mutation", mutation::run);
}

#[test]
fn server_packet_inputs_replay() {
    replay("server_packets", server_packets::run);
}

#[test]
fn stored_row_inputs_replay() {
    replay("stored_row", stored_row::run);
}
