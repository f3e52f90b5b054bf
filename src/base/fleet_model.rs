//! What the wall knows about the fleet: the client sync engine (confirmed
//! state from the log, the operator's pending changes on top), plus what
//! the log does not carry: live telemetry and `schedule.executed` reports.
//! Pure: no Bevy.

use std::collections::{BTreeSet, HashMap, VecDeque};

use vizora_protocol::{
    AlertState, ApplyCtx, Device, DeviceStatus, Entity, EntityKind, Event, Health, LogEntry, Mutation, MutationAck,
    OrgState, Playing, Rejection, ScheduleExecuted, Severity, TelemetryDevice,
};
use vizora_sync::{AckOutcome, Rollback, SyncEngine};

use crate::base::trail::Trail;

/// Most `schedule.executed` reports kept.
pub const EXECUTIONS_KEPT: usize = 512;

/// What changed after applying something.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    /// Everything was replaced (snapshot).
    pub reset: bool,
    /// Devices whose view changed, by id.
    pub devices: Vec<String>,
    /// Devices added or removed (tile layout changes).
    pub membership: bool,
    /// Alerts changed.
    pub alerts: bool,
    /// Playlists, content or schedules changed.
    pub catalog: bool,
    /// Schedule executions arrived.
    pub executions: bool,
    /// Operator changes the server refused (or that could not be queued).
    pub rollbacks: Vec<Rollback>,
    /// Operator changes the log confirmed.
    pub confirmed: usize,
}

impl Changes {
    fn absorb(&mut self, model: &mut FleetModel, c: vizora_sync::Changes) {
        for (kind, id) in c.changed {
            match kind {
                EntityKind::Device => {
                    let now = model.engine.view().devices.contains_key(&id);
                    let was = if now { !model.device_ids.insert(id.clone()) } else { model.device_ids.remove(&id) };
                    self.membership |= was != now;
                    if now {
                        self.devices.push(id);
                    }
                }
                EntityKind::Alert => self.alerts = true,
                EntityKind::Playlist | EntityKind::Content | EntityKind::Schedule => self.catalog = true,
            }
        }
        self.rollbacks.extend(c.rollbacks);
        self.confirmed += c.confirmed.len();
    }

    fn finish(mut self) -> Self {
        self.devices.sort();
        self.devices.dedup();
        self
    }
}

/// Telemetry of one device, newer than the log's copy.
#[derive(Debug, Clone, PartialEq)]
pub struct Live {
    /// Latest health.
    pub health: Health,
    /// What it plays.
    pub playing: Option<Playing>,
    /// When the wall heard it.
    pub heard_ms: u64,
}

/// The fleet as the wall shows it.
#[derive(Debug, Clone, Default)]
pub struct FleetModel {
    engine: SyncEngine,
    device_ids: BTreeSet<String>,
    live: HashMap<String, Live>,
    trails: HashMap<String, Trail>,
    /// Latest `schedule.executed` reports, oldest first.
    pub executions: VecDeque<ScheduleExecuted>,
    /// Time of the last applied entry, ms.
    pub last_event_ms: Option<u64>,
    /// When the wall last took a snapshot or entries (its clock), ms.
    pub synced_ms: Option<u64>,
}

impl FleetModel {
    /// The view: confirmed state with pending operator changes applied.
    pub fn view(&self) -> &OrgState {
        self.engine.view()
    }

    /// The sync engine (position, pending changes, counters).
    pub fn engine(&self) -> &SyncEngine {
        &self.engine
    }

    /// Log position of the confirmed state.
    pub fn position(&self) -> Option<(&str, u64)> {
        self.engine.position().map(|p| (p.epoch.as_str(), p.seq))
    }

    /// Whether the entity differs from what the server confirmed (a pending edit shows).
    pub fn is_pending(&self, kind: EntityKind, id: &str) -> bool {
        !self.engine.view().same_at(self.engine.confirmed(), kind, id)
    }

    /// Starts from what the client store kept: the confirmed state as of
    /// its save, and the operator changes still waiting, replayed on top.
    pub fn restore(
        &mut self,
        confirmed: Option<vizora_sync::ConfirmedState>,
        pending: Vec<vizora_sync::QueuedMutation>,
    ) -> Changes {
        self.synced_ms = confirmed.as_ref().map(|c| c.as_of_ms);
        self.engine = SyncEngine::restore(confirmed, pending);
        self.device_ids = self.engine.view().devices.keys().cloned().collect();
        self.live.clear();
        Changes {
            reset: true,
            membership: true,
            alerts: true,
            catalog: true,
            devices: self.device_ids.iter().cloned().collect(),
            ..Changes::default()
        }
    }

    /// Replaces everything with a snapshot.
    pub fn apply_snapshot(&mut self, epoch: &str, seq: u64, entities: Vec<Entity>) -> Changes {
        let c = self.engine.apply_snapshot(epoch, seq, entities);
        self.synced_ms = Some(vizora_protocol::now_ms());
        self.device_ids = self.engine.view().devices.keys().cloned().collect();
        self.live.retain(|id, _| self.device_ids.contains(id));
        let mut ch = Changes { reset: true, membership: true, alerts: true, catalog: true, ..Changes::default() };
        ch.devices = self.device_ids.iter().cloned().collect();
        self.trails.retain(|id, _| self.device_ids.contains(id));
        let ids = std::mem::take(&mut ch.devices);
        self.note_statuses(&ids, vizora_protocol::now_ms());
        ch.devices = ids;
        ch.rollbacks = c.rollbacks;
        ch.confirmed = c.confirmed.len();
        ch
    }

    /// Applies log entries in order (the IO thread delivers them gap-free).
    pub fn apply_entries(&mut self, epoch: &str, items: &[LogEntry]) -> Changes {
        let c = self.engine.apply_entries(epoch, items);
        self.synced_ms = Some(vizora_protocol::now_ms());
        let mut ch = Changes::default();
        for entry in items {
            self.last_event_ms = Some(entry.ts_ms);
            if let Event::ScheduleExecuted(x) = &entry.event {
                if self.executions.len() == EXECUTIONS_KEPT {
                    self.executions.pop_front();
                }
                self.executions.push_back(x.clone());
                ch.executions = true;
            }
        }
        ch.absorb(self, c);
        let ch = ch.finish();
        let at = items.last().map_or_else(vizora_protocol::now_ms, |e| e.ts_ms);
        self.note_statuses(&ch.devices, at);
        ch
    }

    /// A device's recent status changes and health samples.
    pub fn trail(&self, id: &str) -> Option<&Trail> {
        self.trails.get(id)
    }

    /// Notes the status of each device in `ids` in its trail (when it moved).
    fn note_statuses<'a>(&mut self, ids: impl IntoIterator<Item = &'a String>, at_ms: u64) {
        for id in ids {
            match self.engine.view().devices.get(id) {
                Some(d) => self.trails.entry(id.clone()).or_default().note_status(at_ms, d.status),
                None => {
                    self.trails.remove(id);
                }
            }
        }
    }

    /// Takes telemetry; returns the devices it moved.
    pub fn apply_telemetry(&mut self, ts_ms: u64, devices: &[TelemetryDevice]) -> Vec<String> {
        let mut moved = Vec::new();
        for d in devices {
            if self.device_ids.contains(&d.id) {
                self.trails.entry(d.id.clone()).or_default().note_health(&d.health);
                self.live.insert(d.id.clone(), Live { health: d.health, playing: d.playing.clone(), heard_ms: ts_ms });
                moved.push(d.id.clone());
            }
        }
        moved
    }

    /// A local operator change: shown at once, queued for the server. `Err`
    /// names the field (or the reason) when the view already refuses it.
    pub fn mutate(&mut self, m: Mutation, ctx: ApplyCtx) -> Result<Changes, Rejection> {
        let c = self.engine.mutate(m, ctx)?;
        let mut ch = Changes::default();
        ch.absorb(self, c);
        Ok(ch.finish())
    }

    /// The server decided a change.
    pub fn ack(&mut self, mutation_id: &str, ack: &MutationAck) -> Changes {
        let mut ch = Changes::default();
        match self.engine.ack(mutation_id, ack) {
            AckOutcome::Confirmed(c) | AckOutcome::RolledBack(c) => ch.absorb(self, c),
            AckOutcome::Waiting | AckOutcome::Retry | AckOutcome::Unknown => {}
        }
        ch.finish()
    }

    /// A change the IO side could not queue: it rolls back with `reason`.
    pub fn withdraw(&mut self, mutation_id: &str, reason: &str) -> Changes {
        let mut ch = Changes::default();
        if let Some(c) = self.engine.withdraw(mutation_id, reason) {
            ch.absorb(self, c);
        }
        ch.finish()
    }

    /// Health, from telemetry when heard, else the log's copy.
    pub fn health(&self, d: &Device) -> Option<Health> {
        self.live.get(&d.id).map(|l| l.health).or(d.health)
    }

    /// What the device plays, from telemetry when heard, else the log's copy.
    pub fn playing<'a>(&'a self, d: &'a Device) -> Option<&'a Playing> {
        match self.live.get(&d.id) {
            Some(l) => l.playing.as_ref(),
            None => d.playing.as_ref(),
        }
    }

    /// When the device was last heard from: telemetry or its `last_seen_ms`.
    pub fn last_heard_ms(&self, d: &Device) -> u64 {
        self.live.get(&d.id).map_or(d.last_seen_ms, |l| l.heard_ms.max(d.last_seen_ms))
    }

    /// Open (unresolved) alerts.
    pub fn open_alerts(&self) -> usize {
        self.view().alerts.values().filter(|a| a.state != AlertState::Resolved).count()
    }

    /// Unresolved alerts by severity: critical, warning, info.
    pub fn alerts_by_severity(&self) -> [usize; 3] {
        let mut c = [0; 3];
        for a in self.view().alerts.values().filter(|a| a.state != AlertState::Resolved) {
            c[match a.severity {
                Severity::Critical => 0,
                Severity::Warning => 1,
                Severity::Info => 2,
            }] += 1;
        }
        c
    }

    /// Device counts by status: online, degraded, offline, unknown.
    pub fn counts(&self) -> [usize; 4] {
        let mut c = [0; 4];
        for d in self.view().devices.values() {
            c[match d.status {
                DeviceStatus::Online => 0,
                DeviceStatus::Degraded => 1,
                DeviceStatus::Offline => 2,
                DeviceStatus::Unknown => 3,
            }] += 1;
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vizora_protocol::{DeviceStatusData, MutationOp, RejectCode, Role};

    fn device(id: &str, status: DeviceStatus) -> Device {
        Device {
            id: id.into(),
            org: "o".into(),
            rev: 1,
            name: id.into(),
            tags: vec![],
            playlist_id: None,
            status,
            last_seen_ms: 0,
            health: None,
            playing: None,
        }
    }

    fn model() -> FleetModel {
        let mut m = FleetModel::default();
        m.apply_snapshot(
            "e",
            4,
            vec![Entity::Device(device("a", DeviceStatus::Online)), Entity::Device(device("b", DeviceStatus::Online))],
        );
        m
    }

    #[test]
    fn status_entries_change_only_their_device() {
        let mut m = model();
        let entry = LogEntry {
            seq: 5,
            ts_ms: 10,
            event: Event::DeviceStatus(DeviceStatusData {
                id: "b".into(),
                rev: 2,
                status: DeviceStatus::Offline,
                last_seen_ms: 9,
            }),
        };
        let ch = m.apply_entries("e", &[entry]);
        assert_eq!(ch.devices, vec!["b".to_owned()]);
        assert!(!ch.membership);
        assert_eq!(m.counts(), [1, 0, 1, 0]);
        assert_eq!(m.position(), Some(("e", 5)));
    }

    #[test]
    fn an_operator_rename_shows_at_once_and_rolls_back_on_conflict() {
        let mut m = model();
        let rename = Mutation {
            mutation_id: "m1".into(),
            client_id: "wall".into(),
            target: Some("a".into()),
            base_rev: Some(1),
            op: MutationOp::DeviceRename { name: "Atrium".into() },
        };
        let ctx = ApplyCtx { org: "o".into(), role: Role::Operator, sub: "op".into(), new_id: "n".into() };
        let ch = m.mutate(rename, ctx).expect("applies");
        assert_eq!(ch.devices, vec!["a".to_owned()]);
        assert_eq!(m.view().devices["a"].name, "Atrium");
        assert!(m.is_pending(EntityKind::Device, "a"));
        let ch = m.ack("m1", &MutationAck::rejected(RejectCode::Conflict, "rev 2 is current"));
        assert_eq!(ch.devices, vec!["a".to_owned()]);
        assert_eq!(ch.rollbacks.len(), 1);
        assert_eq!(m.view().devices["a"].name, "a", "rolled back");
        assert!(!m.is_pending(EntityKind::Device, "a"));
    }
}
