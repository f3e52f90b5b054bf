//! Log entries of PROTOCOL.md §4: one ordered, gap-free log per org.

use serde::de::{DeserializeSeed, Error as _, IgnoredAny, MapAccess, Visitor};
use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::bounds::{ArgError, id, int, text};
use crate::entity::{Alert, Content, Device, DeviceStatus, EntityKind, Playlist, Schedule};

/// `data` of every `*.removed` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removed {
    /// Id of the removed entity.
    pub id: String,
    /// The old rev + 1.
    pub rev: u64,
}

/// `data` of `device.status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceStatusData {
    /// Device id.
    pub id: String,
    /// New rev.
    pub rev: u64,
    /// New status.
    pub status: DeviceStatus,
    /// Last sign of life.
    pub last_seen_ms: u64,
}

/// Result of a scheduled playlist switch on a player.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionOutcome {
    /// Switched.
    Ok,
    /// Tried and failed.
    Failed,
    /// Not attempted.
    Skipped,
}

/// `data` of `schedule.executed`, also what players send on `/device`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleExecuted {
    /// Schedule that fired.
    pub schedule_id: String,
    /// Player that executed it.
    pub device_id: String,
    /// Playlist switched to.
    pub playlist_id: String,
    /// When.
    pub at_ms: u64,
    /// Outcome.
    pub outcome: ExecutionOutcome,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `data` of `mutation.applied`: whose change it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MutationApplied {
    /// Client-chosen mutation id.
    pub mutation_id: String,
    /// Client that sent it.
    pub client_id: String,
    /// Mutation kind, e.g. `playlist.rename`.
    pub kind: String,
}

/// What a log entry says happened (`type` + `data`).
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// `device.upserted`.
    DeviceUpserted(Device),
    /// `playlist.upserted`.
    PlaylistUpserted(Playlist),
    /// `content.upserted`.
    ContentUpserted(Content),
    /// `schedule.upserted`.
    ScheduleUpserted(Schedule),
    /// `alert.upserted`.
    AlertUpserted(Alert),
    /// `device.removed`.
    DeviceRemoved(Removed),
    /// `playlist.removed`.
    PlaylistRemoved(Removed),
    /// `content.removed`.
    ContentRemoved(Removed),
    /// `schedule.removed`.
    ScheduleRemoved(Removed),
    /// `device.status`.
    DeviceStatus(DeviceStatusData),
    /// `schedule.executed`.
    ScheduleExecuted(ScheduleExecuted),
    /// `mutation.applied`.
    MutationApplied(MutationApplied),
}

impl Event {
    /// The `*.upserted` event carrying `e`.
    pub fn upserted(e: crate::entity::Entity) -> Self {
        use crate::entity::Entity;
        match e {
            Entity::Device(e) => Self::DeviceUpserted(e),
            Entity::Playlist(e) => Self::PlaylistUpserted(e),
            Entity::Content(e) => Self::ContentUpserted(e),
            Entity::Schedule(e) => Self::ScheduleUpserted(e),
            Entity::Alert(e) => Self::AlertUpserted(e),
        }
    }

    /// The wire `type`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::DeviceUpserted(_) => "device.upserted",
            Self::PlaylistUpserted(_) => "playlist.upserted",
            Self::ContentUpserted(_) => "content.upserted",
            Self::ScheduleUpserted(_) => "schedule.upserted",
            Self::AlertUpserted(_) => "alert.upserted",
            Self::DeviceRemoved(_) => "device.removed",
            Self::PlaylistRemoved(_) => "playlist.removed",
            Self::ContentRemoved(_) => "content.removed",
            Self::ScheduleRemoved(_) => "schedule.removed",
            Self::DeviceStatus(_) => "device.status",
            Self::ScheduleExecuted(_) => "schedule.executed",
            Self::MutationApplied(_) => "mutation.applied",
        }
    }

    /// The entity this event changes, if it changes one.
    pub fn entity_ref(&self) -> Option<(EntityKind, &str)> {
        Some(match self {
            Self::DeviceUpserted(e) => (EntityKind::Device, e.id.as_str()),
            Self::PlaylistUpserted(e) => (EntityKind::Playlist, e.id.as_str()),
            Self::ContentUpserted(e) => (EntityKind::Content, e.id.as_str()),
            Self::ScheduleUpserted(e) => (EntityKind::Schedule, e.id.as_str()),
            Self::AlertUpserted(e) => (EntityKind::Alert, e.id.as_str()),
            Self::DeviceRemoved(r) => (EntityKind::Device, r.id.as_str()),
            Self::PlaylistRemoved(r) => (EntityKind::Playlist, r.id.as_str()),
            Self::ContentRemoved(r) => (EntityKind::Content, r.id.as_str()),
            Self::ScheduleRemoved(r) => (EntityKind::Schedule, r.id.as_str()),
            Self::DeviceStatus(d) => (EntityKind::Device, d.id.as_str()),
            Self::ScheduleExecuted(_) | Self::MutationApplied(_) => return None,
        })
    }

    /// Decodes `data` (JSON text) for a given `type`.
    pub fn from_parts(type_name: &str, data: &str) -> Result<Self, serde_json::Error> {
        let mut de = serde_json::Deserializer::from_str(data);
        let event = EventSeed(type_name).deserialize(&mut de)?;
        de.end()?;
        Ok(event)
    }

    /// Serialises `data` alone.
    pub fn serialize_data<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::DeviceUpserted(d) => d.serialize(s),
            Self::PlaylistUpserted(d) => d.serialize(s),
            Self::ContentUpserted(d) => d.serialize(s),
            Self::ScheduleUpserted(d) => d.serialize(s),
            Self::AlertUpserted(d) => d.serialize(s),
            Self::DeviceRemoved(d) | Self::PlaylistRemoved(d) | Self::ContentRemoved(d) | Self::ScheduleRemoved(d) => {
                d.serialize(s)
            }
            Self::DeviceStatus(d) => d.serialize(s),
            Self::ScheduleExecuted(d) => d.serialize(s),
            Self::MutationApplied(d) => d.serialize(s),
        }
    }
}

struct DataRef<'a>(&'a Event);

impl Serialize for DataRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize_data(s)
    }
}

/// One entry of an org's log.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    /// Position in the org's log, gap-free within an epoch.
    pub seq: u64,
    /// When the gateway wrote it.
    pub ts_ms: u64,
    /// What happened.
    pub event: Event,
}

impl Serialize for LogEntry {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("LogEntry", 4)?;
        st.serialize_field("seq", &self.seq)?;
        st.serialize_field("ts_ms", &self.ts_ms)?;
        st.serialize_field("type", self.event.type_name())?;
        st.serialize_field("data", &DataRef(&self.event))?;
        st.end()
    }
}

impl Event {
    /// Decodes `data` given as a JSON value for a given `type`.
    pub fn from_value(type_name: &str, data: serde_json::Value) -> Result<Self, serde_json::Error> {
        EventSeed(type_name).deserialize(data)
    }
}

/// Decodes `data` straight into the variant named by `type`.
struct EventSeed<'t>(&'t str);

impl<'de> DeserializeSeed<'de> for EventSeed<'_> {
    type Value = Event;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Event, D::Error> {
        Ok(match self.0 {
            "device.upserted" => Event::DeviceUpserted(Deserialize::deserialize(d)?),
            "playlist.upserted" => Event::PlaylistUpserted(Deserialize::deserialize(d)?),
            "content.upserted" => Event::ContentUpserted(Deserialize::deserialize(d)?),
            "schedule.upserted" => Event::ScheduleUpserted(Deserialize::deserialize(d)?),
            "alert.upserted" => Event::AlertUpserted(Deserialize::deserialize(d)?),
            "device.removed" => Event::DeviceRemoved(Deserialize::deserialize(d)?),
            "playlist.removed" => Event::PlaylistRemoved(Deserialize::deserialize(d)?),
            "content.removed" => Event::ContentRemoved(Deserialize::deserialize(d)?),
            "schedule.removed" => Event::ScheduleRemoved(Deserialize::deserialize(d)?),
            "device.status" => Event::DeviceStatus(Deserialize::deserialize(d)?),
            "schedule.executed" => Event::ScheduleExecuted(Deserialize::deserialize(d)?),
            "mutation.applied" => Event::MutationApplied(Deserialize::deserialize(d)?),
            other => return Err(D::Error::custom(format!("unknown event type `{other}`"))),
        })
    }
}

impl<'de> Deserialize<'de> for LogEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(EntryVisitor)
    }
}

struct EntryVisitor;

impl<'de> Visitor<'de> for EntryVisitor {
    type Value = LogEntry;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a log entry {seq, ts_ms, type, data}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<LogEntry, A::Error> {
        let mut seq = None;
        let mut ts_ms = None;
        let mut type_name: Option<String> = None;
        let mut event = None;
        // `data` before `type` (legal JSON from other writers) is buffered.
        let mut early_data: Option<serde_json::Value> = None;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match key.as_ref() {
                "seq" => seq = Some(map.next_value::<u64>()?),
                "ts_ms" => ts_ms = Some(map.next_value::<u64>()?),
                "type" => type_name = Some(map.next_value::<String>()?),
                "data" => match &type_name {
                    Some(t) => event = Some(map.next_value_seed(EventSeed(t))?),
                    None => early_data = Some(map.next_value()?),
                },
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let type_name = type_name.ok_or_else(|| A::Error::missing_field("type"))?;
        let event = match (event, early_data) {
            (Some(e), _) => e,
            (None, Some(v)) => {
                Event::from_value(&type_name, v).map_err(|e| A::Error::custom(format!("{type_name}: {e}")))?
            }
            (None, None) => return Err(A::Error::missing_field("data")),
        };
        Ok(LogEntry {
            seq: seq.ok_or_else(|| A::Error::missing_field("seq"))?,
            ts_ms: ts_ms.ok_or_else(|| A::Error::missing_field("ts_ms"))?,
            event,
        })
    }
}

impl ScheduleExecuted {
    /// Checks ids, time and error text.
    pub fn check(&self) -> Result<(), ArgError> {
        id("schedule_id", &self.schedule_id)?;
        id("device_id", &self.device_id)?;
        id("playlist_id", &self.playlist_id)?;
        int("at_ms", self.at_ms)?;
        match &self.error {
            Some(e) => text("error", e),
            None => Ok(()),
        }
    }
}
