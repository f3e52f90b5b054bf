//! Shared helpers for the sim's tests: a gateway on a free port and tokens.

#![allow(dead_code)]

pub mod proxy;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use vizora_gateway::{Auth, Embedded, GatewayConfig};
use vizora_protocol::{Claims, Role, now_ms};
use vizora_sim::scenario::Scenario;
use vizora_sim::{FaultRates, SimConfig};

pub const SECRET: &[u8] = b"sim-test-secret";

pub fn token(org: &str, role: Role, sub: &str) -> String {
    let claims = Claims { sub: sub.into(), org: org.into(), role, exp: now_ms() / 1000 + 3600, iat: None };
    Auth::hs256(SECRET).mint(&claims).expect("mint")
}

pub fn config(dir: &Path) -> GatewayConfig {
    GatewayConfig { listen: "127.0.0.1:0".into(), data_dir: dir.into(), tick_ms: 50, ..Default::default() }
}

pub fn gateway(dir: &Path) -> Embedded {
    Embedded::start(config(dir), Auth::hs256(SECRET)).expect("gateway starts")
}

pub fn shipped_scenario() -> Scenario {
    Scenario::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/scenario.ron")).expect("scenario loads")
}

pub fn sim_config(gw: &Embedded, players: usize, faults: FaultRates) -> SimConfig {
    SimConfig {
        server: gw.url(),
        players,
        id_prefix: "player".into(),
        heartbeat: Duration::from_millis(500),
        seed: 7,
        faults,
        fault_period: Duration::from_secs(3600),
        token: Arc::new(|id: &str| token("acme", Role::Device, id)),
        ramp: Duration::ZERO,
    }
}

/// A runtime for the test body; the gateway runs on its own (start it outside `block_on`).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}
