//! Committing batches to the store, then fanning them out; undoing them
//! when the store refuses; probing a failing store; pruning.

use std::sync::atomic::Ordering::Relaxed;

use std::sync::Arc;
use std::time::{Duration, Instant};

use vizora_protocol::{EntityKind, MutationAck, RejectCode};

use super::outbox::{Block, Refused};
use super::{DECIDED_RETENTION_MS, Org, STORE_PROBE_MS, Sequencer};
use crate::metrics::Counters;
use crate::store::OrgBatch;

/// The answer to a mutation whose batch the store refused.
pub(crate) fn unavailable() -> MutationAck {
    MutationAck::rejected(RejectCode::Unavailable, "the gateway cannot store changes right now; retry later")
}

impl Sequencer {
    /// Writes every pending batch (on one node in one transaction), then
    /// acks and fans out. Several nodes: batches other nodes wrote are
    /// copied locally first; a batch refused because the shared log moved
    /// on waits for the follower and is decided again (`shared.rs`).
    pub(super) fn flush(&mut self) {
        if self.store_failing && !self.probe_store() {
            return;
        }
        if self.cluster {
            self.give_up_behind();
            self.hold_back_behind();
        }
        // Take each pending batch out (no copy); `foreign[i]`: written by another node.
        let mut batches: Vec<OrgBatch> = Vec::new();
        let mut foreign: Vec<bool> = Vec::new();
        for org in self.orgs.values_mut().filter(|o| o.has_pending()) {
            for b in org.shared_in.drain(..) {
                batches.push(b);
                foreign.push(true);
            }
            let own = org.persist_org || !org.batch.is_empty() || !org.acks.is_empty();
            if !own || org.behind_since.is_some() {
                continue;
            }
            let mut b = std::mem::take(&mut org.batch);
            b.org = org.id.clone();
            b.epoch = org.epoch.clone();
            b.head = org.head;
            b.shared_after = org.shared_seq;
            if self.cluster {
                b.effects = org.effects.clone();
            }
            batches.push(b);
            foreign.push(false);
        }
        if batches.is_empty() {
            return;
        }
        let unwritten = self.store.commit(&mut batches).err();
        if !self.store.healthy() {
            self.shared.copy_broken.store(true, Relaxed);
        }
        let is = |list: Option<&Vec<String>>, org: &str| list.is_some_and(|l| l.iter().any(|o| o == org));
        let mut failed = Vec::new();
        let mut effects = Vec::new();
        for (batch, foreign) in batches.into_iter().zip(foreign) {
            if foreign {
                // In the shared log already: shown and done here too.
                let Some(org) = self.orgs.get_mut(&batch.org) else { continue };
                effects.push((org.id.clone(), batch.effects.clone(), true));
                self.deliver(batch);
                continue;
            }
            if is(unwritten.as_ref().map(|u| &u.conflicts), &batch.org) {
                let org_id = batch.org.clone();
                if let Some(org) = self.orgs.get_mut(&org_id) {
                    org.batch = batch;
                }
                self.fell_behind(&org_id);
                continue;
            }
            if is(unwritten.as_ref().map(|u| &u.failed), &batch.org) {
                failed.push(batch);
                continue;
            }
            let Some(org) = self.orgs.get_mut(&batch.org) else { continue };
            org.committed(&batch);
            if let Some(seq) = batch.shared_seq {
                org.shared_seq = seq;
            }
            if !org.effects.is_empty() {
                effects.push((org.id.clone(), std::mem::take(&mut org.effects), false));
            }
            // Acks only now: what they confirm is durable.
            for a in org.acks.drain(..) {
                a.to.send(&a.reply);
            }
            self.deliver(batch);
        }
        if !failed.is_empty()
            && let Some(u) = &unwritten
        {
            self.store_failed(&u.cause.to_string(), failed);
        }
        for (org, list, foreign) in effects {
            for effect in list {
                self.run_effect(&org, effect, foreign);
            }
        }
    }

    /// A batch is durable: removals take effect, followers and subscribers
    /// get its entries.
    fn deliver(&mut self, batch: OrgBatch) {
        let Some(org) = self.orgs.get_mut(&batch.org) else { return };
        for (device, at) in &batch.removed {
            self.shared.set_removed(&org.id, device, *at);
        }
        self.shared.head_moved(&org.id, batch.head);
        if batch.entries.is_empty() {
            return;
        }
        let n = batch.entries.len() as u64;
        self.counters.entries.fetch_add(n, Relaxed);
        self.counters.set_head(&org.id, batch.head, self.shared.clock.now_ms());
        let since = org.batch_since.take();
        org.fanout_since = org.fanout_since.or(since).or_else(|| Some(Instant::now()));
        org.fanout.extend(batch.entries.into_iter().map(|e| e.2));
        let now = Instant::now();
        fan_out_or_wait(org, now, self.fanout_interval, self.cfg.packet_bytes(), &self.counters, &mut self.fanout_due);
    }

    /// Hands the committed entries of orgs whose fan-out interval has passed
    /// to their subscribers; with `all`, of every org at once.
    pub(super) fn fan_out_due(&mut self, all: bool) {
        let Some(due) = self.fanout_due else { return };
        let now = Instant::now();
        if !all && now < due {
            return;
        }
        self.fanout_due = None;
        // At shutdown (`all`) every wait is over.
        let now = if all { now + self.fanout_interval } else { now };
        for org in self.orgs.values_mut().filter(|o| !o.fanout.is_empty()) {
            fan_out_or_wait(
                org,
                now,
                self.fanout_interval,
                self.cfg.packet_bytes(),
                &self.counters,
                &mut self.fanout_due,
            );
        }
    }

    /// Hands `org`'s committed entries to its subscribers now (before a new
    /// one is placed, which must see them in its snapshot or replay, not twice).
    pub(super) fn fan_out_org(&mut self, org_id: &str) {
        let packet_bytes = self.cfg.packet_bytes();
        if let Some(org) = self.orgs.get_mut(org_id)
            && !org.fanout.is_empty()
        {
            fan_out(org, packet_bytes, &self.counters);
        }
    }

    /// The store refused: undo every batch (nothing beyond the disk is ever
    /// shown or acknowledged), answer its mutations `unavailable`, and
    /// refuse changes until a probe write goes through.
    fn store_failed(&mut self, cause: &str, batches: Vec<OrgBatch>) {
        tracing::error!(cause, "store commit failed: changes refused until it recovers");
        self.store_failing = true;
        self.set_store_ok(false);
        self.counters.store_failures.fetch_add(1, Relaxed);
        self.next_probe_ms = self.now() + STORE_PROBE_MS;
        for b in batches {
            let Some(org) = self.orgs.get_mut(&b.org) else { continue };
            let acks = std::mem::take(&mut org.acks);
            org.roll_back(b);
            for a in acks {
                // A duplicate of a change decided before this batch stays
                // one; a duplicate of one in the undone batch is not.
                let reply = match a.reply {
                    d @ MutationAck::Duplicate { .. } if org.decided.contains_key(&a.key) => d,
                    _ => unavailable(),
                };
                a.to.send(&reply);
            }
        }
    }

    /// Tries a write on a failing store (at most once a second); true when
    /// it went through and service resumed.
    fn probe_store(&mut self) -> bool {
        let now = self.now();
        // Several nodes: changes that waited for the follower cannot be
        // written now either; their state is undone before anything is said.
        let behind: Vec<String> =
            self.orgs.values().filter(|o| o.behind_since.is_some()).map(|o| o.id.clone()).collect();
        for org_id in behind {
            self.refuse_pending(&org_id);
        }
        // Replies waiting on a batch that cannot be written now.
        for org in self.orgs.values_mut() {
            for a in org.acks.drain(..) {
                a.to.send(&a.reply);
            }
        }
        if now < self.next_probe_ms {
            return false;
        }
        self.next_probe_ms = now + STORE_PROBE_MS;
        if let Err(e) = self.store.probe() {
            tracing::warn!(cause = %e, "store still failing");
            return false;
        }
        tracing::info!("store writes again: accepting changes");
        self.store_failing = false;
        self.set_store_ok(true);
        self.register_unknown_devices();
        true
    }

    pub(super) fn prune(&mut self) {
        if self.cluster && !self.store_failing {
            self.save_checkpoints();
        }
        let now = self.now();
        let keep = self.cfg.history_entries;
        let before = now.saturating_sub(self.cfg.history_secs * 1000);
        let decided_before = now.saturating_sub(DECIDED_RETENTION_MS);
        let resolved_before = now.saturating_sub(self.cfg.resolved_alert_retention_s * 1000);
        for org in self.orgs.values_mut() {
            org.expire_decided(decided_before);
            // Resolved alerts leave the state (and snapshots), not the log.
            let old: Vec<String> =
                org.resolved_at.iter().filter(|(_, at)| **at < resolved_before).map(|(id, _)| id.clone()).collect();
            for id in old {
                org.resolved_at.remove(&id);
                let still_resolved =
                    org.state.alerts.get(&id).is_some_and(|a| a.state == vizora_protocol::AlertState::Resolved);
                if still_resolved && !self.store_failing {
                    org.drop_entity(EntityKind::Alert, &id);
                }
            }
        }
        if self.store_failing {
            return;
        }
        if let Err(e) = self.store.prune_decided(decided_before) {
            tracing::error!(cause = %e, "pruning decided mutation ids failed");
        }
        for org in self.orgs.values() {
            if org.head > keep
                && let Err(e) = self.store.prune(&org.id, org.head - keep, before)
            {
                tracing::error!(org = %org.id, cause = %e, "log prune failed");
            }
        }
    }
}

/// Time per subscriber an org's hand-offs are spaced by: about twice what
/// sending one frame to one socket costs, so fan-out takes at most about
/// half a core per org however fast it commits.
const SPACING_PER_SUBSCRIBER: Duration = Duration::from_micros(10);

/// How long after its last hand-off `org`'s next one may go: 10 µs per
/// subscriber, at most `max` (`fanout_ms`). One wall waits 10 µs, 2,000
/// walls up to 20 ms: frames per entry fall as the fan-out grows, and an
/// org with few subscribers is not delayed.
fn spacing(org: &Org, max: Duration) -> Duration {
    SPACING_PER_SUBSCRIBER.saturating_mul(u32::try_from(org.subs.len()).unwrap_or(u32::MAX)).min(max)
}

/// Hands `org`'s waiting entries off if its spacing has passed by `now`;
/// otherwise keeps the earliest time one is due in `due`.
fn fan_out_or_wait(
    org: &mut Org,
    now: Instant,
    max: Duration,
    packet_bytes: usize,
    counters: &Counters,
    due: &mut Option<Instant>,
) {
    let at = org.last_fanout.map(|t| t + spacing(org, max));
    if at.is_none_or(|at| at <= now) {
        fan_out(org, packet_bytes, counters);
    } else {
        *due = (*due).min(at).or(at);
    }
}

/// One `events` block of everything `org` committed since its last fan-out,
/// built once and shared by every subscriber's outbox.
fn fan_out(org: &mut Org, packet_bytes: usize, counters: &Counters) {
    org.last_fanout = Some(Instant::now());
    let items = std::mem::take(&mut org.fanout);
    let since = org.fanout_since.take();
    if items.is_empty() || org.subs.is_empty() {
        return;
    }
    let n = items.len() as u64;
    let epoch: Arc<str> = Arc::from(org.epoch.as_str());
    let block = Block::new(&epoch, items, packet_bytes);
    org.subs.retain(|s| match s.outbox.push(&block) {
        Ok(()) => true,
        Err(Refused::TooSlow) => {
            // Too far behind on state: cut; it resumes by replay.
            tracing::warn!(org = %org.id, sid = %s.sock.id(), "slow /wall consumer disconnected");
            counters.slow_consumers.fetch_add(1, Relaxed);
            false
        }
        Err(Refused::Closed) => false,
    });
    // Append → committed → handed to every subscriber's outbox.
    if let Some(since) = since {
        counters.observe_delivery(since.elapsed(), n);
    }
}
