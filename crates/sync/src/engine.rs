//! The client sync engine (DESIGN.md, "Server authority, optimistic
//! clients"): confirmed state at a log position, the local mutations still
//! pending, and the view = confirmed + pending replayed in order with the
//! same [`apply()`] the gateway decides with.
//!
//! The view is kept incrementally: outside the entities that pending
//! mutations wrote (the overlay), it equals the confirmed state, so a step
//! costs what it touches, not the size of the org. A log entry moves both
//! states alike there; pending mutations replay only when an entry touched
//! something one of them looks up (or one left), since otherwise each
//! would decide exactly as before. Only a snapshot diffs whole maps.

use std::collections::BTreeSet;

use vizora_protocol::{
    ApplyCtx, ArgError, Entity, EntityKind, Event, LogEntry, Mutation, MutationAck, OrgState, Position, RejectCode,
    Rejection, apply, lookups,
};

use crate::changes::{AckOutcome, Changes, EntityKey, Resubscribe, Rollback, Stats};
use crate::cursor::{Accept, Cursor};
use crate::fold::{Before, Touched, fold, put};
use crate::keys::KeySet;
use crate::store::{ConfirmedState, QueuedMutation};

/// A local mutation not yet confirmed by the log nor refused by the server.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    mutation: Mutation,
    ctx: ApplyCtx,
    /// Set by an `applied` ack: where its change entry is.
    applied_at: Option<LogMark>,
    shadowed: Option<Rejection>,
}

/// A log position named by an ack; the ack carries no epoch, so it is the
/// epoch the engine stood in when the ack arrived (none before a snapshot).
#[derive(Debug, Clone, PartialEq, Eq)]
struct LogMark {
    epoch: Option<String>,
    seq: u64,
}

impl Pending {
    /// The mutation, normalised as the server will read it.
    pub fn mutation(&self) -> &Mutation {
        &self.mutation
    }

    /// The context it is replayed with (org, role, sub, and the id it creates).
    pub fn ctx(&self) -> &ApplyCtx {
        &self.ctx
    }

    /// Whether the server acked it as applied (it waits for its log entry; do not resend).
    pub fn is_acked(&self) -> bool {
        self.applied_at.is_some()
    }

    /// Why it does not show in the view now: it no longer applies on top of
    /// the confirmed state. It stays pending; the server decides.
    pub fn shadowed(&self) -> Option<&Rejection> {
        self.shadowed.as_ref()
    }
}

/// Confirmed state, pending local mutations and the view derived from both.
#[derive(Debug, Clone, Default)]
pub struct SyncEngine {
    confirmed: OrgState,
    view: OrgState,
    cursor: Cursor,
    pending: Vec<Pending>,
    /// Entities pending mutations wrote in `view`; elsewhere `view == confirmed`.
    overlay: KeySet,
    /// Every entity a pending mutation's `apply` looks up (a superset of the
    /// overlay): an entry touching none of them changes no replay.
    lookups: KeySet,
    stats: Stats,
}

impl SyncEngine {
    /// An engine with no state and no position: it needs a snapshot first.
    pub fn new() -> Self {
        Self::default()
    }

    /// An engine resumed from what a [`crate::ClientStore`] kept: the
    /// confirmed state at its position (none: it needs a snapshot first) and
    /// the outbox, pending in order with the contexts they were made with.
    /// A mutation the restored view refuses stays pending (shadowed): it is
    /// queued, and only the server decides it.
    pub fn restore(confirmed: Option<ConfirmedState>, pending: Vec<QueuedMutation>) -> Self {
        let mut e = Self::new();
        if let Some(c) = confirmed {
            e.confirmed = OrgState::from_entities(c.entities);
            e.cursor = Cursor::at(Some(c.position));
        }
        let mut seen = BTreeSet::new();
        for q in pending {
            let Ok(m) = normalize(&q.mutation) else { continue };
            if seen.insert(m.mutation_id.clone()) {
                e.pending.push(Pending { mutation: m, ctx: q.ctx, applied_at: None, shadowed: None });
            }
        }
        e.pending_changed();
        e.view = e.confirmed.clone();
        e.replay();
        e
    }

    /// What the user sees: confirmed state with pending mutations applied.
    pub fn view(&self) -> &OrgState {
        &self.view
    }

    /// State as of [`Self::position`], as the log says.
    pub fn confirmed(&self) -> &OrgState {
        &self.confirmed
    }

    /// The last applied log position: the `since` to subscribe with.
    pub fn position(&self) -> Option<&Position> {
        self.cursor.position()
    }

    /// Pending local mutations, in the order they were made.
    pub fn pending(&self) -> &[Pending] {
        &self.pending
    }

    /// Pending mutations not acked as applied: what to (re)send, in order, after a reconnect.
    pub fn unacked(&self) -> impl Iterator<Item = &Mutation> {
        self.pending.iter().filter(|p| !p.is_acked()).map(|p| &p.mutation)
    }

    /// Running totals.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Applies a local mutation to the view at once and queues it for the
    /// server. `ctx` is fixed now (a create keeps `ctx.new_id` on every
    /// replay). A mutation the view already refuses is not queued.
    pub fn mutate(&mut self, m: Mutation, ctx: ApplyCtx) -> Result<Changes, Rejection> {
        let m = normalize(&m)?;
        if self.pending.iter().any(|p| p.mutation.mutation_id == m.mutation_id) {
            return Err(Rejection::invalid("mutation_id", "already pending"));
        }
        let applied = apply(&self.view, &m, &ctx)?;
        let mut changes = Changes::default();
        if let Some(event) = &applied.event {
            let key = (applied.kind, applied.id.clone());
            let before = self.view.get(key.0, &key.1);
            self.view.apply_event(event);
            if self.view.get(key.0, &key.1) != before {
                changes.changed.push(key.clone());
            }
            self.overlay.insert(key.0, &key.1);
        }
        self.lookups.extend(lookups(&m, &ctx));
        self.pending.push(Pending { mutation: m, ctx, applied_at: None, shadowed: None });
        Ok(changes)
    }

    /// Applies an `events` batch: entries in order until a gap or another
    /// epoch (then [`Changes::resubscribe`] says so), skipping duplicates. A
    /// `mutation.applied` entry of a pending mutation confirms it.
    pub fn apply_entries(&mut self, epoch: &str, entries: &[LogEntry]) -> Changes {
        let mut changes = Changes::default();
        let mut touched = Touched::default();
        let mut rebase = false;
        for entry in entries {
            match self.cursor.accept(epoch, entry.seq) {
                Accept::Apply => {
                    self.confirmed.apply_event(&entry.event);
                    if let Some((kind, id)) = entry.event.entity_ref() {
                        rebase |= self.lookups.contains(kind, id);
                        // Outside the overlay the view is the confirmed state:
                        // it moves alike, and keeps what it had for the report.
                        if !self.overlay.contains(kind, id) {
                            let (before, moved) = fold(&mut self.view, &entry.event);
                            touched.record(kind, id, before, Some(moved));
                        }
                    }
                    if let Event::MutationApplied(a) = &entry.event {
                        let mine = |p: &Pending| {
                            p.mutation.mutation_id == a.mutation_id && p.mutation.client_id == a.client_id
                        };
                        if let Some(i) = self.pending.iter().position(mine) {
                            changes.confirmed.push(self.pending.remove(i).mutation.mutation_id);
                        }
                    }
                    changes.entries_applied += 1;
                }
                Accept::Duplicate => changes.entries_skipped += 1,
                Accept::Gap { have, got } => {
                    let since = Position { epoch: epoch.to_owned(), seq: have };
                    changes.resubscribe = Some(Resubscribe::Gap { since, got });
                    self.stats.gaps += 1;
                    break;
                }
                Accept::NewEpoch => {
                    changes.resubscribe = Some(Resubscribe::NewEpoch { epoch: epoch.to_owned() });
                    self.stats.new_epochs += 1;
                    break;
                }
            }
        }
        self.confirm_reached(&mut changes);
        self.stats.entries_applied += changes.entries_applied as u64;
        self.stats.entries_skipped += changes.entries_skipped as u64;
        self.stats.confirmed += changes.confirmed.len() as u64;
        if !changes.confirmed.is_empty() {
            self.pending_changed();
            rebase = true;
        }
        changes.changed =
            if rebase { self.rebase(touched) } else { touched.changed(&self.view, &self.confirmed, |_, _| true) };
        changes
    }

    /// Replaces the confirmed state with a complete snapshot taken at
    /// `epoch`/`seq`, keeps the pending mutations and re-derives the view.
    pub fn apply_snapshot(&mut self, epoch: &str, seq: u64, items: Vec<Entity>) -> Changes {
        let mut changes = Changes::default();
        self.confirmed = OrgState::from_entities(items);
        self.cursor.reset(epoch, seq);
        // An acked mutation is in any snapshot at or after its seq; from
        // another epoch nothing can be compared, but it was decided: resending
        // would only earn a `duplicate`.
        self.pending.retain(|p| match &p.applied_at {
            Some(at) if at.epoch.as_deref() != Some(epoch) || at.seq <= seq => {
                changes.confirmed.push(p.mutation.mutation_id.clone());
                false
            }
            _ => true,
        });
        self.pending_changed();
        self.stats.snapshots += 1;
        self.stats.confirmed += changes.confirmed.len() as u64;
        let old = std::mem::replace(&mut self.view, self.confirmed.clone());
        self.overlay = KeySet::default();
        self.replay();
        changes.changed = diff(&old, &self.view);
        changes
    }

    /// Applies the server's ack of the pending mutation `mutation_id`.
    pub fn ack(&mut self, mutation_id: &str, ack: &MutationAck) -> AckOutcome {
        let Some(i) = self.pending.iter().position(|p| p.mutation.mutation_id == mutation_id) else {
            return AckOutcome::Unknown;
        };
        let rollback = match ack {
            MutationAck::Applied { seq, .. } => {
                let epoch = self.cursor.position().map(|p| p.epoch.clone());
                self.pending[i].applied_at = Some(LogMark { epoch, seq: *seq });
                let mut changes = Changes::default();
                self.confirm_reached(&mut changes);
                if changes.confirmed.is_empty() {
                    return AckOutcome::Waiting;
                }
                return AckOutcome::Confirmed(self.confirmed_now(changes));
            }
            // Decided on an earlier connection, perhaps in an earlier epoch, so
            // its `seq` may not be comparable with ours; the log holds its change
            // or is bringing it, and waiting could wait forever.
            MutationAck::Duplicate { seq: Some(_), .. } => {
                let mut changes = Changes::default();
                changes.confirmed.push(self.pending.remove(i).mutation.mutation_id);
                return AckOutcome::Confirmed(self.confirmed_now(changes));
            }
            MutationAck::Rejected { code: RejectCode::RateLimited | RejectCode::Unavailable, .. } => {
                return AckOutcome::Retry;
            }
            MutationAck::Rejected { code, message, current } => {
                let kind = self.pending[i].mutation.op.entity_kind();
                let current = current.clone().and_then(|v| Entity::from_value(kind, v).ok());
                (Some(*code), message.clone(), current)
            }
            MutationAck::Duplicate { seq: None, .. } => {
                (None, "already decided and not applied; the rejection was lost".to_owned(), None)
            }
        };
        let (code, message, current) = rollback;
        let mutation = self.pending.remove(i).mutation;
        self.pending_changed();
        self.stats.rolled_back += 1;
        let mut changes = Changes::default();
        changes.rollbacks.push(Rollback { mutation, code, message, current });
        changes.changed = self.rebase(Touched::default());
        AckOutcome::RolledBack(changes)
    }

    /// Takes back a pending mutation the server never saw, because the caller
    /// could not queue it (the outbox was full, the store failed): it leaves
    /// the pending list and the view rolls back, reported as a rollback with
    /// no server code and `reason` as its message. `None` when no pending
    /// mutation has this id, or when the server already acked it.
    pub fn withdraw(&mut self, mutation_id: &str, reason: &str) -> Option<Changes> {
        let i = self.pending.iter().position(|p| p.mutation.mutation_id == mutation_id && !p.is_acked())?;
        let mutation = self.pending.remove(i).mutation;
        self.pending_changed();
        self.stats.rolled_back += 1;
        let mut changes = Changes::default();
        changes.rollbacks.push(Rollback { mutation, code: None, message: reason.to_owned(), current: None });
        changes.changed = self.rebase(Touched::default());
        Some(changes)
    }

    /// Counts and re-derives after `changes.confirmed` left the pending list.
    fn confirmed_now(&mut self, mut changes: Changes) -> Changes {
        self.pending_changed();
        self.stats.confirmed += changes.confirmed.len() as u64;
        changes.changed = self.rebase(Touched::default());
        changes
    }

    /// Drops pending mutations whose acked change entry the confirmed state now holds.
    fn confirm_reached(&mut self, changes: &mut Changes) {
        let Some(pos) = self.cursor.position() else { return };
        self.pending.retain(|p| match &p.applied_at {
            Some(at) if at.epoch.as_deref() == Some(pos.epoch.as_str()) && at.seq <= pos.seq => {
                changes.confirmed.push(p.mutation.mutation_id.clone());
                false
            }
            _ => true,
        });
    }

    /// Recomputes what pending mutations look up, after the list changed.
    fn pending_changed(&mut self) {
        let mut keys = KeySet::default();
        for p in &self.pending {
            keys.extend(lookups(&p.mutation, &p.ctx));
        }
        self.lookups = keys;
    }

    /// Re-derives the view after the pending list shrank or the confirmed
    /// state moved under something a pending mutation looks up: the overlay
    /// goes back to confirmed and every pending mutation replays. `touched`
    /// holds what the step displaced elsewhere; returns the keys whose view
    /// value changed, sorted.
    fn rebase(&mut self, touched: Touched<'_>) -> Vec<EntityKey> {
        let overlay = std::mem::take(&mut self.overlay);
        let mut touched: Touched<'_> = touched;
        for (kind, id) in overlay.iter() {
            let old = match self.confirmed.get(kind, id) {
                Some(e) => put(&mut self.view, e),
                None => self.view.remove(kind, id),
            };
            touched.record(kind, id, Before::Was(old.map(Box::new)), None);
        }
        self.replay();
        // The replay wrote only the overlay: elsewhere the view holds what the entries left.
        let mut changed = touched.changed(&self.view, &self.confirmed, |kind, id| !self.overlay.contains(kind, id));
        let known = changed.len();
        // Newly overlaid keys were equal to confirmed before this step.
        for (kind, id) in self.overlay.iter() {
            if !touched.contains(kind, id) && !self.view.same_at(&self.confirmed, kind, id) {
                changed.push((kind, id.to_owned()));
            }
        }
        if changed.len() > known {
            changed.sort();
        }
        changed
    }

    /// Applies every pending mutation to `view` in order; requires the overlay
    /// to be empty and `view` to equal `confirmed`.
    fn replay(&mut self) {
        for p in &mut self.pending {
            match apply(&self.view, &p.mutation, &p.ctx) {
                Ok(applied) => {
                    p.shadowed = None;
                    if let Some(event) = &applied.event {
                        self.view.apply_event(event);
                        self.overlay.insert(applied.kind, &applied.id);
                    }
                }
                Err(r) => p.shadowed = Some(r),
            }
        }
    }
}

/// The mutation exactly as the server will decode it from the wire (tags
/// deduplicated, days sorted, fields the kind ignores dropped), or the
/// field it will refuse.
fn normalize(m: &Mutation) -> Result<Mutation, Rejection> {
    let wire = serde_json::to_value(m).map_err(|e| ArgError::new("mutation", e.to_string()))?;
    Ok(Mutation::decode(&wire)?)
}

/// Keys whose value differs between two whole states.
fn diff(a: &OrgState, b: &OrgState) -> Vec<EntityKey> {
    fn maps<T: PartialEq>(
        kind: EntityKind,
        a: &std::collections::BTreeMap<String, T>,
        b: &std::collections::BTreeMap<String, T>,
        out: &mut Vec<EntityKey>,
    ) {
        let ids: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        out.extend(ids.into_iter().filter(|id| a.get(*id) != b.get(*id)).map(|id| (kind, id.clone())));
    }
    let mut out = Vec::new();
    maps(EntityKind::Device, &a.devices, &b.devices, &mut out);
    maps(EntityKind::Playlist, &a.playlists, &b.playlists, &mut out);
    maps(EntityKind::Content, &a.contents, &b.contents, &mut out);
    maps(EntityKind::Schedule, &a.schedules, &b.schedules, &mut out);
    maps(EntityKind::Alert, &a.alerts, &b.alerts, &mut out);
    out
}

#[cfg(test)]
mod tests;
