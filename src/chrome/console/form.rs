//! The console's forms as data: what the operator types for each mutation
//! kind, and how it becomes an [`OperatorAction`] (the protocol crate
//! validates the args it builds, naming the field).

use bevy::prelude::*;
use serde_json::{Map, Value, json};
use vizora_protocol::{ArgError, ContentKind, EntityKind, MutationOp, OrgState, Schedule, ScheduleTarget};

use crate::sync::fleet::OperatorAction;

/// Who a schedule form targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TargetKind {
    /// Every device with a tag.
    #[default]
    Tag,
    /// One device.
    Device,
}

/// A schedule as the operator types it (create and update).
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleDraft {
    /// Name.
    pub name: String,
    /// Playlist to play.
    pub playlist: Option<String>,
    /// Tag or device.
    pub target_kind: TargetKind,
    /// The tag or the device id.
    pub target: String,
    /// Start, UTC `YYYY-MM-DD HH:MM` (empty: now on create, unchanged on update).
    pub start: String,
    /// End, UTC `YYYY-MM-DD HH:MM` (empty: none).
    pub end: String,
    /// Weekdays, 0 = Sunday (all seven: every day).
    pub days: [bool; 7],
    /// Daily window start, `HH:MM` (empty: all day).
    pub daily_from: String,
    /// Daily window end, `HH:MM`.
    pub daily_to: String,
    /// Priority, higher wins (empty: 0).
    pub priority: String,
    /// Enabled.
    pub enabled: bool,
}

impl Default for ScheduleDraft {
    fn default() -> Self {
        Self {
            name: String::new(),
            playlist: None,
            target_kind: TargetKind::Tag,
            target: String::new(),
            start: String::new(),
            end: String::new(),
            days: [true; 7],
            daily_from: String::new(),
            daily_to: String::new(),
            priority: "0".into(),
            enabled: true,
        }
    }
}

impl ScheduleDraft {
    /// A draft holding a schedule's current values.
    pub fn from_schedule(s: &Schedule) -> Self {
        let (target_kind, target) = match &s.target {
            ScheduleTarget::Tag(t) => (TargetKind::Tag, t.clone()),
            ScheduleTarget::Device(d) => (TargetKind::Device, d.clone()),
        };
        let mut days = [s.days.is_none(); 7];
        for d in s.days.iter().flatten() {
            if let Some(on) = days.get_mut(usize::from(*d)) {
                *on = true;
            }
        }
        Self {
            name: s.name.clone(),
            playlist: Some(s.playlist_id.clone()),
            target_kind,
            target,
            start: fmt_utc(s.start_ms),
            end: s.end_ms.map(fmt_utc).unwrap_or_default(),
            days,
            daily_from: s.daily_from.clone().unwrap_or_default(),
            daily_to: s.daily_to.clone().unwrap_or_default(),
            priority: s.priority.to_string(),
            enabled: s.enabled,
        }
    }

    /// Every schedule field as `schedule.create` args. A time that reads as
    /// `current`'s (same minute) keeps its exact value.
    fn fields(&self, start_default: u64, current: Option<&Schedule>) -> Result<Value, ArgError> {
        let time = |field: &str, text: &str, was: Option<u64>| -> Result<Option<u64>, ArgError> {
            let t = text.trim();
            if t.is_empty() {
                return Ok(None);
            }
            if let Some(w) = was.filter(|w| fmt_utc(*w) == t) {
                return Ok(Some(w));
            }
            parse_utc(t).map(Some).ok_or_else(|| ArgError::new(field, "must be a UTC time YYYY-MM-DD HH:MM"))
        };
        let start = time("start_ms", &self.start, current.map(|s| s.start_ms))?.unwrap_or(start_default);
        let end = time("end_ms", &self.end, current.and_then(|s| s.end_ms))?;
        // The protocol takes any end; a schedule that ends before it starts
        // would never run, which an operator never means.
        if end.is_some_and(|e| e < start) {
            return Err(ArgError::new("end_ms", "must not be before the start"));
        }
        let target = match self.target_kind {
            TargetKind::Tag => json!({ "tag": self.target.trim() }),
            TargetKind::Device => json!({ "device": self.target.trim() }),
        };
        let days: Option<Vec<u8>> =
            (!self.days.iter().all(|d| *d)).then(|| (0u8..7).filter(|i| self.days[usize::from(*i)]).collect());
        let opt = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
        let priority: i64 = match self.priority.trim() {
            "" => 0,
            p => p.parse().map_err(|_| ArgError::new("priority", "must be a whole number"))?,
        };
        Ok(json!({
            "name": self.name.trim(), "playlist_id": self.playlist, "target": target,
            "start_ms": start, "end_ms": end, "days": days,
            "daily_from": opt(&self.daily_from), "daily_to": opt(&self.daily_to),
            "priority": priority, "enabled": self.enabled
        }))
    }
}

/// One form per mutation kind, holding what the operator typed.
#[derive(Debug, Clone, PartialEq)]
pub enum ConsoleForm {
    /// `device.rename`.
    DeviceRename {
        /// Device id.
        device: String,
        /// New name.
        name: String,
    },
    /// `device.set_tags`.
    DeviceSetTags {
        /// Device id.
        device: String,
        /// Tags, comma separated.
        tags: String,
    },
    /// `device.assign_playlist`.
    DeviceAssignPlaylist {
        /// Device id.
        device: String,
        /// Playlist, or none to clear.
        playlist: Option<String>,
    },
    /// `device.restart`.
    DeviceRestart {
        /// Device id.
        device: String,
    },
    /// `device.remove` (admin).
    DeviceRemove {
        /// Device id.
        device: String,
    },
    /// `device.create` (admin).
    DeviceCreate {
        /// Explicit id (empty: server-made).
        id: String,
        /// Name.
        name: String,
        /// Tags, comma separated.
        tags: String,
        /// Assigned playlist.
        playlist: Option<String>,
    },
    /// `playlist.create`.
    PlaylistCreate {
        /// Name.
        name: String,
    },
    /// `playlist.rename`.
    PlaylistRename {
        /// Playlist id.
        playlist: String,
        /// New name.
        name: String,
    },
    /// `playlist.add_item`.
    PlaylistAddItem {
        /// Playlist id.
        playlist: String,
        /// Content id.
        content: String,
        /// Seconds on screen (empty: the content's own).
        duration_s: String,
        /// Position (empty: at the end).
        index: String,
    },
    /// `playlist.remove_item`.
    PlaylistRemoveItem {
        /// Playlist id.
        playlist: String,
        /// Position.
        index: usize,
    },
    /// `playlist.move_item`.
    PlaylistMoveItem {
        /// Playlist id.
        playlist: String,
        /// Old position.
        from: usize,
        /// New position.
        to: usize,
    },
    /// `playlist.delete` (admin).
    PlaylistDelete {
        /// Playlist id.
        playlist: String,
    },
    /// `content.create`.
    ContentCreate {
        /// Name.
        name: String,
        /// Media type.
        kind: ContentKind,
        /// Location.
        uri: String,
        /// Seconds on screen.
        duration_s: String,
        /// Size in bytes (empty: 0).
        size_bytes: String,
    },
    /// `content.update` (empty fields stay unchanged).
    ContentUpdate {
        /// Content id.
        content: String,
        /// New name.
        name: String,
        /// New location.
        uri: String,
        /// New seconds on screen.
        duration_s: String,
    },
    /// `content.delete` (admin).
    ContentDelete {
        /// Content id.
        content: String,
    },
    /// `schedule.create`.
    ScheduleCreate(ScheduleDraft),
    /// `schedule.update`: sends the fields that differ from the schedule now.
    ScheduleUpdate {
        /// Schedule id.
        schedule: String,
        /// The schedule as it should be.
        draft: ScheduleDraft,
    },
    /// `schedule.set_enabled`.
    ScheduleSetEnabled {
        /// Schedule id.
        schedule: String,
        /// On or off.
        enabled: bool,
    },
    /// `schedule.delete` (admin).
    ScheduleDelete {
        /// Schedule id.
        schedule: String,
    },
    /// `alert.ack`.
    AlertAck {
        /// Alert id.
        alert: String,
    },
    /// `alert.resolve`.
    AlertResolve {
        /// Alert id.
        alert: String,
    },
    /// `alert.mute`.
    AlertMute {
        /// Alert id.
        alert: String,
        /// Minutes from now.
        minutes: String,
    },
}

impl ConsoleForm {
    /// The form for `kind` (a name of [`MUTATION_KINDS`]) on `target`,
    /// filled with the entity's current values; none for an unknown kind.
    pub fn new(kind: &str, target: Option<&str>, state: &OrgState) -> Option<Self> {
        let id = target.unwrap_or_default().to_owned();
        let dev = state.devices.get(&id);
        let sched = state.schedules.get(&id);
        let blank = String::new;
        Some(match kind {
            "device.rename" => Self::DeviceRename { name: dev.map(|d| d.name.clone()).unwrap_or_default(), device: id },
            "device.set_tags" => {
                let tags = dev.map(|d| d.tags.join(", ")).unwrap_or_default();
                Self::DeviceSetTags { device: id, tags }
            }
            "device.assign_playlist" => {
                Self::DeviceAssignPlaylist { playlist: dev.and_then(|d| d.playlist_id.clone()), device: id }
            }
            "device.restart" => Self::DeviceRestart { device: id },
            "device.remove" => Self::DeviceRemove { device: id },
            "device.create" => Self::DeviceCreate { id: blank(), name: blank(), tags: blank(), playlist: None },
            "playlist.create" => Self::PlaylistCreate { name: blank() },
            "playlist.rename" => {
                let name = state.playlists.get(&id).map(|p| p.name.clone()).unwrap_or_default();
                Self::PlaylistRename { playlist: id, name }
            }
            "playlist.add_item" => {
                Self::PlaylistAddItem { playlist: id, content: blank(), duration_s: blank(), index: blank() }
            }
            "playlist.remove_item" => Self::PlaylistRemoveItem { playlist: id, index: 0 },
            "playlist.move_item" => Self::PlaylistMoveItem { playlist: id, from: 0, to: 0 },
            "playlist.delete" => Self::PlaylistDelete { playlist: id },
            "content.create" => Self::ContentCreate {
                name: blank(),
                kind: ContentKind::Image,
                uri: blank(),
                duration_s: "10".into(),
                size_bytes: blank(),
            },
            "content.update" => Self::ContentUpdate { content: id, name: blank(), uri: blank(), duration_s: blank() },
            "content.delete" => Self::ContentDelete { content: id },
            "schedule.create" => Self::ScheduleCreate(ScheduleDraft::default()),
            "schedule.update" => {
                let draft = sched.map(ScheduleDraft::from_schedule).unwrap_or_default();
                Self::ScheduleUpdate { schedule: id, draft }
            }
            "schedule.set_enabled" => {
                Self::ScheduleSetEnabled { enabled: sched.is_none_or(|s| !s.enabled), schedule: id }
            }
            "schedule.delete" => Self::ScheduleDelete { schedule: id },
            "alert.ack" => Self::AlertAck { alert: id },
            "alert.resolve" => Self::AlertResolve { alert: id },
            "alert.mute" => Self::AlertMute { alert: id, minutes: "60".into() },
            _ => return None,
        })
    }

    /// Its wire `kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::DeviceRename { .. } => "device.rename",
            Self::DeviceSetTags { .. } => "device.set_tags",
            Self::DeviceAssignPlaylist { .. } => "device.assign_playlist",
            Self::DeviceRestart { .. } => "device.restart",
            Self::DeviceRemove { .. } => "device.remove",
            Self::DeviceCreate { .. } => "device.create",
            Self::PlaylistCreate { .. } => "playlist.create",
            Self::PlaylistRename { .. } => "playlist.rename",
            Self::PlaylistAddItem { .. } => "playlist.add_item",
            Self::PlaylistRemoveItem { .. } => "playlist.remove_item",
            Self::PlaylistMoveItem { .. } => "playlist.move_item",
            Self::PlaylistDelete { .. } => "playlist.delete",
            Self::ContentCreate { .. } => "content.create",
            Self::ContentUpdate { .. } => "content.update",
            Self::ContentDelete { .. } => "content.delete",
            Self::ScheduleCreate(_) => "schedule.create",
            Self::ScheduleUpdate { .. } => "schedule.update",
            Self::ScheduleSetEnabled { .. } => "schedule.set_enabled",
            Self::ScheduleDelete { .. } => "schedule.delete",
            Self::AlertAck { .. } => "alert.ack",
            Self::AlertResolve { .. } => "alert.resolve",
            Self::AlertMute { .. } => "alert.mute",
        }
    }

    /// The entity it changes (none for creates).
    pub fn target(&self) -> Option<(EntityKind, &str)> {
        Some(match self {
            Self::DeviceRename { device, .. }
            | Self::DeviceSetTags { device, .. }
            | Self::DeviceAssignPlaylist { device, .. }
            | Self::DeviceRestart { device }
            | Self::DeviceRemove { device } => (EntityKind::Device, device.as_str()),
            Self::PlaylistRename { playlist, .. }
            | Self::PlaylistAddItem { playlist, .. }
            | Self::PlaylistRemoveItem { playlist, .. }
            | Self::PlaylistMoveItem { playlist, .. }
            | Self::PlaylistDelete { playlist } => (EntityKind::Playlist, playlist.as_str()),
            Self::ContentUpdate { content, .. } | Self::ContentDelete { content } => {
                (EntityKind::Content, content.as_str())
            }
            Self::ScheduleUpdate { schedule, .. }
            | Self::ScheduleSetEnabled { schedule, .. }
            | Self::ScheduleDelete { schedule } => (EntityKind::Schedule, schedule.as_str()),
            Self::AlertAck { alert } | Self::AlertResolve { alert } | Self::AlertMute { alert, .. } => {
                (EntityKind::Alert, alert.as_str())
            }
            Self::DeviceCreate { .. }
            | Self::PlaylistCreate { .. }
            | Self::ContentCreate { .. }
            | Self::ScheduleCreate(_) => return None,
        })
    }

    /// The action to send, validated by the protocol ([`MutationOp::parse`]):
    /// the error names the field (`target` for an entity that is gone). The
    /// base rev is the entity's rev in `state` where the kind checks it.
    pub fn to_action(&self, state: &OrgState, now_ms: u64) -> Result<OperatorAction, ArgError> {
        let target = match self.target() {
            None => None,
            Some((kind, "")) => return Err(ArgError::new("target", format!("choose a {}", kind.as_str()))),
            Some((kind, id)) if !state.contains(kind, id) => {
                return Err(ArgError::new("target", format!("no {} `{id}` (removed?)", kind.as_str())));
            }
            Some((_, id)) => Some(id.to_owned()),
        };
        let op = MutationOp::parse(self.kind(), &self.args(state, now_ms)?)?;
        let base_rev = target.as_deref().filter(|_| op.checks_rev()).and_then(|id| state.rev(op.entity_kind(), id));
        Ok(OperatorAction { target, base_rev, op })
    }

    /// The `args` object, before the protocol checks it.
    fn args(&self, state: &OrgState, now_ms: u64) -> Result<Value, ArgError> {
        Ok(match self {
            // Names are trimmed here: a name of spaces is one to the
            // protocol, never what an operator meant.
            Self::DeviceRename { name, .. } | Self::PlaylistRename { name, .. } | Self::PlaylistCreate { name } => {
                json!({ "name": name.trim() })
            }
            Self::DeviceSetTags { tags, .. } => json!({ "tags": split_tags(tags) }),
            Self::DeviceAssignPlaylist { playlist, .. } => json!({ "playlist_id": playlist }),
            Self::DeviceCreate { id, name, tags, playlist } => {
                let mut m = json!({ "name": name.trim(), "tags": split_tags(tags), "playlist_id": playlist });
                if !id.trim().is_empty() {
                    m["id"] = json!(id.trim());
                }
                m
            }
            Self::PlaylistAddItem { content, duration_s, index, .. } => {
                let duration = match duration_s.trim() {
                    // The content's own duration; a missing content is the protocol's to name.
                    "" => state.contents.get(content).map_or(Value::Null, |c| json!(c.duration_s)),
                    t => json!(number("duration_s", t)?),
                };
                let index = match index.trim() {
                    "" => Value::Null,
                    t => json!(whole("index", t)?),
                };
                json!({ "content_id": content, "duration_s": duration, "index": index })
            }
            Self::PlaylistRemoveItem { index, .. } => json!({ "index": index }),
            Self::PlaylistMoveItem { from, to, .. } => json!({ "from": from, "to": to }),
            Self::ContentCreate { name, kind, uri, duration_s, size_bytes } => {
                let size = match size_bytes.trim() {
                    "" => 0,
                    t => whole("size_bytes", t)?,
                };
                if uri.trim().is_empty() {
                    return Err(ArgError::new("uri", "must not be empty"));
                }
                json!({ "name": name.trim(), "kind": kind, "uri": uri.trim(),
                    "duration_s": number("duration_s", duration_s)?, "size_bytes": size })
            }
            Self::ContentUpdate { name, uri, duration_s, .. } => {
                let mut m = Map::new();
                if !name.trim().is_empty() {
                    m.insert("name".into(), json!(name.trim()));
                }
                if !uri.trim().is_empty() {
                    m.insert("uri".into(), json!(uri.trim()));
                }
                if !duration_s.trim().is_empty() {
                    m.insert("duration_s".into(), json!(number("duration_s", duration_s)?));
                }
                Value::Object(m)
            }
            Self::ScheduleCreate(draft) => draft.fields(now_ms, None)?,
            Self::ScheduleUpdate { schedule, draft } => {
                let Some(cur) = state.schedules.get(schedule) else { return Ok(Value::Null) };
                let was = serde_json::to_value(cur).unwrap_or_default();
                let mut patch = Map::new();
                if let Value::Object(all) = draft.fields(cur.start_ms, Some(cur))? {
                    for (k, v) in all {
                        let before = was.get(&k).unwrap_or(&Value::Null);
                        if *before != v {
                            patch.insert(k, v);
                        }
                    }
                }
                Value::Object(patch)
            }
            Self::ScheduleSetEnabled { enabled, .. } => json!({ "enabled": enabled }),
            Self::AlertMute { minutes, .. } => {
                let m = whole("until_ms", minutes)
                    .ok()
                    .filter(|m| *m > 0)
                    .ok_or_else(|| ArgError::new("until_ms", "mute for a whole number of minutes, at least 1"))?;
                json!({ "until_ms": now_ms.saturating_add(m.saturating_mul(60_000)) })
            }
            Self::DeviceRestart { .. }
            | Self::DeviceRemove { .. }
            | Self::PlaylistDelete { .. }
            | Self::ContentDelete { .. }
            | Self::ScheduleDelete { .. }
            | Self::AlertAck { .. }
            | Self::AlertResolve { .. } => json!({}),
        })
    }
}

fn split_tags(s: &str) -> Vec<&str> {
    s.split(',').map(str::trim).filter(|t| !t.is_empty()).collect()
}

fn number(field: &str, s: &str) -> Result<f64, ArgError> {
    s.trim().parse::<f64>().ok().filter(|n| n.is_finite()).ok_or_else(|| ArgError::new(field, "must be a number"))
}

fn whole(field: &str, s: &str) -> Result<u64, ArgError> {
    s.trim().parse::<u64>().map_err(|_| ArgError::new(field, "must be a whole number"))
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
}

/// The civil date of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// A UTC time as `YYYY-MM-DD HH:MM`.
pub fn fmt_utc(ms: u64) -> String {
    let mins = (ms / 60_000) as i64;
    let (y, m, d) = civil_from_days(mins.div_euclid(1440));
    let t = mins.rem_euclid(1440);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}", t / 60, t % 60)
}

/// Reads `YYYY-MM-DD HH:MM` (or `YYYY-MM-DD`, midnight) as UTC milliseconds.
pub fn parse_utc(s: &str) -> Option<u64> {
    let (date, time) = s.trim().split_once([' ', 'T']).unwrap_or((s.trim(), "00:00"));
    let mut p = date.split('-').map(|x| x.parse::<i64>().ok());
    let (y, m, d) = (p.next()??, p.next()??, p.next()??);
    let (h, mi) = time.trim().split_once(':')?;
    let (h, mi) = (h.parse::<i64>().ok()?, mi.parse::<i64>().ok()?);
    // Typed values: bounded before any arithmetic (no overflow on a year of nines).
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let days = days_from_civil(y, m, d);
    // A date that does not exist (2025-02-30) does not come back the same.
    if p.next().is_some() || civil_from_days(days) != (y, m, d) || !(0..24).contains(&h) || !(0..60).contains(&mi) {
        return None;
    }
    u64::try_from((days * 1440 + h * 60 + mi) * 60_000).ok()
}
