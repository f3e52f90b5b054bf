//! One org as the sequencer holds it: state, log head, decided ids, removed
//! devices, subscribers, and the batch not yet on disk with what it takes to
//! undo it when the store refuses the batch.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use vizora_protocol::org_state::OrgState;
use vizora_protocol::{AlertState, Entity, EntityKind, Event, LogEntry, MutationAck};

use super::outbox::Outbox;
use super::static_kind;
use crate::metrics::MetricsWindow;
use crate::peer::Packet;
use crate::peer::PeerRef;
use crate::status::Liveness;
pub(crate) use crate::store::Effect;
use crate::store::{OrgBatch, StoreError, StoredOrg};

/// Liveness and socket of one device.
pub(crate) struct DeviceRt {
    pub(crate) live: Liveness,
    /// Its connected sockets, oldest first (PROTOCOL.md §8: `command` goes
    /// to "the player's connected sockets"), at most [`MAX_DEVICE_SOCKETS`].
    pub(crate) socks: Vec<PeerRef>,
}

/// Sockets one device may hold at once; a connection past it closes the
/// oldest (a player that reconnects before its old socket times out).
pub(crate) const MAX_DEVICE_SOCKETS: usize = 4;

impl DeviceRt {
    pub(crate) fn new(live: Liveness) -> Self {
        Self { live, socks: Vec::new() }
    }

    /// Whether the device has a socket on this node.
    pub(crate) fn connected(&self) -> bool {
        !self.socks.is_empty()
    }
}

/// A `/wall` subscriber.
pub(crate) struct Sub {
    pub(crate) sock: PeerRef,
    /// Live entries and lossy streams on their way to it (paused while its
    /// replay is sent off the sequencer thread).
    pub(crate) outbox: Arc<Outbox>,
    /// The subscribe this is (see `Cmd::CaughtUp`).
    pub(crate) round: u64,
    /// Its hand-off lane, taken modulo the org's lane count (`commit.rs`).
    pub(crate) lane: u32,
    /// Index, in the org's stream of committed entries, of the first one
    /// not yet handed to it (see `Org::fanout_base`).
    pub(crate) next: u64,
}

/// A reply to send once the batch it depends on is on disk.
pub(crate) struct PendingAck {
    pub(crate) to: super::Replier,
    pub(crate) reply: MutationAck,
    /// The `(client_id, mutation_id)` it answers: a `duplicate` reply stands
    /// only while that id stays decided (a batch undone takes it back).
    pub(crate) key: (String, String),
    /// Several nodes: what decided it, to decide it again when another
    /// node's write lands first (see `Sequencer::rebase`).
    pub(crate) redo: Option<Redo>,
}

/// What decided a pending reply.
pub(crate) enum Redo {
    /// A mutation `apply` judged.
    Mutate { claims: vizora_protocol::Claims, mutation: Box<vizora_protocol::Mutation> },
    /// An outcome decided before the sequencer (invalid arguments).
    Decided { client_id: String, mutation_id: String, reply: MutationAck },
}

pub(crate) type DecidedKey = (String, String);

pub(crate) struct Org {
    pub(crate) id: String,
    pub(crate) epoch: String,
    pub(crate) head: u64,
    /// Entities as the log says (devices also carry live health in place).
    pub(crate) state: OrgState,
    /// Liveness and socket of each device.
    pub(crate) rt: HashMap<String, DeviceRt>,
    pub(crate) open_alerts: HashMap<(String, &'static str), String>,
    /// Decided mutations: (client_id, mutation_id) → (outcome, decided at).
    pub(crate) decided: HashMap<DecidedKey, (MutationAck, u64)>,
    /// Decided keys oldest first, for expiry and the per-org cap.
    decided_order: VecDeque<(u64, DecidedKey)>,
    /// When the newest decided id the cap dropped from memory was decided:
    /// until it is older than the retention, a miss here is looked up on
    /// disk, where decided ids stay 24 hours whatever the cap.
    pub(crate) decided_spilled_ms: Option<u64>,
    /// Removed devices and when (PROTOCOL.md §2 `token_revoked`).
    pub(crate) removed: HashMap<String, u64>,
    /// When each resolved alert was resolved (this process's knowledge).
    pub(crate) resolved_at: HashMap<String, u64>,
    pub(crate) subs: Vec<Sub>,
    pub(crate) batch: OrgBatch,
    /// Entity values before the pending batch touched them.
    undo: HashMap<(EntityKind, String), Option<Entity>>,
    /// Head before the pending batch.
    undo_head: Option<u64>,
    /// When the oldest entry of the pending batch was appended.
    pub(crate) batch_since: Option<Instant>,
    /// Committed entries some subscriber has not been handed yet (see
    /// `fanout_ms` and `commit.rs`), oldest first, each with when it was
    /// appended; `fanout_base` is the index of the first in the stream of
    /// every entry committed (`Sub::next` counts in it).
    pub(crate) fanout: VecDeque<(Instant, String)>,
    pub(crate) fanout_base: u64,
    /// The last hand-off, the lane the next one goes to, and the lane the
    /// next subscriber joins.
    pub(crate) last_fanout: Option<Instant>,
    pub(crate) next_lane: u32,
    pub(crate) lanes_given: u32,
    pub(crate) acks: Vec<PendingAck>,
    /// What applied mutations do to players, done once their batch is on
    /// disk (never for a change the store refused).
    pub(crate) effects: Vec<Effect>,
    pub(crate) persist_org: bool,
    pub(crate) telemetry_dirty: BTreeSet<String>,
    pub(crate) window: MetricsWindow,
    /// Snapshot pages at a head, shared by every subscriber that asks at
    /// that head within a second (live fields move without the head).
    pub(crate) snapshot_cache: Option<(u64, Instant, Arc<Vec<Packet>>)>,
    /// Several nodes: the shared log's sequence of this org's last message
    /// applied here (written by this node or another).
    pub(crate) shared_seq: u64,
    /// Several nodes: batches other nodes wrote, applied here, their local
    /// copy not yet written.
    pub(crate) shared_in: Vec<OrgBatch>,
    /// Several nodes: `schedule.executed` reports in the pending batch, to
    /// log again if the batch is rebased.
    pub(crate) executed: Vec<vizora_protocol::ScheduleExecuted>,
    /// Several nodes: since when a write found that the shared log moved
    /// on; the pending batch waits for the follower to bring the org up to date.
    pub(crate) behind_since: Option<Instant>,
    /// Several nodes: the head of the last checkpoint this node saved or loaded.
    pub(crate) checkpoint_head: u64,
    /// Several nodes: this node's players whose live fields changed since
    /// the last live relay, and the plays they reported.
    pub(crate) live_out: BTreeSet<String>,
    pub(crate) plays_out: HashMap<String, u64>,
    pub(crate) errors_out: u64,
}

/// Why a message of the shared log could not be applied.
#[derive(Debug)]
pub(crate) enum ApplyError {
    /// It starts after this node's head: the messages between were purged
    /// after a checkpoint.
    Gap,
    /// It contradicts this node's copy (or cannot be read).
    Bad(String),
}

/// Distinct content ids one live relay carries (the rest count under "").
const RELAY_CONTENT_IDS: usize = 1_000;

impl Org {
    pub(crate) fn new(id: &str, window_s: u32) -> Self {
        Org {
            id: id.to_owned(),
            epoch: ulid::Ulid::generate().to_string(),
            head: 0,
            state: OrgState::default(),
            rt: HashMap::new(),
            open_alerts: HashMap::new(),
            decided: HashMap::new(),
            decided_order: VecDeque::new(),
            decided_spilled_ms: None,
            removed: HashMap::new(),
            resolved_at: HashMap::new(),
            subs: Vec::new(),
            batch: OrgBatch::default(),
            undo: HashMap::new(),
            undo_head: None,
            effects: Vec::new(),
            batch_since: None,
            fanout: VecDeque::new(),
            fanout_base: 0,
            last_fanout: None,
            next_lane: 0,
            lanes_given: 0,
            acks: Vec::new(),
            persist_org: true,
            telemetry_dirty: BTreeSet::new(),
            window: MetricsWindow::new(window_s),
            snapshot_cache: None,
            shared_seq: 0,
            shared_in: Vec::new(),
            executed: Vec::new(),
            behind_since: None,
            checkpoint_head: 0,
            live_out: BTreeSet::new(),
            plays_out: HashMap::new(),
            errors_out: 0,
        }
    }

    /// The org's state as a checkpoint at its shared-log position.
    pub(crate) fn checkpoint(&self) -> crate::shared_log::Checkpoint {
        let entities = self
            .state
            .entities()
            .filter_map(|e| Some((e.kind().as_str().to_owned(), serde_json::to_string(&e).ok()?)))
            .collect();
        let decided = self
            .decided_order
            .iter()
            .filter(|(ts, key)| self.decided.get(key).is_some_and(|(_, at)| at == ts))
            .filter_map(|(ts, (c, m))| {
                let ack = serde_json::to_string(&self.decided.get(&(c.clone(), m.clone()))?.0).ok()?;
                Some((c.clone(), m.clone(), ack, *ts))
            })
            .collect();
        crate::shared_log::Checkpoint {
            epoch: self.epoch.clone(),
            head: self.head,
            shared_seq: self.shared_seq,
            entities,
            decided,
            removed: self.removed.iter().map(|(d, ms)| (d.clone(), *ms)).collect(),
        }
    }

    /// Counts a play for the next live relay.
    pub(crate) fn relay_play(&mut self, content_id: &str, ok: bool) {
        if !ok {
            self.errors_out += 1;
        } else if let Some(n) = self.plays_out.get_mut(content_id) {
            *n += 1;
        } else if self.plays_out.len() < RELAY_CONTENT_IDS {
            self.plays_out.insert(content_id.to_owned(), 1);
        } else {
            *self.plays_out.entry(String::new()).or_default() += 1;
        }
    }

    /// Rebuilds an org from disk; a row that cannot be read stops startup.
    pub(crate) fn from_store(s: StoredOrg, window_s: u32, now: u64) -> Result<Self, StoreError> {
        let mut org = Org::new(&s.org, window_s);
        org.epoch = s.epoch;
        org.head = s.head;
        org.persist_org = false;
        for (kind, json) in s.entities {
            let e = Entity::from_json(kind, &json).map_err(|e| StoreError::Corrupt {
                row: format!("entities ({}, {}): {:.120}", org.id, kind.as_str(), json),
                message: e.to_string(),
            })?;
            if let Entity::Device(d) = &e {
                let live = Liveness { last_seen_ms: d.last_seen_ms, ..Liveness::default() };
                org.rt.insert(d.id.clone(), DeviceRt::new(live));
            }
            if let Entity::Alert(a) = &e {
                if a.state == AlertState::Resolved {
                    // When it was resolved is not stored: its retention starts now.
                    org.resolved_at.insert(a.id.clone(), now);
                } else if let (Some(dev), Some(kind)) = (&a.device_id, static_kind(&a.kind)) {
                    org.open_alerts.insert((dev.clone(), kind), a.id.clone());
                }
            }
            org.state.insert(e);
        }
        for (client_id, mutation_id, ack_json, ts) in s.decided {
            let ack = serde_json::from_str::<MutationAck>(&ack_json).map_err(|e| StoreError::Corrupt {
                row: format!("decided ({}, {client_id}, {mutation_id})", org.id),
                message: e.to_string(),
            })?;
            let key = (client_id, mutation_id);
            org.decided_order.push_back((ts, key.clone()));
            org.decided.insert(key, (ack, ts));
        }
        org.decided_spilled_ms = s.decided_spilled_ms;
        org.removed = s.removed.into_iter().collect();
        org.shared_seq = s.shared_seq;
        Ok(org)
    }

    /// Applies a batch another node wrote at `seq` of the shared log, as
    /// written: entries, decided ids, removals. Checked whole before any of
    /// it is applied. The org has nothing pending of its own (the caller
    /// rebased it); the local copy is queued in `shared_in`.
    pub(crate) fn apply_shared(
        &mut self,
        seq: u64,
        msg: crate::shared_log::SharedBatch,
        cap: usize,
    ) -> Result<(), ApplyError> {
        let mut entries = Vec::with_capacity(msg.entries.len());
        for (next, text) in (self.head + 1..).zip(msg.entries) {
            let entry: LogEntry =
                serde_json::from_str(&text).map_err(|e| ApplyError::Bad(format!("unreadable entry: {e}")))?;
            if entry.seq > next && entries.is_empty() {
                // Messages before it were purged after a checkpoint.
                return Err(ApplyError::Gap);
            }
            if entry.seq != next {
                return Err(ApplyError::Bad(format!(
                    "entry {} does not follow this node's head {}",
                    entry.seq,
                    next - 1
                )));
            }
            entries.push((entry, text));
        }
        let mut decided = Vec::with_capacity(msg.decided.len());
        for (client_id, mutation_id, ack, ts) in msg.decided {
            let reply: MutationAck =
                serde_json::from_str(&ack).map_err(|e| ApplyError::Bad(format!("unreadable outcome: {e}")))?;
            decided.push(((client_id, mutation_id), reply, ts));
        }
        if self.head == 0 && self.shared_seq == 0 {
            // The org's first write anywhere: its epoch is the log's.
            self.epoch = msg.epoch;
        } else if msg.epoch != self.epoch {
            return Err(ApplyError::Bad(format!("epoch {} is not this org's {}", msg.epoch, self.epoch)));
        }
        let local = std::mem::take(&mut self.batch);
        for (entry, text) in entries {
            if let Some((kind, id)) = entry.event.entity_ref().map(|(k, id)| (k, id.to_owned())) {
                if let Event::AlertUpserted(a) = &entry.event {
                    if let (Some(dev), Some(k)) = (&a.device_id, static_kind(&a.kind)) {
                        if a.state == AlertState::Resolved {
                            self.open_alerts.remove(&(dev.clone(), k));
                        } else {
                            self.open_alerts.insert((dev.clone(), k), a.id.clone());
                        }
                    }
                    if a.state == AlertState::Resolved {
                        self.resolved_at.insert(a.id.clone(), entry.ts_ms);
                    }
                }
                self.state.apply_event(&entry.event);
                let json = self.state.get(kind, &id).and_then(|e| serde_json::to_string(&e).ok());
                self.batch.entities.push((kind, id, json));
            }
            self.head = entry.seq;
            self.batch.entries.push((entry.seq, entry.ts_ms, text));
        }
        for (key, reply, ts) in decided {
            self.remember(key, &reply, ts, cap);
        }
        for (device, at) in msg.removed {
            match at {
                Some(ms) => {
                    self.removed.insert(device.clone(), ms);
                    self.telemetry_dirty.remove(&device);
                    for kind in ["device_offline", "device_degraded"] {
                        self.open_alerts.remove(&(device.clone(), kind));
                    }
                }
                None => drop(self.removed.remove(&device)),
            }
            self.batch.removed.push((device, at));
        }
        let mut shared = std::mem::replace(&mut self.batch, local);
        shared.org = self.id.clone();
        shared.epoch = self.epoch.clone();
        shared.head = self.head;
        shared.effects = msg.effects;
        shared.shared_seq = Some(seq);
        self.shared_seq = seq;
        self.snapshot_cache = None;
        self.shared_in.push(shared);
        Ok(())
    }

    /// Appends a log entry to the pending batch; returns its seq.
    pub(crate) fn append(&mut self, ts_ms: u64, event: Event) -> u64 {
        self.undo_head.get_or_insert(self.head);
        self.head += 1;
        let entry = LogEntry { seq: self.head, ts_ms, event };
        let json = serde_json::to_string(&entry).unwrap_or_default();
        self.batch.entries.push((entry.seq, ts_ms, json));
        self.batch_since.get_or_insert_with(Instant::now);
        self.head
    }

    /// Folds a change event into the state, persists the entity, and logs it.
    pub(crate) fn record(&mut self, ts_ms: u64, event: Event) -> u64 {
        if let Some((kind, id)) = event.entity_ref() {
            let key = (kind, id.to_owned());
            if !self.undo.contains_key(&key) {
                let before = self.state.get(kind, id);
                self.undo.insert(key, before);
            }
        }
        if let Event::AlertUpserted(a) = &event
            && a.state == AlertState::Resolved
        {
            self.resolved_at.insert(a.id.clone(), ts_ms);
        }
        self.state.apply_event(&event);
        if let Some((kind, id)) = event.entity_ref().map(|(k, id)| (k, id.to_owned())) {
            let json = self.state.get(kind, &id).and_then(|e| serde_json::to_string(&e).ok());
            self.batch.entities.push((kind, id, json));
        }
        self.append(ts_ms, event)
    }

    /// Drops an entity from the state without a log entry (retention).
    pub(crate) fn drop_entity(&mut self, kind: EntityKind, id: &str) {
        let key = (kind, id.to_owned());
        if !self.undo.contains_key(&key) {
            let before = self.state.get(kind, id);
            self.undo.insert(key, before);
        }
        self.state.remove(kind, id);
        self.batch.entities.push((kind, id.to_owned(), None));
        self.snapshot_cache = None;
    }

    /// Persists a device whose live fields changed without a log entry.
    pub(crate) fn persist_device(&mut self, id: &str) {
        if let Some(d) = self.state.devices.get(id) {
            let json = serde_json::to_string(d).ok();
            self.batch.entities.push((EntityKind::Device, id.to_owned(), json));
        }
    }

    /// Remembers a decided outcome; past `cap` the oldest id leaves memory
    /// (it stays on disk until the retention prunes it).
    pub(crate) fn remember(&mut self, key: DecidedKey, reply: &MutationAck, now: u64, cap: usize) {
        let json = serde_json::to_string(reply).unwrap_or_default();
        self.batch.decided.push((key.0.clone(), key.1.clone(), json, now));
        self.decided_order.push_back((now, key.clone()));
        self.decided.insert(key, (reply.clone(), now));
        // Ids still in the pending batch are not on disk yet: they stay in
        // memory (the newest ones; the oldest go) until it is written.
        while self.decided.len() > cap.max(self.batch.decided.len()) {
            let Some((ts, old)) = self.decided_order.pop_front() else { break };
            // An entry a roll-back or a newer decision left behind is skipped.
            if self.decided.get(&old).is_some_and(|(_, at)| *at == ts) {
                self.decided.remove(&old);
                self.decided_spilled_ms = Some(self.decided_spilled_ms.map_or(ts, |s| s.max(ts)));
            }
        }
    }

    /// Forgets decided ids older than `before_ms` (the store prunes its own).
    pub(crate) fn expire_decided(&mut self, before_ms: u64) {
        if self.decided_spilled_ms.is_some_and(|t| t < before_ms) {
            self.decided_spilled_ms = None;
        }
        while self.decided_order.front().is_some_and(|(ts, _)| *ts < before_ms) {
            if let Some((ts, key)) = self.decided_order.pop_front()
                && self.decided.get(&key).is_some_and(|(_, at)| *at == ts)
            {
                self.decided.remove(&key);
            }
        }
    }

    /// The outcome a repeat of `key` gets, if it was decided.
    pub(crate) fn duplicate_of(&self, key: &DecidedKey) -> Option<MutationAck> {
        self.decided.get(key).map(|(first, _)| duplicate(first))
    }

    pub(crate) fn has_pending(&self) -> bool {
        self.persist_org || !self.batch.is_empty() || !self.acks.is_empty() || !self.shared_in.is_empty()
    }

    /// Something of this node's own waits to be written.
    pub(crate) fn has_local_pending(&self) -> bool {
        !self.batch.is_empty() || !self.acks.is_empty() || !self.executed.is_empty()
    }

    /// The pending batch is on disk: nothing to undo any more.
    pub(crate) fn committed(&mut self, batch: &OrgBatch) {
        for (device, at) in &batch.removed {
            if at.is_none() {
                self.removed.remove(device);
            }
        }
        self.undo.clear();
        self.undo_head = None;
        self.persist_org = false;
        self.executed.clear();
        self.behind_since = None;
    }

    /// The store refused the pending batch: put state, head and decided ids
    /// back as they are on disk, so nothing beyond the disk is ever shown.
    pub(crate) fn roll_back(&mut self, batch: OrgBatch) {
        for ((kind, id), before) in self.undo.drain() {
            match before {
                Some(e) => {
                    // A resolved alert whose retention drop is undone stays
                    // due: dropped again at the next prune.
                    if let Entity::Alert(a) = &e
                        && a.state == AlertState::Resolved
                    {
                        self.resolved_at.entry(a.id.clone()).or_insert(0);
                    }
                    self.state.insert(e)
                }
                None => drop(self.state.remove(kind, &id)),
            }
        }
        if let Some(h) = self.undo_head.take() {
            self.head = h;
        }
        for (client, mid, _, _) in batch.decided {
            self.decided.remove(&(client, mid));
        }
        // A removal that did not land is forgotten; a re-registration
        // leaves `removed` only once committed, so it needs nothing here.
        for (device, at) in batch.removed {
            if at.is_some() {
                self.removed.remove(&device);
            }
        }
        self.open_alerts.clear();
        for a in self.state.alerts.values() {
            if a.state != AlertState::Resolved
                && let (Some(dev), Some(kind)) = (&a.device_id, static_kind(&a.kind))
            {
                self.open_alerts.insert((dev.clone(), kind), a.id.clone());
            }
        }
        self.effects.clear();
        // Reports in the batch are dropped with it (a rebase takes them first).
        self.executed.clear();
        self.batch_since = None;
        self.snapshot_cache = None;
    }
}

/// What a repeat of a mutation decided as `first` is answered (PROTOCOL.md §8).
pub(crate) fn duplicate(first: &MutationAck) -> MutationAck {
    match first {
        MutationAck::Applied { seq, rev } => MutationAck::Duplicate { seq: Some(*seq), rev: Some(*rev) },
        _ => MutationAck::Duplicate { seq: None, rev: None },
    }
}
