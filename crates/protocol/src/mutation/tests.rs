//! `mutate` payloads as PROTOCOL.md §6 writes them, one per kind, decoded
//! and serialised back; the envelope rules of §8 (`base_rev`, `target`,
//! `kind`); and the three ack shapes. Field rules live beside `args` and
//! `schedule_args`.

use serde_json::{Value, json};

use super::*;
use crate::entity::ScheduleTarget;

/// Drops object members that are `null`: PROTOCOL.md §8 makes a null
/// optional field and a missing one mean the same.
fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            Value::Object(m.into_iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k, strip_nulls(v))).collect())
        }
        Value::Array(a) => Value::Array(a.into_iter().map(strip_nulls).collect()),
        v => v,
    }
}

fn parse(literal: &str) -> Value {
    serde_json::from_str(literal).expect("test literal is JSON")
}

#[track_caller]
fn decode(literal: &str) -> Mutation {
    Mutation::decode(&parse(literal)).unwrap_or_else(|e| panic!("{literal} refused: {e}"))
}

/// The field a rejected payload names.
#[track_caller]
pub(super) fn field_of(v: Value) -> String {
    match Mutation::decode(&v) {
        Ok(m) => panic!("accepted {v}: {m:?}"),
        Err(e) => e.field,
    }
}

/// A payload around `args` for `kind`, targeting `t-1` at rev 4.
pub(super) fn mutate(kind: &str, args: Value) -> Value {
    json!({ "mutation_id": "m-1", "client_id": "wall-3", "kind": kind, "target": "t-1",
            "base_rev": 4, "args": args })
}

// ---- every kind of §6, literal payload → op → same JSON -----------------------

pub(super) fn s(v: &str) -> String {
    v.to_owned()
}

/// One literal per kind of the §6 table, with the op it must decode to.
fn every_kind() -> Vec<(&'static str, MutationOp)> {
    vec![
        (
            r#"{"mutation_id":"01JD0001","client_id":"wall-3","kind":"device.rename","target":"dev-1","base_rev":4,"args":{"name":"Lobby left"}}"#,
            MutationOp::DeviceRename { name: s("Lobby left") },
        ),
        (
            r#"{"mutation_id":"01JD0002","client_id":"wall-3","kind":"device.set_tags","target":"dev-1","base_rev":5,"args":{"tags":["lobby","north"]}}"#,
            MutationOp::DeviceSetTags { tags: vec![s("lobby"), s("north")] },
        ),
        (
            r#"{"mutation_id":"01JD0003","client_id":"wall-3","kind":"device.assign_playlist","target":"dev-1","base_rev":6,"args":{"playlist_id":"pl-7"}}"#,
            MutationOp::DeviceAssignPlaylist { playlist_id: Some(s("pl-7")) },
        ),
        (
            r#"{"mutation_id":"01JD0004","client_id":"wall-3","kind":"device.assign_playlist","target":"dev-1","base_rev":7,"args":{"playlist_id":null}}"#,
            MutationOp::DeviceAssignPlaylist { playlist_id: None },
        ),
        (
            r#"{"mutation_id":"01JD0005","client_id":"wall-3","kind":"device.restart","target":"dev-1","args":{}}"#,
            MutationOp::DeviceRestart,
        ),
        (
            r#"{"mutation_id":"01JD0006","client_id":"wall-3","kind":"device.remove","target":"dev-1","base_rev":8,"args":{}}"#,
            MutationOp::DeviceRemove,
        ),
        (
            r#"{"mutation_id":"01JD0006b","client_id":"wall-3","kind":"device.create","args":{"id":"dev-9","name":"Till 9","tags":["north"],"playlist_id":"pl-7"}}"#,
            MutationOp::DeviceCreate {
                id: Some(s("dev-9")),
                name: s("Till 9"),
                tags: vec![s("north")],
                playlist_id: Some(s("pl-7")),
            },
        ),
        (
            r#"{"mutation_id":"01JD0007","client_id":"wall-3","kind":"playlist.create","args":{"id":"pl-9","name":"Lobby","items":[{"content_id":"c-1","duration_s":10},{"content_id":"c-2","duration_s":15}]}}"#,
            MutationOp::PlaylistCreate {
                id: Some(s("pl-9")),
                name: s("Lobby"),
                items: vec![
                    PlaylistItem { content_id: s("c-1"), duration_s: 10.0 },
                    PlaylistItem { content_id: s("c-2"), duration_s: 15.0 },
                ],
            },
        ),
        (
            r#"{"mutation_id":"01JD0008","client_id":"wall-3","kind":"playlist.create","args":{"name":"Empty","items":[]}}"#,
            MutationOp::PlaylistCreate { id: None, name: s("Empty"), items: vec![] },
        ),
        (
            r#"{"mutation_id":"01JD0009","client_id":"wall-3","kind":"playlist.rename","target":"pl-7","base_rev":4,"args":{"name":"Lobby"}}"#,
            MutationOp::PlaylistRename { name: s("Lobby") },
        ),
        (
            r#"{"mutation_id":"01JD0010","client_id":"wall-3","kind":"playlist.add_item","target":"pl-7","base_rev":5,"args":{"content_id":"c-3","duration_s":8,"index":1}}"#,
            MutationOp::PlaylistAddItem { content_id: s("c-3"), duration_s: 8.0, index: Some(1) },
        ),
        (
            r#"{"mutation_id":"01JD0011","client_id":"wall-3","kind":"playlist.add_item","target":"pl-7","base_rev":6,"args":{"content_id":"c-3","duration_s":8}}"#,
            MutationOp::PlaylistAddItem { content_id: s("c-3"), duration_s: 8.0, index: None },
        ),
        (
            r#"{"mutation_id":"01JD0012","client_id":"wall-3","kind":"playlist.remove_item","target":"pl-7","base_rev":7,"args":{"index":0}}"#,
            MutationOp::PlaylistRemoveItem { index: 0 },
        ),
        (
            r#"{"mutation_id":"01JD0013","client_id":"wall-3","kind":"playlist.move_item","target":"pl-7","base_rev":8,"args":{"from":2,"to":0}}"#,
            MutationOp::PlaylistMoveItem { from: 2, to: 0 },
        ),
        (
            r#"{"mutation_id":"01JD0014","client_id":"wall-3","kind":"playlist.delete","target":"pl-7","base_rev":9,"args":{}}"#,
            MutationOp::PlaylistDelete,
        ),
        (
            r#"{"mutation_id":"01JD0015","client_id":"wall-3","kind":"content.create","args":{"id":"c-9","name":"Promo","kind":"video","uri":"https://cdn.example/promo.mp4","duration_s":30,"size_bytes":1048576}}"#,
            MutationOp::ContentCreate {
                id: Some(s("c-9")),
                name: s("Promo"),
                kind: ContentKind::Video,
                uri: s("https://cdn.example/promo.mp4"),
                duration_s: 30.0,
                size_bytes: 1_048_576,
            },
        ),
        (
            r#"{"mutation_id":"01JD0016","client_id":"wall-3","kind":"content.create","args":{"name":"Menu","kind":"web","uri":"https://menu.example/","duration_s":60,"size_bytes":0}}"#,
            MutationOp::ContentCreate {
                id: None,
                name: s("Menu"),
                kind: ContentKind::Web,
                uri: s("https://menu.example/"),
                duration_s: 60.0,
                size_bytes: 0,
            },
        ),
        (
            r#"{"mutation_id":"01JD0017","client_id":"wall-3","kind":"content.update","target":"c-9","base_rev":2,"args":{"name":"Promo v2","duration_s":20}}"#,
            MutationOp::ContentUpdate { name: Some(s("Promo v2")), uri: None, duration_s: Some(20.0) },
        ),
        (
            r#"{"mutation_id":"01JD0018","client_id":"wall-3","kind":"content.update","target":"c-9","base_rev":3,"args":{"uri":"https://cdn.example/promo2.mp4"}}"#,
            MutationOp::ContentUpdate { name: None, uri: Some(s("https://cdn.example/promo2.mp4")), duration_s: None },
        ),
        (
            r#"{"mutation_id":"01JD0019","client_id":"wall-3","kind":"content.delete","target":"c-9","base_rev":4,"args":{}}"#,
            MutationOp::ContentDelete,
        ),
        (
            r#"{"mutation_id":"01JD0020","client_id":"wall-3","kind":"schedule.create","args":{"name":"Mornings","playlist_id":"pl-7","target":{"tag":"lobby"},"start_ms":1764230400000,"end_ms":1766822400000,"days":[1,2,3,4,5],"daily_from":"07:00","daily_to":"11:30","priority":5,"enabled":false}}"#,
            MutationOp::ScheduleCreate(ScheduleFields {
                name: s("Mornings"),
                playlist_id: s("pl-7"),
                target: ScheduleTarget::Tag(s("lobby")),
                start_ms: 1_764_230_400_000,
                end_ms: Some(1_766_822_400_000),
                days: Some(vec![1, 2, 3, 4, 5]),
                daily_from: Some(s("07:00")),
                daily_to: Some(s("11:30")),
                priority: 5,
                enabled: false,
            }),
        ),
        (
            r#"{"mutation_id":"01JD0021","client_id":"wall-3","kind":"schedule.update","target":"sch-1","base_rev":3,"args":{"priority":-2,"target":{"device":"dev-1"}}}"#,
            MutationOp::ScheduleUpdate(SchedulePatch {
                priority: Some(-2),
                target: Some(ScheduleTarget::Device(s("dev-1"))),
                ..SchedulePatch::default()
            }),
        ),
        (
            r#"{"mutation_id":"01JD0022","client_id":"wall-3","kind":"schedule.set_enabled","target":"sch-1","base_rev":4,"args":{"enabled":false}}"#,
            MutationOp::ScheduleSetEnabled { enabled: false },
        ),
        (
            r#"{"mutation_id":"01JD0023","client_id":"wall-3","kind":"schedule.delete","target":"sch-1","base_rev":5,"args":{}}"#,
            MutationOp::ScheduleDelete,
        ),
        (
            r#"{"mutation_id":"01JD0024","client_id":"wall-3","kind":"alert.ack","target":"al-1","args":{}}"#,
            MutationOp::AlertAck,
        ),
        (
            r#"{"mutation_id":"01JD0025","client_id":"wall-3","kind":"alert.resolve","target":"al-1","args":{}}"#,
            MutationOp::AlertResolve,
        ),
        (
            r#"{"mutation_id":"01JD0026","client_id":"wall-3","kind":"alert.mute","target":"al-1","args":{"until_ms":1764234000000}}"#,
            MutationOp::AlertMute { until_ms: 1_764_234_000_000 },
        ),
    ]
}

#[test]
fn every_kind_decodes_to_its_op_and_serialises_back() {
    for (literal, expected) in every_kind() {
        let wire = parse(literal);
        let m = decode(literal);
        assert_eq!(m.op, expected, "{literal}");
        assert_eq!(m.op.kind_name(), wire["kind"], "{literal}");
        assert_eq!(m.mutation_id, wire["mutation_id"].as_str().unwrap());
        assert_eq!(m.client_id, "wall-3");
        assert_eq!(m.target.as_deref(), wire["target"].as_str());
        assert_eq!(m.base_rev, wire["base_rev"].as_u64());
        let back = serde_json::to_value(&m).unwrap();
        assert_eq!(strip_nulls(back.clone()), strip_nulls(wire), "{literal}");
        assert_eq!(Mutation::decode(&back), Ok(m), "{back}");
    }
}

/// The kinds column of the §6 table, copied from PROTOCOL.md.
const PROTOCOL_KINDS: [&str; 22] = [
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

#[test]
fn the_table_covers_every_kind_of_protocol_md() {
    assert_eq!(MUTATION_KINDS, PROTOCOL_KINDS);
    let covered: Vec<&str> = every_kind().iter().map(|(_, op)| op.kind_name()).collect();
    for kind in PROTOCOL_KINDS {
        assert!(covered.contains(&kind), "no literal for {kind}");
    }
}

#[test]
fn example_of_section_6_decodes() {
    let m = decode(
        r#"{"mutation_id": "01JD...", "client_id": "wall-3", "kind": "playlist.rename",
            "target": "pl-7", "base_rev": 4, "args": {"name": "Lobby"}}"#,
    );
    let expected = Mutation {
        mutation_id: s("01JD..."),
        client_id: s("wall-3"),
        target: Some(s("pl-7")),
        base_rev: Some(4),
        op: MutationOp::PlaylistRename { name: s("Lobby") },
    };
    assert_eq!(m, expected);
    assert_eq!(serde_json::from_str::<Mutation>(&serde_json::to_string(&m).unwrap()).unwrap(), m);
}

#[test]
fn roles_and_entity_kinds_follow_the_table() {
    for (literal, op) in every_kind() {
        let kind = op.kind_name();
        let admin = matches!(
            kind,
            "device.remove" | "device.create" | "playlist.delete" | "content.delete" | "schedule.delete"
        );
        assert_eq!(op.needs_admin(), admin, "{kind}");
        assert_eq!(op.entity_kind().as_str(), kind.split('.').next().unwrap(), "{literal}");
    }
}

// ---- base_rev and target ------------------------------------------------------

/// Creates and the *any rev* kinds of §6 go without `base_rev`.
const NO_BASE_REV: [&str; 8] = [
    "device.restart",
    "device.create",
    "playlist.create",
    "content.create",
    "schedule.create",
    "alert.ack",
    "alert.resolve",
    "alert.mute",
];

#[test]
fn base_rev_missing_on_a_checking_kind_names_base_rev() {
    for (literal, op) in every_kind() {
        let mut wire = parse(literal);
        wire["target"] = json!("t-1");
        wire.as_object_mut().unwrap().remove("base_rev");
        let kind = op.kind_name();
        if NO_BASE_REV.contains(&kind) {
            assert!(!op.checks_rev(), "{kind}");
            assert_eq!(Mutation::decode(&wire).map(|m| m.op), Ok(op), "{kind}");
        } else {
            assert!(op.checks_rev(), "{kind}");
            assert_eq!(field_of(wire.clone()), "base_rev", "{kind}");
            wire["base_rev"] = Value::Null;
            assert_eq!(field_of(wire), "base_rev", "{kind} with base_rev null");
        }
    }
}

#[test]
fn base_rev_is_ignored_on_any_rev_kinds_and_creates() {
    for kind in ["device.restart", "alert.ack", "alert.resolve"] {
        let m = Mutation::decode(&mutate(kind, json!({}))).unwrap();
        assert!(!m.op.checks_rev(), "{kind}");
    }
    let m = Mutation::decode(&mutate("alert.mute", json!({ "until_ms": 5 }))).unwrap();
    assert!(!m.op.checks_rev());
    let m = Mutation::decode(&mutate("playlist.create", json!({ "name": "x" }))).unwrap();
    assert!(m.op.is_create() && !m.op.checks_rev());
}

#[test]
fn base_rev_must_be_an_unsigned_integer() {
    for bad in [json!("4"), json!(-1), json!(1.5)] {
        let mut wire = mutate("device.rename", json!({ "name": "x" }));
        wire["base_rev"] = bad;
        assert_eq!(field_of(wire), "base_rev");
    }
}

#[test]
fn target_is_required_except_on_creates() {
    let mut wire = mutate("device.rename", json!({ "name": "x" }));
    wire.as_object_mut().unwrap().remove("target");
    assert_eq!(field_of(wire.clone()), "target");
    wire["target"] = json!("");
    assert_eq!(field_of(wire.clone()), "target");
    wire["target"] = json!(7);
    assert_eq!(field_of(wire), "target");
    let mut create = mutate("playlist.create", json!({ "name": "x" }));
    create.as_object_mut().unwrap().remove("target");
    assert_eq!(Mutation::decode(&create).unwrap().target, None);
}

#[test]
fn ids_of_the_envelope_are_checked() {
    for f in ["mutation_id", "client_id"] {
        for bad in [Value::Null, json!(""), json!(12), json!("x".repeat(129))] {
            let mut wire = mutate("device.restart", json!({}));
            wire[f] = bad.clone();
            assert_eq!(field_of(wire), f, "{f} = {bad}");
        }
    }
    assert_eq!(Mutation::decode(&json!([1])).unwrap_err().field, "mutation");
}

// ---- kind and args ------------------------------------------------------------

#[test]
fn unknown_or_missing_kind_names_kind() {
    assert_eq!(field_of(mutate("device.explode", json!({}))), "kind");
    assert_eq!(field_of(mutate("", json!({}))), "kind");
    let mut wire = mutate("device.rename", json!({ "name": "x" }));
    wire.as_object_mut().unwrap().remove("kind");
    assert_eq!(field_of(wire.clone()), "kind");
    wire["kind"] = json!(3);
    assert_eq!(field_of(wire), "kind");
}

#[test]
fn args_must_be_an_object_and_may_be_left_out_when_empty() {
    assert_eq!(field_of(mutate("device.rename", json!(["x"]))), "args");
    assert_eq!(field_of(mutate("device.restart", json!("x"))), "args");
    for kind in ["device.restart", "device.remove", "alert.ack", "schedule.delete"] {
        let mut wire = mutate(kind, json!({}));
        wire.as_object_mut().unwrap().remove("args");
        assert!(Mutation::decode(&wire).is_ok(), "{kind} without args");
    }
}

#[test]
fn unknown_args_are_ignored_outside_the_update_kinds() {
    let m = Mutation::decode(&mutate("device.rename", json!({ "name": "x", "colour": "red" }))).unwrap();
    assert_eq!(m.op, MutationOp::DeviceRename { name: s("x") });
    assert_eq!(m.op.args_json(), json!({ "name": "x" }));
    let m = Mutation::decode(&mutate("alert.ack", json!({ "note": 1 }))).unwrap();
    assert_eq!(m.op, MutationOp::AlertAck);
}
// ---- acks --------------------------------------------------------------------

#[track_caller]
fn assert_ack(literal: &str, expected: MutationAck) {
    let decoded: MutationAck = serde_json::from_str(literal).unwrap();
    assert_eq!(decoded, expected, "{literal}");
    assert_eq!(serde_json::to_value(&expected).unwrap(), parse(literal), "{literal}");
}

#[test]
fn ack_applied() {
    assert_ack(r#"{"status":"applied","seq":5,"rev":2}"#, MutationAck::Applied { seq: 5, rev: 2 });
}

#[test]
fn ack_rejected_with_and_without_current() {
    let current = json!({ "id": "pl-7", "org": "o1", "rev": 5, "name": "Hall", "items": [] });
    assert_ack(
        r#"{"status":"rejected","code":"conflict","message":"base_rev 4, entity is at 5","current":{"id":"pl-7","org":"o1","rev":5,"name":"Hall","items":[]}}"#,
        MutationAck::Rejected {
            code: RejectCode::Conflict,
            message: s("base_rev 4, entity is at 5"),
            current: Some(current),
        },
    );
    for (code, wire) in [
        (RejectCode::NotFound, "not_found"),
        (RejectCode::Forbidden, "forbidden"),
        (RejectCode::Invalid, "invalid"),
        (RejectCode::RateLimited, "rate_limited"),
    ] {
        let literal = format!(r#"{{"status":"rejected","code":"{wire}","message":"m"}}"#);
        assert_ack(&literal, MutationAck::rejected(code, "m"));
    }
    let null_current = r#"{"status":"rejected","code":"not_found","message":"m","current":null}"#;
    assert_eq!(
        serde_json::from_str::<MutationAck>(null_current).unwrap(),
        MutationAck::rejected(RejectCode::NotFound, "m")
    );
}

#[test]
fn ack_duplicate_with_and_without_original_values() {
    assert_ack(r#"{"status":"duplicate"}"#, MutationAck::Duplicate { seq: None, rev: None });
    assert_ack(r#"{"status":"duplicate","seq":5,"rev":2}"#, MutationAck::Duplicate { seq: Some(5), rev: Some(2) });
}

#[test]
fn ack_of_an_unknown_status_or_code_is_refused() {
    assert!(serde_json::from_str::<MutationAck>(r#"{"status":"pending"}"#).is_err());
    assert!(serde_json::from_str::<MutationAck>(r#"{"status":"rejected","code":"nope","message":"m"}"#).is_err());
    assert!(serde_json::from_str::<MutationAck>(r#"{"status":"applied","seq":5}"#).is_err());
}

#[test]
fn invalid_ack_message_names_the_field() {
    let err = Mutation::decode(&mutate("device.rename", json!({ "name": "" }))).unwrap_err();
    let MutationAck::Rejected { code, message, current } = MutationAck::invalid(&err) else {
        panic!("not a rejection");
    };
    assert_eq!((code, current), (RejectCode::Invalid, None));
    assert!(message.starts_with("name: "), "{message}");
}

#[test]
fn deserialize_impl_reports_the_field() {
    let err = serde_json::from_value::<Mutation>(mutate("device.rename", json!({}))).unwrap_err();
    assert!(err.to_string().starts_with("name: "), "{err}");
}

#[test]
fn a_schedule_update_reads_null_as_left_out_except_on_fields_null_clears() {
    let update = |args: &str| {
        let text = format!(
            r#"{{"mutation_id":"m","client_id":"c","kind":"schedule.update","target":"sch-1","base_rev":1,"args":{args}}}"#
        );
        Mutation::decode(&parse(&text)).map(|m| m.op)
    };
    // PROTOCOL.md §8: optional fields may be sent as null or left out.
    assert_eq!(
        update(
            r#"{"name":null,"priority":null,"enabled":null,"start_ms":null,"target":null,"playlist_id":null,"end_ms":null}"#
        ),
        Ok(MutationOp::ScheduleUpdate(SchedulePatch { end_ms: Some(None), ..SchedulePatch::default() })),
        "null clears end_ms and leaves the others as they are"
    );
    assert_eq!(
        update(r#"{"name":null,"priority":3}"#),
        Ok(MutationOp::ScheduleUpdate(SchedulePatch { priority: Some(3), ..SchedulePatch::default() }))
    );
    let empty = update(r#"{"name":null}"#).unwrap_err();
    assert_eq!(empty.field, "args", "nothing to change: {empty}");
}
