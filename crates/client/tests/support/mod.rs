//! Shared helpers for client tests against the real gateway: a gateway that
//! restarts on the same port and data directory, tokens, mutations, and a
//! client whose updates are recorded while waiting for a condition.

#![allow(dead_code, reason = "each test binary uses a part")]

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use vizora_client::{ClientConfig, ClientHandle, ConfirmedState, ConnectionState, Control, QueuedMutation, Update};
use vizora_gateway::{Auth, Embedded, GatewayConfig};
use vizora_protocol::{ApplyCtx, Claims, Event, LogEntry, Mutation, MutationAck, Role, now_ms};

pub const SECRET: &[u8] = b"client-test-secret";
pub const ORG: &str = "acme";

/// A token for `/wall`, valid for an hour (or expired, with `ttl_s` negative).
pub fn token_ttl(role: Role, sub: &str, ttl_s: i64) -> String {
    let exp = (now_ms() / 1000).saturating_add_signed(ttl_s);
    let claims = Claims { sub: sub.into(), org: ORG.into(), role, exp, iat: None };
    Auth::hs256(SECRET).mint(&claims).expect("mint")
}

/// A token valid for an hour.
pub fn token(role: Role, sub: &str) -> String {
    token_ttl(role, sub, 3600)
}

/// A gateway that can be stopped and started again on the same port and data.
pub struct Gateway {
    cfg: GatewayConfig,
    gw: Option<Embedded>,
}

impl Gateway {
    /// Starts on a free port.
    pub fn start(dir: &Path) -> Self {
        Self::start_with(dir, GatewayConfig::default())
    }

    /// Starts on a free port with `base`, its `listen`, `data_dir` and `tick_ms` replaced.
    pub fn start_with(dir: &Path, base: GatewayConfig) -> Self {
        let mut cfg = GatewayConfig { listen: "127.0.0.1:0".into(), data_dir: dir.into(), tick_ms: 50, ..base };
        let gw = Embedded::start(cfg.clone(), Auth::hs256(SECRET)).expect("gateway starts");
        cfg.listen = gw.addr.to_string();
        Self { cfg, gw: Some(gw) }
    }

    /// `ws://` URL, the same across restarts.
    pub fn url(&self) -> String {
        format!("ws://{}", self.cfg.listen)
    }

    /// Stops it (flushes, closes every socket) and waits.
    pub fn stop(&mut self) {
        if let Some(gw) = self.gw.take() {
            gw.stop();
        }
    }

    /// Starts it again on the same port and data directory.
    pub fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match Embedded::start(self.cfg.clone(), Auth::hs256(SECRET)) {
                Ok(gw) => {
                    self.gw = Some(gw);
                    return;
                }
                Err(e) if Instant::now() < deadline => eprintln!("{} not free yet: {e}", self.cfg.listen),
                Err(e) => panic!("gateway does not restart on {}: {e}", self.cfg.listen),
            }
            std::thread::sleep(Duration::from_millis(50)); // bounded retry of a bind, not a wait for an event
        }
    }
}

/// A client config with quick retries.
pub fn client_config(url: &str, token: String, store: Option<&Path>) -> ClientConfig {
    let mut cfg = ClientConfig::new(url, token);
    cfg.backoff_cap = Duration::from_millis(500);
    cfg.store_path = store.map(Path::to_owned);
    cfg
}

/// The context a wall made by `sub` applies its mutations with.
pub fn ctx(sub: &str, new_id: &str) -> ApplyCtx {
    ApplyCtx { org: ORG.into(), role: Role::Operator, sub: sub.into(), new_id: new_id.into() }
}

/// `playlist.create` with an explicit id.
pub fn create_playlist(mutation_id: &str, client_id: &str, id: &str) -> Mutation {
    let v = json!({ "mutation_id": mutation_id, "client_id": client_id, "kind": "playlist.create",
                    "args": { "id": id, "name": format!("Playlist {id}") } });
    Mutation::decode(&v).expect("valid mutation")
}

/// `playlist.rename` at `base_rev`.
pub fn rename_playlist(mutation_id: &str, client_id: &str, id: &str, base_rev: u64, name: &str) -> Mutation {
    let v = json!({ "mutation_id": mutation_id, "client_id": client_id, "kind": "playlist.rename",
                    "target": id, "base_rev": base_rev, "args": { "name": name } });
    Mutation::decode(&v).expect("valid mutation")
}

/// A running client and everything it reported so far.
pub struct Watched {
    pub handle: ClientHandle,
    pub restored: Option<(Vec<QueuedMutation>, Option<ConfirmedState>)>,
    pub states: Vec<ConnectionState>,
    pub snapshots: Vec<u64>,
    pub entries: Vec<(String, LogEntry)>,
    pub queued: Vec<String>,
    pub full: Vec<String>,
    pub acks: Vec<(String, MutationAck)>,
    pub store_failures: Vec<String>,
    /// Updates in arrival order, for callers that drive an engine.
    pub log: Vec<Update>,
    keep_log: bool,
}

impl Watched {
    /// Spawns a client.
    pub fn spawn(cfg: ClientConfig) -> Self {
        let handle = vizora_client::spawn(cfg).expect("client thread");
        Self {
            handle,
            restored: None,
            states: vec![],
            snapshots: vec![],
            entries: vec![],
            queued: vec![],
            full: vec![],
            acks: vec![],
            store_failures: vec![],
            log: vec![],
            keep_log: false,
        }
    }

    /// Keeps every update in [`Self::log`] as well.
    pub fn keeping_log(mut self) -> Self {
        self.keep_log = true;
        self
    }

    /// Shuts the client down cleanly and waits.
    pub fn shutdown(self) {
        self.handle.shutdown();
    }

    /// Queues a mutation.
    pub fn mutate(&self, mutation: Mutation, ctx: ApplyCtx) {
        self.handle.control(Control::Mutate { mutation, ctx });
    }

    fn record(&mut self, u: Update) {
        if self.keep_log {
            self.log.push(u.clone());
        }
        match u {
            Update::Restored { pending, confirmed } => self.restored = Some((pending, confirmed)),
            Update::Connection(s) => self.states.push(s),
            Update::Snapshot { seq, .. } => self.snapshots.push(seq),
            Update::Entries { epoch, items } => self.entries.extend(items.into_iter().map(|e| (epoch.clone(), e))),
            Update::Queued { mutation_id } => self.queued.push(mutation_id),
            Update::OutboxFull { mutation_id, .. } => self.full.push(mutation_id),
            Update::Acked { mutation_id, ack } => self.acks.push((mutation_id, ack)),
            Update::StoreFailed { message, .. } => self.store_failures.push(message),
            Update::Telemetry(_) | Update::Metrics(_) | Update::ServerError(_) | Update::Undecodable { .. } => {}
        }
    }

    /// Records updates until `done` holds; panics naming `what` after `limit`.
    pub fn until(&mut self, what: &str, limit: Duration, mut done: impl FnMut(&Self) -> bool) {
        let deadline = Instant::now() + limit;
        while !done(self) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "timed out waiting for {what}; last states: {:?}",
                self.states.iter().rev().take(3).collect::<Vec<_>>()
            );
            if let Ok(u) = self.handle.updates.recv_timeout(left.min(Duration::from_millis(100))) {
                self.record(u);
            }
        }
    }

    /// Waits until the client is live (subscribed) for the `n`th time.
    pub fn until_live(&mut self, n: usize) {
        self.until("the client to be live", Duration::from_secs(30), |w| w.live_count() >= n);
    }

    /// How often it went live.
    pub fn live_count(&self) -> usize {
        self.states.iter().filter(|s| matches!(s, ConnectionState::Live { .. })).count()
    }

    /// `mutation.applied` entries seen for `client_id`, in log order.
    pub fn applied_ids(&self, client_id: &str) -> Vec<String> {
        self.entries
            .iter()
            .filter_map(|(_, e)| match &e.event {
                Event::MutationApplied(a) if a.client_id == client_id => Some(a.mutation_id.clone()),
                _ => None,
            })
            .collect()
    }
}
