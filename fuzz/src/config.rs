//! Target `config`: the gateway's RON configuration through its public
//! loader, `GatewayConfig::load` (RON parse with `implicit_some`, then
//! `validate`, then the error's key position).
//!
//! `load` takes a path, so each input is written to a scratch file first
//! (under /dev/shm when there is one; one file per thread). That costs a few
//! microseconds per run; if config.rs grows a text entry point (`load_ron`
//! split into read + `parse_ron(text, path, validate)`), call that instead.
//!
//! Invariants:
//! - nothing panics, and every error formats;
//! - a config that loads is usable: `heartbeat()` (a `Duration` made from an
//!   f64, which panics on infinities and huge values) works;
//! - it serialises back to RON that loads to an equal config.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use vizora_gateway::config::GatewayConfig;

/// One fuzz input.
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let cfg = match load(text) {
        Ok(cfg) => cfg,
        Err(message) => {
            assert!(!message.is_empty());
            return;
        }
    };
    let _ = cfg.heartbeat();
    let ron_text = ron::to_string(&cfg).unwrap_or_else(|e| panic!("config from {text:?} does not serialise: {e}"));
    let back = load(&ron_text).unwrap_or_else(|e| panic!("config from {text:?} re-encodes as {ron_text}: {e}"));
    assert_eq!(back, cfg, "config round trip via {ron_text}");
}

fn load(text: &str) -> Result<GatewayConfig, String> {
    thread_local! {
        static SCRATCH: RefCell<Option<PathBuf>> = const { RefCell::new(None) };
    }
    SCRATCH.with(|cell| {
        let mut slot = cell.borrow_mut();
        let path = slot.get_or_insert_with(scratch_path).as_path();
        std::fs::write(path, text).unwrap_or_else(|e| panic!("scratch file {}: {e}", path.display()));
        GatewayConfig::load(path).map_err(|e| e.to_string())
    })
}

fn scratch_path() -> PathBuf {
    let shm = Path::new("/dev/shm");
    let dir = if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() };
    let thread = format!("{:?}", std::thread::current().id()).replace(|c: char| !c.is_ascii_alphanumeric(), "");
    dir.join(format!("vizora-fuzz-config-{}-{thread}.ron", std::process::id()))
}
