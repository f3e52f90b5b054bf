//! PROTOCOL.md section by section over real sockets: §1 transport, §2 auth,
//! §4–§5 subscribe and recovery, §7 players, §8 limits. Mutations (§6) are
//! in `mutations.rs`, the binary itself in `process.rs`.

mod support;

#[path = "protocol_sections/auth.rs"]
mod auth;
#[path = "protocol_sections/backpressure.rs"]
mod backpressure;
#[path = "protocol_sections/limits.rs"]
mod limits;
#[path = "protocol_sections/operations.rs"]
mod operations;
#[path = "protocol_sections/players.rs"]
mod players;
#[path = "protocol_sections/subscribe.rs"]
mod subscribe;
#[path = "protocol_sections/transport.rs"]
mod transport;

use std::future::Future;

use serde_json::{Value, json};
use support::SECRET;
use support::feed::Feed;
use vizora_gateway::{Auth, Embedded, GatewayConfig};

/// Runs `f` on a fresh two-thread runtime (the gateway has its own).
fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime").block_on(f)
}

/// A gateway on a free port with `tweak` applied to the test config.
fn gateway(dir: &std::path::Path, tweak: impl FnOnce(&mut GatewayConfig)) -> Embedded {
    gateway_with(dir, vizora_gateway::Hooks::default(), tweak)
}

/// A gateway on a free port whose sequencer reads `clock` (status, expiry).
fn gateway_on_clock(
    dir: &std::path::Path,
    clock: &vizora_gateway::ManualClock,
    tweak: impl FnOnce(&mut GatewayConfig),
) -> Embedded {
    let hooks = vizora_gateway::Hooks { clock: std::sync::Arc::new(clock.clone()), ..Default::default() };
    gateway_with(dir, hooks, tweak)
}

/// A gateway on a free port whose Engine.IO heartbeat (pings, their
/// timeout, stalled writes) runs on `beat`.
fn gateway_on_heartbeat_clock(
    dir: &std::path::Path,
    beat: &vizora_gateway::ManualClock,
    tweak: impl FnOnce(&mut GatewayConfig),
) -> Embedded {
    let hooks = vizora_gateway::Hooks { heartbeat_clock: std::sync::Arc::new(beat.clone()), ..Default::default() };
    gateway_with(dir, hooks, tweak)
}

fn gateway_with(
    dir: &std::path::Path,
    hooks: vizora_gateway::Hooks,
    tweak: impl FnOnce(&mut GatewayConfig),
) -> Embedded {
    let mut cfg = support::config(dir);
    tweak(&mut cfg);
    Embedded::start_with(cfg, Auth::hs256(SECRET), hooks).expect("gateway starts")
}

/// `Authorization`-style auth payload for CONNECT.
fn auth(token: &str) -> Value {
    json!({ "token": token })
}
