//! `/device` messages of PROTOCOL.md §7 (players ↔ server).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::bounds::{ArgError, duration, id, int, text};
use crate::entity::{Health, Playing};

/// `heartbeat` (player → server), every `heartbeat_s`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// Player clock.
    pub ts_ms: u64,
    /// Health sample.
    pub health: Health,
    /// What it is playing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub playing: Option<Playing>,
}

/// `playback` (player → server): one item finished or failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Playback {
    /// Content played.
    pub content_id: String,
    /// When it started.
    pub started_ms: u64,
    /// Seconds it ran (fractional allowed).
    #[serde(serialize_with = "crate::bounds::ser_seconds")]
    pub duration_s: f64,
    /// Whether it played.
    pub ok: bool,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Kinds of `command`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandKind {
    /// Restart the player.
    Restart,
    /// Switch to a playlist (`args.playlist_id`).
    AssignPlaylist,
}

/// `command` (server → player, with ack).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Command {
    /// Server-made id.
    pub command_id: String,
    /// What to do.
    pub kind: CommandKind,
    /// Arguments of the kind.
    #[serde(default)]
    pub args: Value,
}

/// The player's ack of a `command`. PROTOCOL.md leaves the shape open; this
/// is the natural one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandAck {
    /// Whether the player accepted it.
    pub ok: bool,
    /// Why not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Heartbeat {
    /// A heartbeat that breaks a bound changes nothing (PROTOCOL.md §8).
    pub fn check(&self) -> Result<(), ArgError> {
        int("ts_ms", self.ts_ms)?;
        self.health.check()?;
        match &self.playing {
            Some(p) => p.check(),
            None => Ok(()),
        }
    }
}

impl Playback {
    /// Checks the content id, times and error text.
    pub fn check(&self) -> Result<(), ArgError> {
        id("content_id", &self.content_id)?;
        int("started_ms", self.started_ms)?;
        duration("duration_s", self.duration_s)?;
        match &self.error {
            Some(e) => text("error", e),
            None => Ok(()),
        }
    }
}
