//! `vizora get`: lists of one kind, following the API's cursors, as a table or JSON.

use std::io::{self, Write};

use serde_json::Value;

use super::{Api, ApiCliError};

/// Items asked for per page while following cursors.
const PAGE: usize = 1000;

/// An entity kind as the CLI names it (singular or plural).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Devices.
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

impl Kind {
    /// Parses `device`, `devices`, `alert`, ... (what `vizora get` takes).
    pub fn parse(s: &str) -> Result<Self, String> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "device" | "devices" => Self::Devices,
            "playlist" | "playlists" => Self::Playlists,
            "content" | "contents" => Self::Content,
            "schedule" | "schedules" => Self::Schedules,
            "alert" | "alerts" => Self::Alerts,
            _ => return Err(format!("unknown kind `{s}`: devices, playlists, content, schedules or alerts")),
        })
    }

    fn path(self) -> &'static str {
        match self {
            Self::Devices => "devices",
            Self::Playlists => "playlists",
            Self::Content => "content",
            Self::Schedules => "schedules",
            Self::Alerts => "alerts",
        }
    }

    /// Table columns: header and how to show the entity's field.
    fn columns(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Self::Devices => &[
                ("ID", "id"),
                ("NAME", "name"),
                ("STATUS", "status"),
                ("TAGS", "tags"),
                ("PLAYLIST", "playlist_id"),
                ("LAST SEEN", "last_seen_ms"),
            ],
            Self::Playlists => &[("ID", "id"), ("NAME", "name"), ("ITEMS", "items"), ("REV", "rev")],
            Self::Content => {
                &[("ID", "id"), ("NAME", "name"), ("KIND", "kind"), ("DURATION S", "duration_s"), ("URI", "uri")]
            }
            Self::Schedules => &[
                ("ID", "id"),
                ("NAME", "name"),
                ("PLAYLIST", "playlist_id"),
                ("PRIORITY", "priority"),
                ("ENABLED", "enabled"),
            ],
            Self::Alerts => &[
                ("ID", "id"),
                ("SEVERITY", "severity"),
                ("STATE", "state"),
                ("KIND", "kind"),
                ("DEVICE", "device_id"),
                ("MESSAGE", "message"),
            ],
        }
    }
}

/// What `vizora get` asks for.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// One entity by id instead of a list.
    pub id: Option<String>,
    /// Devices: only this status.
    pub status: Option<String>,
    /// Devices: only this tag.
    pub tag: Option<String>,
    /// Alerts: only this state.
    pub state: Option<String>,
    /// Alerts: only this severity.
    pub severity: Option<String>,
    /// At most this many (all when `None`).
    pub limit: Option<usize>,
}

/// `vizora get KIND`: one entity, or every one matching the filters
/// (following cursors), as a table or (`json`) a JSON array. Returns how many.
pub fn get(api: &Api, kind: Kind, q: &Query, json: bool, out: &mut impl Write) -> Result<usize, ApiCliError> {
    let items = match &q.id {
        Some(id) => vec![api.get(&format!("/api/v1/{}/{}", kind.path(), encode(id)))?],
        None => list(api, kind, q)?,
    };
    if json {
        let text = if q.id.is_some() { items[0].to_string() } else { Value::Array(items.clone()).to_string() };
        writeln!(out, "{text}")?;
    } else {
        write_table(kind, &items, out)?;
    }
    Ok(items.len())
}

fn list(api: &Api, kind: Kind, q: &Query) -> Result<Vec<Value>, ApiCliError> {
    let mut filters = Vec::new();
    let mut filter = |name: &str, v: &Option<String>, applies: bool| -> Result<(), ApiCliError> {
        match v {
            Some(_) if !applies => Err(ApiCliError::Usage(format!("--{name} does not apply to {}", kind.path()))),
            Some(v) => {
                filters.push(format!("{name}={}", encode(v)));
                Ok(())
            }
            None => Ok(()),
        }
    };
    filter("status", &q.status, kind == Kind::Devices)?;
    filter("tag", &q.tag, kind == Kind::Devices)?;
    filter("state", &q.state, kind == Kind::Alerts)?;
    filter("severity", &q.severity, kind == Kind::Alerts)?;
    let want = q.limit.unwrap_or(usize::MAX);
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    while items.len() < want {
        let mut query = filters.clone();
        query.push(format!("limit={}", PAGE.min(want - items.len())));
        if let Some(c) = &cursor {
            query.push(format!("cursor={}", encode(c)));
        }
        let page = api.get(&format!("/api/v1/{}?{}", kind.path(), query.join("&")))?;
        items.extend(page["items"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    Ok(items)
}

/// Percent-encodes a query or path value.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn cell(v: &Value, field: &str) -> String {
    match (&v[field], field) {
        (Value::Null, _) => "-".into(),
        (Value::Number(n), "last_seen_ms") => match n.as_u64() {
            Some(0) => "never".into(),
            Some(ms) => crate::cli::iso_utc(ms),
            None => n.to_string(),
        },
        (Value::Array(a), "items") => a.len().to_string(),
        (Value::Array(a), _) => {
            a.iter().map(|t| t.as_str().map(str::to_owned).unwrap_or(t.to_string())).collect::<Vec<_>>().join(",")
        }
        (Value::String(s), _) => s.replace(['\n', '\t'], " "),
        (other, _) => other.to_string(),
    }
}

fn write_table(kind: Kind, items: &[Value], out: &mut impl Write) -> io::Result<()> {
    let cols = kind.columns();
    let rows: Vec<Vec<String>> = items.iter().map(|v| cols.iter().map(|(_, f)| cell(v, f)).collect()).collect();
    let widths: Vec<usize> = cols
        .iter()
        .enumerate()
        .map(|(i, (h, _))| rows.iter().map(|r| r[i].chars().count()).chain([h.len()]).max().unwrap_or(0))
        .collect();
    let line = |cells: Vec<&str>| {
        let last = cells.len() - 1;
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| if i == last { (*c).to_owned() } else { format!("{c:<w$}", w = widths[i]) })
            .collect::<Vec<_>>()
            .join("  ")
    };
    writeln!(out, "{}", line(cols.iter().map(|(h, _)| *h).collect()))?;
    for r in &rows {
        writeln!(out, "{}", line(r.iter().map(String::as_str).collect()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_singular_or_plural() {
        assert_eq!(Kind::parse("Device"), Ok(Kind::Devices));
        assert_eq!(Kind::parse("alerts"), Ok(Kind::Alerts));
        assert!(Kind::parse("gadgets").unwrap_err().contains("unknown kind"));
    }
}
