//! Finding devices: a query typed by the operator, matched against a
//! device's name, id, tags and status. Words are ANDed; `tag:x`,
//! `status:offline` and `id:x` narrow to one field; a bare word matches a
//! name, id or tag containing it (case does not matter).

use vizora_protocol::{Device, DeviceStatus};

/// One condition of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Term {
    /// Name, id or a tag contains it.
    Any(String),
    /// A tag equals it.
    Tag(String),
    /// The id contains it.
    Id(String),
    /// The status is this.
    Status(DeviceStatus),
}

/// A parsed device query; the empty query matches every device.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceQuery {
    terms: Vec<Term>,
}

/// Status names a query accepts, with the words people also type.
fn status_named(s: &str) -> Option<DeviceStatus> {
    Some(match s {
        "online" | "ok" | "up" => DeviceStatus::Online,
        "degraded" | "deg" | "warn" => DeviceStatus::Degraded,
        "offline" | "off" | "down" => DeviceStatus::Offline,
        "unknown" | "new" | "?" => DeviceStatus::Unknown,
        _ => return None,
    })
}

impl DeviceQuery {
    /// Parses what was typed. An unknown status is an error naming it.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut terms = Vec::new();
        for word in text.split_whitespace() {
            let lower = word.to_lowercase();
            let term = match lower.split_once(':') {
                Some(("tag", t)) if !t.is_empty() => Term::Tag(t.to_owned()),
                Some(("id", t)) if !t.is_empty() => Term::Id(t.to_owned()),
                Some(("status", s)) => Term::Status(
                    status_named(s).ok_or_else(|| format!("no status {s:?} (online, degraded, offline, unknown)"))?,
                ),
                _ => Term::Any(lower),
            };
            terms.push(term);
        }
        Ok(Self { terms })
    }

    /// Matches every device.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Whether `d` meets every condition.
    pub fn matches(&self, d: &Device) -> bool {
        self.terms.iter().all(|t| match t {
            Term::Any(w) => contains(&d.name, w) || contains(&d.id, w) || d.tags.iter().any(|tag| contains(tag, w)),
            Term::Tag(w) => d.tags.iter().any(|tag| tag.eq_ignore_ascii_case(w)),
            Term::Id(w) => contains(&d.id, w),
            Term::Status(s) => d.status == *s,
        })
    }
}

/// `hay` contains `needle` (already lower case), ignoring case.
fn contains(hay: &str, needle: &str) -> bool {
    if hay.is_ascii() {
        hay.as_bytes().windows(needle.len().max(1)).any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
            || needle.is_empty()
    } else {
        hay.to_lowercase().contains(needle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(id: &str, name: &str, tags: &[&str], status: DeviceStatus) -> Device {
        Device {
            id: id.into(),
            org: "acme".into(),
            rev: 1,
            name: name.into(),
            tags: tags.iter().map(|t| (*t).into()).collect(),
            playlist_id: None,
            status,
            last_seen_ms: 0,
            health: None,
            playing: None,
        }
    }

    #[test]
    fn words_are_anded_and_fields_narrow() {
        let a = device("dev-001", "Lobby East", &["lobby", "floor-1"], DeviceStatus::Offline);
        let b = device("dev-002", "Station 4", &["station"], DeviceStatus::Online);
        let q = |s: &str| DeviceQuery::parse(s).expect("parses");
        assert!(q("").matches(&a) && q("").is_empty());
        assert!(q("lobby").matches(&a) && !q("lobby").matches(&b));
        assert!(q("EAST").matches(&a), "case does not matter");
        assert!(q("status:offline").matches(&a) && !q("status:offline").matches(&b));
        assert!(q("tag:station status:up").matches(&b));
        assert!(!q("tag:stat").matches(&b), "a tag term is the whole tag");
        assert!(q("id:002").matches(&b) && !q("id:002 lobby").matches(&b));
        assert!(q("floor").matches(&a), "a bare word finds part of a tag");
        let err = DeviceQuery::parse("status:sleepy").expect_err("unknown status");
        assert!(err.contains("sleepy"), "{err}");
    }
}
