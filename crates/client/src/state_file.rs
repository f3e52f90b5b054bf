//! The state file: the whole view of an org at a position, as JSON
//! (`{"epoch", "seq", "device": [...], "playlist": [...], ...}`). `vizora
//! state` writes it; the wallboard reads it as a fixture (`--fixture`),
//! optionally with metrics and schedule executions to replay.

use std::path::Path;

use serde::{Deserialize, Serialize};
use vizora_config::ConfigError;
use vizora_protocol::{Alert, Content, Device, Entity, Metrics, OrgState, Playlist, Schedule, ScheduleExecuted};

use crate::Update;

/// The whole view of an org at a position.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateFile {
    /// Epoch.
    pub epoch: String,
    /// Position.
    pub seq: u64,
    /// Devices.
    #[serde(default)]
    pub device: Vec<Device>,
    /// Playlists.
    #[serde(default)]
    pub playlist: Vec<Playlist>,
    /// Content.
    #[serde(default)]
    pub content: Vec<Content>,
    /// Schedules.
    #[serde(default)]
    pub schedule: Vec<Schedule>,
    /// Alerts.
    #[serde(default)]
    pub alert: Vec<Alert>,
    /// Fixture extras (not written by `vizora state`): metrics history, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<Metrics>,
    /// Fixture extras: `schedule.executed` reports, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub executions: Vec<ScheduleExecuted>,
}

impl StateFile {
    /// Reads a fixture, reporting file:line:col on bad JSON.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        vizora_config::load_json(path)
    }

    /// The file for `view` at `epoch:seq` (what `vizora state` writes).
    pub fn of_state(epoch: &str, seq: u64, view: &OrgState) -> Self {
        Self {
            epoch: epoch.to_owned(),
            seq,
            device: view.devices.values().cloned().collect(),
            playlist: view.playlists.values().cloned().collect(),
            content: view.contents.values().cloned().collect(),
            schedule: view.schedules.values().cloned().collect(),
            alert: view.alerts.values().cloned().collect(),
            ..Self::default()
        }
    }

    /// Every entity, in snapshot order.
    pub fn entities(&self) -> Vec<Entity> {
        self.clone().into_entities()
    }

    /// Every entity, in snapshot order.
    pub fn into_entities(self) -> Vec<Entity> {
        let mut out: Vec<Entity> = Vec::new();
        out.extend(self.device.into_iter().map(Entity::Device));
        out.extend(self.playlist.into_iter().map(Entity::Playlist));
        out.extend(self.content.into_iter().map(Entity::Content));
        out.extend(self.schedule.into_iter().map(Entity::Schedule));
        out.extend(self.alert.into_iter().map(Entity::Alert));
        out
    }
}

impl StateFile {
    /// What a client would deliver for this fixture: the snapshot, then the
    /// executions as log entries after it, then the metrics.
    pub fn into_updates(self) -> Vec<Update> {
        use vizora_protocol::{Event, LogEntry};
        let (epoch, seq) = (self.epoch.clone(), self.seq);
        let metrics = self.metrics.clone();
        let items: Vec<LogEntry> = self
            .executions
            .iter()
            .enumerate()
            .map(|(i, x)| LogEntry {
                seq: seq + 1 + i as u64,
                ts_ms: x.at_ms,
                event: Event::ScheduleExecuted(x.clone()),
            })
            .collect();
        let mut out = vec![Update::Snapshot { epoch: epoch.clone(), seq, entities: self.into_entities() }];
        if !items.is_empty() {
            out.push(Update::Entries { epoch, items });
        }
        out.extend(metrics.into_iter().map(Update::Metrics));
        out
    }
}
