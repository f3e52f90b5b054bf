//! Arguments of `schedule.create` and `schedule.update`.

use serde_json::{Map, Value, json};

use super::ArgError;
use super::args::Args;
use crate::entity::ScheduleTarget;

/// Every field of a schedule besides id/org/rev (`schedule.create`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleFields {
    /// Name.
    pub name: String,
    /// Playlist to play.
    pub playlist_id: String,
    /// Device or tag.
    pub target: ScheduleTarget,
    /// Start.
    pub start_ms: u64,
    /// End.
    pub end_ms: Option<u64>,
    /// Weekdays, 0 = Sunday.
    pub days: Option<Vec<u8>>,
    /// Daily window start.
    pub daily_from: Option<String>,
    /// Daily window end.
    pub daily_to: Option<String>,
    /// Priority (default 0).
    pub priority: i32,
    /// Enabled (default true).
    pub enabled: bool,
}

/// A partial schedule (`schedule.update`); nullable fields use `Some(None)` to clear.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SchedulePatch {
    /// New name.
    pub name: Option<String>,
    /// New playlist.
    pub playlist_id: Option<String>,
    /// New target.
    pub target: Option<ScheduleTarget>,
    /// New start.
    pub start_ms: Option<u64>,
    /// New end, or clear.
    pub end_ms: Option<Option<u64>>,
    /// New weekdays, or clear.
    pub days: Option<Option<Vec<u8>>>,
    /// New window start, or clear.
    pub daily_from: Option<Option<String>>,
    /// New window end, or clear.
    pub daily_to: Option<Option<String>>,
    /// New priority.
    pub priority: Option<i32>,
    /// New enabled flag.
    pub enabled: Option<bool>,
}

const FIELDS: [&str; 10] =
    ["name", "playlist_id", "target", "start_ms", "end_ms", "days", "daily_from", "daily_to", "priority", "enabled"];

fn target(a: &Args, f: &str) -> Result<ScheduleTarget, ArgError> {
    let Some(Value::Object(m)) = a.0.get(f) else {
        return Err(ArgError::new(f, r#"required: {"device": id} or {"tag": tag}"#));
    };
    let inner = Args(m);
    match (m.get("device"), m.get("tag"), m.len()) {
        (Some(_), None, 1) => Ok(ScheduleTarget::Device(inner.id("device").map_err(|e| nest(f, e))?)),
        (None, Some(_), 1) => Ok(ScheduleTarget::Tag(inner.id("tag").map_err(|e| nest(f, e))?)),
        _ => Err(ArgError::new(f, r#"must be {"device": id} or {"tag": tag}"#)),
    }
}

fn nest(f: &str, e: ArgError) -> ArgError {
    ArgError::new(format!("{f}.{}", e.field), e.message)
}

fn days(a: &Args, f: &str) -> Result<Vec<u8>, ArgError> {
    let Some(Value::Array(list)) = a.0.get(f) else {
        return Err(ArgError::new(f, "must be an array of weekdays 0..6"));
    };
    let mut out = Vec::new();
    for (i, v) in list.iter().enumerate() {
        match v.as_u64() {
            Some(d @ 0..=6) => {
                if out.contains(&(d as u8)) {
                    return Err(ArgError::new(format!("{f}[{i}]"), "weekdays must be distinct"));
                }
                out.push(d as u8);
            }
            _ => return Err(ArgError::new(format!("{f}[{i}]"), "must be a weekday 0..6")),
        }
    }
    out.sort_unstable();
    Ok(out)
}

fn hhmm(a: &Args, f: &str) -> Result<String, ArgError> {
    let s = a.string(f)?;
    crate::schedule::minutes_of(s).map(|_| s.to_owned()).ok_or_else(|| ArgError::new(f, "must be \"HH:MM\""))
}

/// Reads a nullable field: absent → None, null → Some(None).
fn nullable<T>(
    a: &Args,
    f: &str,
    read: impl Fn(&Args, &str) -> Result<T, ArgError>,
) -> Result<Option<Option<T>>, ArgError> {
    match a.0.get(f) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(_) => read(a, f).map(|v| Some(Some(v))),
    }
}

impl ScheduleFields {
    pub(crate) fn parse(a: &Args) -> Result<Self, ArgError> {
        let end_ms = nullable(a, "end_ms", |a, f| a.u64(f))?.flatten();
        let start_ms = a.u64("start_ms")?;
        let fields = ScheduleFields {
            name: a.name("name")?,
            playlist_id: a.id("playlist_id")?,
            target: target(a, "target")?,
            start_ms,
            end_ms,
            days: nullable(a, "days", days)?.flatten(),
            daily_from: nullable(a, "daily_from", hhmm)?.flatten(),
            daily_to: nullable(a, "daily_to", hhmm)?.flatten(),
            priority: if a.has("priority") && !a.0["priority"].is_null() { a.i32("priority")? } else { 0 },
            enabled: if a.has("enabled") && !a.0["enabled"].is_null() { a.bool("enabled")? } else { true },
        };
        Ok(fields)
    }

    pub(crate) fn to_json(&self) -> Value {
        json!({
            "name": self.name, "playlist_id": self.playlist_id, "target": self.target,
            "start_ms": self.start_ms, "end_ms": self.end_ms, "days": self.days,
            "daily_from": self.daily_from, "daily_to": self.daily_to,
            "priority": self.priority, "enabled": self.enabled,
        })
    }
}

impl SchedulePatch {
    pub(crate) fn parse(a: &Args) -> Result<Self, ArgError> {
        a.only(&FIELDS)?;
        if a.0.is_empty() {
            return Err(ArgError::new("args", "an update needs at least one field"));
        }
        // PROTOCOL.md §8: an optional field sent as null is as if left out;
        // only the nullable fields (end_ms, days, daily_*) are cleared by null.
        let req = |f: &str| a.0.get(f).is_some_and(|v| !v.is_null());
        let patch = SchedulePatch {
            name: if req("name") { Some(a.name("name")?) } else { None },
            playlist_id: if req("playlist_id") { Some(a.id("playlist_id")?) } else { None },
            target: if req("target") { Some(target(a, "target")?) } else { None },
            start_ms: if req("start_ms") { Some(a.u64("start_ms")?) } else { None },
            end_ms: nullable(a, "end_ms", |a, f| a.u64(f))?,
            days: nullable(a, "days", days)?,
            daily_from: nullable(a, "daily_from", hhmm)?,
            daily_to: nullable(a, "daily_to", hhmm)?,
            priority: if req("priority") { Some(a.i32("priority")?) } else { None },
            enabled: if req("enabled") { Some(a.bool("enabled")?) } else { None },
        };
        if patch == SchedulePatch::default() {
            return Err(ArgError::new("args", "an update needs at least one field"));
        }
        Ok(patch)
    }

    pub(crate) fn to_json(&self) -> Value {
        let mut m = Map::new();
        let mut put = |k: &str, v: Value| {
            m.insert(k.to_owned(), v);
        };
        if let Some(v) = &self.name {
            put("name", json!(v))
        }
        if let Some(v) = &self.playlist_id {
            put("playlist_id", json!(v))
        }
        if let Some(v) = &self.target {
            put("target", json!(v))
        }
        if let Some(v) = self.start_ms {
            put("start_ms", json!(v))
        }
        if let Some(v) = &self.end_ms {
            put("end_ms", json!(v))
        }
        if let Some(v) = &self.days {
            put("days", json!(v))
        }
        if let Some(v) = &self.daily_from {
            put("daily_from", json!(v))
        }
        if let Some(v) = &self.daily_to {
            put("daily_to", json!(v))
        }
        if let Some(v) = self.priority {
            put("priority", json!(v))
        }
        if let Some(v) = self.enabled {
            put("enabled", json!(v))
        }
        Value::Object(m)
    }
}

#[cfg(test)]
mod tests;
