//! Scenario files (RON, `config/scenario.ron`): the content library,
//! playlists, schedules and device groups an org is seeded with, so a
//! simulated fleet plays something real and the dashboards have something to
//! show. Seeding goes over the wire ([`seed`]); this module reads and checks
//! the file.
//!
//! Loaded by the project's one RON loader, `vizora_config::load_ron`, as
//! the gateway's and the wallboard's configs are: unknown keys refused,
//! errors with file:line:col and the field.

pub mod seed;

use std::collections::HashSet;
use std::path::Path;

use serde::Deserialize;
use vizora_protocol::schedule::minutes_of;
use vizora_protocol::{ContentKind, ScheduleTarget};

pub use seed::{Admin, Provision, SeedError, Seeded};

/// A content item of the library.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContentSpec {
    /// Display name; playlists refer to the item by it (unique).
    pub name: String,
    /// Media type.
    pub kind: ContentKind,
    /// Where players fetch it.
    pub uri: String,
    /// Default seconds on screen.
    pub duration_s: u32,
    /// Size in bytes.
    pub size_bytes: u64,
}

/// One entry of a playlist.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemSpec {
    /// Content, by its scenario name.
    pub content: String,
    /// Seconds on screen; the content's own duration when absent.
    #[serde(default)]
    pub duration_s: Option<u32>,
}

/// A playlist.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaylistSpec {
    /// Display name; schedules and groups refer to it by it (unique).
    pub name: String,
    /// Items in play order.
    pub items: Vec<ItemSpec>,
}

fn enabled() -> bool {
    true
}

/// A schedule. Times are UTC and days count from 0 = Sunday, as
/// `vizora_protocol::schedule` reads them.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSpec {
    /// Display name (unique).
    pub name: String,
    /// Playlist, by its scenario name.
    pub playlist: String,
    /// `tag("…")` or `device("…")`.
    pub target: ScheduleTarget,
    /// First day it applies, in days from the day of seeding (UTC midnight).
    #[serde(default)]
    pub start_days: i64,
    /// Day it stops applying, in days from the day of seeding.
    #[serde(default)]
    pub end_days: Option<i64>,
    /// Weekdays, 0 = Sunday; every day when absent.
    #[serde(default)]
    pub days: Option<Vec<u8>>,
    /// Daily window start, "HH:MM".
    #[serde(default)]
    pub daily_from: Option<String>,
    /// Daily window end, "HH:MM" (not after the start: runs past midnight).
    #[serde(default)]
    pub daily_to: Option<String>,
    /// Higher wins.
    #[serde(default)]
    pub priority: i32,
    /// Disabled schedules never apply.
    #[serde(default = "enabled")]
    pub enabled: bool,
}

/// A share of the simulated players: their tags and assigned playlist.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    /// What the group is (a comment for people; not sent).
    pub name: String,
    /// Relative size; players are dealt to groups in index order by share.
    pub share: f64,
    /// Tags every player of the group carries.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Playlist assigned to every player of the group, by its scenario name.
    #[serde(default)]
    pub playlist: Option<String>,
}

/// A whole scenario file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Fraction of schedule switches a player reports `failed` or `skipped` (0..=1).
    #[serde(default)]
    pub schedule_faults: f64,
    /// The content library.
    pub content: Vec<ContentSpec>,
    /// Playlists.
    pub playlists: Vec<PlaylistSpec>,
    /// Schedules.
    #[serde(default)]
    pub schedules: Vec<ScheduleSpec>,
    /// Device groups of the simulated players.
    #[serde(default)]
    pub groups: Vec<GroupSpec>,
}

pub use vizora_config::ConfigError as ScenarioError;

impl Scenario {
    /// Reads and checks a scenario file.
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        vizora_config::load_ron(path, Self::validate)
    }

    /// Parses and checks scenario text; `path` names it in errors.
    pub fn parse(text: &str, path: &str) -> Result<Self, ScenarioError> {
        vizora_config::parse_ron(text, path, Self::validate)
    }

    /// Checks ranges, uniqueness and references; the error names the field.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let bad = |field: String, message: &str| Err((field, message.to_owned()));
        if !(0.0..=1.0).contains(&self.schedule_faults) {
            return bad("schedule_faults".into(), "must be in 0..=1");
        }
        let name_ok = |n: &str| !n.trim().is_empty() && n.chars().count() <= 256;
        let mut contents = HashSet::new();
        for (i, c) in self.content.iter().enumerate() {
            let f = |x: &str| format!("content[{i}].{x}");
            if !name_ok(&c.name) {
                return bad(f("name"), "must be 1 to 256 characters");
            }
            if !contents.insert(c.name.as_str()) {
                return bad(f("name"), "used twice");
            }
            if c.uri.is_empty() {
                return bad(f("uri"), "must not be empty");
            }
            if c.duration_s == 0 {
                return bad(f("duration_s"), "must be > 0");
            }
        }
        let mut playlists = HashSet::new();
        for (i, p) in self.playlists.iter().enumerate() {
            if !name_ok(&p.name) {
                return bad(format!("playlists[{i}].name"), "must be 1 to 256 characters");
            }
            if !playlists.insert(p.name.as_str()) {
                return bad(format!("playlists[{i}].name"), "used twice");
            }
            for (j, it) in p.items.iter().enumerate() {
                if !contents.contains(it.content.as_str()) {
                    return bad(format!("playlists[{i}].items[{j}].content"), "no content of that name");
                }
                if it.duration_s == Some(0) {
                    return bad(format!("playlists[{i}].items[{j}].duration_s"), "must be > 0");
                }
            }
        }
        let mut schedules = HashSet::new();
        for (i, s) in self.schedules.iter().enumerate() {
            let f = |x: &str| format!("schedules[{i}].{x}");
            if !name_ok(&s.name) {
                return bad(f("name"), "must be 1 to 256 characters");
            }
            if !schedules.insert(s.name.as_str()) {
                return bad(f("name"), "used twice");
            }
            if !playlists.contains(s.playlist.as_str()) {
                return bad(f("playlist"), "no playlist of that name");
            }
            if s.end_days.is_some_and(|e| e <= s.start_days) {
                return bad(f("end_days"), "must be after start_days");
            }
            if let Some(days) = &s.days
                && (days.is_empty() || days.iter().any(|d| *d > 6))
            {
                return bad(f("days"), "must list weekdays 0..=6 (0 = Sunday)");
            }
            for (key, v) in [("daily_from", &s.daily_from), ("daily_to", &s.daily_to)] {
                if v.as_deref().is_some_and(|t| minutes_of(t).is_none()) {
                    return bad(f(key), "must be \"HH:MM\" (00:00 to 23:59)");
                }
            }
        }
        for (i, g) in self.groups.iter().enumerate() {
            if !(g.share.is_finite() && g.share > 0.0) {
                return bad(format!("groups[{i}].share"), "must be > 0");
            }
            if let Some(p) = &g.playlist
                && !playlists.contains(p.as_str())
            {
                return bad(format!("groups[{i}].playlist"), "no playlist of that name");
            }
        }
        Ok(())
    }

    /// The group of player `index` out of `players` (see [`group_of`]).
    pub fn group_of(&self, index: usize, players: usize) -> Option<&GroupSpec> {
        group_of(&self.groups, index, players)
    }
}

/// The group of player `index` out of `players`: players are dealt in index
/// order, each group taking its share of them.
pub fn group_of(groups: &[GroupSpec], index: usize, players: usize) -> Option<&GroupSpec> {
    let total: f64 = groups.iter().map(|g| g.share).sum();
    if total <= 0.0 {
        return None;
    }
    let at = (index as f64 + 0.5) / players.max(1) as f64 * total;
    let mut acc = 0.0;
    for g in groups {
        acc += g.share;
        if at < acc {
            return Some(g);
        }
    }
    groups.last()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> Scenario {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/scenario.ron");
        Scenario::load(&path).unwrap_or_else(|e| panic!("config/scenario.ron loads: {e}"))
    }

    #[test]
    fn the_shipped_scenario_loads_and_covers_every_kind() {
        let s = shipped();
        assert!(s.content.len() >= 8, "a real library");
        for kind in [ContentKind::Image, ContentKind::Video, ContentKind::Web] {
            assert!(s.content.iter().any(|c| c.kind == kind), "{kind:?}");
        }
        assert!((3..=4).contains(&s.playlists.len()));
        assert!((3..=4).contains(&s.schedules.len()));
        assert!(s.schedules.iter().any(|s| s.daily_from.is_some() && s.days.is_some()), "day/time windows");
        assert!(s.schedules.iter().all(|s| matches!(s.target, ScheduleTarget::Tag(_))), "targets by tag");
        let tags: HashSet<&str> = s.groups.iter().flat_map(|g| g.tags.iter().map(String::as_str)).collect();
        for sched in &s.schedules {
            let ScheduleTarget::Tag(t) = &sched.target else { continue };
            assert!(tags.contains(t.as_str()), "schedule {} targets tag {t} no group carries", sched.name);
        }
    }

    #[test]
    fn unknown_keys_are_named_with_their_position() {
        let text = "(\n  content: [],\n  playlists: [],\n  schedule: [],\n)\n";
        let err = Scenario::parse(text, "s.ron").expect_err("unknown key").to_string();
        assert!(err.starts_with("s.ron:4:"), "{err}");
        assert!(err.contains("schedule"), "names the key: {err}");
    }

    #[test]
    fn bad_references_and_ranges_name_the_field() {
        let base = r#"(content: [(name: "A", kind: image, uri: "u", duration_s: 5, size_bytes: 1)],
            playlists: [(name: "P", items: [(content: "A")])],
            schedules: [(name: "S", playlist: "P", target: tag("t"), daily_from: Some("06:00"))],
            groups: [(name: "g", share: 1.0, tags: ["t"], playlist: Some("P"))])"#;
        Scenario::parse(base, "s.ron").expect("base is valid");
        for (from, to, field) in [
            (r#"(content: "A")"#, r#"(content: "B")"#, "playlists[0].items[0].content"),
            (r#"playlist: "P", target"#, r#"playlist: "Q", target"#, "schedules[0].playlist"),
            ("\"06:00\"", "\"6am\"", "schedules[0].daily_from"),
            ("duration_s: 5", "duration_s: 0", "content[0].duration_s"),
            ("share: 1.0", "share: 0.0", "groups[0].share"),
            (r#"playlist: Some("P"))"#, r#"playlist: Some("X"))"#, "groups[0].playlist"),
        ] {
            let text = base.replacen(from, to, 1);
            assert_ne!(text, base, "{from}");
            let err = Scenario::parse(&text, "s.ron").expect_err(field).to_string();
            // Where the key is written (its last segment), and the whole field.
            assert!(err.starts_with("s.ron:") && err.contains(&format!(": {field}: ")), "{err}");
        }
    }

    #[test]
    fn players_are_dealt_to_groups_by_share() {
        let mut s = shipped();
        s.groups = ["a", "b", "c"]
            .iter()
            .zip([2.0, 1.0, 1.0])
            .map(|(n, share)| GroupSpec { name: (*n).into(), share, tags: vec![], playlist: None })
            .collect();
        let names: Vec<&str> = (0..8).map(|i| s.group_of(i, 8).map_or("-", |g| g.name.as_str())).collect();
        assert_eq!(names, ["a", "a", "a", "a", "b", "b", "c", "c"]);
        s.groups.clear();
        assert!(s.group_of(0, 8).is_none());
    }
}
