//! Replays the inputs a fuzz target crashed on (kept by `scripts/fuzz` in
//! `tests/fuzz_regressions/<target>/` of the crate) and the target's seeds
//! (`fuzz/seeds/<target>/`) through its harness. Shared by the protocol and
//! gateway regression tests with `#[path]`.

use std::path::{Path, PathBuf};

fn inputs(crate_dir: &Path, target: &str) -> Vec<PathBuf> {
    let dirs = [crate_dir.join("tests/fuzz_regressions").join(target), crate_dir.join("../../fuzz/seeds").join(target)];
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

/// Runs every kept input of `target` through `run`; a folder that does not
/// exist yet replays nothing.
pub fn replay(crate_dir: &str, target: &str, run: fn(&[u8])) {
    for f in inputs(Path::new(crate_dir), target) {
        let data = std::fs::read(&f).expect("readable input");
        // Printed before the run, so a failure names its input.
        eprintln!("{target}: {}", f.display());
        run(&data);
    }
}
