//! One org's entities, keyed by id, and how log events fold into them.

use std::collections::BTreeMap;

use crate::entity::{Alert, Content, Device, Entity, EntityKind, Playlist, Schedule};
use crate::event::Event;

/// Every entity of one org, by kind and id: what a snapshot holds and what
/// the log moves. It holds a single org; [`crate::apply::apply`] treats an
/// entity of another org found in it as absent.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OrgState {
    /// Devices by id.
    pub devices: BTreeMap<String, Device>,
    /// Playlists by id.
    pub playlists: BTreeMap<String, Playlist>,
    /// Content items by id.
    pub contents: BTreeMap<String, Content>,
    /// Schedules by id.
    pub schedules: BTreeMap<String, Schedule>,
    /// Alerts by id.
    pub alerts: BTreeMap<String, Alert>,
}

impl OrgState {
    /// A state holding `items` (a later item with the same kind and id wins).
    pub fn from_entities(items: impl IntoIterator<Item = Entity>) -> Self {
        let mut s = Self::default();
        for e in items {
            s.insert(e);
        }
        s
    }

    /// Number of entities of all kinds.
    pub fn len(&self) -> usize {
        self.devices.len() + self.playlists.len() + self.contents.len() + self.schedules.len() + self.alerts.len()
    }

    /// Whether there is no entity at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether an entity of `kind` with `id` exists.
    pub fn contains(&self, kind: EntityKind, id: &str) -> bool {
        match kind {
            EntityKind::Device => self.devices.contains_key(id),
            EntityKind::Playlist => self.playlists.contains_key(id),
            EntityKind::Content => self.contents.contains_key(id),
            EntityKind::Schedule => self.schedules.contains_key(id),
            EntityKind::Alert => self.alerts.contains_key(id),
        }
    }

    /// A copy of the entity of `kind` with `id`.
    pub fn get(&self, kind: EntityKind, id: &str) -> Option<Entity> {
        match kind {
            EntityKind::Device => self.devices.get(id).cloned().map(Entity::Device),
            EntityKind::Playlist => self.playlists.get(id).cloned().map(Entity::Playlist),
            EntityKind::Content => self.contents.get(id).cloned().map(Entity::Content),
            EntityKind::Schedule => self.schedules.get(id).cloned().map(Entity::Schedule),
            EntityKind::Alert => self.alerts.get(id).cloned().map(Entity::Alert),
        }
    }

    /// The rev of the entity of `kind` with `id`.
    pub fn rev(&self, kind: EntityKind, id: &str) -> Option<u64> {
        match kind {
            EntityKind::Device => self.devices.get(id).map(|e| e.rev),
            EntityKind::Playlist => self.playlists.get(id).map(|e| e.rev),
            EntityKind::Content => self.contents.get(id).map(|e| e.rev),
            EntityKind::Schedule => self.schedules.get(id).map(|e| e.rev),
            EntityKind::Alert => self.alerts.get(id).map(|e| e.rev),
        }
    }

    /// The org of the entity of `kind` with `id`.
    pub fn org_of(&self, kind: EntityKind, id: &str) -> Option<&str> {
        match kind {
            EntityKind::Device => self.devices.get(id).map(|e| e.org.as_str()),
            EntityKind::Playlist => self.playlists.get(id).map(|e| e.org.as_str()),
            EntityKind::Content => self.contents.get(id).map(|e| e.org.as_str()),
            EntityKind::Schedule => self.schedules.get(id).map(|e| e.org.as_str()),
            EntityKind::Alert => self.alerts.get(id).map(|e| e.org.as_str()),
        }
    }

    /// Whether `self` and `other` hold the same value (or both none) at `kind`/`id`.
    pub fn same_at(&self, other: &OrgState, kind: EntityKind, id: &str) -> bool {
        match kind {
            EntityKind::Device => self.devices.get(id) == other.devices.get(id),
            EntityKind::Playlist => self.playlists.get(id) == other.playlists.get(id),
            EntityKind::Content => self.contents.get(id) == other.contents.get(id),
            EntityKind::Schedule => self.schedules.get(id) == other.schedules.get(id),
            EntityKind::Alert => self.alerts.get(id) == other.alerts.get(id),
        }
    }

    /// Inserts or replaces an entity.
    pub fn insert(&mut self, e: Entity) {
        match e {
            Entity::Device(e) => drop(self.devices.insert(e.id.clone(), e)),
            Entity::Playlist(e) => drop(self.playlists.insert(e.id.clone(), e)),
            Entity::Content(e) => drop(self.contents.insert(e.id.clone(), e)),
            Entity::Schedule(e) => drop(self.schedules.insert(e.id.clone(), e)),
            Entity::Alert(e) => drop(self.alerts.insert(e.id.clone(), e)),
        }
    }

    /// Removes and returns the entity of `kind` with `id`.
    pub fn remove(&mut self, kind: EntityKind, id: &str) -> Option<Entity> {
        match kind {
            EntityKind::Device => self.devices.remove(id).map(Entity::Device),
            EntityKind::Playlist => self.playlists.remove(id).map(Entity::Playlist),
            EntityKind::Content => self.contents.remove(id).map(Entity::Content),
            EntityKind::Schedule => self.schedules.remove(id).map(Entity::Schedule),
            EntityKind::Alert => self.alerts.remove(id).map(Entity::Alert),
        }
    }

    /// Makes `self` hold what `from` holds at `kind`/`id` (a copy, or nothing).
    pub fn copy_from(&mut self, from: &OrgState, kind: EntityKind, id: &str) {
        match from.get(kind, id) {
            Some(e) => self.insert(e),
            None => drop(self.remove(kind, id)),
        }
    }

    /// Copies of every entity, in snapshot order (kind, then id).
    pub fn entities(&self) -> impl Iterator<Item = Entity> + '_ {
        let devices = self.devices.values().cloned().map(Entity::Device);
        let playlists = self.playlists.values().cloned().map(Entity::Playlist);
        let contents = self.contents.values().cloned().map(Entity::Content);
        let schedules = self.schedules.values().cloned().map(Entity::Schedule);
        let alerts = self.alerts.values().cloned().map(Entity::Alert);
        devices.chain(playlists).chain(contents).chain(schedules).chain(alerts)
    }

    /// Folds one log event in: `*.upserted` inserts or replaces, `*.removed`
    /// removes, `device.status` updates status, rev and `last_seen_ms` of a
    /// known device; every other event changes nothing.
    pub fn apply_event(&mut self, event: &Event) {
        match event {
            Event::DeviceUpserted(e) => self.insert(Entity::Device(e.clone())),
            Event::PlaylistUpserted(e) => self.insert(Entity::Playlist(e.clone())),
            Event::ContentUpserted(e) => self.insert(Entity::Content(e.clone())),
            Event::ScheduleUpserted(e) => self.insert(Entity::Schedule(e.clone())),
            Event::AlertUpserted(e) => self.insert(Entity::Alert(e.clone())),
            Event::DeviceRemoved(r) => drop(self.devices.remove(&r.id)),
            Event::PlaylistRemoved(r) => drop(self.playlists.remove(&r.id)),
            Event::ContentRemoved(r) => drop(self.contents.remove(&r.id)),
            Event::ScheduleRemoved(r) => drop(self.schedules.remove(&r.id)),
            Event::DeviceStatus(s) => {
                if let Some(d) = self.devices.get_mut(&s.id) {
                    d.status = s.status;
                    d.rev = s.rev;
                    d.last_seen_ms = s.last_seen_ms;
                }
            }
            Event::ScheduleExecuted(_) | Event::MutationApplied(_) => {}
        }
    }
}
