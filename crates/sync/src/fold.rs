//! Folding log events into the view while keeping what they displace, so a
//! batch can say exactly which entities it changed without copying any of
//! them first: an upsert or removal moves the old value out, a
//! `device.status` keeps only the three fields it overwrites.

use vizora_protocol::{Device, DeviceStatus, Entity, EntityKind, Event, OrgState};

/// An entity's value in the view before a batch touched it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Before {
    /// The whole value (none: absent).
    Was(Option<Entity>),
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
    /// Folds `later`, what a later event of the same batch displaced, in:
    /// the first value stays; a device that only had its status moved is
    /// completed from the whole device a later upsert or removal displaced.
    pub(crate) fn keep_first(&mut self, later: Before) {
        if let (&mut Before::Status { status, rev, last_seen_ms }, Before::Was(Some(Entity::Device(mut d)))) =
            (&mut *self, later)
        {
            (d.status, d.rev, d.last_seen_ms) = (status, rev, last_seen_ms);
            *self = Before::Was(Some(Entity::Device(d)));
        }
    }

    /// Whether the view's value at `kind`/`id` differs from this one;
    /// `confirmed` completes a [`Before::Status`].
    pub(crate) fn differs(&self, view: &OrgState, confirmed: &OrgState, kind: EntityKind, id: &str) -> bool {
        match self {
            Before::Was(old) => !holds(view, kind, id, old.as_ref()),
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

/// Folds `event` into `state` exactly as [`OrgState::apply_event`] does and
/// returns what it displaced at the event's entity.
pub(crate) fn fold(state: &mut OrgState, event: &Event) -> Before {
    let old = match event {
        Event::DeviceUpserted(e) => put(state, Entity::Device(e.clone())),
        Event::PlaylistUpserted(e) => put(state, Entity::Playlist(e.clone())),
        Event::ContentUpserted(e) => put(state, Entity::Content(e.clone())),
        Event::ScheduleUpserted(e) => put(state, Entity::Schedule(e.clone())),
        Event::AlertUpserted(e) => put(state, Entity::Alert(e.clone())),
        Event::DeviceRemoved(r) => state.remove(EntityKind::Device, &r.id),
        Event::PlaylistRemoved(r) => state.remove(EntityKind::Playlist, &r.id),
        Event::ContentRemoved(r) => state.remove(EntityKind::Content, &r.id),
        Event::ScheduleRemoved(r) => state.remove(EntityKind::Schedule, &r.id),
        Event::DeviceStatus(s) => match state.devices.get_mut(&s.id) {
            Some(d) => {
                let before = Before::Status { status: d.status, rev: d.rev, last_seen_ms: d.last_seen_ms };
                (d.status, d.rev, d.last_seen_ms) = (s.status, s.rev, s.last_seen_ms);
                return before;
            }
            None => None,
        },
        Event::ScheduleExecuted(_) | Event::MutationApplied(_) => None,
    };
    Before::Was(old)
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

    /// Folds `events` into a copy of `start` as a batch would; returns the
    /// end state and whether the batch reports `d1` changed.
    fn batch(start: &OrgState, events: &[Event]) -> (OrgState, bool) {
        let (mut state, mut reference) = (start.clone(), start.clone());
        let mut first: Option<Before> = None;
        for e in events {
            let displaced = fold(&mut state, e);
            reference.apply_event(e);
            assert_eq!(state, reference, "folds as apply_event does");
            match &mut first {
                None => first = Some(displaced),
                Some(b) => b.keep_first(displaced),
            }
        }
        let changed = first.expect("one event").differs(&state, &state, EntityKind::Device, "d1");
        (state, changed)
    }

    #[test]
    fn a_batch_reports_a_change_only_where_its_end_differs_from_its_start() {
        let start = OrgState::from_entities([Entity::Device(device("d1", 1, "Lobby"))]);
        let online = |rev| status("d1", rev, DeviceStatus::Online);
        let offline = |rev| status("d1", rev, DeviceStatus::Offline);
        let upsert = |rev, name| Event::DeviceUpserted(device("d1", rev, name));
        let removed = |rev| Event::DeviceRemoved(Removed { id: "d1".into(), rev });

        assert!(batch(&start, &[offline(2)]).1);
        assert!(!batch(&start, &[online(1)]).1, "the same status again is no change");
        assert!(!batch(&start, &[offline(2), online(1)]).1, "moved and back");
        assert!(!batch(&start, &[offline(2), upsert(1, "Lobby")]).1, "status, then the old device upserted");
        assert!(batch(&start, &[offline(2), upsert(3, "Hall")]).1);
        assert!(!batch(&start, &[offline(2), removed(3), upsert(1, "Lobby")]).1, "gone and back as it was");
        assert!(batch(&start, &[removed(2)]).1);
        assert!(!batch(&OrgState::default(), &[offline(2)]).1, "status of an unknown device changes nothing");
        assert!(!batch(&OrgState::default(), &[upsert(1, "x"), removed(2)]).1, "came and went");
    }
}
