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
        let now = Instant::now();
        let since = org.batch_since.take().unwrap_or(now);
        org.fanout.extend(batch.entries.into_iter().map(|e| (since, e.2)));
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
        for org in self.orgs.values_mut().filter(|o| !o.fanout.is_empty()) {
            // At shutdown (`all`) every wait is over.
            if all {
                fan_out(org, self.cfg.packet_bytes(), &self.counters);
                continue;
            }
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
/// half a core per org however fast it commits (where a frame costs more,
/// `pace.rs` stretches the spacing).
const SPACING_PER_SUBSCRIBER: Duration = Duration::from_micros(10);

/// Subscribers per hand-off lane, and the most lanes an org has.
const LANE_SUBSCRIBERS: usize = 250;
const MAX_LANES: usize = 8;

/// How long after its last hand-off a subscriber of `org` may get the next:
/// 10 µs per subscriber, at most `max` (`fanout_ms`). One wall waits 10 µs,
/// 2,000 walls up to 20 ms: frames per entry fall as the fan-out grows, and
/// an org with few subscribers is not delayed. All of it times `stretch`
/// (1/1024ths), which `pace.rs` raises while the socket writers are saturated.
fn spacing(org: &Org, max: Duration, stretch: u32) -> Duration {
    let base = SPACING_PER_SUBSCRIBER.saturating_mul(u32::try_from(org.subs.len()).unwrap_or(u32::MAX)).min(max);
    base.saturating_mul(stretch) / crate::metrics::STRETCH_NONE
}

/// The lanes an org's subscribers are handed off in: one per 250, at most
/// 8. Each lane gets its hand-off once per spacing, the lanes in turn, a
/// spacing/lanes apart: every subscriber still gets one frame per spacing,
/// but the sends (and the readers' wake-ups) are spread over the interval
/// instead of arriving as one burst of thousands, which queued the last
/// sockets of a burst behind the first.
fn lanes(org: &Org) -> u32 {
    org.subs.len().div_ceil(LANE_SUBSCRIBERS).clamp(1, MAX_LANES) as u32
}

/// Hands the next lane of `org` what its subscribers have not had if a
/// lane's turn has come by `now`; keeps the next turn in `due` while entries
/// are still waiting for some lane.
fn fan_out_or_wait(
    org: &mut Org,
    now: Instant,
    max: Duration,
    packet_bytes: usize,
    counters: &Counters,
    due: &mut Option<Instant>,
) {
    let (spacing, lanes) = (spacing(org, max, counters.fanout_stretch()), lanes(org));
    let turn = spacing / lanes;
    match org.last_fanout {
        // Busy: the lanes take turns, a turn apart.
        Some(t) if t + spacing > now => {
            if t + turn <= now {
                let lane = org.next_lane % lanes;
                org.next_lane = (lane + 1) % lanes;
                hand_off(org, now, Some((lane, lanes)), packet_bytes, counters);
            }
        }
        // Quiet for a whole spacing (or never handed off): no lane is owed
        // a turn soon, so all get this at once; an org that commits now
        // and then is not delayed by the lanes.
        _ => hand_off(org, now, None, packet_bytes, counters),
    }
    if !org.fanout.is_empty() {
        let at = org.last_fanout.map_or(now, |t| t + turn);
        *due = (*due).min(Some(at)).or(Some(at));
    }
}

/// Hands every subscriber of `org` what it has not had, now.
fn fan_out(org: &mut Org, packet_bytes: usize, counters: &Counters) {
    hand_off(org, Instant::now(), None, packet_bytes, counters);
}

/// Hands the subscribers of one lane (`(lane, lanes)`), or all, every
/// committed entry they have not had, as one `events` block shared by those
/// that had the same; then forgets the entries every subscriber has had.
fn hand_off(org: &mut Org, now: Instant, lane: Option<(u32, u32)>, packet_bytes: usize, counters: &Counters) {
    org.last_fanout = Some(now);
    let end = org.fanout_base + org.fanout.len() as u64;
    let Org { subs, fanout, fanout_base, epoch, id, .. } = org;
    let base = *fanout_base;
    let epoch: Arc<str> = Arc::from(epoch.as_str());
    // The subscribers of a lane were handed off together: one block serves them.
    let mut built: Vec<(u64, Arc<Block>)> = Vec::new();
    // The oldest entry some subscriber still has not had.
    let mut done = end;
    subs.retain_mut(|s| {
        if s.next >= end || lane.is_some_and(|(l, n)| s.lane % n != l) {
            done = done.min(s.next);
            return true;
        }
        let from = s.next.max(base);
        let block = match built.iter().find(|(f, _)| *f == from) {
            Some((_, b)) => b.clone(),
            None => {
                let items = fanout.range((from - base) as usize..).map(|(_, e)| e.clone()).collect();
                let b = Block::new(&epoch, items, packet_bytes);
                built.push((from, b.clone()));
                b
            }
        };
        s.next = end;
        match s.outbox.push(&block) {
            Ok(()) => true,
            Err(Refused::TooSlow) => {
                // Too far behind on state: cut; it resumes by replay.
                tracing::warn!(org = %id, sid = %s.sock.id(), "slow /wall consumer disconnected");
                counters.slow_consumers.fetch_add(1, Relaxed);
                false
            }
            Err(Refused::Closed) => false,
        }
    });
    // Append → committed → handed to every subscriber's outbox.
    let had_subs = !subs.is_empty() || !built.is_empty();
    let done = done.max(base);
    for _ in base..done {
        if let Some((since, _)) = fanout.pop_front()
            && had_subs
        {
            counters.observe_delivery(since.elapsed(), 1);
        }
    }
    *fanout_base = done;
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::peer::{Close, Packet, Peer, PeerId, PeerRef};
    use crate::sequencer::Sub;
    use crate::sequencer::outbox::Outbox;

    /// A socket; `write` plays its writer, taking what is queued and
    /// keeping its text.
    #[derive(Debug)]
    struct Reader {
        id: PeerId,
        queue: Mutex<Vec<Packet>>,
        frames: Mutex<Vec<String>>,
    }

    impl Reader {
        fn write(&self) {
            let taken = std::mem::take(&mut *self.queue.lock().unwrap());
            let mut frames = self.frames.lock().unwrap();
            frames.extend(taken.iter().map(|p| String::from_utf8_lossy(p.as_bytes()).into_owned()));
            // Dropped here, outside the outbox's lock: the outbox learns they were taken.
        }
    }

    impl Peer for Reader {
        fn id(&self) -> PeerId {
            self.id
        }
        fn send(&self, packet: Packet) -> Result<(), Packet> {
            self.queue.lock().unwrap().push(packet);
            Ok(())
        }
        fn close(&self, _: Close) {}
        fn on_wall_of(&self, _: &str) -> bool {
            true
        }
    }

    /// The seqs in the `events` frames a reader got, frame by frame.
    fn seqs(r: &Reader) -> Vec<Vec<u64>> {
        r.frames
            .lock()
            .unwrap()
            .iter()
            .map(|f| {
                let (_, json) = f.split_once(',').expect("a Socket.IO event");
                let v: serde_json::Value = serde_json::from_str(json).expect("JSON");
                v[1]["items"].as_array().expect("items").iter().map(|i| i["seq"].as_u64().expect("seq")).collect()
            })
            .collect()
    }

    /// An org with `n` walls in lanes by their order, and their sockets.
    fn org_with_walls(n: usize, counters: &Arc<Counters>) -> (Org, Vec<Arc<Reader>>) {
        let mut org = Org::new("acme", 60);
        let readers: Vec<Arc<Reader>> = (0..n)
            .map(|_| Arc::new(Reader { id: PeerId::next(), queue: Mutex::default(), frames: Mutex::default() }))
            .collect();
        for (i, r) in readers.iter().enumerate() {
            let sock: PeerRef = r.clone();
            let outbox = Outbox::new(&sock, 1 << 20, 64 * 1024, counters.clone(), false);
            org.subs.push(Sub { sock, outbox, round: 1, lane: i as u32, next: 0 });
        }
        (org, readers)
    }

    fn commit(org: &mut Org, seqs: std::ops::RangeInclusive<u64>, at: Instant) {
        org.fanout.extend(seqs.map(|s| (at, format!(r#"{{"seq":{s}}}"#))));
    }

    /// A stretched pace (`pace.rs`) spaces the turns further apart: at 2×,
    /// a lane's turn comes after two unstretched turns, not one.
    #[test]
    fn a_stretched_pace_spaces_the_lanes_turns_further_apart() {
        let counters = Arc::new(Counters::default());
        counters.fanout_stretch.store(2 * crate::metrics::STRETCH_NONE, Relaxed);
        let (mut org, readers) = org_with_walls(1000, &counters);
        let (max, turn) = (Duration::from_millis(20), Duration::from_micros(2_500));
        let t0 = Instant::now();
        let mut due = None;
        let step = |org: &mut Org, now: Instant, due: &mut Option<Instant>| {
            fan_out_or_wait(org, now, max, 64 * 1024, &counters, due);
            readers.iter().for_each(|r| r.write());
        };
        commit(&mut org, 1..=1, t0);
        step(&mut org, t0, &mut due);
        commit(&mut org, 2..=2, t0 + turn);
        step(&mut org, t0 + turn, &mut due);
        assert_eq!(seqs(&readers[0]), vec![vec![1]], "one unstretched turn is not enough");
        assert_eq!(due, Some(t0 + turn * 2));
        step(&mut org, t0 + turn * 2, &mut due);
        assert_eq!(seqs(&readers[0]), vec![vec![1], vec![2]]);
    }

    /// 1,000 walls: four lanes. After a quiet spell every lane gets a
    /// commit at once; while busy the lanes take turns a quarter of the
    /// spacing apart, each turn one frame with everything that lane has not
    /// had. Every wall ends with every entry once, in order, and nothing is
    /// kept once all have had it.
    #[test]
    fn lanes_take_turns_and_every_wall_gets_every_entry_once_in_order() {
        let counters = Arc::new(Counters::default());
        let (mut org, readers) = org_with_walls(1000, &counters);
        assert_eq!(lanes(&org), 4);
        let max = Duration::from_millis(20);
        let turn = Duration::from_micros(2_500); // 10 µs × 1,000 walls = 10 ms, over 4 lanes
        let t0 = Instant::now();
        let mut due = None;
        let got = |lane: usize| seqs(&readers[lane]);
        // The sequencer's pass at `now`, then every socket's writer.
        let step = |org: &mut Org, now: Instant, due: &mut Option<Instant>| {
            fan_out_or_wait(org, now, max, 64 * 1024, &counters, due);
            readers.iter().for_each(|r| r.write());
        };

        // Quiet until now: every lane gets the first commit at once.
        commit(&mut org, 1..=2, t0);
        step(&mut org, t0, &mut due);
        assert!((0..4).all(|l| got(l) == vec![vec![1, 2]]));
        assert_eq!(due, None, "nothing waits");

        // Busy: the lanes take turns. Before lane 0's turn nothing moves.
        commit(&mut org, 3..=3, t0 + turn / 2);
        step(&mut org, t0 + turn / 2, &mut due);
        step(&mut org, t0 + turn - Duration::from_micros(1), &mut due);
        assert_eq!(got(0), vec![vec![1, 2]]);
        assert_eq!(due, Some(t0 + turn));
        step(&mut org, t0 + turn, &mut due);
        assert_eq!(got(0), vec![vec![1, 2], vec![3]]);
        assert!((1..4).all(|l| got(l).len() == 1), "lanes 1 to 3 wait their turns");

        // Two commits wait for lane 1 and leave in one frame.
        commit(&mut org, 4..=5, t0 + turn + Duration::from_micros(1));
        for k in 2..=5u32 {
            step(&mut org, t0 + turn * k, &mut due);
        }
        assert_eq!(got(0), vec![vec![1, 2], vec![3], vec![4, 5]]);
        assert!((1..4).all(|l| got(l) == vec![vec![1, 2], vec![3, 4, 5]]));
        assert!(org.fanout.is_empty(), "every wall had every entry");
        assert_eq!(org.fanout_base, 5);

        // Quiet for a whole spacing again: all at once.
        let later = t0 + turn * 9;
        commit(&mut org, 6..=6, later);
        step(&mut org, later, &mut due);
        assert!((0..4).all(|l| got(l).last() == Some(&vec![6])));

        for (i, r) in readers.iter().enumerate() {
            assert_eq!(seqs(r), got(i % 4), "wall {i} shares its lane's frames");
            assert_eq!(seqs(r).concat(), (1..=6).collect::<Vec<_>>(), "wall {i}");
        }
    }
}
