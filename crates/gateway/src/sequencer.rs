//! The sequencer: threads that own the orgs' state, assign `seq`, write
//! batches to the store, and only then fan them out. Orgs are spread over
//! the threads by a hash of their id (`sequencers` in the config, one by
//! default), so an org busy with CPU work holds up only the orgs that share
//! its thread, and another thread's orgs for at most one write. Socket
//! handlers talk to an org's thread through two queues and never wait for
//! it: session life-cycle commands (never dropped) and requests (bounded;
//! refused with an answer when full); heartbeats are coalesced per device
//! beside them. It answers straight onto the peers (`Peer::send` never
//! waits).
//!
//! Fan-out: what an org commits is handed to its `/wall` subscribers as
//! shared blocks, each subscriber's hand-offs spaced by the fan-out's cost
//! (10 µs per subscriber, at most `fanout_ms`), and over 250 subscribers in
//! lanes that take turns within that spacing (`commit.rs`); each block goes
//! into the subscriber's outbox (`outbox.rs`), which sends at once or
//! merges while that socket is behind.
//!
//! It never shows state beyond the disk: when the store refuses a batch the
//! batch is undone, its mutations are answered `unavailable`, and new ones
//! are refused until a probe write goes through again.

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use vizora_protocol::Event;
use vizora_protocol::device::Heartbeat;

mod cmd;
mod commit;
mod devices;
mod mutate;
mod org;
mod outbox;
mod packets;
mod reply;
mod shared;
mod subscribe;

pub use cmd::Cmd;
pub(crate) use org::{DeviceRt, Org, PendingAck, Redo, Sub};
pub use reply::{ReadCtx, Replier, mutation_cmd};

/// Decided mutation ids are remembered at least this long (PROTOCOL.md §6).
const DECIDED_RETENTION_MS: u64 = 25 * 3600 * 1000;
/// How often a failing store is probed.
const STORE_PROBE_MS: u64 = 1_000;

use crate::clock::SharedClock;
use crate::config::GatewayConfig;
use crate::metrics::Counters;
use crate::peer::Close;
use crate::store::LogStore;

/// What the socket layer and the HTTP routes share with the sequencer.
#[derive(Debug)]
pub struct Shared {
    /// Counters for `/metrics`.
    pub counters: Arc<Counters>,
    /// The gateway's clock.
    pub clock: SharedClock,
    /// Committed device removals: org → device → removed_ms.
    revoked: RwLock<HashMap<String, HashMap<String, u64>>>,
    /// Each sequencer thread's own state, by shard index.
    shards: Box<[ShardState]>,
    started: Instant,
    /// How long a session may stay in no namespace.
    connect_timeout: Duration,
    /// Committed heads of the orgs someone follows (HTTP event streams).
    heads: Mutex<HashMap<String, tokio::sync::watch::Sender<u64>>>,
    /// Several nodes: the shared log's sequence this node must have applied
    /// before it is ready (its end when the node started); 0 when there is none.
    pub catch_up_to: AtomicU64,
    /// Several nodes: how far the shared log was applied.
    pub(crate) followed: AtomicU64,
    /// Several nodes: the local copy of the log failed a write (it is behind
    /// the shared log; restart the node to rebuild it).
    pub copy_broken: AtomicBool,
}

/// What one sequencer thread shares with the socket layer.
#[derive(Debug)]
struct ShardState {
    /// The thread's last commit or probe went through.
    store_ok: AtomicBool,
    /// When the thread last went round its loop, ms since `Shared::started`.
    loop_at_ms: AtomicU64,
    /// Latest heartbeat per (org, device) of the thread's orgs, waiting for
    /// it: coalesced, so a busy queue never drops one and memory stays one
    /// heartbeat per device.
    heartbeats: Mutex<HashMap<(String, String), Heartbeat>>,
}

impl Default for ShardState {
    fn default() -> Self {
        Self { store_ok: AtomicBool::new(true), loop_at_ms: AtomicU64::new(0), heartbeats: Mutex::new(HashMap::new()) }
    }
}

/// Which of `n` sequencer threads owns `org`: fixed for the process's life.
pub fn shard_of(org: &str, n: usize) -> usize {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    org.hash(&mut h);
    (h.finish() % n.max(1) as u64) as usize
}

impl Shared {
    fn new(counters: Arc<Counters>, clock: SharedClock, connect_timeout: Duration, shards: usize) -> Self {
        Self {
            connect_timeout,
            counters,
            clock,
            revoked: RwLock::new(HashMap::new()),
            shards: (0..shards.max(1)).map(|_| ShardState::default()).collect(),
            started: Instant::now(),
            heads: Mutex::new(HashMap::new()),
            catch_up_to: AtomicU64::new(0),
            followed: AtomicU64::new(0),
            copy_broken: AtomicBool::new(false),
        }
    }

    /// Follows `org`'s committed head (it moves after each commit).
    pub fn watch_head(&self, org: &str) -> tokio::sync::watch::Receiver<u64> {
        let mut heads = self.heads.lock().unwrap_or_else(|p| p.into_inner());
        heads.entry(org.to_owned()).or_insert_with(|| tokio::sync::watch::channel(0).0).subscribe()
    }

    /// `org` committed up to `head`: wakes its followers; forgets it when
    /// nobody follows any more.
    pub(crate) fn head_moved(&self, org: &str, head: u64) {
        let mut heads = self.heads.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = heads.get(org) {
            if tx.receiver_count() == 0 {
                heads.remove(org);
            } else {
                tx.send_replace(head);
            }
        }
    }

    /// `Ok` while the sequencer runs and the store takes writes; else why not.
    pub fn ready(&self) -> Result<(), &'static str> {
        let now = self.started.elapsed().as_millis() as u64;
        if self.shards.iter().any(|s| now.saturating_sub(s.loop_at_ms.load(Relaxed)) > SEQUENCER_STALL_MS) {
            return Err("sequencer not running");
        }
        if self.shards.iter().any(|s| !s.store_ok.load(Relaxed)) {
            return Err("store failing: changes are refused until it recovers");
        }
        if self.followed.load(Relaxed) < self.catch_up_to.load(Relaxed) {
            return Err("catching up with the shared log");
        }
        if self.copy_broken.load(Relaxed) {
            return Err("the local copy of the log failed a write: restart this node to rebuild it");
        }
        Ok(())
    }

    /// When `device` of `org` was removed, if it was.
    pub fn removed_at(&self, org: &str, device: &str) -> Option<u64> {
        let r = self.revoked.read().unwrap_or_else(|p| p.into_inner());
        r.get(org).and_then(|m| m.get(device)).copied()
    }

    fn set_removed(&self, org: &str, device: &str, at: Option<u64>) {
        let mut r = self.revoked.write().unwrap_or_else(|p| p.into_inner());
        match at {
            Some(ms) => drop(r.entry(org.to_owned()).or_default().insert(device.to_owned(), ms)),
            None => drop(r.get_mut(org).map(|m| m.remove(device))),
        }
    }
}

/// A sequencer that has not gone round its loop for this long is stuck or dead.
const SEQUENCER_STALL_MS: u64 = 5_000;

/// The two queues into one sequencer thread.
#[derive(Debug)]
struct Lane {
    /// Requests that may be refused when the thread is behind (acked or answered).
    tx: Sender<Cmd>,
    /// Session life-cycle: never dropped. Unbounded, but each session sends
    /// at most a few (connect, gone, unsubscribe), so it is bounded by the
    /// connection cap.
    ctl: Sender<Cmd>,
}

/// Sends work to the sequencer thread that owns its org.
#[derive(Clone, Debug)]
pub struct SequencerHandle {
    /// One per sequencer thread, by shard index.
    lanes: Arc<[Lane]>,
    /// State shared with the sequencer.
    pub shared: Arc<Shared>,
}

impl SequencerHandle {
    /// How long a session may stay in no namespace.
    pub fn connect_timeout(&self) -> Duration {
        self.shared.connect_timeout
    }

    /// Queues a command; `false` when the sequencer's request queue is full
    /// (the caller answers `rate_limited`) or it stopped. Session life-cycle
    /// commands and heartbeats are never refused.
    pub fn send(&self, cmd: Cmd) -> bool {
        let Some(org) = cmd.org() else {
            // Shutdown and a bare wake-up for heartbeats go to every thread.
            let shutdown = matches!(cmd, Cmd::Shutdown);
            let mut all = true;
            for lane in self.lanes.iter() {
                all &= lane.ctl.send(if shutdown { Cmd::Shutdown } else { Cmd::Heartbeats }).is_ok();
            }
            return all;
        };
        let shard = shard_of(org, self.lanes.len());
        let lane = &self.lanes[shard];
        match cmd {
            Cmd::Heartbeat { org, device_id, hb } => {
                let was_empty = {
                    let mut m = self.shared.shards[shard].heartbeats.lock().unwrap_or_else(|p| p.into_inner());
                    let empty = m.is_empty();
                    m.insert((org, device_id), hb);
                    empty
                };
                !was_empty || lane.ctl.send(Cmd::Heartbeats).is_ok()
            }
            Cmd::DeviceConnected { .. }
            | Cmd::DeviceGone { .. }
            | Cmd::Unsubscribe { .. }
            | Cmd::CommandAcked { .. }
            | Cmd::CaughtUp { .. }
            | Cmd::Heartbeats
            | Cmd::Shared { .. }
            | Cmd::Shutdown => lane.ctl.send(cmd).is_ok(),
            _ => match lane.tx.try_send(cmd) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) => {
                    self.shared.counters.engine_busy.fetch_add(1, Relaxed);
                    false
                }
                Err(TrySendError::Disconnected(_)) => false,
            },
        }
    }
}

pub(crate) struct Sequencer {
    pub(crate) cfg: Arc<GatewayConfig>,
    /// Which of the sequencer threads this is (its orgs hash to it).
    shard: usize,
    store: Box<dyn LogStore>,
    /// Commands sent to players and not yet acknowledged, by (peer, ack id).
    pub(crate) commands: HashMap<(crate::peer::PeerId, u64), devices::PendingCommand>,
    pub(crate) next_command_ack: u64,
    orgs: HashMap<String, Org>,
    pub(crate) counters: Arc<Counters>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) hb_ms: u64,
    /// The store refused a write; changes are refused until a probe passes.
    pub(crate) store_failing: bool,
    next_probe_ms: u64,
    /// Its own life-cycle lane, for replay tasks to report back on.
    ctl: Sender<Cmd>,
    /// Numbers subscribes, so a replay reports on the one it serves.
    next_round: u64,
    /// An org's committed entries go to its subscribers at most this often
    /// (at once when its last hand-off is older).
    fanout_interval: Duration,
    /// When the earliest waiting hand-off is due.
    fanout_due: Option<Instant>,
    /// Several nodes share the log (NATS JetStream): pending replies keep
    /// what decided them, so they can be decided again after a rebase.
    pub(crate) cluster: bool,
    /// The epoch of an org's new log, when the store fixes it (several
    /// nodes agree on it before the org's first write).
    new_epoch: Option<String>,
    /// Several nodes: where this node's live relay goes.
    pub(crate) relay: Option<Box<dyn crate::shared_log::Relay>>,
    /// When the sequencer started (the gateway's clock).
    pub(crate) started_ms: u64,
}

/// Starts one sequencer thread per store (connections to one store; the
/// first loads it) and spreads the stored orgs over them.
pub fn spawn(
    cfg: Arc<GatewayConfig>,
    stores: Vec<Box<dyn LogStore>>,
    mut relay: Option<Box<dyn crate::shared_log::Relay>>,
    counters: Arc<Counters>,
    clock: SharedClock,
) -> Result<(SequencerHandle, Vec<std::thread::JoinHandle<()>>), crate::store::StoreError> {
    let n = stores.len();
    let Some(first) = stores.first() else {
        return Err(crate::store::StoreError::Shared("no store to sequence onto".into()));
    };
    let stored = first.load(cfg.decided_per_org_max)?;
    let window_s = cfg.metrics_window_s;
    let connect_timeout = Duration::from_millis(cfg.connect_timeout_ms);
    let shared = Arc::new(Shared::new(counters.clone(), clock.clone(), connect_timeout, n));
    let now = clock.now_ms();
    let mut orgs: Vec<HashMap<String, Org>> = (0..n).map(|_| HashMap::new()).collect();
    for s in stored {
        let org = Org::from_store(s, window_s, now)?;
        for (device, at) in &org.removed {
            shared.set_removed(&org.id, device, Some(*at));
        }
        orgs[shard_of(&org.id, n)].insert(org.id.clone(), org);
    }
    let hb_ms = (cfg.heartbeat_s * 1000.0) as u64;
    let cluster = cfg.nats.is_some();
    // Closing a peer may spawn a task (engineioxide's sockets do), so the
    // sequencer threads run inside the gateway's runtime.
    let rt = tokio::runtime::Handle::try_current().ok();
    let mut lanes = Vec::with_capacity(n);
    let mut joins = Vec::with_capacity(n);
    for (shard, (store, orgs)) in stores.into_iter().zip(orgs).enumerate() {
        let (tx, rx) = crossbeam_channel::bounded(1 << 16);
        let (ctl, ctl_rx) = crossbeam_channel::unbounded();
        let new_epoch = store.new_epoch();
        let mut sequencer = Sequencer {
            cfg: cfg.clone(),
            shard,
            store,
            commands: HashMap::new(),
            next_command_ack: 0,
            orgs,
            counters: counters.clone(),
            shared: shared.clone(),
            hb_ms,
            store_failing: false,
            next_probe_ms: 0,
            ctl: ctl.clone(),
            next_round: 0,
            fanout_interval: Duration::from_millis(cfg.fanout_ms),
            fanout_due: None,
            cluster,
            new_epoch,
            relay: relay.take(),
            started_ms: now,
        };
        let rt = rt.clone();
        let name = if n == 1 { "vizora-sequencer".to_owned() } else { format!("vizora-seq-{shard}") };
        let join = std::thread::Builder::new()
            .name(name)
            .spawn(move || {
                let _rt = rt.as_ref().map(|h| h.enter());
                sequencer.run(rx, ctl_rx)
            })
            .map_err(|e| crate::store::StoreError::Dir { path: "sequencer thread".into(), source: e })?;
        lanes.push(Lane { tx, ctl });
        joins.push(join);
    }
    Ok((SequencerHandle { lanes: lanes.into(), shared }, joins))
}

impl Sequencer {
    pub(crate) fn now(&self) -> u64 {
        self.shared.clock.now_ms()
    }

    /// This thread's part of the shared state.
    fn my(&self) -> &ShardState {
        &self.shared.shards[self.shard]
    }

    pub(crate) fn set_store_ok(&self, ok: bool) {
        self.my().store_ok.store(ok, Relaxed);
    }

    fn run(&mut self, rx: Receiver<Cmd>, ctl: Receiver<Cmd>) {
        let tick = Duration::from_millis(self.cfg.tick_ms);
        let mut next_tick = Instant::now() + tick;
        let mut next_second = Instant::now() + Duration::from_secs(1);
        let prune_every = Duration::from_millis(self.cfg.prune_every_ms.max(1));
        let mut next_prune = Instant::now() + prune_every;
        loop {
            self.my().loop_at_ms.store(self.shared.started.elapsed().as_millis() as u64, Relaxed);
            let wake = self.fanout_due.map_or(next_tick, |d| d.min(next_tick));
            let timeout = wake.saturating_duration_since(Instant::now());
            let mut cmds: Vec<Cmd> = Vec::new();
            crossbeam_channel::select! {
                recv(ctl) -> c => cmds.push(c.unwrap_or(Cmd::Shutdown)),
                recv(rx) -> c => cmds.push(c.unwrap_or(Cmd::Shutdown)),
                default(timeout) => {}
            }
            // Session life-cycle first, then heartbeats, then requests:
            // a flood of requests never holds back a connect or a goodbye.
            cmds.extend(ctl.try_iter());
            cmds.push(Cmd::Heartbeats);
            cmds.extend(rx.try_iter().take(8192));
            for cmd in cmds {
                if matches!(cmd, Cmd::Shutdown) {
                    self.flush();
                    self.fan_out_due(true);
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
            self.flush();
            // After the flush: telemetry, metrics and gauges count only what is on disk.
            if now >= next_second {
                self.tick_streams();
                next_second = now + Duration::from_secs(1);
            }
            self.fan_out_due(false);
            if now >= next_prune {
                self.prune();
                next_prune = now + prune_every;
            }
        }
    }

    pub(crate) fn org(&mut self, id: &str) -> &mut Org {
        let window_s = self.cfg.metrics_window_s;
        let epoch = &self.new_epoch;
        self.orgs.entry(id.to_owned()).or_insert_with(|| {
            let mut org = Org::new(id, window_s);
            if let Some(e) = epoch {
                org.epoch = e.clone();
            }
            org
        })
    }

    fn handle(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::DeviceConnected { org, device_id, iat_ms, sock } => {
                self.device_connected(&org, &device_id, iat_ms, sock)
            }
            Cmd::DeviceGone { org, device_id, sid } => {
                let cluster = self.cluster;
                let o = self.org(&org);
                if let Some(rt) = o.rt.get_mut(&device_id)
                    && let Some(i) = rt.socks.iter().position(|s| s.id() == sid)
                {
                    rt.socks.remove(i);
                    // Its last socket: the device is gone from this node.
                    if cluster && rt.socks.is_empty() {
                        o.live_out.insert(device_id.clone());
                    }
                    // Keep its last sign of life across a gateway restart.
                    o.persist_device(&device_id);
                }
            }
            Cmd::Decided { org, to, client_id, mutation_id, reply } => {
                let redo = self.cluster.then(|| Redo::Decided {
                    client_id: client_id.clone(),
                    mutation_id: mutation_id.clone(),
                    reply: reply.clone(),
                });
                let key = (client_id.clone(), mutation_id.clone());
                let reply = self.remember(&org, client_id, mutation_id, reply);
                self.org(&org).acks.push(PendingAck { to, reply, key, redo });
            }
            Cmd::Mutate { claims, to, mutation } => {
                let key = (mutation.client_id.clone(), mutation.mutation_id.clone());
                if self.cluster {
                    let reply = self.mutate(&claims, (*mutation).clone());
                    let org = claims.org.clone();
                    let redo = Some(Redo::Mutate { claims, mutation });
                    self.org(&org).acks.push(PendingAck { to, reply, key, redo });
                } else {
                    let reply = self.mutate(&claims, *mutation);
                    self.org(&claims.org).acks.push(PendingAck { to, reply, key, redo: None });
                }
            }
            Cmd::Shared { org, seq, payload } => self.shared(&org, seq, &payload),
            Cmd::Live { org, payload } => self.live_in(&org, &payload),
            Cmd::Read { org, read } => {
                // What a read shows is on disk: pending batches first.
                self.flush();
                let oldest = self.store.oldest_seq(&org).ok().flatten();
                let o = self.org(&org);
                let (epoch, head) = (o.epoch.clone(), o.head);
                let o = &self.orgs[&org];
                read(ReadCtx { epoch: &epoch, head, state: &o.state, oldest, store: self.store.as_ref() });
            }
            Cmd::Heartbeats => {
                let beats = std::mem::take(&mut *self.my().heartbeats.lock().unwrap_or_else(|p| p.into_inner()));
                for ((org, device_id), hb) in beats {
                    self.heartbeat(&org, &device_id, hb);
                }
            }
            Cmd::Heartbeat { org, device_id, hb } => self.heartbeat(&org, &device_id, hb),
            Cmd::CommandAcked { org: _, sid, ack, reply } => self.command_acked(sid, ack, &reply),
            Cmd::Playback { org, pb } => {
                let now = self.now();
                let cluster = self.cluster;
                let o = self.org(&org);
                o.window.record(now, &pb.content_id, pb.ok);
                if cluster {
                    o.relay_play(&pb.content_id, pb.ok);
                }
            }
            Cmd::ScheduleExecuted { org, ev } => {
                if self.store_failing {
                    // Not silent: counted and logged; players are not answered for it.
                    self.counters.refused_while_failing.fetch_add(1, Relaxed);
                    tracing::warn!(org, device = %ev.device_id, "schedule.executed not logged: store failing");
                    return;
                }
                let ts = self.now();
                let cluster = self.cluster;
                let o = self.org(&org);
                if cluster {
                    o.executed.push(ev.clone());
                }
                o.append(ts, Event::ScheduleExecuted(ev));
            }
            Cmd::Subscribe { org, sock, ack, since } => self.subscribe(&org, sock, ack, since),
            Cmd::CaughtUp { org, sid, round, ok } => self.caught_up(&org, sid, round, ok),
            Cmd::Unsubscribe { org, sid } => {
                if let Some(o) = self.orgs.get_mut(&org) {
                    o.subs.retain(|s| {
                        let keep = s.sock.id() != sid;
                        if !keep {
                            s.outbox.close();
                        }
                        keep
                    });
                }
            }
            Cmd::Shutdown => {}
        }
    }

    fn close_all(&mut self) {
        for org in self.orgs.values_mut() {
            for s in org.subs.drain(..) {
                s.sock.close(Close::ServerClosing);
            }
            for rt in org.rt.values_mut() {
                for s in rt.socks.drain(..) {
                    s.close(Close::ServerClosing);
                }
            }
        }
    }
}

/// The kinds of alert the gateway raises itself, as static names.
pub(crate) fn static_kind(kind: &str) -> Option<&'static str> {
    ["device_offline", "device_degraded"].into_iter().find(|k| *k == kind)
}

#[cfg(test)]
mod tests;
