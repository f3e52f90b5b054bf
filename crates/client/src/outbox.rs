//! Delivery of the caller's mutations (PROTOCOL.md §6): the durable outbox
//! plus what is in flight on the current session. Sends go out in the order
//! the mutations were made, at most [`WINDOW`] unacknowledged at once; a
//! timed-out or rate-limited one goes back to the front and is sent again
//! with its original id before anything after it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use tokio::time::Instant;
use vizora_protocol::{Mutation, MutationAck, RejectCode};
use vizora_sync::{ClientStore, QueuedMutation, StoreError};

use crate::Update;
use crate::backoff::Backoff;

/// Most mutations awaiting an ack on one session.
pub(crate) const WINDOW: usize = 256;

/// The outbox as the IO thread drives it.
pub(crate) struct Outbox {
    store: ClientStore,
    /// Undecided mutations by order made.
    slots: BTreeMap<u64, Mutation>,
    by_id: HashMap<String, u64>,
    next_ord: u64,
    /// Waiting to be sent on this session, by order made.
    unsent: BTreeSet<u64>,
    /// Sent on this session, not yet answered: when.
    in_flight: BTreeMap<u64, Instant>,
    /// This session's ack ids; a resend adds one, and whichever answer
    /// comes first decides.
    acks: HashMap<u64, u64>,
    paused_until: Option<Instant>,
    rate_backoff: Backoff,
    ack_timeout: Duration,
}

impl Outbox {
    /// Takes over `store`, with what it holds, in order, for [`Update::Restored`]
    /// (or why that could not be read: then it starts empty).
    pub(crate) fn new(store: ClientStore, ack_timeout: Duration) -> (Self, Result<Vec<QueuedMutation>, StoreError>) {
        let mut o = Self {
            store,
            slots: BTreeMap::new(),
            by_id: HashMap::new(),
            next_ord: 0,
            unsent: BTreeSet::new(),
            in_flight: BTreeMap::new(),
            acks: HashMap::new(),
            paused_until: None,
            rate_backoff: Backoff::new(Duration::from_millis(200), Duration::from_secs(5)),
            ack_timeout,
        };
        let pending = o.store.pending();
        for q in pending.iter().flatten() {
            o.insert(q.mutation.clone());
        }
        (o, pending)
    }

    /// The store, for the state cache.
    pub(crate) fn store_mut(&mut self) -> &mut ClientStore {
        &mut self.store
    }

    /// Undecided mutations.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    fn insert(&mut self, m: Mutation) {
        let ord = self.next_ord;
        self.next_ord += 1;
        self.by_id.insert(m.mutation_id.clone(), ord);
        self.slots.insert(ord, m);
        self.unsent.insert(ord);
    }

    /// Persists `batch` in one transaction, then takes it on; one update per mutation.
    pub(crate) fn queue(&mut self, batch: Vec<QueuedMutation>) -> Vec<Update> {
        let mut out = Vec::with_capacity(batch.len());
        let mut fresh = Vec::with_capacity(batch.len());
        let mut seen = BTreeSet::new();
        for q in batch {
            let id = q.mutation.mutation_id.clone();
            if self.by_id.contains_key(&id) || !seen.insert(id.clone()) {
                let message = StoreError::DuplicateId(id.clone()).to_string();
                out.push(Update::StoreFailed { mutation_id: Some(id), message });
            } else {
                fresh.push(q);
            }
        }
        match self.store.push_all(&fresh) {
            Ok(n) => {
                let capacity = self.store.capacity();
                for (i, q) in fresh.into_iter().enumerate() {
                    let mutation_id = q.mutation.mutation_id.clone();
                    if i < n {
                        self.insert(q.mutation);
                        out.push(Update::Queued { mutation_id });
                    } else {
                        tracing::warn!(%mutation_id, capacity, "outbox full; mutation refused");
                        out.push(Update::OutboxFull { mutation_id, capacity });
                    }
                }
            }
            Err(e) => {
                tracing::error!(cause = %e, "could not queue mutations");
                let message = e.to_string();
                out.extend(fresh.into_iter().map(|q| Update::StoreFailed {
                    mutation_id: Some(q.mutation.mutation_id),
                    message: message.clone(),
                }));
            }
        }
        out
    }

    /// A new session: nothing is in flight on it, and every undecided
    /// mutation is sent again, in order, once it is subscribed.
    pub(crate) fn new_session(&mut self) {
        self.unsent.extend(self.in_flight.keys());
        self.in_flight.clear();
        self.acks.clear();
        self.paused_until = None;
    }

    /// The next mutation to send now, if the window and any rate-limit pause allow.
    pub(crate) fn next_to_send(&self, now: Instant) -> Option<(u64, &Mutation)> {
        if self.paused_until.is_some_and(|t| now < t) || self.in_flight.len() >= WINDOW {
            return None;
        }
        let ord = *self.unsent.first()?;
        self.slots.get(&ord).map(|m| (ord, m))
    }

    /// Records that `ord` went out with ack id `ack_id`.
    pub(crate) fn sent(&mut self, ord: u64, ack_id: u64, now: Instant) {
        self.unsent.remove(&ord);
        self.in_flight.insert(ord, now);
        self.acks.insert(ack_id, ord);
    }

    /// Whether `ack_id` is one of ours on this session.
    #[cfg(test)]
    pub(crate) fn owns_ack(&self, ack_id: u64) -> bool {
        self.acks.contains_key(&ack_id)
    }

    /// Takes an ack's raw JSON. A final answer removes the mutation from the
    /// store and is reported; `rate_limited` pauses sending and requeues it.
    pub(crate) fn on_ack(&mut self, ack_id: u64, arg: &str, now: Instant) -> Vec<Update> {
        let Some(ord) = self.acks.remove(&ack_id) else { return vec![] };
        let Some(m) = self.slots.get(&ord) else { return vec![] }; // decided by an earlier answer
        let ack = match serde_json::from_str::<MutationAck>(arg) {
            Ok(a) => a,
            Err(e) => {
                // Left in flight: the ack timeout sends it again.
                tracing::warn!(cause = %e, mutation_id = %m.mutation_id, "unreadable mutate ack");
                return vec![];
            }
        };
        if let MutationAck::Rejected { code: RejectCode::RateLimited | RejectCode::Unavailable, .. } = ack {
            // The rest of the window is likely refused too: one pause for all of it.
            if self.paused_until.is_none_or(|t| now >= t) {
                let delay = self.rate_backoff.next_delay().max(Duration::from_millis(20));
                tracing::debug!(mutation_id = %m.mutation_id, delay_ms = delay.as_millis() as u64, "rate limited; pausing");
                self.paused_until = Some(now + delay);
            }
            self.in_flight.remove(&ord);
            self.unsent.insert(ord);
            return vec![];
        }
        self.rate_backoff.reset();
        let Some(m) = self.slots.remove(&ord) else { return vec![] };
        self.by_id.remove(&m.mutation_id);
        self.in_flight.remove(&ord);
        self.unsent.remove(&ord);
        self.acks.retain(|_, o| *o != ord);
        let mut out = Vec::with_capacity(2);
        if let Err(e) = self.store.remove(&m.mutation_id) {
            // It stays on disk: after a restart it is sent again and answered `duplicate`.
            tracing::error!(cause = %e, mutation_id = %m.mutation_id, "could not remove a decided mutation");
            out.push(Update::StoreFailed { mutation_id: None, message: e.to_string() });
        }
        out.push(Update::Acked { mutation_id: m.mutation_id, ack });
        out
    }

    /// Gives a mutation up (the caller showed it as failed): it is no longer
    /// sent, and leaves the store. One already on the wire may still have
    /// been applied; then its log entry says so. `false`: it was not here
    /// (already decided).
    pub(crate) fn withdraw(&mut self, mutation_id: &str) -> Result<bool, StoreError> {
        let Some(&ord) = self.by_id.get(mutation_id) else { return Ok(false) };
        // Off the disk first: if that fails it stays queued here too, and is
        // delivered rather than resurrected after a restart.
        self.store.remove(mutation_id)?;
        self.by_id.remove(mutation_id);
        self.slots.remove(&ord);
        self.unsent.remove(&ord);
        self.in_flight.remove(&ord);
        self.acks.retain(|_, o| *o != ord);
        Ok(true)
    }

    /// Ends a rate-limit pause that is over, and puts every mutation
    /// unanswered for the ack timeout back to be sent again.
    pub(crate) fn tick(&mut self, now: Instant) {
        if self.paused_until.is_some_and(|t| now >= t) {
            self.paused_until = None;
        }
        let timeout = self.ack_timeout;
        let expired: Vec<u64> =
            self.in_flight.iter().filter(|(_, at)| now >= **at + timeout).map(|(o, _)| *o).collect();
        for ord in expired {
            if let Some(m) = self.slots.get(&ord) {
                tracing::info!(mutation_id = %m.mutation_id, "no ack in time; sending again");
            }
            self.in_flight.remove(&ord);
            self.unsent.insert(ord);
        }
    }

    /// When [`Self::tick`] next has something to do.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let timeout = self.in_flight.values().min().map(|at| *at + self.ack_timeout);
        let resume = self.paused_until.filter(|_| !self.unsent.is_empty());
        timeout.into_iter().chain(resume).min()
    }
}

#[cfg(test)]
mod tests;
