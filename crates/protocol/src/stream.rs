//! Server → `/wall` events and the subscribe handshake (PROTOCOL.md §4–§5).

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};

use crate::entity::{Entity, EntityKind, Health, Playing};
use crate::event::LogEntry;

/// A position in an org's log.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Position {
    /// Log epoch.
    pub epoch: String,
    /// Last applied seq.
    pub seq: u64,
}

/// `events`: one or more entries in `seq` order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Events {
    /// Log epoch.
    pub epoch: String,
    /// Entries, ascending `seq`.
    pub items: Vec<LogEntry>,
}

/// `snapshot`: one page of one entity kind, consistent as of `seq`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SnapshotPage {
    /// Log epoch.
    pub epoch: String,
    /// Log position the snapshot is consistent with.
    pub seq: u64,
    /// Kind of every item on this page.
    pub kind: EntityKind,
    /// Entities.
    pub items: Vec<Entity>,
    /// Last page of this kind.
    pub last: bool,
}

#[derive(Deserialize)]
struct WireSnapshot {
    epoch: String,
    seq: u64,
    kind: EntityKind,
    items: Vec<serde_json::Value>,
    last: bool,
}

impl<'de> Deserialize<'de> for SnapshotPage {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = WireSnapshot::deserialize(d)?;
        let items = w
            .items
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                Entity::from_value(w.kind, v)
                    .map_err(|e| D::Error::custom(format!("items[{i}] ({}): {e}", w.kind.as_str())))
            })
            .collect::<Result<_, _>>()?;
        Ok(SnapshotPage { epoch: w.epoch, seq: w.seq, kind: w.kind, items, last: w.last })
    }
}

/// One device in a `telemetry` message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TelemetryDevice {
    /// Device id.
    pub id: String,
    /// Latest health.
    pub health: Health,
    /// What it is playing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub playing: Option<Playing>,
}

/// `telemetry`: lossy, latest value wins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Telemetry {
    /// When it was sent.
    pub ts_ms: u64,
    /// Devices heard from since the last send.
    pub devices: Vec<TelemetryDevice>,
}

/// One row of `metrics.top_content`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopContent {
    /// Content id.
    pub content_id: String,
    /// Ok plays in the window.
    pub plays: u64,
}

/// `metrics`: fleet analytics over a sliding window, about once a second.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metrics {
    /// When it was computed.
    pub ts_ms: u64,
    /// Window length.
    pub window_s: u32,
    /// Devices online.
    pub online: u64,
    /// Devices degraded.
    pub degraded: u64,
    /// Devices offline.
    pub offline: u64,
    /// Ok playback reports in the window.
    pub plays: u64,
    /// Failed playback reports in the window.
    pub errors: u64,
    /// All playback reports in the window.
    pub impressions: u64,
    /// Top 10 content by plays.
    pub top_content: Vec<TopContent>,
}

/// Codes of the `error` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Over the per-connection rate limit.
    RateLimited,
    /// Malformed or unknown event.
    BadRequest,
    /// Frame over `maxPayload`.
    PayloadTooLarge,
    /// The token expired during the connection.
    TokenExpired,
}

impl ErrorCode {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RateLimited => "rate_limited",
            Self::BadRequest => "bad_request",
            Self::PayloadTooLarge => "payload_too_large",
            Self::TokenExpired => "token_expired",
        }
    }
}

/// `error`: something the client did wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorMsg {
    /// Machine code.
    pub code: ErrorCode,
    /// Human text.
    #[serde(default)]
    pub message: String,
}

/// `subscribe` (client → server, with ack).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscribe {
    /// Last applied position, or null for a fresh start.
    pub since: Option<Position>,
}

/// How the server will bring a subscriber up to date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscribeMode {
    /// Every entry after `since.seq` follows as `events`.
    Replay,
    /// A full snapshot follows, then live events from `seq + 1`.
    Snapshot,
}

/// Ack of `subscribe`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscribeAck {
    /// Replay or snapshot.
    pub mode: SubscribeMode,
    /// Log epoch.
    pub epoch: String,
    /// Head of the log when the subscription started.
    pub head_seq: u64,
}
