//! Folding log events into the view while keeping what they displace, so a
//! step can say exactly which entities it changed without copying any of
//! them first: an upsert or removal moves the old value out, a
//! `device.status` keeps only the three fields it overwrites.

use std::collections::BTreeMap;

use vizora_protocol::{Device, DeviceStatus, Entity, EntityKind, Event, OrgState};

use crate::changes::EntityKey;

/// An entity's value in the view before a step touched it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Before {
    /// The whole value (none: absent); boxed, as most touches are `device.status`.
    Was(Option<Box<Entity>>),
    /// A device only `device.status` moved since: the value is the
    /// confirmed device with these fields put back.
    Status {
        /// Its status then.
        status: DeviceStatus,
        /// Its rev then.
        rev: u64,
        /// Its `last_seen_ms` then.
        last_seen_ms: u64,
    },
}

impl Before {
    /// Folds `later`, what a later event of the same step displaced, in:
    /// the first value stays; a device that only had its status moved is
    /// completed from the whole device a later upsert or removal displaced.
    fn keep_first(&mut self, later: Before) {
        let Before::Status { status, rev, last_seen_ms } = *self else { return };
        if let Before::Was(Some(mut e)) = later
            && let Entity::Device(d) = &mut *e
        {
            (d.status, d.rev, d.last_seen_ms) = (status, rev, last_seen_ms);
            *self = Before::Was(Some(e));
        }
    }

    /// Whether the view's value at `kind`/`id` differs from this one;
    /// `confirmed` completes a [`Before::Status`].
    fn differs(&self, view: &OrgState, confirmed: &OrgState, kind: EntityKind, id: &str) -> bool {
        match self {
            Before::Was(old) => !holds(view, kind, id, old.as_deref()),
            &Before::Status { status, rev, last_seen_ms } => {
                let (Some(now), Some(c)) = (view.devices.get(id), confirmed.devices.get(id)) else { return true };
                if now == c {
                    (status, rev, last_seen_ms) != (c.status, c.rev, c.last_seen_ms)
                } else {
                    // A pending mutation wrote it: compare with the whole value.
                    let then = Device { status, rev, last_seen_ms, ..c.clone() };
                    *now != then
                }
            }
        }
    }
}

/// One entity a step touched (small, so sorting moves little).
#[derive(Debug)]
struct Touch<'a> {
    kind: EntityKind,
    id: &'a str,
    /// Its value before, in [`Touched::befores`].
    at: usize,
    /// Whether its one touch moved it; none if not known or touched again.
    moved: Option<bool>,
}

/// The entities a step touched in the view, with what each held before.
#[derive(Debug, Default)]
pub(crate) struct Touched<'a> {
    touches: Vec<Touch<'a>>,
    befores: Vec<Before>,
    settled: bool,
}

impl<'a> Touched<'a> {
    /// Notes a touch of `kind`/`id` that displaced `before` and did or did
    /// not change the value (`moved`; none: not known).
    pub(crate) fn record(&mut self, kind: EntityKind, id: &'a str, before: Before, moved: Option<bool>) {
        self.touches.push(Touch { kind, id, at: self.befores.len(), moved });
        self.befores.push(before);
        self.settled = false;
    }

    /// Sorts by key and merges the touches of one key, keeping the first value.
    fn settle(&mut self) {
        if !self.settled {
            // Stable: touches of one key stay in the order they happened.
            self.touches.sort_by(|a, b| (a.kind, a.id).cmp(&(b.kind, b.id)));
            let befores = &mut self.befores;
            self.touches.dedup_by(|later, first| {
                let same = (later.kind, later.id) == (first.kind, first.id);
                if same {
                    let displaced = std::mem::replace(&mut befores[later.at], Before::Was(None));
                    befores[first.at].keep_first(displaced);
                    first.moved = None;
                }
                same
            });
            self.settled = true;
        }
    }

    /// Whether `kind`/`id` was touched.
    pub(crate) fn contains(&mut self, kind: EntityKind, id: &str) -> bool {
        self.settle();
        self.touches.binary_search_by(|t| (t.kind, t.id).cmp(&(kind, id))).is_ok()
    }

    /// The touched keys whose value in `view` is not what it was, sorted.
    /// Where `as_folded` says the view still holds what the touch left, a
    /// key touched once moved exactly when its touch did; elsewhere the
    /// values are compared.
    pub(crate) fn changed(
        &mut self,
        view: &OrgState,
        confirmed: &OrgState,
        as_folded: impl Fn(EntityKind, &str) -> bool,
    ) -> Vec<EntityKey> {
        self.settle();
        let moved = |t: &&Touch<'_>| match t.moved {
            Some(moved) if as_folded(t.kind, t.id) => moved,
            _ => self.befores[t.at].differs(view, confirmed, t.kind, t.id),
        };
        self.touches.iter().filter(moved).map(|t| (t.kind, t.id.to_owned())).collect()
    }
}

/// Whether `state` holds exactly `value` (or nothing, for none) at `kind`/`id`.
fn holds(state: &OrgState, kind: EntityKind, id: &str, value: Option<&Entity>) -> bool {
    match value {
        None => !state.contains(kind, id),
        Some(Entity::Device(e)) => state.devices.get(id) == Some(e),
        Some(Entity::Playlist(e)) => state.playlists.get(id) == Some(e),
        Some(Entity::Content(e)) => state.contents.get(id) == Some(e),
        Some(Entity::Schedule(e)) => state.schedules.get(id) == Some(e),
        Some(Entity::Alert(e)) => state.alerts.get(id) == Some(e),
    }
}

/// Inserts or replaces `e`, returning what it replaced.
pub(crate) fn put(state: &mut OrgState, e: Entity) -> Option<Entity> {
    match e {
        Entity::Device(e) => state.devices.insert(e.id.clone(), e).map(Entity::Device),
        Entity::Playlist(e) => state.playlists.insert(e.id.clone(), e).map(Entity::Playlist),
        Entity::Content(e) => state.contents.insert(e.id.clone(), e).map(Entity::Content),
        Entity::Schedule(e) => state.schedules.insert(e.id.clone(), e).map(Entity::Schedule),
        Entity::Alert(e) => state.alerts.insert(e.id.clone(), e).map(Entity::Alert),
    }
}

/// Upserts a copy of `e` under `id`; returns what it displaced and whether that differed.
fn upsert<T: Clone + PartialEq>(
    map: &mut BTreeMap<String, T>,
    id: &str,
    e: &T,
    wrap: fn(T) -> Entity,
) -> (Before, bool) {
    // Replacing in place spares the key's allocation: most upserts update.
    let old = match map.get_mut(id) {
        Some(slot) => Some(std::mem::replace(slot, e.clone())),
        None => map.insert(id.to_owned(), e.clone()),
    };
    let moved = old.as_ref() != Some(e);
    (Before::Was(old.map(|e| Box::new(wrap(e)))), moved)
}

/// Removes `id`; returns what it displaced and whether there was anything.
fn remove<T>(map: &mut BTreeMap<String, T>, id: &str, wrap: fn(T) -> Entity) -> (Before, bool) {
    let old = map.remove(id);
    let moved = old.is_some();
    (Before::Was(old.map(|e| Box::new(wrap(e)))), moved)
}

/// Folds `event` into `state` exactly as [`OrgState::apply_event`] does;
/// returns what it displaced at the event's entity and whether it changed it.
pub(crate) fn fold(state: &mut OrgState, event: &Event) -> (Before, bool) {
    match event {
        Event::DeviceUpserted(e) => upsert(&mut state.devices, &e.id, e, Entity::Device),
        Event::PlaylistUpserted(e) => upsert(&mut state.playlists, &e.id, e, Entity::Playlist),
        Event::ContentUpserted(e) => upsert(&mut state.contents, &e.id, e, Entity::Content),
        Event::ScheduleUpserted(e) => upsert(&mut state.schedules, &e.id, e, Entity::Schedule),
        Event::AlertUpserted(e) => upsert(&mut state.alerts, &e.id, e, Entity::Alert),
        Event::DeviceRemoved(r) => remove(&mut state.devices, &r.id, Entity::Device),
        Event::PlaylistRemoved(r) => remove(&mut state.playlists, &r.id, Entity::Playlist),
        Event::ContentRemoved(r) => remove(&mut state.contents, &r.id, Entity::Content),
        Event::ScheduleRemoved(r) => remove(&mut state.schedules, &r.id, Entity::Schedule),
        Event::DeviceStatus(s) => match state.devices.get_mut(&s.id) {
            Some(d) => {
                let before = Before::Status { status: d.status, rev: d.rev, last_seen_ms: d.last_seen_ms };
                let moved = (d.status, d.rev, d.last_seen_ms) != (s.status, s.rev, s.last_seen_ms);
                (d.status, d.rev, d.last_seen_ms) = (s.status, s.rev, s.last_seen_ms);
                (before, moved)
            }
            None => (Before::Was(None), false),
        },
        Event::ScheduleExecuted(_) | Event::MutationApplied(_) => (Before::Was(None), false),
    }
}

#[cfg(test)]
mod tests {
    use vizora_protocol::{DeviceStatusData, Removed};

    use super::*;

    fn device(id: &str, rev: u64, name: &str) -> Device {
        Device {
            id: id.into(),
            org: "o1".into(),
            rev,
            name: name.into(),
            tags: vec![],
            playlist_id: None,
            status: DeviceStatus::Online,
            last_seen_ms: 1,
            health: None,
            playing: None,
        }
    }

    fn status(id: &str, rev: u64, status: DeviceStatus) -> Event {
        Event::DeviceStatus(DeviceStatusData { id: id.into(), rev, status, last_seen_ms: rev })
    }

    /// Folds `events` into a copy of `start` as a step would; returns
    /// whether the step reports `d1` changed (judged from the touches and
    /// from the whole values alike).
    fn step(start: &OrgState, events: &[Event]) -> bool {
        let (mut state, mut reference) = (start.clone(), start.clone());
        let (mut touched, mut compared) = (Touched::default(), Touched::default());
        for e in events {
            let (before, moved) = fold(&mut state, e);
            reference.apply_event(e);
            assert_eq!(state, reference, "folds as apply_event does");
            touched.record(EntityKind::Device, "d1", before.clone(), Some(moved));
            compared.record(EntityKind::Device, "d1", before, None);
        }
        let changed = touched.changed(&state, &state, |_, _| true);
        assert_eq!(changed, compared.changed(&state, &state, |_, _| true));
        assert!(touched.contains(EntityKind::Device, "d1") && !touched.contains(EntityKind::Device, "d2"));
        !changed.is_empty()
    }

    #[test]
    fn a_step_reports_a_change_only_where_its_end_differs_from_its_start() {
        let start = OrgState::from_entities([Entity::Device(device("d1", 1, "Lobby"))]);
        let online = |rev| status("d1", rev, DeviceStatus::Online);
        let offline = |rev| status("d1", rev, DeviceStatus::Offline);
        let upserted = |rev, name| Event::DeviceUpserted(device("d1", rev, name));
        let removed = |rev| Event::DeviceRemoved(Removed { id: "d1".into(), rev });

        assert!(step(&start, &[offline(2)]));
        assert!(!step(&start, &[online(1)]), "the same status again is no change");
        assert!(!step(&start, &[offline(2), online(1)]), "moved and back");
        assert!(!step(&start, &[offline(2), upserted(1, "Lobby")]), "status, then the old device upserted");
        assert!(step(&start, &[offline(2), upserted(3, "Hall")]));
        assert!(!step(&start, &[offline(2), removed(3), upserted(1, "Lobby")]), "gone and back as it was");
        assert!(step(&start, &[removed(2)]));
        assert!(!step(&OrgState::default(), &[offline(2)]), "status of an unknown device changes nothing");
        assert!(!step(&OrgState::default(), &[upserted(1, "x"), removed(2)]), "came and went");
    }
}
