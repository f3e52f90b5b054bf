//! The operator console (F2, operators and admins): one form for every
//! mutation kind of the protocol, in five tabs (devices, playlists, content,
//! schedules, alerts).
//!
//! Forms are data ([`ConsoleForm`]), drawing is egui, validation is the
//! protocol's: a form builds its `args` and [`MutationOp::parse`] checks
//! them, so the console refuses what the gateway would refuse, naming the
//! same field. A sent form becomes an [`OperatorAction`]: the change shows in
//! the next frame and rolls back with a toast if the gateway refuses it.
//!
//! [`ConsoleCorePlugin`] holds the state and turns [`SubmitForm`]s into
//! actions without egui (tests use it); [`OperatorPlugin`] adds the window.

use bevy::prelude::*;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};
use serde_json::{Map, Value, json};
use vizora_protocol::mutation::MUTATION_KINDS;
use vizora_protocol::{
    ArgError, ContentKind, EntityKind, MutationOp, OrgState, Role, Schedule, ScheduleTarget, now_ms,
};

use crate::base::fleet_model::FleetModel;
use crate::base::format;
use crate::sync::fleet::{Fleet, FleetNotice, FleetSystems, Identity, OperatorAction};
use crate::wall::WallSize;
use crate::wall::focus::InputCapture;

/// Most rows an entity list shows (the filter box narrows it).
pub const MAX_ROWS: usize = 500;
/// Weekday labels, 0 = Sunday as the protocol counts.
const DAYS: [&str; 7] = ["Su", "Mo", "Tu", "We", "Th", "Fr", "Sa"];

/// A tab of the console: one entity kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ConsoleTab {
    /// Devices.
    #[default]
    Devices,
    /// Playlists.
    Playlists,
    /// Content.
    Content,
    /// Schedules.
    Schedules,
    /// Alerts.
    Alerts,
}

impl ConsoleTab {
    /// Every tab, in display order.
    pub const ALL: [ConsoleTab; 5] = [Self::Devices, Self::Playlists, Self::Content, Self::Schedules, Self::Alerts];

    /// The entity kind it edits.
    pub fn entity_kind(self) -> EntityKind {
        match self {
            Self::Devices => EntityKind::Device,
            Self::Playlists => EntityKind::Playlist,
            Self::Content => EntityKind::Content,
            Self::Schedules => EntityKind::Schedule,
            Self::Alerts => EntityKind::Alert,
        }
    }

    /// The mutation kinds it offers, in protocol order.
    pub fn kinds(self) -> impl Iterator<Item = &'static str> {
        let prefix = self.entity_kind().as_str();
        MUTATION_KINDS.into_iter().filter(move |k| k.split_once('.').is_some_and(|(p, _)| p == prefix))
    }
}

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
            "name": self.name, "playlist_id": self.playlist, "target": target,
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
            Self::DeviceRename { name, .. } | Self::PlaylistRename { name, .. } | Self::PlaylistCreate { name } => {
                json!({ "name": name })
            }
            Self::DeviceSetTags { tags, .. } => json!({ "tags": split_tags(tags) }),
            Self::DeviceAssignPlaylist { playlist, .. } => json!({ "playlist_id": playlist }),
            Self::DeviceCreate { id, name, tags, playlist } => {
                let mut m = json!({ "name": name, "tags": split_tags(tags), "playlist_id": playlist });
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
                json!({ "name": name, "kind": kind, "uri": uri.trim(),
                    "duration_s": number("duration_s", duration_s)?, "size_bytes": size })
            }
            Self::ContentUpdate { name, uri, duration_s, .. } => {
                let mut m = Map::new();
                if !name.trim().is_empty() {
                    m.insert("name".into(), json!(name));
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

/// One tab's state: its list filter, the chosen entity and the form.
#[derive(Debug, Clone)]
pub struct TabState {
    /// Narrows the entity list.
    pub filter: String,
    /// The chosen entity.
    pub selected: Option<String>,
    /// The form being edited.
    pub form: ConsoleForm,
}

impl TabState {
    fn new(tab: ConsoleTab) -> Self {
        let kind = tab.kinds().next().unwrap_or("device.rename");
        let form = ConsoleForm::new(kind, None, &OrgState::default())
            .unwrap_or_else(|| ConsoleForm::DeviceRestart { device: String::new() });
        Self { filter: String::new(), selected: None, form }
    }
}

/// The console: shown or not, its tabs, and how the last submit went.
#[derive(Resource, Debug)]
pub struct Console {
    /// Shown (F2).
    pub open: bool,
    /// The tab shown.
    pub tab: ConsoleTab,
    /// Each tab's state, in [`ConsoleTab::ALL`] order.
    pub tabs: [TabState; 5],
    /// Why the last form was not sent (`field: message`).
    pub last_error: Option<String>,
    /// The last form sent (`device.rename sent`).
    pub last_sent: Option<String>,
    /// Frames the window has been placed by the console (then the operator's).
    placed: u8,
}

impl Default for Console {
    fn default() -> Self {
        Self {
            open: false,
            tab: ConsoleTab::Devices,
            tabs: ConsoleTab::ALL.map(TabState::new),
            last_error: None,
            last_sent: None,
            placed: 0,
        }
    }
}

/// Send a form (from the console window, or a test).
#[derive(Message, Debug, Clone, PartialEq)]
pub struct SubmitForm(pub ConsoleForm);

/// Systems of the console.
#[derive(SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
pub enum ConsoleSystems {
    /// Turns [`SubmitForm`]s into [`OperatorAction`]s (PreUpdate, after the
    /// fleet applied what arrived; the actions apply in Update).
    Submit,
}

/// The console without drawing: state, [`SubmitForm`], F2. Needs the
/// fleet plugin (in `WallPlugins`).
#[derive(Default)]
pub struct ConsoleCorePlugin;

impl Plugin for ConsoleCorePlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Console>()
            .init_resource::<InputCapture>()
            .add_message::<SubmitForm>()
            .configure_sets(PreUpdate, ConsoleSystems::Submit.after(FleetSystems::Apply))
            .add_systems(PreUpdate, submit_forms.in_set(ConsoleSystems::Submit))
            .add_systems(Update, toggle_console)
            // After Update, where refusals of the view are reported.
            .add_systems(PostUpdate, note_refusals);
    }
}

/// The operator console window (needs the egui plugin, added by the overlay).
#[derive(Default)]
pub struct OperatorPlugin;

impl Plugin for OperatorPlugin {
    fn build(&self, app: &mut App) {
        app.add_plugins(ConsoleCorePlugin).add_systems(EguiPrimaryContextPass, draw_console);
    }
}

fn toggle_console(keys: Option<Res<ButtonInput<KeyCode>>>, who: Res<Identity>, mut console: ResMut<Console>) {
    if !who.can_operate() {
        if console.open {
            console.open = false;
        }
    } else if keys.is_some_and(|k| k.just_pressed(KeyCode::F2)) {
        console.open = !console.open;
    }
}

/// Whether `who` may send `form` now, as the action to send.
fn decide(form: &ConsoleForm, who: &Identity, state: &OrgState, now_ms: u64) -> Result<OperatorAction, String> {
    if !who.can_operate() {
        return Err("viewers cannot change anything".into());
    }
    let action = form.to_action(state, now_ms).map_err(|e| e.to_string())?;
    if action.op.needs_admin() && who.role != Role::Admin {
        return Err(format!("{} needs the admin role", form.kind()));
    }
    Ok(action)
}

fn submit_forms(
    mut forms: MessageReader<SubmitForm>,
    who: Res<Identity>,
    fleet: Res<Fleet>,
    mut console: ResMut<Console>,
    mut actions: MessageWriter<OperatorAction>,
) {
    for SubmitForm(form) in forms.read() {
        match decide(form, &who, fleet.0.view(), now_ms()) {
            Ok(action) => {
                console.last_error = None;
                console.last_sent = Some(format!("{} sent", form.kind()));
                actions.write(action);
            }
            Err(why) => {
                console.last_error = Some(why);
                console.last_sent = None;
            }
        }
    }
}

/// A change the view refused (an index out of range, a resolved alert) was not sent: say why.
fn note_refusals(mut notices: MessageReader<FleetNotice>, mut console: ResMut<Console>) {
    for n in notices.read() {
        if let FleetNotice::Refused { kind, reason } = n {
            console.last_error = Some(format!("{kind} refused: {reason}"));
            console.last_sent = None;
        }
    }
}

/// Admin-only kinds, for greying out their buttons. Every admin kind parses
/// with a name alone; the submit check (`needs_admin`) is the real one.
fn admin_only(kind: &str) -> bool {
    MutationOp::parse(kind, &json!({ "name": "x" })).is_ok_and(|op| op.needs_admin())
}

fn entity_rows(tab: ConsoleTab, state: &OrgState, filter: &str) -> Vec<(String, String)> {
    let rows: Box<dyn Iterator<Item = (&String, String)> + '_> = match tab {
        ConsoleTab::Devices => Box::new(state.devices.values().map(|d| (&d.id, format!("{} ({})", d.name, d.id)))),
        ConsoleTab::Playlists => Box::new(state.playlists.values().map(|p| (&p.id, format!("{} ({})", p.name, p.id)))),
        ConsoleTab::Content => Box::new(state.contents.values().map(|c| (&c.id, format!("{} ({})", c.name, c.id)))),
        ConsoleTab::Schedules => Box::new(state.schedules.values().map(|s| (&s.id, format!("{} ({})", s.name, s.id)))),
        ConsoleTab::Alerts => {
            Box::new(state.alerts.values().map(|a| (&a.id, format!("{:?} {} [{:?}]", a.severity, a.message, a.state))))
        }
    };
    let f = filter.trim().to_lowercase();
    rows.filter(|(_, l)| f.is_empty() || l.to_lowercase().contains(&f))
        .take(MAX_ROWS)
        .map(|(id, l)| (id.clone(), l))
        .collect()
}

fn describe(tab: ConsoleTab, id: &str, state: &OrgState) -> Option<String> {
    Some(match tab {
        ConsoleTab::Devices => {
            let d = state.devices.get(id)?;
            let pl = d.playlist_id.as_deref().unwrap_or("no playlist");
            format!("{} · tags {} · {pl} · rev {}", d.status.as_str(), d.tags.join(", "), d.rev)
        }
        ConsoleTab::Playlists => {
            let p = state.playlists.get(id)?;
            format!("{} items · rev {}", p.items.len(), p.rev)
        }
        ConsoleTab::Content => {
            let c = state.contents.get(id)?;
            let size = format::bytes(c.size_bytes);
            format!("{:?} · {} · {} s · {size} · rev {}", c.kind, c.uri, c.duration_s, c.rev)
        }
        ConsoleTab::Schedules => {
            let s = state.schedules.get(id)?;
            let on = if s.enabled { "on" } else { "off" };
            format!("{} on {:?} · priority {} · {on} · rev {}", s.playlist_id, s.target, s.priority, s.rev)
        }
        ConsoleTab::Alerts => {
            let a = state.alerts.get(id)?;
            format!("{:?} · {:?} · {}", a.severity, a.state, a.message)
        }
    })
}

fn text(ui: &mut egui::Ui, label: &str, value: &mut String) {
    ui.horizontal(|ui| {
        ui.label(label);
        ui.text_edit_singleline(value);
    });
}

fn combo(ui: &mut egui::Ui, label: &str, selected: &mut Option<String>, rows: &[(String, String)], none: Option<&str>) {
    let shown = match selected.as_deref() {
        None => none.unwrap_or("choose...").to_owned(),
        Some(id) => rows.iter().find(|(r, _)| r == id).map_or_else(|| id.to_owned(), |(_, n)| n.clone()),
    };
    ui.horizontal(|ui| {
        ui.label(label);
        egui::ComboBox::from_id_salt(label).selected_text(shown).width(280.0).show_ui(ui, |ui| {
            if let Some(n) = none {
                ui.selectable_value(selected, None, n);
            }
            for (id, name) in rows.iter().take(MAX_ROWS) {
                ui.selectable_value(selected, Some(id.clone()), name.as_str());
            }
        });
    });
}

fn position(ui: &mut egui::Ui, label: &str, index: &mut usize, items: &[String]) {
    let shown = items.get(*index).cloned().unwrap_or_else(|| index.to_string());
    ui.horizontal(|ui| {
        ui.label(label);
        egui::ComboBox::from_id_salt(label).selected_text(shown).width(280.0).show_ui(ui, |ui| {
            for (i, item) in items.iter().enumerate().take(MAX_ROWS) {
                ui.selectable_value(index, i, item.as_str());
            }
        });
    });
}

fn short(ui: &mut egui::Ui, value: &mut String, hint: &'static str) {
    ui.add(egui::TextEdit::singleline(value).desired_width(70.0).hint_text(hint));
}

fn edit_draft(ui: &mut egui::Ui, d: &mut ScheduleDraft, playlists: &[(String, String)]) {
    text(ui, "name", &mut d.name);
    combo(ui, "playlist", &mut d.playlist, playlists, None);
    ui.horizontal(|ui| {
        ui.label("target");
        ui.radio_value(&mut d.target_kind, TargetKind::Tag, "tag");
        ui.radio_value(&mut d.target_kind, TargetKind::Device, "device");
        ui.text_edit_singleline(&mut d.target);
    });
    text(ui, "start (UTC YYYY-MM-DD HH:MM)", &mut d.start);
    text(ui, "end (empty: none)", &mut d.end);
    ui.horizontal(|ui| {
        ui.label("days");
        for (on, name) in d.days.iter_mut().zip(DAYS) {
            ui.checkbox(on, name);
        }
    });
    ui.horizontal(|ui| {
        ui.label("daily");
        short(ui, &mut d.daily_from, "HH:MM");
        ui.label("to");
        short(ui, &mut d.daily_to, "HH:MM");
        ui.label("priority");
        short(ui, &mut d.priority, "0");
        ui.checkbox(&mut d.enabled, "enabled");
    });
}

/// `(id, "name (id)")` rows for a picker.
fn name_rows<'a>(it: impl Iterator<Item = (&'a String, &'a String)>) -> Vec<(String, String)> {
    it.take(MAX_ROWS).map(|(id, n)| (id.clone(), format!("{n} ({id})"))).collect()
}

/// The inputs of a form.
fn edit_form(ui: &mut egui::Ui, form: &mut ConsoleForm, state: &OrgState) {
    let playlists = name_rows(state.playlists.values().map(|p| (&p.id, &p.name)));
    let items = |id: &str| -> Vec<String> {
        let Some(p) = state.playlists.get(id) else { return Vec::new() };
        p.items
            .iter()
            .enumerate()
            .map(|(i, it)| {
                let name = state.contents.get(&it.content_id).map_or(it.content_id.as_str(), |c| c.name.as_str());
                format!("{i}. {name} ({} s)", it.duration_s)
            })
            .collect()
    };
    match form {
        ConsoleForm::DeviceRename { name, .. }
        | ConsoleForm::PlaylistRename { name, .. }
        | ConsoleForm::PlaylistCreate { name } => text(ui, "name", name),
        ConsoleForm::DeviceSetTags { tags, .. } => text(ui, "tags (comma separated)", tags),
        ConsoleForm::DeviceAssignPlaylist { playlist, .. } => {
            combo(ui, "playlist", playlist, &playlists, Some("none (clear)"));
        }
        ConsoleForm::DeviceCreate { id, name, tags, playlist } => {
            text(ui, "id (empty: server-made)", id);
            text(ui, "name", name);
            text(ui, "tags (comma separated)", tags);
            combo(ui, "playlist", playlist, &playlists, Some("none"));
        }
        ConsoleForm::PlaylistAddItem { content, duration_s, index, .. } => {
            let contents = name_rows(state.contents.values().map(|c| (&c.id, &c.name)));
            let mut pick = (!content.is_empty()).then(|| content.clone());
            combo(ui, "content", &mut pick, &contents, None);
            *content = pick.unwrap_or_default();
            text(ui, "seconds (empty: the content's)", duration_s);
            text(ui, "position (empty: at the end)", index);
        }
        ConsoleForm::PlaylistRemoveItem { playlist, index } => position(ui, "item", index, &items(playlist.as_str())),
        ConsoleForm::PlaylistMoveItem { playlist, from, to } => {
            let list = items(playlist.as_str());
            position(ui, "move", from, &list);
            position(ui, "to position", to, &list);
        }
        ConsoleForm::ContentCreate { name, kind, uri, duration_s, size_bytes } => {
            text(ui, "name", name);
            ui.horizontal(|ui| {
                ui.label("kind");
                ui.radio_value(kind, ContentKind::Image, "image");
                ui.radio_value(kind, ContentKind::Video, "video");
                ui.radio_value(kind, ContentKind::Web, "web");
            });
            text(ui, "uri", uri);
            text(ui, "seconds", duration_s);
            text(ui, "size in bytes", size_bytes);
        }
        ConsoleForm::ContentUpdate { name, uri, duration_s, .. } => {
            ui.weak("empty fields stay as they are");
            text(ui, "name", name);
            text(ui, "uri", uri);
            text(ui, "seconds", duration_s);
        }
        ConsoleForm::ScheduleCreate(draft) | ConsoleForm::ScheduleUpdate { draft, .. } => {
            edit_draft(ui, draft, &playlists);
        }
        ConsoleForm::ScheduleSetEnabled { enabled, .. } => {
            ui.checkbox(enabled, "enabled");
        }
        ConsoleForm::AlertMute { minutes, .. } => {
            ui.horizontal(|ui| {
                for (label, m) in [("15 min", "15"), ("1 h", "60"), ("4 h", "240"), ("24 h", "1440")] {
                    if ui.selectable_label(minutes.trim() == m, label).clicked() {
                        *minutes = m.to_owned();
                    }
                }
            });
            text(ui, "minutes", minutes);
        }
        ConsoleForm::DeviceRestart { .. }
        | ConsoleForm::DeviceRemove { .. }
        | ConsoleForm::PlaylistDelete { .. }
        | ConsoleForm::ContentDelete { .. }
        | ConsoleForm::ScheduleDelete { .. }
        | ConsoleForm::AlertAck { .. }
        | ConsoleForm::AlertResolve { .. } => {
            ui.weak("no arguments");
        }
    }
}

/// One tab: the entity list, its state, the kinds, the form. Returns a form to send.
fn draw_tab(
    ui: &mut egui::Ui,
    tab: ConsoleTab,
    ts: &mut TabState,
    fleet: &FleetModel,
    admin: bool,
) -> Option<ConsoleForm> {
    let state = fleet.view();
    let noun = tab.entity_kind().as_str();
    ui.horizontal(|ui| {
        ui.label("filter");
        ui.add(egui::TextEdit::singleline(&mut ts.filter).desired_width(200.0));
    });
    let rows = entity_rows(tab, state, &ts.filter);
    combo(ui, noun, &mut ts.selected, &rows, None);
    let chosen = ts.selected.clone().unwrap_or_default();
    // A form on another entity than the chosen one starts again from the chosen one.
    if ts.form.target().is_some_and(|(_, id)| id != chosen)
        && let Some(f) = ConsoleForm::new(ts.form.kind(), Some(&chosen), state)
    {
        ts.form = f;
    }
    if let Some(line) = describe(tab, &chosen, state) {
        ui.weak(line);
    }
    let pending: Vec<&str> = fleet
        .engine()
        .pending()
        .iter()
        .map(|p| p.mutation())
        .filter(|m| m.target.as_deref() == Some(chosen.as_str()) && m.op.entity_kind() == tab.entity_kind())
        .map(|m| m.op.kind_name())
        .collect();
    if !pending.is_empty() {
        ui.colored_label(egui::Color32::from_rgb(240, 180, 60), format!("pending: {}", pending.join(", ")));
    }
    ui.separator();
    ui.horizontal_wrapped(|ui| {
        for kind in tab.kinds() {
            let name = kind.split_once('.').map_or(kind, |(_, k)| k);
            let chip = egui::Button::selectable(ts.form.kind() == kind, name);
            let allowed = admin || !admin_only(kind);
            let clicked = ui.add_enabled(allowed, chip).on_disabled_hover_text("admin only").clicked();
            if clicked && let Some(f) = ConsoleForm::new(kind, ts.selected.as_deref(), state) {
                ts.form = f;
            }
        }
    });
    edit_form(ui, &mut ts.form, state);
    ui.button(format!("Send {}", ts.form.kind())).clicked().then(|| ts.form.clone())
}

fn draw_console(
    mut contexts: EguiContexts,
    mut console: ResMut<Console>,
    who: Res<Identity>,
    fleet: Res<Fleet>,
    size: Res<WallSize>,
    mut capture: ResMut<InputCapture>,
    mut submit: MessageWriter<SubmitForm>,
) -> Result {
    let ctx = contexts.ctx_mut()?;
    // The wall's keys and clicks leave what egui takes alone (next frame).
    let took = InputCapture { keyboard: ctx.egui_wants_keyboard_input(), pointer: ctx.is_pointer_over_egui() };
    if *capture != took {
        *capture = took;
    }
    if !console.open || !who.can_operate() {
        return Ok(());
    }
    // Sized for the wall: a 4K screen draws the console twice as large as a 1080p one.
    let zoom = (size.h / 1080.0).clamp(1.0, 4.0);
    if (ctx.zoom_factor() - zoom).abs() > 0.01 {
        ctx.set_zoom_factor(zoom);
    }
    // Under the top bar, on the left: the detail card is on the right.
    let top = crate::base::layout::bar_height(size.h) / zoom + 12.0;
    let admin = who.role == Role::Admin;
    let c = &mut *console;
    let mut open = c.open;
    let mut window = egui::Window::new(format!("Operator console: {} ({})  F2", who.sub, who.role.as_str()))
        .open(&mut open)
        .default_pos(egui::pos2(12.0, top))
        .default_width(460.0);
    // Placed under the top bar for its first frames (egui may first see an
    // empty screen and clamp it); after that the operator may move it.
    if c.placed < 3 {
        c.placed += 1;
        window = window.current_pos(egui::pos2(12.0, top));
    }
    window.show(ctx, |ui| {
        ui.weak(format!("{} changes waiting for the gateway", fleet.0.engine().pending().len()));
        ui.horizontal(|ui| {
            for t in ConsoleTab::ALL {
                ui.selectable_value(&mut c.tab, t, format!("{t:?}"));
            }
        });
        ui.separator();
        let tab = c.tab;
        if let Some(form) = draw_tab(ui, tab, &mut c.tabs[tab as usize], &fleet.0, admin) {
            submit.write(SubmitForm(form));
        }
        ui.separator();
        if let Some(e) = &c.last_error {
            ui.colored_label(egui::Color32::from_rgb(235, 87, 87), e.as_str());
        }
        if let Some(s) = &c.last_sent {
            ui.weak(s.as_str());
        }
    });
    c.open = open;
    Ok(())
}
