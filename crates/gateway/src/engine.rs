//! The sequencer: one thread that owns every org's state, assigns `seq`,
//! writes batches to the store, and only then fans them out. Socket handlers
//! talk to it through a bounded channel and never wait for it; it answers
//! straight onto the sockets (emits are non-blocking `try_send`s).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use engineioxide::socket::{DisconnectReason, Sid};
use engineioxide::{Socket, Str};
use vizora_protocol::codec::{encode_ack, encode_event};
use vizora_protocol::device::{Heartbeat, Playback};
use vizora_protocol::org_state::OrgState;
use vizora_protocol::{
    AlertState, DeviceStatus, Entity, EntityKind, Event, LogEntry, MutationAck, NS_WALL, Position, ScheduleExecuted,
    SubscribeAck, SubscribeMode, now_ms,
};

mod commit;
mod devices;
mod mutate;
mod packets;

use packets::{events_packet, send_snapshot};

/// Decided mutation ids are remembered at least this long (PROTOCOL.md §6).
const DECIDED_RETENTION_MS: u64 = 25 * 3600 * 1000;

use crate::config::GatewayConfig;
use crate::metrics::{Counters, MetricsWindow};
use crate::socket::ConnData;
use crate::status::Liveness;
use crate::store::{LogStore, OrgBatch, StoredOrg};

/// A connected Engine.IO socket.
pub type Sock = Arc<Socket<ConnData>>;

/// Work for the sequencer.
pub enum Cmd {
    /// A player passed auth on `/device`.
    DeviceConnected {
        /// Org.
        org: String,
        /// Device id (token `sub`).
        device_id: String,
        /// Its socket.
        sock: Sock,
    },
    /// A player's `/device` session ended.
    DeviceGone {
        /// Org.
        org: String,
        /// Device id.
        device_id: String,
        /// The socket that ended (a newer one may have replaced it).
        sid: Sid,
    },
    /// `heartbeat`.
    Heartbeat {
        /// Org.
        org: String,
        /// Device id.
        device_id: String,
        /// Payload.
        hb: Heartbeat,
    },
    /// `playback`.
    Playback {
        /// Org.
        org: String,
        /// Payload.
        pb: Playback,
    },
    /// A player acknowledged a `command`.
    CommandAcked {
        /// The player's socket.
        sid: Sid,
        /// The ack id the command was sent with.
        ack: u64,
        /// The ack's first argument, raw JSON.
        reply: String,
    },
    /// `schedule.executed` from a player (device id already checked).
    ScheduleExecuted {
        /// Org.
        org: String,
        /// Payload.
        ev: ScheduleExecuted,
    },
    /// `subscribe` on `/wall`.
    Subscribe {
        /// Org.
        org: String,
        /// Subscriber.
        sock: Sock,
        /// Ack id to answer.
        ack: u64,
        /// Resume point.
        since: Option<Position>,
    },
    /// `mutate` on `/wall` (args already decoded and validated).
    Mutate {
        /// Who sent it.
        claims: vizora_protocol::Claims,
        /// Sender.
        sock: Sock,
        /// Ack id to answer.
        ack: u64,
        /// The request.
        mutation: Box<vizora_protocol::Mutation>,
    },
    /// A mutation decided before reaching the engine (invalid args), to remember.
    Decided {
        /// Org.
        org: String,
        /// Sender.
        sock: Sock,
        /// Ack id.
        ack: u64,
        /// Client id.
        client_id: String,
        /// Mutation id.
        mutation_id: String,
        /// The outcome.
        reply: MutationAck,
    },
    /// A `/wall` session ended.
    Unsubscribe {
        /// Org.
        org: String,
        /// Socket id.
        sid: Sid,
    },
    /// Flush, close every socket, stop.
    Shutdown,
}

/// Sends work to the sequencer.
#[derive(Clone, Debug)]
pub struct EngineHandle {
    tx: Sender<Cmd>,
}

impl EngineHandle {
    /// Queues a command; `false` when the queue is full or the engine stopped.
    pub fn send(&self, cmd: Cmd) -> bool {
        match self.tx.try_send(cmd) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                tracing::warn!("engine queue full; dropping command");
                false
            }
            Err(TrySendError::Disconnected(_)) => false,
        }
    }
}

pub(crate) struct DeviceRt {
    pub(crate) live: Liveness,
    pub(crate) sock: Option<Sock>,
}

struct Sub {
    sid: Sid,
    sock: Sock,
}

/// A reply to send once the batch it depends on is on disk.
struct PendingAck {
    sock: Sock,
    ack: u64,
    reply: MutationAck,
}

pub(crate) struct Org {
    pub(crate) id: String,
    epoch: String,
    pub(crate) head: u64,
    /// Entities as the log says (devices also carry live health in place).
    pub(crate) state: OrgState,
    /// Liveness and socket of each device.
    pub(crate) rt: HashMap<String, DeviceRt>,
    pub(crate) open_alerts: HashMap<(String, &'static str), String>,
    /// Decided mutations: (client_id, mutation_id) → (outcome, decided at).
    pub(crate) decided: HashMap<(String, String), (MutationAck, u64)>,
    subs: Vec<Sub>,
    batch: OrgBatch,
    /// When the oldest entry of the pending batch was appended.
    batch_since: Option<Instant>,
    acks: Vec<PendingAck>,
    persist_org: bool,
    pub(crate) telemetry_dirty: BTreeSet<String>,
    pub(crate) window: MetricsWindow,
}

impl Org {
    fn new(id: &str, window_s: u32) -> Self {
        Org {
            id: id.to_owned(),
            epoch: ulid::Ulid::generate().to_string(),
            head: 0,
            state: OrgState::default(),
            rt: HashMap::new(),
            open_alerts: HashMap::new(),
            decided: HashMap::new(),
            subs: Vec::new(),
            batch: OrgBatch::default(),
            batch_since: None,
            acks: Vec::new(),
            persist_org: true,
            telemetry_dirty: BTreeSet::new(),
            window: MetricsWindow::new(window_s),
        }
    }

    fn from_store(s: StoredOrg, window_s: u32) -> Self {
        let mut org = Org::new(&s.org, window_s);
        org.epoch = s.epoch;
        org.head = s.head;
        org.persist_org = false;
        for (kind, json) in s.entities {
            match Entity::from_json(kind, &json) {
                Ok(e) => {
                    if let Entity::Device(d) = &e {
                        let live = Liveness { last_seen_ms: d.last_seen_ms, cpu_high_since_ms: None };
                        org.rt.insert(d.id.clone(), DeviceRt { live, sock: None });
                    }
                    if let Entity::Alert(a) = &e
                        && a.state != AlertState::Resolved
                        && let (Some(dev), Some(kind)) = (&a.device_id, static_kind(&a.kind))
                    {
                        org.open_alerts.insert((dev.clone(), kind), a.id.clone());
                    }
                    org.state.insert(e);
                }
                Err(e) => tracing::error!(org = %org.id, cause = %e, "unreadable stored entity skipped"),
            }
        }
        for (client_id, mutation_id, ack_json, ts) in s.decided {
            if let Ok(ack) = serde_json::from_str::<MutationAck>(&ack_json) {
                org.decided.insert((client_id, mutation_id), (ack, ts));
            }
        }
        org
    }

    /// Appends a log entry to the pending batch; returns its seq.
    pub(crate) fn append(&mut self, ts_ms: u64, event: Event) -> u64 {
        self.head += 1;
        let entry = LogEntry { seq: self.head, ts_ms, event };
        let json = serde_json::to_string(&entry).unwrap_or_default();
        self.batch.entries.push((entry.seq, ts_ms, json));
        self.batch_since.get_or_insert_with(Instant::now);
        self.head
    }

    /// Folds a change event into the state, persists the entity, and logs it.
    pub(crate) fn record(&mut self, ts_ms: u64, event: Event) -> u64 {
        self.state.apply_event(&event);
        if let Some((kind, id)) = event.entity_ref().map(|(k, id)| (k, id.to_owned())) {
            let json = self.state.get(kind, &id).and_then(|e| serde_json::to_string(&e).ok());
            self.batch.entities.push((kind, id, json));
        }
        self.append(ts_ms, event)
    }

    /// Persists a device whose live fields changed without a log entry.
    pub(crate) fn persist_device(&mut self, id: &str) {
        if let Some(d) = self.state.devices.get(id) {
            let json = serde_json::to_string(d).ok();
            self.batch.entities.push((EntityKind::Device, id.to_owned(), json));
        }
    }

    fn has_pending(&self) -> bool {
        self.persist_org
            || !self.batch.entries.is_empty()
            || !self.batch.entities.is_empty()
            || !self.batch.decided.is_empty()
            || !self.acks.is_empty()
    }
}

fn static_kind(kind: &str) -> Option<&'static str> {
    ["device_offline", "device_degraded"].into_iter().find(|k| *k == kind)
}

pub(crate) struct Engine {
    pub(crate) cfg: Arc<GatewayConfig>,
    store: Box<dyn LogStore>,
    /// Commands sent to players and not yet acknowledged, by (socket, ack id).
    pub(crate) commands: HashMap<(Sid, u64), devices::PendingCommand>,
    pub(crate) next_command_ack: u64,
    orgs: HashMap<String, Org>,
    pub(crate) counters: Arc<Counters>,
    pub(crate) hb_ms: u64,
}

/// Starts the sequencer thread over an opened store.
pub fn spawn(
    cfg: Arc<GatewayConfig>,
    store: Box<dyn LogStore>,
    counters: Arc<Counters>,
) -> Result<(EngineHandle, std::thread::JoinHandle<()>), crate::store::StoreError> {
    let stored = store.load()?;
    let window_s = cfg.metrics_window_s;
    let orgs = stored.into_iter().map(|s| (s.org.clone(), Org::from_store(s, window_s))).collect();
    let (tx, rx) = crossbeam_channel::bounded(1 << 16);
    let hb_ms = (cfg.heartbeat_s * 1000.0) as u64;
    let mut engine = Engine { cfg, store, commands: HashMap::new(), next_command_ack: 0, orgs, counters, hb_ms };
    // Closing an engineioxide socket spawns a tokio task, so the engine
    // thread must run inside the gateway's runtime or every close panics it.
    let rt = tokio::runtime::Handle::try_current().ok();
    let join = std::thread::Builder::new()
        .name("vizora-engine".into())
        .spawn(move || {
            let _rt = rt.as_ref().map(|h| h.enter());
            engine.run(rx)
        })
        .map_err(|e| crate::store::StoreError::Dir { path: "engine thread".into(), source: e })?;
    Ok((EngineHandle { tx }, join))
}

impl Engine {
    fn run(&mut self, rx: Receiver<Cmd>) {
        let tick = Duration::from_millis(self.cfg.tick_ms);
        let mut next_tick = Instant::now() + tick;
        let mut next_second = Instant::now() + Duration::from_secs(1);
        let prune_every = Duration::from_millis(self.cfg.prune_every_ms.max(1));
        let mut next_prune = Instant::now() + prune_every;
        loop {
            let timeout = next_tick.saturating_duration_since(Instant::now());
            let first = match rx.recv_timeout(timeout) {
                Ok(cmd) => Some(cmd),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => Some(Cmd::Shutdown),
            };
            // Group commit: drain what is queued, then one transaction.
            let mut batch: Vec<Cmd> = first.into_iter().collect();
            batch.extend(rx.try_iter().take(8192));
            for cmd in batch {
                if matches!(cmd, Cmd::Shutdown) {
                    self.flush();
                    self.close_all();
                    return;
                }
                self.handle(cmd);
            }
            let now = Instant::now();
            if now >= next_tick {
                self.tick_status();
                self.expire_commands();
                next_tick = now + tick;
            }
            if now >= next_second {
                self.tick_streams();
                next_second = now + Duration::from_secs(1);
            }
            self.flush();
            if now >= next_prune {
                self.prune();
                next_prune = now + prune_every;
            }
        }
    }

    pub(crate) fn org(&mut self, id: &str) -> &mut Org {
        let window_s = self.cfg.metrics_window_s;
        self.orgs.entry(id.to_owned()).or_insert_with(|| Org::new(id, window_s))
    }

    fn handle(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::DeviceConnected { org, device_id, sock } => self.device_connected(&org, &device_id, sock),
            Cmd::DeviceGone { org, device_id, sid } => {
                let o = self.org(&org);
                if let Some(rt) = o.rt.get_mut(&device_id)
                    && rt.sock.as_ref().is_some_and(|s| s.id == sid)
                {
                    rt.sock = None;
                    // Keep its last sign of life across a gateway restart.
                    o.persist_device(&device_id);
                }
            }
            Cmd::Decided { org, sock, ack, client_id, mutation_id, reply } => {
                let reply = self.remember(&org, client_id, mutation_id, reply);
                self.org(&org).acks.push(PendingAck { sock, ack, reply });
            }
            Cmd::Mutate { claims, sock, ack, mutation } => {
                let reply = self.mutate(&claims, *mutation);
                self.org(&claims.org).acks.push(PendingAck { sock, ack, reply });
            }
            Cmd::Heartbeat { org, device_id, hb } => self.heartbeat(&org, &device_id, hb),
            Cmd::CommandAcked { sid, ack, reply } => self.command_acked(sid, ack, &reply),
            Cmd::Playback { org, pb } => {
                self.org(&org).window.record(now_ms(), &pb.content_id, pb.ok);
            }
            Cmd::ScheduleExecuted { org, ev } => {
                let ts = now_ms();
                self.org(&org).append(ts, Event::ScheduleExecuted(ev));
            }
            Cmd::Subscribe { org, sock, ack, since } => self.subscribe(&org, sock, ack, since),
            Cmd::Unsubscribe { org, sid } => {
                if let Some(o) = self.orgs.get_mut(&org) {
                    o.subs.retain(|s| s.sid != sid);
                }
            }
            Cmd::Shutdown => {}
        }
    }

    /// Telemetry and metrics, about once a second, to orgs with subscribers.
    fn tick_streams(&mut self) {
        let now = now_ms();
        for org in self.orgs.values_mut() {
            if org.subs.is_empty() {
                org.telemetry_dirty.clear();
                continue;
            }
            if !org.telemetry_dirty.is_empty() {
                let devices = std::mem::take(&mut org.telemetry_dirty)
                    .into_iter()
                    .filter_map(|id| {
                        let d = org.state.devices.get(&id)?;
                        Some(vizora_protocol::TelemetryDevice { id, health: d.health?, playing: d.playing.clone() })
                    })
                    .collect();
                let t = vizora_protocol::Telemetry { ts_ms: now, devices };
                let text: Str = encode_event(NS_WALL, None, "telemetry", &t).into();
                // Lossy: a consumer still writing simply misses this one.
                for s in &org.subs {
                    s.sock.emit_volatile(text.clone());
                }
            }
            let (mut online, mut degraded, mut offline) = (0, 0, 0);
            for d in org.state.devices.values() {
                match d.status {
                    DeviceStatus::Online => online += 1,
                    DeviceStatus::Degraded => degraded += 1,
                    DeviceStatus::Offline => offline += 1,
                    DeviceStatus::Unknown => {}
                }
            }
            let m = org.window.metrics(now, online, degraded, offline);
            let text: Str = encode_event(NS_WALL, None, "metrics", &m).into();
            for s in &org.subs {
                s.sock.emit_volatile(text.clone());
            }
        }
    }

    fn subscribe(&mut self, org_id: &str, sock: Sock, ack: u64, since: Option<Position>) {
        // Pending entries must be durable and sent before the new subscriber
        // is placed, or it could miss or double them.
        self.flush();
        let page = self.cfg.snapshot_page;
        let oldest = self.store.oldest_seq(org_id).ok().flatten();
        let org = self.org(org_id);
        let replay_from = since.filter(|p| {
            p.epoch == org.epoch && p.seq <= org.head && (p.seq == org.head || oldest.is_some_and(|o| p.seq + 1 >= o))
        });
        let mode = if replay_from.is_some() { SubscribeMode::Replay } else { SubscribeMode::Snapshot };
        let reply = SubscribeAck { mode, epoch: org.epoch.clone(), head_seq: org.head };
        let (epoch, head) = (org.epoch.clone(), org.head);
        if sock.emit(encode_ack(NS_WALL, ack, &reply)).is_err() {
            return;
        }
        let ok = match replay_from {
            Some(p) => self.send_replay(org_id, &sock, &epoch, p.seq, head),
            None => send_snapshot(self.org(org_id), &sock, page),
        };
        let counter = if mode == SubscribeMode::Replay { &self.counters.replays } else { &self.counters.snapshots };
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if ok {
            let org = self.org(org_id);
            org.subs.retain(|s| s.sid != sock.id);
            org.subs.push(Sub { sid: sock.id, sock });
        } else {
            sock.close(DisconnectReason::TransportError);
        }
    }

    fn send_replay(&mut self, org: &str, sock: &Sock, epoch: &str, mut after: u64, head: u64) -> bool {
        while after < head {
            let rows = match self.store.read_log(org, after, 1000) {
                Ok(rows) if !rows.is_empty() => rows,
                Ok(_) => return true,
                Err(e) => {
                    tracing::error!(org, cause = %e, "replay read failed");
                    return false;
                }
            };
            after = rows.last().map(|r| r.0).unwrap_or(head);
            let items: Vec<&str> = rows.iter().filter(|r| r.0 <= head).map(|r| r.1.as_str()).collect();
            if sock.emit(events_packet(epoch, &items)).is_err() {
                return false;
            }
        }
        true
    }

    fn close_all(&mut self) {
        for org in self.orgs.values_mut() {
            for s in org.subs.drain(..) {
                s.sock.close(DisconnectReason::ClosingServer);
            }
            for rt in org.rt.values_mut() {
                if let Some(s) = rt.sock.take() {
                    s.close(DisconnectReason::ClosingServer);
                }
            }
        }
    }
}
