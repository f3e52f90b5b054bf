//! Several nodes on one shared log (NATS JetStream, `cluster.rs`): batches
//! other nodes wrote are applied here as written, and what this node had
//! decided but not yet written is rebased on top of them: undone, then
//! decided again against the newer state (rev checks, `conflict` with
//! `current`, duplicates), so every node holds the same log.

use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use vizora_protocol::{Event, ScheduleExecuted};

use super::org::ApplyError;
use super::{Org, PendingAck, Redo, Sequencer};
use crate::shared_log::{LiveDevice, LiveRelay, Relay};

/// How long a batch may wait for the follower to bring its org up to date
/// after a write found the shared log moved on; then its changes are
/// answered `unavailable` (the client retries them).
pub(super) const BEHIND_LIMIT: Duration = Duration::from_secs(5);

/// What a rebase takes off an org to decide again.
pub(super) struct Unwound {
    acks: Vec<PendingAck>,
    executed: Vec<ScheduleExecuted>,
}

impl Sequencer {
    /// A message of the shared log: applied unless this node has it already
    /// (its own write, or one applied before a restart).
    pub(super) fn shared(&mut self, org_id: &str, seq: u64, payload: &[u8]) {
        self.shared.followed.fetch_max(seq, Relaxed);
        self.store.followed(seq);
        if seq <= self.org(org_id).shared_seq {
            return;
        }
        let parse = |payload: &[u8]| serde_json::from_slice::<crate::shared_log::SharedBatch>(payload);
        let msg = match parse(payload) {
            Ok(m) => m,
            Err(e) => {
                // This node cannot follow the org any more: not ready, and
                // its writes for the org conflict until it is rebuilt.
                tracing::error!(org = org_id, seq, cause = %e, "unreadable message in the shared log: restart this node to rebuild it");
                self.counters.store_failures.fetch_add(1, Relaxed);
                self.shared.copy_broken.store(true, Relaxed);
                return;
            }
        };
        let unwound = self.unwind(org_id);
        let cap = self.cfg.decided_per_org_max;
        let mut applied = self.org(org_id).apply_shared(seq, msg, cap);
        if matches!(applied, Err(ApplyError::Gap)) && self.reset_from_checkpoint(org_id) {
            // The checkpoint may already hold this message.
            applied = match parse(payload) {
                Ok(_) if seq <= self.org(org_id).shared_seq => Ok(()),
                Ok(msg) => self.org(org_id).apply_shared(seq, msg, cap),
                Err(e) => Err(ApplyError::Bad(e.to_string())),
            };
        }
        if let Err(e) = applied {
            let why = match e {
                ApplyError::Gap => "messages missing from the shared log (purged, and no usable checkpoint)".to_owned(),
                ApplyError::Bad(why) => why,
            };
            // This node's copy and the shared log disagree: it must not go
            // on serving that org as if nothing happened.
            tracing::error!(org = org_id, seq, why, "cannot apply the shared log: restart this node to rebuild it");
            self.shared.copy_broken.store(true, Relaxed);
        }
        self.redo(org_id, unwound);
    }

    /// Replaces `org_id` by its latest checkpoint (this node missed messages
    /// the log no longer holds); its walls are cut and resume by snapshot.
    fn reset_from_checkpoint(&mut self, org_id: &str) -> bool {
        let stored = match self.store.load_checkpoint(org_id) {
            Ok(Some(s)) => s,
            Ok(None) => {
                tracing::error!(org = org_id, "messages missing from the shared log and no checkpoint to start from");
                return false;
            }
            Err(e) => {
                tracing::error!(org = org_id, cause = %e, "cannot load the org's checkpoint");
                return false;
            }
        };
        if let Err(e) = self.store.reset_org(&stored) {
            tracing::error!(org = org_id, cause = %e, "the local copy cannot take the checkpoint");
            self.shared.copy_broken.store(true, Relaxed);
        }
        let mut fresh = match Org::from_store(stored, self.cfg.metrics_window_s, self.now()) {
            Ok(o) => o,
            Err(e) => {
                tracing::error!(org = org_id, cause = %e, "unreadable checkpoint");
                return false;
            }
        };
        fresh.checkpoint_head = fresh.head;
        // This copy's disk may hold decided ids the checkpoint did not
        // carry: looked up there until they are past the retention.
        fresh.decided_spilled_ms = Some(self.now());
        if let Some(old) = self.orgs.remove(org_id) {
            for (id, rt) in old.rt {
                if rt.connected() || !fresh.rt.contains_key(&id) {
                    fresh.rt.insert(id, rt);
                }
            }
            fresh.window = old.window;
            for s in old.subs {
                s.outbox.close();
                s.sock.close(crate::peer::Close::ServerClosing);
            }
        }
        for (device, at) in &fresh.removed {
            self.shared.set_removed(org_id, device, Some(*at));
        }
        tracing::info!(
            org = org_id,
            head = fresh.head,
            shared_seq = fresh.shared_seq,
            "org started from its checkpoint"
        );
        self.orgs.insert(org_id.to_owned(), fresh);
        true
    }

    /// Saves a checkpoint of every org that grew by `checkpoint_entries`
    /// since its last one and has nothing of its own pending (its state is
    /// exactly the shared log at `shared_seq`).
    pub(super) fn save_checkpoints(&mut self) {
        let every = self.cfg.nats.as_ref().map_or(u64::MAX, |n| n.checkpoint_entries);
        let due: Vec<String> = self
            .orgs
            .values()
            .filter(|o| !o.has_pending() && o.shared_seq > 0 && o.head >= o.checkpoint_head.saturating_add(every))
            .map(|o| o.id.clone())
            .collect();
        for org_id in due {
            let Some(o) = self.orgs.get_mut(&org_id) else { continue };
            let (cp, seq) = (o.checkpoint(), o.shared_seq);
            o.checkpoint_head = o.head;
            match serde_json::to_vec(&cp) {
                Ok(bytes) => self.store.save_checkpoint(&org_id, bytes, seq),
                Err(e) => tracing::warn!(org = %org_id, cause = %e, "checkpoint not encoded"),
            }
        }
    }

    /// Takes back what `org_id` decided and has not written: its state goes
    /// back to the last write, its replies wait to be decided again.
    pub(super) fn unwind(&mut self, org_id: &str) -> Unwound {
        let org = self.org(org_id);
        if !org.has_local_pending() {
            return Unwound { acks: Vec::new(), executed: Vec::new() };
        }
        let executed = std::mem::take(&mut org.executed);
        let batch = std::mem::take(&mut org.batch);
        org.roll_back(batch);
        Unwound { acks: std::mem::take(&mut org.acks), executed }
    }

    /// Orgs waiting for the follower: what they decided since is undone
    /// again before the flush ends (its replies wait, in order), so reads
    /// and subscribes never see state beyond the shared log.
    pub(super) fn hold_back_behind(&mut self) {
        let behind: Vec<String> = self
            .orgs
            .values()
            .filter(|o| o.behind_since.is_some() && !o.batch.is_empty())
            .map(|o| o.id.clone())
            .collect();
        for org_id in behind {
            let unwound = self.unwind(&org_id);
            let org = self.org(&org_id);
            org.acks = unwound.acks;
            org.executed = unwound.executed;
        }
    }

    /// Undoes what `org_id` has pending and answers its changes
    /// `unavailable` (a duplicate only if what it repeats stays decided),
    /// then derives its players' status and registrations again.
    pub(super) fn refuse_pending(&mut self, org_id: &str) {
        let unwound = self.unwind(org_id);
        if !unwound.executed.is_empty() {
            tracing::warn!(org = org_id, n = unwound.executed.len(), "schedule.executed reports not logged");
        }
        for a in unwound.acks {
            let still_decided = self.org(org_id).decided.contains_key(&a.key);
            let reply = match a.reply {
                d @ vizora_protocol::MutationAck::Duplicate { .. } if still_decided => d,
                _ => super::commit::unavailable(),
            };
            a.to.send(&reply);
        }
        self.org(org_id).behind_since = None;
        self.redo(org_id, Unwound { acks: Vec::new(), executed: Vec::new() });
    }

    /// Decides again what `unwind` took back, in the order it first came,
    /// then derives this node's players' status and registrations again.
    pub(super) fn redo(&mut self, org_id: &str, unwound: Unwound) {
        let Unwound { acks, executed } = unwound;
        // Up to date as far as this node knows: the next write tells.
        self.org(org_id).behind_since = None;
        for a in acks {
            let reply = match &a.redo {
                Some(Redo::Mutate { claims, mutation }) => self.mutate(claims, (**mutation).clone()),
                Some(Redo::Decided { client_id, mutation_id, reply }) => {
                    self.remember(org_id, client_id.clone(), mutation_id.clone(), reply.clone())
                }
                None => a.reply,
            };
            self.org(org_id).acks.push(PendingAck { to: a.to, reply, key: a.key, redo: a.redo });
        }
        let now = self.now();
        for ev in executed {
            let o = self.org(org_id);
            o.executed.push(ev.clone());
            o.append(now, Event::ScheduleExecuted(ev));
        }
        let local: Vec<String> = {
            let o = self.org(org_id);
            o.rt.iter().filter(|(_, rt)| rt.connected()).map(|(id, _)| id.clone()).collect()
        };
        let mut unknown = Vec::new();
        for id in local {
            let o = self.org(org_id);
            if o.state.devices.contains_key(&id) {
                self.reevaluate(org_id, &id, now);
            } else if !o.removed.contains_key(&id)
                && let Some(sock) = o.rt.get(&id).and_then(|rt| rt.socks.first().cloned())
            {
                unknown.push((id, sock));
            }
        }
        for (id, sock) in unknown {
            // `iat` was checked when it connected.
            self.device_connected(org_id, &id, u64::MAX, sock);
        }
    }

    /// A write of `org_id` found the shared log moved on: undo it, and wait
    /// for the follower to bring the org up to date, then decide again.
    pub(super) fn fell_behind(&mut self, org_id: &str) {
        self.counters.shared_conflicts.fetch_add(1, Relaxed);
        let unwound = self.unwind(org_id);
        let org = self.org(org_id);
        org.acks = unwound.acks;
        org.executed = unwound.executed;
        org.behind_since.get_or_insert_with(Instant::now);
    }

    /// Orgs that waited too long for the follower: their pending changes
    /// are answered `unavailable`.
    pub(super) fn give_up_behind(&mut self) {
        let late: Vec<String> = self
            .orgs
            .values()
            .filter(|o| o.behind_since.is_some_and(|t| t.elapsed() > BEHIND_LIMIT))
            .map(|o| o.id.clone())
            .collect();
        for org_id in late {
            tracing::warn!(org = %org_id, "the shared log did not catch up in time: pending changes refused");
            self.refuse_pending(&org_id);
        }
    }
}

/// Tells the other nodes what `org`'s players connected here did since the
/// last relay (once a second).
pub(super) fn send_relay(org: &mut Org, relay: &dyn Relay) {
    if org.live_out.is_empty() && org.plays_out.is_empty() && org.errors_out == 0 {
        return;
    }
    let devices: Vec<LiveDevice> = std::mem::take(&mut org.live_out)
        .into_iter()
        .filter_map(|id| {
            let d = org.state.devices.get(&id)?;
            Some(LiveDevice { last_seen_ms: d.last_seen_ms, health: d.health, playing: d.playing.clone(), id })
        })
        .collect();
    let mut plays: Vec<(String, u64)> = std::mem::take(&mut org.plays_out).into_iter().collect();
    let mut errors = std::mem::take(&mut org.errors_out);
    // NATS refuses messages over its max_payload (1 MiB by default): a
    // device is well under 512 bytes. Plays go with the first message.
    let mut rest = devices;
    loop {
        let tail = rest.split_off(rest.len().min(RELAY_DEVICES_PER_MESSAGE));
        let devices = std::mem::replace(&mut rest, tail);
        let msg = LiveRelay {
            node: relay.node().to_owned(),
            devices,
            plays: std::mem::take(&mut plays),
            errors: std::mem::take(&mut errors),
        };
        match serde_json::to_vec(&msg) {
            Ok(payload) => relay.publish(&org.id, payload),
            Err(e) => tracing::warn!(cause = %e, "live relay not encoded"),
        }
        if rest.is_empty() {
            return;
        }
    }
}

/// Devices in one live relay message.
const RELAY_DEVICES_PER_MESSAGE: usize = 1_000;

impl Sequencer {
    /// Another node's live relay: live fields of devices not connected
    /// here (newer than what this node has), and plays for `metrics`.
    pub(super) fn live_in(&mut self, org_id: &str, payload: &[u8]) {
        let Ok(msg) = serde_json::from_slice::<LiveRelay>(payload) else {
            tracing::debug!(org = org_id, "unreadable live relay: skipped");
            return;
        };
        if self.relay.as_ref().is_some_and(|r| r.node() == msg.node) {
            return;
        }
        let now = self.now();
        // Only orgs this node knows from the log: a relay creates none.
        let Some(org) = self.orgs.get_mut(org_id) else { return };
        for d in msg.devices {
            if org.rt.get(&d.id).is_some_and(|rt| rt.connected()) {
                continue;
            }
            let Some(dev) = org.state.devices.get_mut(&d.id) else { continue };
            if d.last_seen_ms < dev.last_seen_ms {
                continue;
            }
            dev.last_seen_ms = d.last_seen_ms;
            dev.health = d.health;
            dev.playing = d.playing;
            org.telemetry_dirty.insert(d.id);
        }
        for (content, n) in msg.plays {
            org.window.record_n(now, &content, true, n);
        }
        if msg.errors > 0 {
            org.window.record_n(now, "", false, msg.errors);
        }
    }
}
