//! The load generator's operator: writes `content.create` at a fixed rate
//! (or, with a working set, creates that many items and then updates them
//! in turn, each with the rev its last ack gave) and counts acks. When its connection dies (a storm) it reconnects and
//! sends its undecided mutations again with their original ids, as
//! PROTOCOL.md §6 asks of every client; a `duplicate` ack of an applied one
//! counts as applied.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vizora_client::transport::{Incoming, Session};
use vizora_protocol::MutationAck;

use super::{LoadConfig, LoadError, Shared};

struct Operator {
    s: Session,
    /// Undecided mutations by number, and the ack id each was last sent under.
    pending: BTreeMap<usize, Value>,
    acks: HashMap<u64, usize>,
    applied: u64,
    /// Working-set mode: each item's rev as last acknowledged (0: not yet created).
    revs: Vec<u64>,
}

impl Operator {
    async fn send(&mut self, n: usize) -> Result<(), String> {
        let id = self.s.emit_with_ack("mutate", &self.pending[&n]).await.map_err(|e| e.to_string())?;
        self.acks.insert(id, n);
        Ok(())
    }

    fn on_ack(&mut self, id: u64, arg: &str) {
        let Some(n) = self.acks.remove(&id) else { return };
        let item = (!self.revs.is_empty()).then(|| n % self.revs.len());
        match serde_json::from_str::<MutationAck>(arg) {
            Ok(MutationAck::Applied { rev, .. } | MutationAck::Duplicate { seq: Some(_), rev: Some(rev) }) => {
                self.applied += 1;
                if let Some(i) = item {
                    self.revs[i] = self.revs[i].max(rev);
                }
            }
            Ok(MutationAck::Duplicate { seq: Some(_), .. }) => self.applied += 1,
            Ok(MutationAck::Rejected { current: Some(current), .. }) => {
                if let (Some(i), Some(rev)) = (item, current["rev"].as_u64()) {
                    self.revs[i] = rev;
                }
            }
            // Not decided: it goes again after the next reconnect.
            Ok(MutationAck::Rejected {
                code: vizora_protocol::RejectCode::RateLimited | vizora_protocol::RejectCode::Unavailable,
                ..
            }) => return,
            _ => {}
        }
        self.pending.remove(&n);
    }

    /// Mutation number `n`, or `None` when its working-set item still has
    /// one undecided (the tick is skipped: an update sent with a stale rev
    /// would only conflict).
    fn next_mutation(&self, n: usize, run: &str) -> Option<Value> {
        let (mutation_id, client_id) = (format!("lt-{n}"), format!("loadtest-{run}"));
        let k = self.revs.len();
        if k == 0 {
            return Some(json!({
                "mutation_id": mutation_id, "client_id": client_id, "kind": "content.create",
                "args": { "name": format!("load {n}"), "kind": "web", "uri": "https://example.invalid/x", "duration_s": 5, "size_bytes": 0 },
            }));
        }
        let item = n % k;
        if self.pending.keys().any(|p| p % k == item) {
            return None;
        }
        let id = format!("lt-item-{item}");
        Some(if n < k {
            json!({
                "mutation_id": mutation_id, "client_id": client_id, "kind": "content.create",
                "args": { "id": id, "name": format!("load {n}"), "kind": "web", "uri": "https://example.invalid/x", "duration_s": 5, "size_bytes": 0 },
            })
        } else {
            json!({
                "mutation_id": mutation_id, "client_id": client_id, "kind": "content.update",
                "target": id, "base_rev": self.revs[item], "args": { "name": format!("load {n}") },
            })
        })
    }

    /// Replaces a dead session and sends every undecided mutation again, in order.
    async fn reconnect(&mut self, cfg: &LoadConfig, until: Instant) -> Result<(), LoadError> {
        loop {
            match Session::connect(&cfg.server, "/wall", &cfg.operator_token, Duration::from_secs(5)).await {
                Ok(s) => {
                    self.s = s;
                    self.acks.clear();
                    let undecided: Vec<usize> = self.pending.keys().copied().collect();
                    let mut ok = true;
                    for n in undecided {
                        ok &= self.send(n).await.is_ok();
                    }
                    if ok {
                        return Ok(());
                    }
                }
                Err(e) if Instant::now() >= until => return Err(LoadError::Operator(e.to_string())),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }
}

/// Writes at the configured rate; returns (sent, applied, final head).
pub(super) async fn operate(cfg: &LoadConfig, shared: &Shared) -> Result<(u64, u64, u64), LoadError> {
    let s = Session::connect(&cfg.server, "/wall", &cfg.operator_token, Duration::from_secs(10))
        .await
        .map_err(|e| LoadError::Operator(e.to_string()))?;
    let mut op = Operator {
        s,
        pending: BTreeMap::new(),
        acks: HashMap::new(),
        applied: 0,
        revs: vec![0; cfg.working_set.unwrap_or(0)],
    };
    let run = format!("{:x}", shared.start.elapsed().as_nanos() ^ u128::from(std::process::id()));
    let period = Duration::from_secs_f64(1.0 / cfg.mutations_per_s.max(0.001));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let end = Instant::now() + cfg.duration;
    let give_up = end + Duration::from_secs(60);
    let mut sent = 0u64;
    while Instant::now() < end {
        let dead = tokio::select! {
            _ = tick.tick() => {
                let n = sent as usize;
                if n >= shared.sent_us.len() { continue; }
                let Some(m) = op.next_mutation(n, &run) else { continue };
                op.pending.insert(n, m);
                shared.sent_us[n].store(shared.start.elapsed().as_micros() as u64, Ordering::Relaxed);
                sent += 1;
                op.send(n).await.is_err()
            }
            msg = op.s.recv() => match msg {
                Ok(Incoming::Ack { id, arg }) => { op.on_ack(id, &arg); false }
                Ok(Incoming::Disconnected) | Err(_) => true,
                Ok(_) => false,
            }
        };
        if dead {
            op.reconnect(cfg, give_up).await?;
        }
    }
    // Collect the remaining acks (reconnecting if need be), then ask for the head.
    let until = Instant::now() + Duration::from_secs(10);
    while !op.pending.is_empty() && Instant::now() < until {
        match tokio::time::timeout(Duration::from_millis(500), op.s.recv()).await {
            Ok(Ok(Incoming::Ack { id, arg })) => op.on_ack(id, &arg),
            Ok(Ok(Incoming::Disconnected) | Err(_)) => op.reconnect(cfg, until).await?,
            _ => {}
        }
    }
    let id =
        op.s.emit_with_ack("subscribe", &json!({ "since": null }))
            .await
            .map_err(|e| LoadError::Operator(e.to_string()))?;
    let head = loop {
        match tokio::time::timeout(Duration::from_secs(10), op.s.recv()).await {
            Ok(Ok(Incoming::Ack { id: got, arg })) if got == id => {
                break serde_json::from_str::<Value>(&arg).ok().and_then(|v| v["head_seq"].as_u64()).unwrap_or(0);
            }
            Ok(Ok(Incoming::Ack { id, arg })) => op.on_ack(id, &arg),
            Ok(Ok(_)) => {}
            _ => return Err(LoadError::Operator("no subscribe ack at the end".into())),
        }
    };
    op.s.close().await;
    Ok((sent, op.applied, head))
}
