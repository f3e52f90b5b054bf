//! Entities (PROTOCOL.md §3), log entries and the `events` / `snapshot`
//! messages (§4) as literal JSON: each decodes to the expected value, and the
//! expected value serialises back to the literal. Other messages are in
//! `serde_roundtrip_messages.rs`.

mod support;

use serde_json::Value;
use support::{assert_wire, ours, parse as json, s};
use vizora_protocol::{
    Alert, AlertState, Content, ContentKind, Device, DeviceStatus, DeviceStatusData, Entity, EntityKind, Event, Events,
    ExecutionOutcome, Health, LogEntry, MutationApplied, Playing, Playlist, PlaylistItem, Removed, Schedule,
    ScheduleExecuted, ScheduleTarget, Severity, SnapshotPage,
};

// ---- entities ----------------------------------------------------------------

const DEVICE_FULL: &str = r#"{"id":"dev-1","org":"org-1","rev":3,"name":"Lobby left","tags":["lobby","north"],
    "playlist_id":"pl-7","status":"online","last_seen_ms":1764230400123,
    "health":{"cpu_pct":41.5,"mem_pct":63.2,"temp_c":55.0,"disk_free_pct":72.25,"uptime_s":86400},
    "playing":{"playlist_id":"pl-7","content_id":"c-2","since_ms":1764230395000}}"#;

fn device_full() -> Device {
    Device {
        id: s("dev-1"),
        org: s("org-1"),
        rev: 3,
        name: s("Lobby left"),
        tags: vec![s("lobby"), s("north")],
        playlist_id: Some(s("pl-7")),
        status: DeviceStatus::Online,
        last_seen_ms: 1_764_230_400_123,
        health: Some(Health { cpu_pct: 41.5, mem_pct: 63.2, temp_c: 55.0, disk_free_pct: 72.25, uptime_s: 86_400.0 }),
        playing: Some(Playing { playlist_id: s("pl-7"), content_id: s("c-2"), since_ms: 1_764_230_395_000 }),
    }
}

const DEVICE_BARE: &str =
    r#"{"id":"dev-2","org":"org-1","rev":1,"name":"dev-2","tags":[],"status":"unknown","last_seen_ms":0}"#;

fn device_bare() -> Device {
    Device {
        id: s("dev-2"),
        org: s("org-1"),
        rev: 1,
        name: s("dev-2"),
        tags: vec![],
        playlist_id: None,
        status: DeviceStatus::Unknown,
        last_seen_ms: 0,
        health: None,
        playing: None,
    }
}

const PLAYLIST: &str = r#"{"id":"pl-7","org":"org-1","rev":4,"name":"Lobby",
    "items":[{"content_id":"c-1","duration_s":10},{"content_id":"c-2","duration_s":15}]}"#;

fn playlist() -> Playlist {
    Playlist {
        id: s("pl-7"),
        org: s("org-1"),
        rev: 4,
        name: s("Lobby"),
        items: vec![
            PlaylistItem { content_id: s("c-1"), duration_s: 10.0 },
            PlaylistItem { content_id: s("c-2"), duration_s: 15.0 },
        ],
    }
}

const CONTENT: &str = r#"{"id":"c-2","org":"org-1","rev":2,"name":"Promo","kind":"video",
    "uri":"https://cdn.example/promo.mp4","duration_s":30,"size_bytes":1048576}"#;

fn content() -> Content {
    Content {
        id: s("c-2"),
        org: s("org-1"),
        rev: 2,
        name: s("Promo"),
        kind: ContentKind::Video,
        uri: s("https://cdn.example/promo.mp4"),
        duration_s: 30.0,
        size_bytes: 1_048_576,
    }
}

const SCHEDULE_DEVICE: &str = r#"{"id":"sch-1","org":"org-1","rev":1,"name":"All day","playlist_id":"pl-7",
    "target":{"device":"dev-1"},"start_ms":1764230400000,"priority":0,"enabled":true}"#;

fn schedule_device() -> Schedule {
    Schedule {
        id: s("sch-1"),
        org: s("org-1"),
        rev: 1,
        name: s("All day"),
        playlist_id: s("pl-7"),
        target: ScheduleTarget::Device(s("dev-1")),
        start_ms: 1_764_230_400_000,
        end_ms: None,
        days: None,
        daily_from: None,
        daily_to: None,
        priority: 0,
        enabled: true,
    }
}

const SCHEDULE_TAG: &str = r#"{"id":"sch-2","org":"org-1","rev":6,"name":"Mornings","playlist_id":"pl-8",
    "target":{"tag":"lobby"},"start_ms":1764230400000,"end_ms":1766822400000,"days":[1,2,3,4,5],
    "daily_from":"07:00","daily_to":"11:30","priority":-3,"enabled":false}"#;

fn schedule_tag() -> Schedule {
    Schedule {
        id: s("sch-2"),
        org: s("org-1"),
        rev: 6,
        name: s("Mornings"),
        playlist_id: s("pl-8"),
        target: ScheduleTarget::Tag(s("lobby")),
        start_ms: 1_764_230_400_000,
        end_ms: Some(1_766_822_400_000),
        days: Some(vec![1, 2, 3, 4, 5]),
        daily_from: Some(s("07:00")),
        daily_to: Some(s("11:30")),
        priority: -3,
        enabled: false,
    }
}

const ALERT: &str = r#"{"id":"al-1","org":"org-1","rev":2,"device_id":"dev-1","severity":"critical",
    "kind":"device_offline","message":"Lobby left is offline","raised_ms":1764230400500,"state":"acked",
    "acked_by":"u-9","muted_until_ms":1764234000000}"#;

fn alert() -> Alert {
    Alert {
        id: s("al-1"),
        org: s("org-1"),
        rev: 2,
        device_id: Some(s("dev-1")),
        severity: Severity::Critical,
        kind: s("device_offline"),
        message: s("Lobby left is offline"),
        raised_ms: 1_764_230_400_500,
        state: AlertState::Acked,
        acked_by: Some(s("u-9")),
        muted_until_ms: Some(1_764_234_000_000),
    }
}

const ALERT_BARE: &str = r#"{"id":"al-2","org":"org-1","rev":1,"severity":"info","kind":"note",
    "message":"m","raised_ms":5,"state":"open"}"#;

fn alert_bare() -> Alert {
    Alert {
        id: s("al-2"),
        org: s("org-1"),
        rev: 1,
        device_id: None,
        severity: Severity::Info,
        kind: s("note"),
        message: s("m"),
        raised_ms: 5,
        state: AlertState::Open,
        acked_by: None,
        muted_until_ms: None,
    }
}

#[test]
fn entities_round_trip() {
    assert_wire(DEVICE_FULL, &device_full());
    assert_wire(DEVICE_BARE, &device_bare());
    assert_wire(PLAYLIST, &playlist());
    assert_wire(CONTENT, &content());
    assert_wire(SCHEDULE_DEVICE, &schedule_device());
    assert_wire(SCHEDULE_TAG, &schedule_tag());
    assert_wire(ALERT, &alert());
    assert_wire(ALERT_BARE, &alert_bare());
}

#[test]
fn optional_entity_fields_sent_as_null_are_accepted() {
    let device = r#"{"id":"dev-2","org":"org-1","rev":1,"name":"dev-2","tags":[],"playlist_id":null,
        "status":"unknown","last_seen_ms":0,"health":null,"playing":null}"#;
    assert_wire(device, &device_bare());
    let schedule = r#"{"id":"sch-1","org":"org-1","rev":1,"name":"All day","playlist_id":"pl-7",
        "target":{"device":"dev-1"},"start_ms":1764230400000,"end_ms":null,"days":null,
        "daily_from":null,"daily_to":null,"priority":0,"enabled":true}"#;
    assert_wire(schedule, &schedule_device());
    let alert = r#"{"id":"al-2","org":"org-1","rev":1,"device_id":null,"severity":"info","kind":"note",
        "message":"m","raised_ms":5,"state":"open","acked_by":null,"muted_until_ms":null}"#;
    assert_wire(alert, &alert_bare());
}

#[test]
fn enum_wire_names() {
    for (status, name) in [
        (DeviceStatus::Online, "online"),
        (DeviceStatus::Degraded, "degraded"),
        (DeviceStatus::Offline, "offline"),
        (DeviceStatus::Unknown, "unknown"),
    ] {
        assert_eq!(ours(&status), Value::from(name));
        assert_eq!(status.as_str(), name);
    }
    for (kind, name) in [(ContentKind::Image, "image"), (ContentKind::Video, "video"), (ContentKind::Web, "web")] {
        assert_wire(&format!("{name:?}"), &kind);
    }
    for (sev, name) in [(Severity::Info, "info"), (Severity::Warning, "warning"), (Severity::Critical, "critical")] {
        assert_wire(&format!("{name:?}"), &sev);
    }
    for (state, name) in [(AlertState::Open, "open"), (AlertState::Acked, "acked"), (AlertState::Resolved, "resolved")]
    {
        assert_wire(&format!("{name:?}"), &state);
    }
    let names: Vec<&str> = EntityKind::ALL.iter().map(|k| k.as_str()).collect();
    assert_eq!(names, ["device", "playlist", "content", "schedule", "alert"], "snapshot order of §4");
    for kind in EntityKind::ALL {
        assert_wire(&format!("{:?}", kind.as_str()), &kind);
    }
    assert!(serde_json::from_str::<DeviceStatus>(r#""rebooting""#).is_err());
}

#[test]
fn schedule_target_must_be_device_or_tag() {
    let bad = SCHEDULE_DEVICE.replace(r#"{"device":"dev-1"}"#, r#"{"site":"north"}"#);
    assert!(serde_json::from_str::<Schedule>(&bad).is_err());
}

// ---- log entries -------------------------------------------------------------

fn entry(seq: u64, ty: &str, data: &str) -> String {
    format!(r#"{{"seq":{seq},"ts_ms":1764230400123,"type":"{ty}","data":{data}}}"#)
}

fn log(seq: u64, event: Event) -> LogEntry {
    LogEntry { seq, ts_ms: 1_764_230_400_123, event }
}

fn removed(id: &str, rev: u64) -> Removed {
    Removed { id: s(id), rev }
}

/// One entry of each of the 12 types of the §4 table.
fn every_entry() -> Vec<(String, LogEntry)> {
    vec![
        (entry(1, "device.upserted", DEVICE_FULL), log(1, Event::DeviceUpserted(device_full()))),
        (entry(2, "playlist.upserted", PLAYLIST), log(2, Event::PlaylistUpserted(playlist()))),
        (entry(3, "content.upserted", CONTENT), log(3, Event::ContentUpserted(content()))),
        (entry(4, "schedule.upserted", SCHEDULE_TAG), log(4, Event::ScheduleUpserted(schedule_tag()))),
        (entry(5, "alert.upserted", ALERT), log(5, Event::AlertUpserted(alert()))),
        (entry(6, "device.removed", r#"{"id":"dev-1","rev":4}"#), log(6, Event::DeviceRemoved(removed("dev-1", 4)))),
        (entry(7, "playlist.removed", r#"{"id":"pl-7","rev":5}"#), log(7, Event::PlaylistRemoved(removed("pl-7", 5)))),
        (entry(8, "content.removed", r#"{"id":"c-2","rev":3}"#), log(8, Event::ContentRemoved(removed("c-2", 3)))),
        (
            entry(9, "schedule.removed", r#"{"id":"sch-2","rev":7}"#),
            log(9, Event::ScheduleRemoved(removed("sch-2", 7))),
        ),
        (
            entry(10, "device.status", r#"{"id":"dev-1","rev":4,"status":"offline","last_seen_ms":1764230390000}"#),
            log(
                10,
                Event::DeviceStatus(DeviceStatusData {
                    id: s("dev-1"),
                    rev: 4,
                    status: DeviceStatus::Offline,
                    last_seen_ms: 1_764_230_390_000,
                }),
            ),
        ),
        (
            entry(
                11,
                "schedule.executed",
                r#"{"schedule_id":"sch-2","device_id":"dev-1","playlist_id":"pl-8","at_ms":1764230400000,"outcome":"failed","error":"playlist empty"}"#,
            ),
            log(
                11,
                Event::ScheduleExecuted(ScheduleExecuted {
                    schedule_id: s("sch-2"),
                    device_id: s("dev-1"),
                    playlist_id: s("pl-8"),
                    at_ms: 1_764_230_400_000,
                    outcome: ExecutionOutcome::Failed,
                    error: Some(s("playlist empty")),
                }),
            ),
        ),
        (
            entry(
                12,
                "mutation.applied",
                r#"{"mutation_id":"01JD0001","client_id":"wall-3","kind":"playlist.rename"}"#,
            ),
            log(
                12,
                Event::MutationApplied(MutationApplied {
                    mutation_id: s("01JD0001"),
                    client_id: s("wall-3"),
                    kind: s("playlist.rename"),
                }),
            ),
        ),
    ]
}

#[test]
fn every_log_entry_type_round_trips() {
    let entries = every_entry();
    let mut types: Vec<&str> = entries.iter().map(|(_, e)| e.event.type_name()).collect();
    for (literal, expected) in &entries {
        assert_wire(literal, expected);
        assert_eq!(json(literal)["type"], expected.event.type_name());
    }
    types.sort_unstable();
    types.dedup();
    assert_eq!(types.len(), 12, "every type of the §4 table: {types:?}");
}

#[test]
fn event_data_decodes_from_parts() {
    for (literal, expected) in every_entry() {
        let wire = json(&literal);
        let ty = wire["type"].as_str().unwrap();
        let data = wire["data"].to_string();
        assert_eq!(Event::from_parts(ty, &data).unwrap(), expected.event, "{ty}");
        assert_eq!(Event::from_value(ty, wire["data"].clone()).unwrap(), expected.event, "{ty}");
    }
    assert!(Event::from_parts("device.removed", r#"{"id":"d","rev":1} x"#).is_err());
}

#[test]
fn schedule_executed_outcomes() {
    for (outcome, name) in
        [(ExecutionOutcome::Ok, "ok"), (ExecutionOutcome::Failed, "failed"), (ExecutionOutcome::Skipped, "skipped")]
    {
        let literal = format!(
            r#"{{"schedule_id":"sch-1","device_id":"dev-1","playlist_id":"pl-7","at_ms":10,"outcome":"{name}"}}"#
        );
        let expected = ScheduleExecuted {
            schedule_id: s("sch-1"),
            device_id: s("dev-1"),
            playlist_id: s("pl-7"),
            at_ms: 10,
            outcome,
            error: None,
        };
        assert_wire(&literal, &expected);
    }
    let with_null =
        r#"{"schedule_id":"sch-1","device_id":"dev-1","playlist_id":"pl-7","at_ms":10,"outcome":"ok","error":null}"#;
    assert_eq!(serde_json::from_str::<ScheduleExecuted>(with_null).unwrap().error, None);
}

#[test]
fn log_entry_with_data_before_type_decodes() {
    let literal = r#"{"data":{"id":"dev-1","rev":4},"seq":6,"type":"device.removed","ts_ms":1764230400123}"#;
    let expected = log(6, Event::DeviceRemoved(removed("dev-1", 4)));
    assert_eq!(serde_json::from_str::<LogEntry>(literal).unwrap(), expected);
    assert_eq!(serde_json::from_value::<LogEntry>(json(literal)).unwrap(), expected);
    // Buffered data still has to fit the type.
    let bad = r#"{"data":{"id":"dev-1"},"seq":6,"type":"device.removed","ts_ms":1}"#;
    let err = serde_json::from_str::<LogEntry>(bad).unwrap_err().to_string();
    assert!(err.contains("rev"), "{err}");
}

#[test]
fn log_entry_ignores_unknown_members() {
    let literal =
        r#"{"seq":6,"ts_ms":1764230400123,"v":2,"type":"device.removed","data":{"id":"dev-1","rev":4},"x":[1]}"#;
    assert_eq!(serde_json::from_str::<LogEntry>(literal).unwrap(), log(6, Event::DeviceRemoved(removed("dev-1", 4))));
}

#[test]
fn unknown_event_type_is_an_error() {
    for literal in [
        entry(1, "device.exploded", r#"{"id":"dev-1"}"#),
        r#"{"data":{"id":"dev-1"},"seq":1,"ts_ms":1,"type":"device.exploded"}"#.to_owned(),
    ] {
        let err = serde_json::from_str::<LogEntry>(&literal).unwrap_err().to_string();
        assert!(err.contains("device.exploded"), "{err}");
    }
    assert!(Event::from_parts("nope", "{}").is_err());
}

#[test]
fn log_entry_missing_members_are_errors() {
    for (literal, missing) in [
        (r#"{"ts_ms":1,"type":"device.removed","data":{"id":"d","rev":1}}"#, "seq"),
        (r#"{"seq":1,"type":"device.removed","data":{"id":"d","rev":1}}"#, "ts_ms"),
        (r#"{"seq":1,"ts_ms":1,"data":{"id":"d","rev":1}}"#, "type"),
        (r#"{"seq":1,"ts_ms":1,"type":"device.removed"}"#, "data"),
    ] {
        let err = serde_json::from_str::<LogEntry>(literal).unwrap_err().to_string();
        assert!(err.contains(missing), "{literal}: {err}");
    }
    assert!(serde_json::from_str::<LogEntry>("[1,2,3]").is_err());
}

#[test]
fn events_message_round_trips() {
    let literal = format!(
        r#"{{"epoch":"ep-1","items":[{},{}]}}"#,
        entry(6, "device.removed", r#"{"id":"dev-1","rev":4}"#),
        entry(7, "mutation.applied", r#"{"mutation_id":"m-1","client_id":"wall-3","kind":"device.remove"}"#),
    );
    let expected = Events {
        epoch: s("ep-1"),
        items: vec![
            log(6, Event::DeviceRemoved(removed("dev-1", 4))),
            log(
                7,
                Event::MutationApplied(MutationApplied {
                    mutation_id: s("m-1"),
                    client_id: s("wall-3"),
                    kind: s("device.remove"),
                }),
            ),
        ],
    };
    assert_wire(&literal, &expected);
    let bad = format!(r#"{{"epoch":"ep-1","items":[{}]}}"#, entry(6, "device.renamed", "{}"));
    assert!(serde_json::from_str::<Events>(&bad).is_err());
}

// ---- snapshots ---------------------------------------------------------------

fn page(kind: &str, items: &[&str], last: bool) -> String {
    format!(r#"{{"epoch":"ep-1","seq":1042,"kind":"{kind}","items":[{}],"last":{last}}}"#, items.join(","))
}

fn expected_page(kind: EntityKind, items: Vec<Entity>, last: bool) -> SnapshotPage {
    SnapshotPage { epoch: s("ep-1"), seq: 1042, kind, items, last }
}

#[test]
fn snapshot_page_of_each_kind_round_trips() {
    let cases = [
        (
            page("device", &[DEVICE_FULL, DEVICE_BARE], false),
            expected_page(
                EntityKind::Device,
                vec![Entity::Device(device_full()), Entity::Device(device_bare())],
                false,
            ),
        ),
        (
            page("playlist", &[PLAYLIST], true),
            expected_page(EntityKind::Playlist, vec![Entity::Playlist(playlist())], true),
        ),
        (page("content", &[CONTENT], true), expected_page(EntityKind::Content, vec![Entity::Content(content())], true)),
        (
            page("schedule", &[SCHEDULE_DEVICE, SCHEDULE_TAG], true),
            expected_page(
                EntityKind::Schedule,
                vec![Entity::Schedule(schedule_device()), Entity::Schedule(schedule_tag())],
                true,
            ),
        ),
        (
            page("alert", &[ALERT, ALERT_BARE], true),
            expected_page(EntityKind::Alert, vec![Entity::Alert(alert()), Entity::Alert(alert_bare())], true),
        ),
        (page("alert", &[], true), expected_page(EntityKind::Alert, vec![], true)),
    ];
    for (literal, expected) in &cases {
        assert_wire(literal, expected);
        for item in &expected.items {
            assert_eq!(item.kind(), expected.kind);
        }
    }
}

#[test]
fn entity_accessors_and_from_json() {
    let e = Entity::from_json(EntityKind::Schedule, SCHEDULE_TAG).unwrap();
    assert_eq!((e.kind(), e.id(), e.rev()), (EntityKind::Schedule, "sch-2", 6));
    assert_eq!(Entity::from_value(EntityKind::Device, json(DEVICE_BARE)).unwrap(), Entity::Device(device_bare()));
    assert!(Entity::from_json(EntityKind::Content, PLAYLIST).is_err());
}

#[test]
fn snapshot_item_error_names_the_index() {
    let broken = DEVICE_BARE.replace(r#""name":"dev-2","#, "");
    let literal = page("device", &[DEVICE_FULL, &broken], false);
    let err = serde_json::from_str::<SnapshotPage>(&literal).unwrap_err().to_string();
    assert!(err.contains("items[1]") && err.contains("device") && err.contains("name"), "{err}");
    // Items of another kind than the page says are refused too.
    let literal = page("playlist", &[PLAYLIST, CONTENT], true);
    let err = serde_json::from_str::<SnapshotPage>(&literal).unwrap_err().to_string();
    assert!(err.contains("items[1]"), "{err}");
    assert!(serde_json::from_str::<SnapshotPage>(&page("widget", &[], true)).is_err());
}
