//! Fixture fleets from a file: the JSON that `vizora state` writes
//! (`{"epoch", "seq", "device": [...], "playlist": [...], ...}`).

use std::path::Path;

use serde::{Deserialize, Serialize};
use vizora_gateway::config::{ConfigError, read_file};
use vizora_protocol::{Alert, Content, Device, Entity, Playlist, Schedule};

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
}

impl StateFile {
    /// Reads a fixture, reporting file:line:col on bad JSON.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = read_file(path)?;
        serde_json::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.display().to_string(),
            line: e.line(),
            col: e.column(),
            message: e.to_string(),
        })
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
