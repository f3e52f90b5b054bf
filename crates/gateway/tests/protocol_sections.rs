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

use std::collections::VecDeque;
use std::future::Future;

use serde_json::{Value, json};
use support::{SECRET, Wall};
use vizora_gateway::{Auth, Embedded, GatewayConfig};

/// Runs `f` on a fresh two-thread runtime (the gateway has its own).
fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime").block_on(f)
}

/// A gateway on a free port with `tweak` applied to the test config.
fn gateway(dir: &std::path::Path, tweak: impl FnOnce(&mut GatewayConfig)) -> Embedded {
    let mut cfg = support::config(dir);
    tweak(&mut cfg);
    Embedded::start(cfg, Auth::hs256(SECRET)).expect("gateway starts")
}

/// A gateway on a free port whose sequencer reads `clock` (status, expiry).
fn gateway_on_clock(
    dir: &std::path::Path,
    clock: &vizora_gateway::ManualClock,
    tweak: impl FnOnce(&mut GatewayConfig),
) -> Embedded {
    let mut cfg = support::config(dir);
    tweak(&mut cfg);
    let hooks = vizora_gateway::Hooks { clock: std::sync::Arc::new(clock.clone()), ..Default::default() };
    Embedded::start_with(cfg, Auth::hs256(SECRET), hooks).expect("gateway starts")
}

/// `Authorization`-style auth payload for CONNECT.
fn auth(token: &str) -> Value {
    json!({ "token": token })
}

/// A subscribed `/wall` session read as one gap-checked stream of log entries.
struct Feed {
    wall: Wall,
    pending: VecDeque<Value>,
    /// Last seq handed out.
    last: u64,
    epoch: String,
}

impl Feed {
    /// Subscribes with `since: null` and skips the snapshot.
    async fn subscribe(url: &str, token: &str) -> Self {
        let mut wall = Wall::connect(url, token).await;
        let ack = wall.call("subscribe", &json!({ "since": null })).await;
        assert_eq!(ack["mode"], "snapshot", "{ack}");
        let mut done = 0;
        while done < 5 {
            if wall.next_event("snapshot").await["last"] == true {
                done += 1;
            }
        }
        let last = ack["head_seq"].as_u64().expect("head_seq");
        let epoch = ack["epoch"].as_str().expect("epoch").to_owned();
        Feed { wall, pending: VecDeque::new(), last, epoch }
    }

    /// The next log entry; asserts it is `last + 1`.
    async fn next(&mut self) -> Value {
        while self.pending.is_empty() {
            let ev = self.wall.next_event("events").await;
            assert_eq!(ev["epoch"], self.epoch.as_str());
            self.pending.extend(ev["items"].as_array().expect("items").iter().cloned());
        }
        let e = self.pending.pop_front().expect("entry");
        assert_eq!(e["seq"].as_u64(), Some(self.last + 1), "gap-free, in order: {e}");
        self.last += 1;
        e
    }

    /// The next entry of type `ty`, skipping others; returns it and what was skipped.
    async fn next_of(&mut self, ty: &str) -> (Value, Vec<Value>) {
        let mut skipped = Vec::new();
        loop {
            let e = self.next().await;
            if e["type"] == ty {
                return (e, skipped);
            }
            skipped.push(e);
        }
    }
}
