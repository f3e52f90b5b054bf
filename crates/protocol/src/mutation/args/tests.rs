//! Field rules of PROTOCOL.md §8 (ranges, deduplication, update shapes),
//! checked through `Mutation::decode` so each error names its wire field.

use serde_json::json;

use crate::mutation::tests::{field_of, mutate, s};
use crate::mutation::{Mutation, MutationOp};

#[test]
fn names_must_be_non_empty_and_at_most_256_characters() {
    for kind in ["device.rename", "playlist.rename", "playlist.create"] {
        for bad in [json!(""), json!("x".repeat(257)), json!(null), json!(5)] {
            assert_eq!(field_of(mutate(kind, json!({ "name": bad }))), "name", "{kind}");
        }
        // The limit counts characters, not bytes; spaces are a name (§8: non-empty).
        for ok in ["x".repeat(256), "é".repeat(256), " ".into()] {
            let m = Mutation::decode(&mutate(kind, json!({ "name": ok }))).unwrap();
            assert_eq!(m.op.args_json()["name"], json!(ok), "{kind}");
        }
    }
    let create = json!({ "name": "", "kind": "image", "uri": "u", "duration_s": 1, "size_bytes": 1 });
    assert_eq!(field_of(mutate("content.create", create)), "name");
    assert_eq!(field_of(mutate("content.update", json!({ "name": "y".repeat(257) }))), "name");
}

#[test]
fn durations_are_positive_seconds_up_to_a_day_fractions_allowed() {
    for bad in [json!(0), json!(-5), json!(-0.5), json!("10"), json!(86_400.5), json!(u64::from(u32::MAX) + 1)] {
        let add = json!({ "content_id": "c-1", "duration_s": bad });
        assert_eq!(field_of(mutate("playlist.add_item", add)), "duration_s", "{bad}");
        let create = json!({ "name": "n", "kind": "image", "uri": "u", "duration_s": bad, "size_bytes": 0 });
        assert_eq!(field_of(mutate("content.create", create)), "duration_s", "{bad}");
        assert_eq!(field_of(mutate("content.update", json!({ "duration_s": bad }))), "duration_s");
    }
    assert_eq!(field_of(mutate("playlist.add_item", json!({ "content_id": "c-1" }))), "duration_s");
    let m = Mutation::decode(&mutate("playlist.add_item", json!({ "content_id": "c-1", "duration_s": 7.5 }))).unwrap();
    assert_eq!(m.op, MutationOp::PlaylistAddItem { content_id: s("c-1"), duration_s: 7.5, index: None });
}

#[test]
fn tags_are_capped_as_sent_before_duplicates_go() {
    let ok: Vec<String> = (0..64).map(|i| format!("t{i}")).collect();
    assert!(Mutation::decode(&mutate("device.set_tags", json!({ "tags": ok }))).is_ok());
    // 65 copies of one tag would deduplicate to one, but the cap counts what was sent.
    let same = vec!["lobby"; 65];
    assert_eq!(field_of(mutate("device.set_tags", json!({ "tags": same }))), "tags");
    let long = "x".repeat(129);
    assert_eq!(field_of(mutate("device.set_tags", json!({ "tags": ["a", long] }))), "tags[1]");
}

#[test]
fn a_tag_list_of_a_whole_frame_is_refused_quickly() {
    // 1 MiB of one-byte tags: refused on the count, before any per-tag work.
    let tags: Vec<String> = (0..200_000).map(|i| (i % 10).to_string()).collect();
    let e = Mutation::decode(&mutate("device.set_tags", json!({ "tags": tags }))).unwrap_err();
    assert_eq!(e.field, "tags");
    // And a list at the cap deduplicates in linear time (a HashSet, not Vec::contains).
    let tags: Vec<String> = (0..64).map(|i| format!("t{}", i % 8)).collect();
    let m = Mutation::decode(&mutate("device.set_tags", json!({ "tags": tags }))).unwrap();
    assert!(matches!(m.op, MutationOp::DeviceSetTags { ref tags } if tags.len() == 8));
}

#[test]
fn playlists_hold_at_most_a_thousand_items() {
    let item = json!({ "content_id": "c-1", "duration_s": 1 });
    let items = vec![item.clone(); 1000];
    assert!(Mutation::decode(&mutate("playlist.create", json!({ "name": "x", "items": items }))).is_ok());
    let items = vec![item; 1001];
    assert_eq!(field_of(mutate("playlist.create", json!({ "name": "x", "items": items }))), "items");
}

#[test]
fn integers_stop_at_two_to_the_53() {
    let max = (1u64 << 53) - 1;
    assert!(Mutation::decode(&mutate("alert.mute", json!({ "until_ms": max }))).is_ok());
    assert_eq!(field_of(mutate("alert.mute", json!({ "until_ms": max + 1 }))), "until_ms");
    let create = json!({ "name": "n", "kind": "image", "uri": "u", "duration_s": 1, "size_bytes": u64::MAX });
    assert_eq!(field_of(mutate("content.create", create)), "size_bytes");
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
    assert_eq!(m.op, MutationOp::PlaylistAddItem { content_id: s("c-1"), duration_s: 5.0, index: None });
}

#[test]
fn tags_are_deduplicated_keeping_order() {
    let m =
        Mutation::decode(&mutate("device.set_tags", json!({ "tags": ["lobby", "north", "lobby", "north"] }))).unwrap();
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
    // §8 bounds a uri only above: empty and 4,096 bytes are fine.
    for uri in [String::new(), "u".repeat(4096)] {
        let mut args = ok.clone();
        args["uri"] = json!(uri);
        assert!(Mutation::decode(&mutate("content.create", args)).is_ok(), "{} bytes", uri.len());
    }
    for (f, bad) in [
        ("kind", json!("audio")),
        ("uri", json!("u".repeat(4097))),
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
