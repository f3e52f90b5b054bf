//! `subscribe` (PROTOCOL.md §5): replay from the log or a snapshot, then
//! live through each consumer's outbox; and the lossy streams (`telemetry`, `metrics`) to subscribers.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use vizora_protocol::codec::encode_event;
use vizora_protocol::{NS_WALL, Position, SubscribeAck, SubscribeMode};

use super::outbox::{Lossy, Outbox};
use super::packets::{events_packets, is_applied, snapshot_pages};
use super::{Cmd, Sequencer, Sub};
use crate::metrics::{AlertsBySeverity, DevicesByStatus};
use crate::peer::{Close, Packet, PeerId, PeerRef};
use crate::store::LogRead;

/// How long a built snapshot serves later subscribers at the same head
/// (heartbeats move live fields without moving the head).
const SNAPSHOT_FRESH: Duration = Duration::from_secs(1);
/// Log rows read per store query during a replay.
const REPLAY_ROWS: usize = 1000;

impl Sequencer {
    pub(super) fn subscribe(&mut self, org_id: &str, sock: PeerRef, ack: u64, since: Option<Position>) {
        // Pending entries must be durable and sent before the new subscriber
        // is placed, or it could miss or double them.
        self.flush();
        self.fan_out_org(org_id);
        // A subscribe again on the same socket: what its last one still had
        // waiting must not follow this ack.
        if let Some(o) = self.orgs.get_mut(org_id)
            && let Some(old) = o.subs.iter().find(|s| s.sock.id() == sock.id())
        {
            old.outbox.close();
        }
        let oldest = self.store.oldest_seq(org_id).ok().flatten();
        let org = self.org(org_id);
        let replay_from = since.filter(|p| {
            p.epoch == org.epoch && p.seq <= org.head && (p.seq == org.head || oldest.is_some_and(|o| p.seq + 1 >= o))
        });
        let mode = if replay_from.is_some() { SubscribeMode::Replay } else { SubscribeMode::Snapshot };
        let reply = SubscribeAck { mode, epoch: org.epoch.clone(), head_seq: org.head };
        let (epoch, head) = (org.epoch.clone(), org.head);
        // The session may have left /wall (or its token expired) while this
        // subscribe waited in the request queue: the leave overtakes it on
        // the life-cycle lane, so it is checked here, on this thread.
        if !sock.on_wall_of(org_id) {
            return;
        }
        if !super::reply::write_ack(&sock, ack, &reply) {
            sock.close(Close::TooSlow);
            return;
        }
        self.next_round += 1;
        let round = self.next_round;
        let counter = if mode == SubscribeMode::Replay { &self.counters.replays } else { &self.counters.snapshots };
        counter.fetch_add(1, Relaxed);
        let outbox = Outbox::new(
            &sock,
            self.cfg.slow_consumer_bytes,
            self.cfg.packet_bytes(),
            self.counters.clone(),
            replay_from.is_some(),
        );
        match replay_from {
            // The replay reads the store on a blocking thread; live entries
            // wait in the outbox meanwhile, so order holds and the
            // sequencer goes on.
            Some(p) => match self.store.reader() {
                Ok(reader) => {
                    let replay = Replay { reader, org: org_id.to_owned(), epoch, after: p.seq, head };
                    replay.spawn(outbox.clone(), sock.id(), round, self.cfg.packet_bytes(), self.ctl.clone());
                }
                Err(e) => {
                    tracing::error!(org = org_id, cause = %e, "no log reader for a replay");
                    sock.close(Close::TooSlow);
                    return;
                }
            },
            None => {
                let pages = self.snapshot(org_id);
                if !pages.iter().all(|p| sock.send(p.clone()).is_ok()) {
                    sock.close(Close::TooSlow);
                    return;
                }
            }
        }
        let org = self.org(org_id);
        org.subs.retain(|s| s.sock.id() != sock.id());
        // Everything committed so far reached it by its snapshot or replay.
        let next = org.fanout_base + org.fanout.len() as u64;
        let lane = org.lanes_given;
        org.lanes_given = org.lanes_given.wrapping_add(1);
        org.subs.push(Sub { sock, outbox, round, lane, next });
    }

    /// A replay ended: the live entries that waited meanwhile follow it, in order.
    pub(super) fn caught_up(&mut self, org_id: &str, sid: PeerId, round: u64, ok: bool) {
        let Some(org) = self.orgs.get_mut(org_id) else { return };
        let Some(i) = org.subs.iter().position(|s| s.sock.id() == sid && s.round == round) else { return };
        if ok {
            org.subs[i].outbox.resume();
        } else {
            let s = org.subs.remove(i);
            s.outbox.close();
            s.sock.close(Close::TooSlow);
        }
    }

    /// The org's snapshot pages at its head, built once per head and shared
    /// by every subscriber that asks at that head (a reconnect storm costs
    /// one build, not one per wall).
    fn snapshot(&mut self, org_id: &str) -> Arc<Vec<Packet>> {
        let (page, max_bytes) = (self.cfg.snapshot_page, self.cfg.packet_bytes());
        let org = self.org(org_id);
        if let Some((head, built, pages)) = &org.snapshot_cache
            && *head == org.head
            && built.elapsed() < SNAPSHOT_FRESH
        {
            return pages.clone();
        }
        let pages = Arc::new(snapshot_pages(org, page, max_bytes));
        org.snapshot_cache = Some((org.head, Instant::now(), pages.clone()));
        pages
    }

    /// Telemetry and metrics, about once a second, to orgs with subscribers.
    pub(super) fn tick_streams(&mut self) {
        let now = self.now();
        let max_bytes = self.cfg.packet_bytes();
        for org in self.orgs.values_mut() {
            if let Some(relay) = &self.relay {
                super::shared::send_relay(org, relay.as_ref());
            }
            let mut devices = DevicesByStatus::default();
            for d in org.state.devices.values() {
                devices.count(d.status);
            }
            let mut alerts = AlertsBySeverity::default();
            for a in org.state.alerts.values() {
                alerts.count(a.severity, a.state);
            }
            self.counters.set_fleet(&org.id, devices, alerts);
            if org.subs.is_empty() {
                org.telemetry_dirty.clear();
                continue;
            }
            if !org.telemetry_dirty.is_empty() {
                let devices: Vec<_> = std::mem::take(&mut org.telemetry_dirty)
                    .into_iter()
                    .filter_map(|id| {
                        let d = org.state.devices.get(&id)?;
                        Some(vizora_protocol::TelemetryDevice { id, health: d.health?, playing: d.playing.clone() })
                    })
                    .collect();
                // Split so no packet exceeds the bound: a device is < 1 KiB.
                let per_packet = (max_bytes / 1024).max(1);
                let packets: Vec<Packet> = devices
                    .chunks(per_packet)
                    .map(|chunk| {
                        let t = vizora_protocol::Telemetry { ts_ms: now, devices: chunk.to_vec() };
                        encode_event(NS_WALL, None, "telemetry", &t).into()
                    })
                    .collect();
                let packets = Arc::new(packets);
                for s in &org.subs {
                    s.outbox.push_lossy(Lossy::Telemetry, &packets);
                }
            }
            let m = org.window.metrics(now, devices.online, devices.degraded, devices.offline);
            let packets = Arc::new(vec![Packet::from(encode_event(NS_WALL, None, "metrics", &m))]);
            for s in &org.subs {
                s.outbox.push_lossy(Lossy::Metrics, &packets);
            }
        }
    }
}

/// A replay from the store, sent by a blocking task of its own.
struct Replay {
    reader: Box<dyn LogRead>,
    org: String,
    epoch: String,
    after: u64,
    head: u64,
}

impl Replay {
    fn spawn(self, outbox: Arc<Outbox>, sid: PeerId, round: u64, max_bytes: usize, done: Sender<Cmd>) {
        let org = self.org.clone();
        tokio::task::spawn_blocking(move || {
            // Reported however the replay ends, a panic included: an outbox
            // left paused would hold the wall's live entries for good.
            let mut report = CaughtUpGuard { done, org, sid, round, ok: false };
            report.ok = self.send(&outbox, max_bytes);
        });
    }

    /// Entries `after < seq <= head` in packets of at most `max_bytes`.
    fn send(mut self, outbox: &Outbox, max_bytes: usize) -> bool {
        // A read's last entry, held for the next read, where its
        // `mutation.applied` may be: the two go in one packet (§8).
        let mut held: Option<String> = None;
        while self.after < self.head {
            let rows = match self.reader.read_log(&self.org, self.after, REPLAY_ROWS) {
                Ok(rows) => rows,
                Err(e) => {
                    tracing::error!(org = %self.org, cause = %e, "replay read failed");
                    return false;
                }
            };
            // Pruned meanwhile: a hole the client could not see. It is cut
            // and resumes (with a snapshot, the range being gone).
            if rows.first().is_none_or(|r| r.0 != self.after + 1) {
                tracing::warn!(org = %self.org, after = self.after, "replay range no longer held");
                return false;
            }
            self.after = rows.last().map(|r| r.0).unwrap_or(self.head);
            let mut items: Vec<&str> = held
                .iter()
                .map(String::as_str)
                .chain(rows.iter().filter(|r| r.0 <= self.head).map(|r| r.1.as_str()))
                .collect();
            let hold = if self.after < self.head && items.last().is_some_and(|i| !is_applied(i)) {
                items.pop().map(str::to_owned)
            } else {
                None
            };
            let packets = events_packets(&self.epoch, items, max_bytes);
            held = hold;
            for p in packets {
                if !outbox.emit_replay(p) {
                    return false;
                }
            }
        }
        true
    }
}

/// Sends `Cmd::CaughtUp` when dropped.
struct CaughtUpGuard {
    done: Sender<Cmd>,
    org: String,
    sid: PeerId,
    round: u64,
    ok: bool,
}

impl Drop for CaughtUpGuard {
    fn drop(&mut self) {
        let cmd = Cmd::CaughtUp { org: std::mem::take(&mut self.org), sid: self.sid, round: self.round, ok: self.ok };
        let _ = self.done.send(cmd);
    }
}
