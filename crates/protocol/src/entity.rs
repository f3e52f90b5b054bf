//! Entities of PROTOCOL.md §3.

use serde::{Deserialize, Serialize};

use crate::bounds::{ArgError, TEMP_RANGE, id, int, within};

/// Device connectivity/health status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeviceStatus {
    /// Heartbeats arrive within three intervals and no health limit is exceeded.
    Online,
    /// Heartbeats arrive but a health limit is exceeded.
    Degraded,
    /// No heartbeat for more than three intervals.
    Offline,
    /// Never heard from yet.
    #[default]
    Unknown,
}

impl DeviceStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Degraded => "degraded",
            Self::Offline => "offline",
            Self::Unknown => "unknown",
        }
    }
}

/// Latest health sample of a player. A number that does not fit a finite
/// `f32` (`1e39`) is refused while decoding, naming its field: it would
/// otherwise become infinity, which JSON writes as `null`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default, utoipa::ToSchema)]
pub struct Health {
    /// CPU load, percent.
    #[serde(deserialize_with = "crate::bounds::finite::cpu_pct")]
    pub cpu_pct: f32,
    /// Memory use, percent.
    #[serde(deserialize_with = "crate::bounds::finite::mem_pct")]
    pub mem_pct: f32,
    /// SoC temperature, degrees Celsius.
    #[serde(deserialize_with = "crate::bounds::finite::temp_c")]
    pub temp_c: f32,
    /// Free disk, percent.
    #[serde(deserialize_with = "crate::bounds::finite::disk_free_pct")]
    pub disk_free_pct: f32,
    /// Seconds since the player booted; fractional allowed (PROTOCOL.md §8
    /// bounds it only by ≥ 0), written as an integer when whole.
    #[serde(deserialize_with = "crate::bounds::finite::uptime_s", serialize_with = "crate::bounds::ser_seconds")]
    #[schema(minimum = 0)]
    pub uptime_s: f64,
}

/// What a player is playing now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Playing {
    /// Playlist being played.
    pub playlist_id: String,
    /// Content item on screen.
    pub content_id: String,
    /// When this item started.
    pub since_ms: u64,
}

/// A signage player.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Device {
    /// Device id (the `sub` of its token).
    pub id: String,
    /// Owning organisation.
    pub org: String,
    /// Revision, +1 on every logged change.
    pub rev: u64,
    /// Display name.
    pub name: String,
    /// Free-form tags (sites, groups).
    pub tags: Vec<String>,
    /// Assigned playlist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub playlist_id: Option<String>,
    /// Derived status.
    pub status: DeviceStatus,
    /// Last sign of life.
    pub last_seen_ms: u64,
    /// Latest health sample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
    /// What it reports playing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub playing: Option<Playing>,
}

/// One entry of a playlist.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PlaylistItem {
    /// Content shown.
    pub content_id: String,
    /// Seconds on screen, > 0, fractional allowed.
    #[serde(serialize_with = "crate::bounds::ser_seconds")]
    pub duration_s: f64,
}

/// An ordered list of content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Playlist {
    /// Playlist id.
    pub id: String,
    /// Owning organisation.
    pub org: String,
    /// Revision.
    pub rev: u64,
    /// Display name.
    pub name: String,
    /// Items in play order.
    pub items: Vec<PlaylistItem>,
}

/// Media type of a content item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContentKind {
    /// Still image.
    Image,
    /// Video file.
    Video,
    /// Web page.
    Web,
}

/// A piece of media in the library.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Content {
    /// Content id.
    pub id: String,
    /// Owning organisation.
    pub org: String,
    /// Revision.
    pub rev: u64,
    /// Display name.
    pub name: String,
    /// Media type.
    pub kind: ContentKind,
    /// Where players fetch it.
    pub uri: String,
    /// Default seconds on screen, fractional allowed.
    #[serde(serialize_with = "crate::bounds::ser_seconds")]
    pub duration_s: f64,
    /// Size in bytes.
    pub size_bytes: u64,
}

/// Who a schedule applies to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleTarget {
    /// One device by id.
    Device(String),
    /// Every device carrying the tag.
    Tag(String),
}

/// Plays a playlist on a target during a time window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Schedule {
    /// Schedule id (server-made).
    pub id: String,
    /// Owning organisation.
    pub org: String,
    /// Revision.
    pub rev: u64,
    /// Display name.
    pub name: String,
    /// Playlist to play.
    pub playlist_id: String,
    /// Device or tag.
    pub target: ScheduleTarget,
    /// First moment it applies.
    pub start_ms: u64,
    /// Last moment it applies, if bounded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_ms: Option<u64>,
    /// Weekdays it applies on, 0 = Sunday.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<Vec<u8>>,
    /// Daily window start, "HH:MM".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_from: Option<String>,
    /// Daily window end, "HH:MM".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_to: Option<String>,
    /// Higher wins.
    pub priority: i32,
    /// Disabled schedules never apply.
    pub enabled: bool,
}

/// Alert severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// For information.
    Info,
    /// Needs attention.
    Warning,
    /// Needs attention now.
    Critical,
}

/// Alert life cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// Raised, nobody acknowledged.
    Open,
    /// Somebody acknowledged it.
    Acked,
    /// The condition ended or somebody resolved it.
    Resolved,
}

/// Something an operator should know about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Alert {
    /// Alert id.
    pub id: String,
    /// Owning organisation.
    pub org: String,
    /// Revision.
    pub rev: u64,
    /// Device concerned, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// Severity.
    pub severity: Severity,
    /// Machine name of the condition, e.g. `device_offline`.
    pub kind: String,
    /// Human text.
    pub message: String,
    /// When it was raised.
    pub raised_ms: u64,
    /// Life-cycle state.
    pub state: AlertState,
    /// `sub` of whoever acknowledged it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acked_by: Option<String>,
    /// Muted until this moment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub muted_until_ms: Option<u64>,
}

/// The five entity kinds, in snapshot order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    /// [`Device`].
    Device,
    /// [`Playlist`].
    Playlist,
    /// [`Content`].
    Content,
    /// [`Schedule`].
    Schedule,
    /// [`Alert`].
    Alert,
}

impl EntityKind {
    /// All kinds in the order snapshots send them.
    pub const ALL: [EntityKind; 5] =
        [EntityKind::Device, EntityKind::Playlist, EntityKind::Content, EntityKind::Schedule, EntityKind::Alert];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Device => "device",
            Self::Playlist => "playlist",
            Self::Content => "content",
            Self::Schedule => "schedule",
            Self::Alert => "alert",
        }
    }
}

/// Any entity. Serialised as the bare entity (the kind travels beside it).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Entity {
    /// A device.
    Device(Device),
    /// A playlist.
    Playlist(Playlist),
    /// A content item.
    Content(Content),
    /// A schedule.
    Schedule(Schedule),
    /// An alert.
    Alert(Alert),
}

impl Entity {
    /// Which kind this is.
    pub fn kind(&self) -> EntityKind {
        match self {
            Self::Device(_) => EntityKind::Device,
            Self::Playlist(_) => EntityKind::Playlist,
            Self::Content(_) => EntityKind::Content,
            Self::Schedule(_) => EntityKind::Schedule,
            Self::Alert(_) => EntityKind::Alert,
        }
    }

    /// The entity's id.
    pub fn id(&self) -> &str {
        match self {
            Self::Device(e) => &e.id,
            Self::Playlist(e) => &e.id,
            Self::Content(e) => &e.id,
            Self::Schedule(e) => &e.id,
            Self::Alert(e) => &e.id,
        }
    }

    /// The entity's revision.
    pub fn rev(&self) -> u64 {
        match self {
            Self::Device(e) => e.rev,
            Self::Playlist(e) => e.rev,
            Self::Content(e) => e.rev,
            Self::Schedule(e) => e.rev,
            Self::Alert(e) => e.rev,
        }
    }

    /// Decodes a bare entity whose kind is known from context.
    pub fn from_value(kind: EntityKind, value: serde_json::Value) -> Result<Self, serde_json::Error> {
        Ok(match kind {
            EntityKind::Device => Self::Device(serde_json::from_value(value)?),
            EntityKind::Playlist => Self::Playlist(serde_json::from_value(value)?),
            EntityKind::Content => Self::Content(serde_json::from_value(value)?),
            EntityKind::Schedule => Self::Schedule(serde_json::from_value(value)?),
            EntityKind::Alert => Self::Alert(serde_json::from_value(value)?),
        })
    }

    /// Decodes a bare entity from JSON text whose kind is known from context.
    pub fn from_json(kind: EntityKind, text: &str) -> Result<Self, serde_json::Error> {
        Ok(match kind {
            EntityKind::Device => Self::Device(serde_json::from_str(text)?),
            EntityKind::Playlist => Self::Playlist(serde_json::from_str(text)?),
            EntityKind::Content => Self::Content(serde_json::from_str(text)?),
            EntityKind::Schedule => Self::Schedule(serde_json::from_str(text)?),
            EntityKind::Alert => Self::Alert(serde_json::from_str(text)?),
        })
    }
}

impl Health {
    /// Checks every field's range; the error names it (`health.temp_c`).
    pub fn check(&self) -> Result<(), ArgError> {
        within("health.cpu_pct", self.cpu_pct, 0.0, 100.0)?;
        within("health.mem_pct", self.mem_pct, 0.0, 100.0)?;
        within("health.temp_c", self.temp_c, TEMP_RANGE.0, TEMP_RANGE.1)?;
        within("health.disk_free_pct", self.disk_free_pct, 0.0, 100.0)?;
        if !self.uptime_s.is_finite() || self.uptime_s < 0.0 {
            return Err(ArgError::new("health.uptime_s", "must be a finite number ≥ 0"));
        }
        Ok(())
    }
}

impl Playing {
    /// Checks ids and the timestamp.
    pub fn check(&self) -> Result<(), ArgError> {
        id("playing.playlist_id", &self.playlist_id)?;
        id("playing.content_id", &self.content_id)?;
        int("playing.since_ms", self.since_ms)
    }
}
