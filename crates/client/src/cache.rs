//! The confirmed state as the IO thread last delivered it, saved to the
//! store now and then so a restart shows it (marked stale) and resumes from
//! its position. Saves write only what moved since the last one.

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::time::Instant;
use vizora_protocol::{Entity, LogEntry, OrgState, Position};
use vizora_sync::{ClientStore, ConfirmedState, EntityKey, StoreError};

/// Save early when this many entities changed, whatever the interval.
const DIRTY_LIMIT: usize = 10_000;

/// A copy of the confirmed state and what of it the store does not hold yet.
pub(crate) struct StateCache {
    state: OrgState,
    position: Option<Position>,
    /// When the state was last known current (Unix ms).
    as_of_ms: u64,
    dirty: BTreeSet<EntityKey>,
    /// A snapshot replaced everything since the last save.
    whole: bool,
    /// Something (state, position or `as_of_ms`) is not saved yet.
    unsaved: bool,
    last_save: Instant,
    interval: Duration,
}

impl StateCache {
    /// Starts from what the store held.
    pub(crate) fn new(restored: Option<&ConfirmedState>, interval: Duration) -> Self {
        let (state, position, as_of_ms) = match restored {
            Some(c) => (OrgState::from_entities(c.entities.iter().cloned()), Some(c.position.clone()), c.as_of_ms),
            None => (OrgState::default(), None, 0),
        };
        Self {
            state,
            position,
            as_of_ms,
            dirty: BTreeSet::new(),
            whole: false,
            unsaved: false,
            last_save: Instant::now(),
            interval,
        }
    }

    /// A complete snapshot replaced everything.
    pub(crate) fn snapshot(&mut self, epoch: &str, seq: u64, entities: &[Entity]) {
        self.state = OrgState::from_entities(entities.iter().cloned());
        self.position = Some(Position { epoch: epoch.to_owned(), seq });
        self.dirty.clear();
        self.whole = true;
        self.unsaved = true;
    }

    /// Entries that follow the position without a gap were delivered.
    pub(crate) fn entries(&mut self, epoch: &str, items: &[LogEntry]) {
        let Some(last) = items.last() else { return };
        for e in items {
            self.state.apply_event(&e.event);
            if let Some((kind, id)) = e.event.entity_ref() {
                self.dirty.insert((kind, id.to_owned()));
            }
        }
        self.position = Some(Position { epoch: epoch.to_owned(), seq: last.seq });
        self.unsaved = true;
    }

    /// The state is current as of `now_ms` (the session is live).
    pub(crate) fn touch(&mut self, now_ms: u64) {
        if now_ms > self.as_of_ms {
            self.as_of_ms = now_ms;
            self.unsaved = true;
        }
    }

    /// When a save is next due, if anything waits to be saved.
    pub(crate) fn next_save(&self) -> Option<Instant> {
        if !self.unsaved || self.position.is_none() {
            return None;
        }
        if self.dirty.len() >= DIRTY_LIMIT {
            return Some(self.last_save + self.interval / 10);
        }
        Some(self.last_save + self.interval)
    }

    /// Saves if due at `now` (or always, with `force`); one transaction.
    pub(crate) fn save(&mut self, store: &mut ClientStore, now: Instant, force: bool) -> Result<(), StoreError> {
        let Some(position) = &self.position else { return Ok(()) };
        if !self.unsaved || (!force && self.next_save().is_none_or(|t| now < t)) {
            return Ok(());
        }
        // Whatever the outcome, the next try waits a whole interval.
        self.last_save = now;
        if self.whole {
            store.save_confirmed(position, self.as_of_ms, self.state.entities())?;
        } else {
            let (present, gone): (Vec<&EntityKey>, Vec<&EntityKey>) =
                self.dirty.iter().partition(|(kind, id)| self.state.contains(*kind, id));
            let upserts = present.into_iter().filter_map(|(kind, id)| self.state.get(*kind, id));
            store.update_confirmed(position, self.as_of_ms, upserts, gone)?;
        }
        self.dirty.clear();
        self.whole = false;
        self.unsaved = false;
        Ok(())
    }
}
