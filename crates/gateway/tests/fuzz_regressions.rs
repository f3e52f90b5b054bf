//! Replays every input the `config` fuzz target crashed on (kept by
//! `scripts/fuzz` in tests/fuzz_regressions/config/) and its seeds
//! (fuzz/seeds/config/) through the same harness, included with `#[path]`.

use std::path::{Path, PathBuf};

#[path = "../../../fuzz/src/config.rs"]
mod config;

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

#[test]
fn config_inputs_replay() {
    for f in inputs("config") {
        let data = std::fs::read(&f).expect("readable input");
        eprintln!("config: {}", f.display());
        config::run(&data);
    }
}
