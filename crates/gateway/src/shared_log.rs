//! What nodes sharing one log send each other (several nodes, see
//! `cluster.rs` and docs/cluster.md): a batch as written to the shared log,
//! and the live relay. The sequencer depends on these, not on NATS.

use serde::{Deserialize, Serialize};

use crate::store::{Effect, OrgBatch, StoredOrg};

/// One message of the shared log: a batch, as the node that wrote it made it.
#[derive(Debug, Serialize, Deserialize)]
pub struct SharedBatch {
    /// The org's log epoch (the first writer of an org sets it).
    pub epoch: String,
    /// Log entries as JSON texts, seqs ascending and continuing the log.
    pub entries: Vec<String>,
    /// Decided mutations `(client_id, mutation_id, ack JSON, decided_ms)`.
    pub decided: Vec<(String, String, String, u64)>,
    /// Device removals, `None` for a device registered again.
    pub removed: Vec<(String, Option<u64>)>,
    /// What the batch's mutations do to players.
    pub effects: Vec<Effect>,
}

impl SharedBatch {
    /// The message for a batch this node writes.
    pub fn of(b: &OrgBatch) -> Self {
        SharedBatch {
            epoch: b.epoch.clone(),
            entries: b.entries.iter().map(|e| e.2.clone()).collect(),
            decided: b.decided.clone(),
            removed: b.removed.clone(),
            effects: b.effects.clone(),
        }
    }
}

/// What a node tells the others once a second about its players (core
/// NATS: lossy, latest wins, never logged): live fields of the devices
/// connected to it, and the plays they reported.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct LiveRelay {
    /// The node that sent it (a node ignores its own).
    pub node: String,
    /// Devices whose live fields changed.
    pub devices: Vec<LiveDevice>,
    /// Successful plays by content id since the last relay.
    pub plays: Vec<(String, u64)>,
    /// Failed plays since the last relay.
    pub errors: u64,
}

/// A device's live fields (PROTOCOL.md §8: they change without a rev).
#[derive(Debug, Serialize, Deserialize)]
pub struct LiveDevice {
    /// Device id.
    pub id: String,
    /// Last sign of life.
    pub last_seen_ms: u64,
    /// Last health report.
    pub health: Option<vizora_protocol::Health>,
    /// What it is playing.
    pub playing: Option<vizora_protocol::Playing>,
}

/// Where the sequencer sends its live relay (several nodes).
pub trait Relay: Send {
    /// This node's name in relays.
    fn node(&self) -> &str;
    /// Publishes `payload` (a `LiveRelay`) for `org`; never blocks.
    fn publish(&self, org: &str, payload: Vec<u8>);
}

/// An org's state at a position of the shared log, so a node that has not
/// followed the org (a new node, or one the log's purge left behind) starts
/// from it instead of reading the org's whole history.
#[derive(Debug, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The org's log epoch.
    pub epoch: String,
    /// The log's head at this position.
    pub head: u64,
    /// The shared log's sequence of the org's last message it includes.
    pub shared_seq: u64,
    /// Every entity, as `(kind, JSON)`.
    pub entities: Vec<(String, String)>,
    /// Decided mutations `(client_id, mutation_id, ack JSON, decided_ms)`, oldest first.
    pub decided: Vec<(String, String, String, u64)>,
    /// Removed devices `(device_id, removed_ms)`.
    pub removed: Vec<(String, u64)>,
}

impl Checkpoint {
    /// The org as the store loads it; `Err` names what is unreadable.
    pub fn into_stored(self, org: &str) -> Result<StoredOrg, String> {
        let mut entities = Vec::with_capacity(self.entities.len());
        for (kind, json) in self.entities {
            let k = vizora_protocol::EntityKind::ALL
                .into_iter()
                .find(|k| k.as_str() == kind)
                .ok_or_else(|| format!("unknown entity kind `{kind}`"))?;
            entities.push((k, json));
        }
        Ok(StoredOrg {
            org: org.to_owned(),
            epoch: self.epoch,
            head: self.head,
            entities,
            decided: self.decided,
            decided_spilled_ms: None,
            removed: self.removed,
            shared_seq: self.shared_seq,
        })
    }
}
