//! Mutations of PROTOCOL.md §6: the request, its typed and validated
//! arguments, and the three ack shapes. Client and gateway both validate with
//! [`MutationOp::parse`], so they reject the same things naming the same field.

use serde::de::Error as _;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value, json};

use crate::bounds::seconds_json;
use crate::entity::{ContentKind, EntityKind, PlaylistItem};

mod args;
mod schedule_args;

pub use schedule_args::{ScheduleFields, SchedulePatch};

pub use crate::bounds::ArgError;

/// A mutation kind with its validated arguments.
#[derive(Debug, Clone, PartialEq)]
pub enum MutationOp {
    /// `device.rename`.
    DeviceRename {
        /// New name.
        name: String,
    },
    /// `device.set_tags` (deduplicated, order kept).
    DeviceSetTags {
        /// New tags.
        tags: Vec<String>,
    },
    /// `device.assign_playlist`.
    DeviceAssignPlaylist {
        /// Playlist, or none to clear.
        playlist_id: Option<String>,
    },
    /// `device.restart` (any rev; relayed to the player).
    DeviceRestart,
    /// `device.remove` (admin).
    DeviceRemove,
    /// `device.create` (admin): a device known before it first connects.
    DeviceCreate {
        /// Explicit id, else server-made.
        id: Option<String>,
        /// Name.
        name: String,
        /// Tags (deduplicated).
        tags: Vec<String>,
        /// Assigned playlist.
        playlist_id: Option<String>,
    },
    /// `playlist.create`.
    PlaylistCreate {
        /// Explicit id, else server-made.
        id: Option<String>,
        /// Name.
        name: String,
        /// Initial items.
        items: Vec<PlaylistItem>,
    },
    /// `playlist.rename`.
    PlaylistRename {
        /// New name.
        name: String,
    },
    /// `playlist.add_item`.
    PlaylistAddItem {
        /// Content to add.
        content_id: String,
        /// Seconds on screen.
        duration_s: f64,
        /// Insert position (0..=len), else append.
        index: Option<usize>,
    },
    /// `playlist.remove_item`.
    PlaylistRemoveItem {
        /// Position (0..len).
        index: usize,
    },
    /// `playlist.move_item`: remove at `from`, insert at `to`.
    PlaylistMoveItem {
        /// Old position.
        from: usize,
        /// New position.
        to: usize,
    },
    /// `playlist.delete` (admin).
    PlaylistDelete,
    /// `content.create`.
    ContentCreate {
        /// Explicit id, else server-made.
        id: Option<String>,
        /// Name.
        name: String,
        /// Media type.
        kind: ContentKind,
        /// Location.
        uri: String,
        /// Seconds on screen.
        duration_s: f64,
        /// Size in bytes.
        size_bytes: u64,
    },
    /// `content.update`: at least one field.
    ContentUpdate {
        /// New name.
        name: Option<String>,
        /// New location.
        uri: Option<String>,
        /// New duration.
        duration_s: Option<f64>,
    },
    /// `content.delete` (admin).
    ContentDelete,
    /// `schedule.create` (server-made id).
    ScheduleCreate(ScheduleFields),
    /// `schedule.update`: at least one field.
    ScheduleUpdate(SchedulePatch),
    /// `schedule.set_enabled`.
    ScheduleSetEnabled {
        /// On or off.
        enabled: bool,
    },
    /// `schedule.delete` (admin).
    ScheduleDelete,
    /// `alert.ack` (any rev).
    AlertAck,
    /// `alert.resolve` (any rev).
    AlertResolve,
    /// `alert.mute` (any rev).
    AlertMute {
        /// Muted until.
        until_ms: u64,
    },
}

/// Every mutation kind name, for help texts and tests.
pub const MUTATION_KINDS: [&str; 22] = [
    "device.rename",
    "device.set_tags",
    "device.assign_playlist",
    "device.restart",
    "device.remove",
    "device.create",
    "playlist.create",
    "playlist.rename",
    "playlist.add_item",
    "playlist.remove_item",
    "playlist.move_item",
    "playlist.delete",
    "content.create",
    "content.update",
    "content.delete",
    "schedule.create",
    "schedule.update",
    "schedule.set_enabled",
    "schedule.delete",
    "alert.ack",
    "alert.resolve",
    "alert.mute",
];

impl MutationOp {
    /// Parses and validates `args` for `kind`. Errors name the field.
    pub fn parse(kind: &str, args: &Value) -> Result<Self, ArgError> {
        let empty = Map::new();
        let obj = match args {
            Value::Object(m) => m,
            Value::Null => &empty,
            _ => return Err(ArgError::new("args", "must be an object")),
        };
        let a = args::Args(obj);
        Ok(match kind {
            "device.rename" => Self::DeviceRename { name: a.name("name")? },
            "device.set_tags" => Self::DeviceSetTags { tags: a.tags("tags")? },
            "device.assign_playlist" => Self::DeviceAssignPlaylist { playlist_id: a.opt_id("playlist_id")? },
            "device.restart" => Self::DeviceRestart,
            "device.remove" => Self::DeviceRemove,
            "device.create" => Self::DeviceCreate {
                id: a.opt_id("id")?,
                name: a.name("name")?,
                tags: if a.has("tags") && !matches!(obj.get("tags"), Some(Value::Null)) {
                    a.tags("tags")?
                } else {
                    Vec::new()
                },
                playlist_id: a.opt_id("playlist_id")?,
            },
            "playlist.create" => {
                Self::PlaylistCreate { id: a.opt_id("id")?, name: a.name("name")?, items: a.items("items")? }
            }
            "playlist.rename" => Self::PlaylistRename { name: a.name("name")? },
            "playlist.add_item" => Self::PlaylistAddItem {
                content_id: a.id("content_id")?,
                duration_s: a.duration("duration_s")?,
                index: a.opt_index("index")?,
            },
            "playlist.remove_item" => Self::PlaylistRemoveItem { index: a.index("index")? },
            "playlist.move_item" => Self::PlaylistMoveItem { from: a.index("from")?, to: a.index("to")? },
            "playlist.delete" => Self::PlaylistDelete,
            "content.create" => Self::ContentCreate {
                id: a.opt_id("id")?,
                name: a.name("name")?,
                kind: a.content_kind("kind")?,
                uri: a.uri("uri")?,
                duration_s: a.duration("duration_s")?,
                size_bytes: a.u64("size_bytes")?,
            },
            "content.update" => {
                a.only(&["name", "uri", "duration_s"])?;
                let name = a.opt(|a| a.name("name"), "name")?;
                let uri = a.opt(|a| a.uri("uri"), "uri")?;
                let duration_s = a.opt(|a| a.duration("duration_s"), "duration_s")?;
                // A null field counts as left out (§8), so `{"name": null}` is empty too.
                if name.is_none() && uri.is_none() && duration_s.is_none() {
                    return Err(ArgError::new("args", "an update needs at least one field"));
                }
                Self::ContentUpdate { name, uri, duration_s }
            }
            "content.delete" => Self::ContentDelete,
            "schedule.create" => Self::ScheduleCreate(ScheduleFields::parse(&a)?),
            "schedule.update" => Self::ScheduleUpdate(SchedulePatch::parse(&a)?),
            "schedule.set_enabled" => Self::ScheduleSetEnabled { enabled: a.bool("enabled")? },
            "schedule.delete" => Self::ScheduleDelete,
            "alert.ack" => Self::AlertAck,
            "alert.resolve" => Self::AlertResolve,
            "alert.mute" => Self::AlertMute { until_ms: a.u64("until_ms")? },
            other => return Err(ArgError::new("kind", format!("unknown mutation kind `{other}`"))),
        })
    }

    /// The wire `kind`.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Self::DeviceRename { .. } => "device.rename",
            Self::DeviceSetTags { .. } => "device.set_tags",
            Self::DeviceAssignPlaylist { .. } => "device.assign_playlist",
            Self::DeviceRestart => "device.restart",
            Self::DeviceRemove => "device.remove",
            Self::DeviceCreate { .. } => "device.create",
            Self::PlaylistCreate { .. } => "playlist.create",
            Self::PlaylistRename { .. } => "playlist.rename",
            Self::PlaylistAddItem { .. } => "playlist.add_item",
            Self::PlaylistRemoveItem { .. } => "playlist.remove_item",
            Self::PlaylistMoveItem { .. } => "playlist.move_item",
            Self::PlaylistDelete => "playlist.delete",
            Self::ContentCreate { .. } => "content.create",
            Self::ContentUpdate { .. } => "content.update",
            Self::ContentDelete => "content.delete",
            Self::ScheduleCreate(_) => "schedule.create",
            Self::ScheduleUpdate(_) => "schedule.update",
            Self::ScheduleSetEnabled { .. } => "schedule.set_enabled",
            Self::ScheduleDelete => "schedule.delete",
            Self::AlertAck => "alert.ack",
            Self::AlertResolve => "alert.resolve",
            Self::AlertMute { .. } => "alert.mute",
        }
    }

    /// The kind of entity it targets.
    pub fn entity_kind(&self) -> EntityKind {
        match self.kind_name().split('.').next() {
            Some("device") => EntityKind::Device,
            Some("playlist") => EntityKind::Playlist,
            Some("content") => EntityKind::Content,
            Some("schedule") => EntityKind::Schedule,
            _ => EntityKind::Alert,
        }
    }

    /// Creates an entity (no `base_rev`, no existing target).
    pub fn is_create(&self) -> bool {
        matches!(
            self,
            Self::DeviceCreate { .. }
                | Self::PlaylistCreate { .. }
                | Self::ContentCreate { .. }
                | Self::ScheduleCreate(_)
        )
    }

    /// Whether `base_rev` is required and compared (false for creates and *any rev* kinds).
    pub fn checks_rev(&self) -> bool {
        !self.is_create()
            && !matches!(self, Self::DeviceRestart | Self::AlertAck | Self::AlertResolve | Self::AlertMute { .. })
    }

    /// Needs the `admin` role.
    pub fn needs_admin(&self) -> bool {
        matches!(
            self,
            Self::DeviceRemove
                | Self::DeviceCreate { .. }
                | Self::PlaylistDelete
                | Self::ContentDelete
                | Self::ScheduleDelete
        )
    }

    /// The `args` object as sent on the wire.
    pub fn args_json(&self) -> Value {
        match self {
            Self::DeviceRename { name } | Self::PlaylistRename { name } => json!({ "name": name }),
            Self::DeviceSetTags { tags } => json!({ "tags": tags }),
            Self::DeviceAssignPlaylist { playlist_id } => json!({ "playlist_id": playlist_id }),
            Self::DeviceCreate { id, name, tags, playlist_id } => {
                let mut m = json!({ "name": name, "tags": tags });
                if let Some(id) = id {
                    m["id"] = json!(id);
                }
                if let Some(p) = playlist_id {
                    m["playlist_id"] = json!(p);
                }
                m
            }
            Self::PlaylistCreate { id, name, items } => {
                let mut m = json!({ "name": name, "items": items });
                if let Some(id) = id {
                    m["id"] = json!(id);
                }
                m
            }
            Self::PlaylistAddItem { content_id, duration_s, index } => {
                let mut m = json!({ "content_id": content_id, "duration_s": seconds_json(*duration_s) });
                if let Some(i) = index {
                    m["index"] = json!(i);
                }
                m
            }
            Self::PlaylistRemoveItem { index } => json!({ "index": index }),
            Self::PlaylistMoveItem { from, to } => json!({ "from": from, "to": to }),
            Self::ContentCreate { id, name, kind, uri, duration_s, size_bytes } => {
                let mut m = json!({ "name": name, "kind": kind, "uri": uri,
                    "duration_s": seconds_json(*duration_s), "size_bytes": size_bytes });
                if let Some(id) = id {
                    m["id"] = json!(id);
                }
                m
            }
            Self::ContentUpdate { name, uri, duration_s } => {
                let mut m = Map::new();
                if let Some(v) = name {
                    m.insert("name".into(), json!(v));
                }
                if let Some(v) = uri {
                    m.insert("uri".into(), json!(v));
                }
                if let Some(v) = duration_s {
                    m.insert("duration_s".into(), seconds_json(*v));
                }
                Value::Object(m)
            }
            Self::ScheduleCreate(f) => f.to_json(),
            Self::ScheduleUpdate(p) => p.to_json(),
            Self::ScheduleSetEnabled { enabled } => json!({ "enabled": enabled }),
            Self::AlertMute { until_ms } => json!({ "until_ms": until_ms }),
            Self::DeviceRestart
            | Self::DeviceRemove
            | Self::PlaylistDelete
            | Self::ContentDelete
            | Self::ScheduleDelete
            | Self::AlertAck
            | Self::AlertResolve => json!({}),
        }
    }
}

/// A `mutate` request.
#[derive(Debug, Clone, PartialEq)]
pub struct Mutation {
    /// Unique per client (ULID/UUID).
    pub mutation_id: String,
    /// The sending client.
    pub client_id: String,
    /// Target entity id (absent on creates).
    pub target: Option<String>,
    /// The entity's rev the client saw.
    pub base_rev: Option<u64>,
    /// Kind and validated args.
    pub op: MutationOp,
}

impl Mutation {
    /// Decodes and validates a `mutate` payload; errors name the field.
    pub fn decode(v: &Value) -> Result<Self, ArgError> {
        let obj = v.as_object().ok_or_else(|| ArgError::new("mutation", "must be an object"))?;
        let text = |f: &str| -> Result<String, ArgError> {
            match obj.get(f) {
                Some(Value::String(s)) if !s.is_empty() && s.len() <= 128 => Ok(s.clone()),
                Some(Value::String(_)) => Err(ArgError::new(f, "must be 1 to 128 bytes")),
                _ => Err(ArgError::new(f, "required string")),
            }
        };
        let mutation_id = text("mutation_id")?;
        let client_id = text("client_id")?;
        let kind = match obj.get("kind") {
            Some(Value::String(k)) => k.as_str(),
            _ => return Err(ArgError::new("kind", "required string")),
        };
        let op = MutationOp::parse(kind, obj.get("args").unwrap_or(&Value::Null))?;
        let target = match obj.get("target") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => {
                crate::bounds::id("target", s)?;
                Some(s.clone())
            }
            Some(_) => return Err(ArgError::new("target", "must be a string")),
        };
        if target.is_none() && !op.is_create() {
            return Err(ArgError::new("target", "required for this kind"));
        }
        let base_rev = match obj.get("base_rev") {
            // *any rev* kinds and creates ignore it (PROTOCOL.md §8).
            _ if !op.checks_rev() => None,
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_u64()
                    .filter(|n| *n <= crate::bounds::MAX_SAFE_INT)
                    .ok_or_else(|| ArgError::new("base_rev", "must be an integer in 0..=2^53-1"))?,
            ),
        };
        if op.checks_rev() && base_rev.is_none() {
            return Err(ArgError::new("base_rev", "required for this kind"));
        }
        Ok(Mutation { mutation_id, client_id, target, base_rev, op })
    }
}

impl Serialize for Mutation {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("mutation_id", &self.mutation_id)?;
        m.serialize_entry("client_id", &self.client_id)?;
        m.serialize_entry("kind", self.op.kind_name())?;
        if let Some(t) = &self.target {
            m.serialize_entry("target", t)?;
        }
        if let Some(r) = self.base_rev {
            m.serialize_entry("base_rev", &r)?;
        }
        m.serialize_entry("args", &self.op.args_json())?;
        m.end()
    }
}

impl<'de> Deserialize<'de> for Mutation {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Mutation::decode(&v).map_err(D::Error::custom)
    }
}

/// Why a mutation was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RejectCode {
    /// `base_rev` differs from the entity's rev (or a create's id exists).
    Conflict,
    /// No such entity in this org.
    NotFound,
    /// Role or org does not allow it.
    Forbidden,
    /// Args fail validation; the message names the field.
    Invalid,
    /// Over the rate limit; not decided, may be retried.
    RateLimited,
    /// The server cannot make changes durable now (store failing); nothing
    /// was applied, not decided, retry later with the same id.
    Unavailable,
}

impl RejectCode {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Conflict => "conflict",
            Self::NotFound => "not_found",
            Self::Forbidden => "forbidden",
            Self::Invalid => "invalid",
            Self::RateLimited => "rate_limited",
            Self::Unavailable => "unavailable",
        }
    }
}

/// Ack of `mutate`: exactly one of three shapes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum MutationAck {
    /// In the log at `seq`; `rev` is the entity's new rev.
    Applied {
        /// Log position of the change entry.
        seq: u64,
        /// New rev.
        rev: u64,
    },
    /// Refused.
    Rejected {
        /// Why.
        code: RejectCode,
        /// Human text naming the field for `invalid`.
        message: String,
        /// The entity now, on `conflict`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        current: Option<Value>,
    },
    /// Already decided; the original outcome is not repeated.
    Duplicate {
        /// Original seq, for an applied original.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
        /// Original rev, for an applied original.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rev: Option<u64>,
    },
}

impl MutationAck {
    /// An `invalid` rejection from an argument error (its message cut to
    /// 256 characters: it may quote the input).
    pub fn invalid(e: &ArgError) -> Self {
        Self::Rejected { code: RejectCode::Invalid, message: crate::bounds::clip(e.to_string()), current: None }
    }

    /// Whether this outcome is final (remembered as decided): everything
    /// but `rate_limited` and `unavailable` (PROTOCOL.md §6).
    pub fn is_decided(&self) -> bool {
        !matches!(self, Self::Rejected { code: RejectCode::RateLimited | RejectCode::Unavailable, .. })
    }

    /// A rejection with a code and message (cut to 256 characters).
    pub fn rejected(code: RejectCode, message: impl Into<String>) -> Self {
        Self::Rejected { code, message: crate::bounds::clip(message.into()), current: None }
    }
}

#[cfg(test)]
mod tests;
