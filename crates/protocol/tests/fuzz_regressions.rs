//! Replays every input a fuzz target crashed on (kept by `scripts/fuzz` in
//! tests/fuzz_regressions/<target>/), and the targets' seed inputs
//! (fuzz/seeds/<target>/), through the very harness that found it: the
//! harness files of fuzz/src/ are included here with `#[path]`, so the
//! invariants checked under the fuzzer are the ones checked here. A fixed
//! crash stays fixed; a folder that does not exist yet replays nothing.

use std::path::{Path, PathBuf};

#[path = "../../../fuzz/src/codec.rs"]
mod codec;
#[path = "../../../fuzz/src/mutation.rs"]
mod mutation;
#[path = "../../../fuzz/src/server_packets.rs"]
mod server_packets;
#[path = "../../../fuzz/src/stored_row.rs"]
mod stored_row;

fn inputs(target: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dirs = [root.join("tests/fuzz_regressions").join(target), root.join("../../fuzz/seeds").join(target)];
    let mut files: Vec<PathBuf> = dirs
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flatten()
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file() && p.extension().is_none_or(|x| x != "md"))
        .collect();
    files.sort();
    files
}

fn replay(target: &str, run: fn(&[u8])) {
    for f in inputs(target) {
        let data = std::fs::read(&f).expect("readable input");
        // Printed before the run, so a failure names its input.
        eprintln!("{target}: {}", f.display());
        run(&data);
    }
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
