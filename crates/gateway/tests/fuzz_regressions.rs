//! Replays every input the `config` fuzz target crashed on (kept by
//! `scripts/fuzz` in tests/fuzz_regressions/config/) and its seeds
//! (fuzz/seeds/config/) through the same harness, included with `#[path]`.

#[path = "../../../fuzz/src/config.rs"]
mod config;
#[path = "../../../fuzz/src/replay.rs"]
mod replay;

#[test]
fn config_inputs_replay() {
    replay::replay(env!("CARGO_MANIFEST_DIR"), "config", config::run);
}
