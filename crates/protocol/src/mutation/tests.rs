//! `mutate` payloads as PROTOCOL.md §6 writes them, the validation rules of
//! §8 (each error naming its field), and the three ack shapes.

use serde_json::{Value, json};

use super::*;
use crate::entity::ScheduleTarget;

/// Drops object members that are `null`: PROTOCOL.md §8 makes a null
/// optional field and a missing one mean the same.
fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k, strip_nulls(v))).collect(),
        ),
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
fn field_of(v: Value) -> String {
    match Mutation::decode(&v) {
        Ok(m) => panic!("accepted {v}: {m:?}"),
        Err(e) => e.field,
    }
}

/// A payload around `args` for `kind`, targeting `t-1` at rev 4.
fn mutate(kind: &str, args: Value) -> Value {
    json!({ "mutation_id": "m-1", "client_id": "wall-3", "kind": kind, "target": "t-1",
            "base_rev": 4, "args": args })
}

fn fields(a: Value) -> ScheduleFields {
    match MutationOp::parse("schedule.create", &a) {
        Ok(MutationOp::ScheduleCreate(f)) => f,
        other => panic!("{a}: {other:?}"),
    }
}

fn patch(a: Value) -> Result<SchedulePatch, ArgError> {
    MutationOp::parse("schedule.update", &a).map(|op| match op {
        MutationOp::ScheduleUpdate(p) => p,
        other => panic!("{other:?}"),
    })
}

// ---- every kind of §6, literal payload → op → same JSON -----------------------

fn s(v: &str) -> String {
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
            r#"{"mutation_id":"01JD0007","client_id":"wall-3","kind":"playlist.create","args":{"id":"pl-9","name":"Lobby","items":[{"content_id":"c-1","duration_s":10},{"content_id":"c-2","duration_s":15}]}}"#,
            MutationOp::PlaylistCreate {
                id: Some(s("pl-9")),
                name: s("Lobby"),
                items: vec![
                    PlaylistItem { content_id: s("c-1"), duration_s: 10 },
                    PlaylistItem { content_id: s("c-2"), duration_s: 15 },
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
            MutationOp::PlaylistAddItem { content_id: s("c-3"), duration_s: 8, index: Some(1) },
        ),
        (
            r#"{"mutation_id":"01JD0011","client_id":"wall-3","kind":"playlist.add_item","target":"pl-7","base_rev":6,"args":{"content_id":"c-3","duration_s":8}}"#,
            MutationOp::PlaylistAddItem { content_id: s("c-3"), duration_s: 8, index: None },
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
                duration_s: 30,
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
                duration_s: 60,
                size_bytes: 0,
            },
        ),
        (
            r#"{"mutation_id":"01JD0017","client_id":"wall-3","kind":"content.update","target":"c-9","base_rev":2,"args":{"name":"Promo v2","duration_s":20}}"#,
            MutationOp::ContentUpdate { name: Some(s("Promo v2")), uri: None, duration_s: Some(20) },
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

#[test]
fn the_table_covers_every_kind_of_protocol_md() {
    let covered: Vec<&str> = every_kind().iter().map(|(_, op)| op.kind_name()).collect();
    for kind in MUTATION_KINDS {
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
        let admin = matches!(kind, "device.remove" | "playlist.delete" | "content.delete" | "schedule.delete");
        assert_eq!(op.needs_admin(), admin, "{kind}");
        assert_eq!(op.entity_kind().as_str(), kind.split('.').next().unwrap(), "{literal}");
    }
}

// ---- base_rev and target ------------------------------------------------------

/// Creates and the *any rev* kinds of §6 go without `base_rev`.
const NO_BASE_REV: [&str; 7] = [
    "device.restart",
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

#[test]
fn names_must_be_non_empty_and_at_most_256_characters() {
    for kind in ["device.rename", "playlist.rename", "playlist.create"] {
        for bad in [json!(""), json!("   "), json!("x".repeat(257)), json!(null), json!(5)] {
            assert_eq!(field_of(mutate(kind, json!({ "name": bad }))), "name", "{kind}");
        }
        // The limit counts characters, not bytes.
        for ok in ["x".repeat(256), "é".repeat(256)] {
            let m = Mutation::decode(&mutate(kind, json!({ "name": ok }))).unwrap();
            assert_eq!(m.op.args_json()["name"], json!(ok), "{kind}");
        }
    }
    let create = json!({ "name": "", "kind": "image", "uri": "u", "duration_s": 1, "size_bytes": 1 });
    assert_eq!(field_of(mutate("content.create", create)), "name");
    assert_eq!(field_of(mutate("content.update", json!({ "name": "y".repeat(257) }))), "name");
}

#[test]
fn durations_must_be_positive_whole_seconds() {
    for bad in [json!(0), json!(-5), json!(2.5), json!("10"), json!(u64::from(u32::MAX) + 1)] {
        let add = json!({ "content_id": "c-1", "duration_s": bad });
        assert_eq!(field_of(mutate("playlist.add_item", add)), "duration_s", "{bad}");
        let create = json!({ "name": "n", "kind": "image", "uri": "u", "duration_s": bad, "size_bytes": 0 });
        assert_eq!(field_of(mutate("content.create", create)), "duration_s", "{bad}");
        assert_eq!(field_of(mutate("content.update", json!({ "duration_s": bad }))), "duration_s");
    }
    assert_eq!(field_of(mutate("playlist.add_item", json!({ "content_id": "c-1" }))), "duration_s");
}

#[test]
fn playlist_item_errors_name_the_index_and_field() {
    let items = json!([
        { "content_id": "c-1", "duration_s": 10 },
        { "content_id": "c-2", "duration_s": 0 },
    ]);
    let err = Mutation::decode(&mutate("playlist.create", json!({ "name": "x", "items": items }))).unwrap_err();
    assert_eq!(err.field, "items[1].duration_s");
    assert!(err.to_string().starts_with("items[1].duration_s: "), "{err}");

    let items = json!([{ "content_id": "c-1", "duration_s": 10 }, { "duration_s": 5 }]);
    assert_eq!(field_of(mutate("playlist.create", json!({ "name": "x", "items": items }))), "items[1].content_id");
    let items = json!([{ "content_id": "c-1", "duration_s": 10 }, { "content_id": "c-2" }]);
    assert_eq!(field_of(mutate("playlist.create", json!({ "name": "x", "items": items }))), "items[1].duration_s");
    assert_eq!(field_of(mutate("playlist.create", json!({ "name": "x", "items": ["c-1"] }))), "items[0]");
    assert_eq!(field_of(mutate("playlist.create", json!({ "name": "x", "items": {} }))), "items");
}

#[test]
fn playlist_create_items_are_optional() {
    for args in [json!({ "name": "x" }), json!({ "name": "x", "items": null, "id": null })] {
        let m = Mutation::decode(&mutate("playlist.create", args)).unwrap();
        assert_eq!(m.op, MutationOp::PlaylistCreate { id: None, name: s("x"), items: vec![] });
    }
}

#[test]
fn item_positions_are_required_unsigned_integers() {
    assert_eq!(field_of(mutate("playlist.remove_item", json!({}))), "index");
    assert_eq!(field_of(mutate("playlist.remove_item", json!({ "index": -1 }))), "index");
    assert_eq!(field_of(mutate("playlist.move_item", json!({ "to": 1 }))), "from");
    assert_eq!(field_of(mutate("playlist.move_item", json!({ "from": 1, "to": "2" }))), "to");
    let add = json!({ "content_id": "c-1", "duration_s": 5, "index": 1.5 });
    assert_eq!(field_of(mutate("playlist.add_item", add)), "index");
    let add = json!({ "content_id": "c-1", "duration_s": 5, "index": null });
    let m = Mutation::decode(&mutate("playlist.add_item", add)).unwrap();
    assert_eq!(m.op, MutationOp::PlaylistAddItem { content_id: s("c-1"), duration_s: 5, index: None });
}

#[test]
fn tags_are_deduplicated_keeping_order() {
    let m = Mutation::decode(&mutate("device.set_tags", json!({ "tags": ["lobby", "north", "lobby", "north"] })))
        .unwrap();
    assert_eq!(m.op, MutationOp::DeviceSetTags { tags: vec![s("lobby"), s("north")] });
    let m = Mutation::decode(&mutate("device.set_tags", json!({ "tags": [] }))).unwrap();
    assert_eq!(m.op, MutationOp::DeviceSetTags { tags: vec![] });
    assert_eq!(field_of(mutate("device.set_tags", json!({ "tags": ["a", 1] }))), "tags[1]");
    assert_eq!(field_of(mutate("device.set_tags", json!({ "tags": [""] }))), "tags[0]");
    assert_eq!(field_of(mutate("device.set_tags", json!({ "tags": "lobby" }))), "tags");
    assert_eq!(field_of(mutate("device.set_tags", json!({}))), "tags");
}

#[test]
fn content_create_checks_each_field() {
    let ok = json!({ "name": "n", "kind": "image", "uri": "u", "duration_s": 1, "size_bytes": 0 });
    assert!(Mutation::decode(&mutate("content.create", ok.clone())).is_ok());
    for (f, bad) in [
        ("kind", json!("audio")),
        ("uri", json!("")),
        ("size_bytes", json!(-1)),
        ("id", json!("")),
        ("name", json!(null)),
    ] {
        let mut args = ok.clone();
        args[f] = bad;
        assert_eq!(field_of(mutate("content.create", args)), f);
    }
}

#[test]
fn content_update_needs_known_fields_and_at_least_one() {
    assert_eq!(field_of(mutate("content.update", json!({}))), "args");
    assert_eq!(field_of(mutate("content.update", json!({ "size_bytes": 5 }))), "size_bytes");
    assert_eq!(field_of(mutate("content.update", json!({ "name": "x", "colour": "red" }))), "colour");
    let mut wire = mutate("content.update", json!({}));
    wire.as_object_mut().unwrap().remove("args");
    assert_eq!(field_of(wire), "args");
}

#[test]
fn content_update_of_only_nulls_is_an_empty_update() {
    // §8: a null optional field is a field left out, so this changes nothing.
    assert_eq!(field_of(mutate("content.update", json!({ "name": null }))), "args");
    let all = json!({ "name": null, "uri": null, "duration_s": null });
    assert_eq!(field_of(mutate("content.update", all)), "args");
    let m = Mutation::decode(&mutate("content.update", json!({ "name": null, "uri": "u2" }))).unwrap();
    assert_eq!(m.op, MutationOp::ContentUpdate { name: None, uri: Some(s("u2")), duration_s: None });
}

#[test]
fn simple_fields_are_required_and_typed() {
    assert_eq!(field_of(mutate("schedule.set_enabled", json!({}))), "enabled");
    assert_eq!(field_of(mutate("schedule.set_enabled", json!({ "enabled": "yes" }))), "enabled");
    assert_eq!(field_of(mutate("alert.mute", json!({}))), "until_ms");
    assert_eq!(field_of(mutate("alert.mute", json!({ "until_ms": -1 }))), "until_ms");
    assert_eq!(field_of(mutate("device.assign_playlist", json!({ "playlist_id": "" }))), "playlist_id");
    assert_eq!(field_of(mutate("device.assign_playlist", json!({ "playlist_id": 3 }))), "playlist_id");
}

// ---- schedules ----------------------------------------------------------------

fn minimal_schedule() -> Value {
    json!({ "name": "All day", "playlist_id": "pl-1", "target": { "device": "dev-1" }, "start_ms": 1000 })
}

#[test]
fn schedule_create_defaults() {
    let expected = ScheduleFields {
        name: s("All day"),
        playlist_id: s("pl-1"),
        target: ScheduleTarget::Device(s("dev-1")),
        start_ms: 1000,
        end_ms: None,
        days: None,
        daily_from: None,
        daily_to: None,
        priority: 0,
        enabled: true,
    };
    assert_eq!(fields(minimal_schedule()), expected);
    // Optional fields sent as null mean the same as left out.
    let mut with_nulls = minimal_schedule();
    for f in ["end_ms", "days", "daily_from", "daily_to", "priority", "enabled"] {
        with_nulls[f] = Value::Null;
    }
    assert_eq!(fields(with_nulls), expected);
}

#[test]
fn schedule_create_required_fields() {
    for f in ["name", "playlist_id", "target", "start_ms"] {
        let mut args = minimal_schedule();
        args.as_object_mut().unwrap().remove(f);
        assert_eq!(field_of(json!({ "mutation_id": "m", "client_id": "c", "kind": "schedule.create", "args": args })), f);
    }
}

#[test]
fn schedule_targets() {
    let with = |t: Value| {
        let mut a = minimal_schedule();
        a["target"] = t;
        MutationOp::parse("schedule.create", &a)
    };
    let tag = with(json!({ "tag": "lobby" })).unwrap();
    assert!(matches!(tag, MutationOp::ScheduleCreate(f) if f.target == ScheduleTarget::Tag(s("lobby"))));
    for bad in [json!({}), json!({ "device": "d", "tag": "t" }), json!({ "site": "x" }), json!("dev-1")] {
        assert_eq!(with(bad.clone()).unwrap_err().field, "target", "{bad}");
    }
    assert_eq!(with(json!({ "device": "" })).unwrap_err().field, "target.device");
    assert_eq!(with(json!({ "tag": 5 })).unwrap_err().field, "target.tag");
}

#[test]
fn schedule_days_windows_and_priority() {
    let with = |f: &str, v: Value| {
        let mut a = minimal_schedule();
        a[f] = v;
        MutationOp::parse("schedule.create", &a).map(|op| match op {
            MutationOp::ScheduleCreate(f) => f,
            other => panic!("{other:?}"),
        })
    };
    assert_eq!(with("days", json!([5, 1, 5, 0])).unwrap().days, Some(vec![0, 1, 5]));
    assert_eq!(with("days", json!([1, 7])).unwrap_err().field, "days[1]");
    assert_eq!(with("days", json!("mon")).unwrap_err().field, "days");
    assert_eq!(with("daily_from", json!("24:00")).unwrap().daily_from.as_deref(), Some("24:00"));
    for bad in ["25:00", "7:00", "07:60", "0700", "24:01"] {
        assert_eq!(with("daily_from", json!(bad)).unwrap_err().field, "daily_from", "{bad}");
        assert_eq!(with("daily_to", json!(bad)).unwrap_err().field, "daily_to", "{bad}");
    }
    assert_eq!(with("end_ms", json!(999)).unwrap_err().field, "end_ms");
    assert_eq!(with("end_ms", json!(1000)).unwrap().end_ms, Some(1000));
    assert_eq!(with("priority", json!(-7)).unwrap().priority, -7);
    assert_eq!(with("priority", json!(i64::from(i32::MAX) + 1)).unwrap_err().field, "priority");
    assert_eq!(with("enabled", json!(1)).unwrap_err().field, "enabled");
}

#[test]
fn schedule_update_needs_known_fields_and_at_least_one() {
    assert_eq!(patch(json!({})).unwrap_err().field, "args");
    assert_eq!(patch(Value::Null).unwrap_err().field, "args");
    assert_eq!(patch(json!({ "id": "sch-2" })).unwrap_err().field, "id");
    assert_eq!(patch(json!({ "priority": 1, "rev": 3 })).unwrap_err().field, "rev");
    assert_eq!(patch(json!({ "name": "" })).unwrap_err().field, "name");
    assert_eq!(patch(json!({ "target": { "tag": "" } })).unwrap_err().field, "target.tag");
}

#[test]
fn schedule_update_null_clears_a_nullable_field() {
    let p = patch(json!({ "end_ms": null, "days": [3, 1], "daily_to": "18:00" })).unwrap();
    let expected = SchedulePatch {
        end_ms: Some(None),
        days: Some(Some(vec![1, 3])),
        daily_to: Some(Some(s("18:00"))),
        ..SchedulePatch::default()
    };
    assert_eq!(p, expected);
    // Serialising keeps the explicit null: it means "clear", not "unchanged".
    let m = Mutation::decode(&mutate("schedule.update", json!({ "end_ms": null, "days": [3, 1], "daily_to": "18:00" })))
        .unwrap();
    assert_eq!(
        serde_json::to_value(&m).unwrap()["args"],
        json!({ "end_ms": null, "days": [1, 3], "daily_to": "18:00" })
    );
}

#[test]
fn schedule_update_of_every_field_round_trips_exactly() {
    let args = json!({ "name": "Evenings", "playlist_id": "pl-2", "target": { "tag": "bar" },
        "start_ms": 10, "end_ms": 20, "days": [0, 6], "daily_from": "18:00", "daily_to": "23:59",
        "priority": 3, "enabled": true });
    let m = Mutation::decode(&mutate("schedule.update", args.clone())).unwrap();
    assert_eq!(serde_json::to_value(&m).unwrap(), mutate("schedule.update", args));
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
    assert_eq!(serde_json::from_str::<MutationAck>(null_current).unwrap(), MutationAck::rejected(RejectCode::NotFound, "m"));
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

