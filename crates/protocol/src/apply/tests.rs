//! Every mutation kind applied to a small org, and every way one is refused.
//! Mutations are built from wire JSON, as the gateway receives them.

use serde_json::{Value, json};

use super::*;
use crate::entity::{ContentKind, DeviceStatus, ScheduleTarget, Severity};
use crate::event::DeviceStatusData;

const ORG: &str = "o1";

fn device(id: &str, org: &str, rev: u64) -> Device {
    Device {
        id: id.into(),
        org: org.into(),
        rev,
        name: format!("{id} name"),
        tags: vec!["lobby".into()],
        playlist_id: Some("p1".into()),
        status: DeviceStatus::Online,
        last_seen_ms: 5,
        health: None,
        playing: None,
    }
}

fn item(c: &str, d: u32) -> PlaylistItem {
    PlaylistItem { content_id: c.into(), duration_s: f64::from(d) }
}

fn playlist(id: &str, org: &str, rev: u64, items: Vec<PlaylistItem>) -> Playlist {
    Playlist { id: id.into(), org: org.into(), rev, name: format!("{id} name"), items }
}

fn content(id: &str, org: &str) -> Content {
    Content {
        id: id.into(),
        org: org.into(),
        rev: 1,
        name: format!("{id} name"),
        kind: ContentKind::Image,
        uri: format!("https://cdn/{id}.png"),
        duration_s: 10.0,
        size_bytes: 100,
    }
}

fn alert(id: &str, state: AlertState, rev: u64) -> Alert {
    Alert {
        id: id.into(),
        org: ORG.into(),
        rev,
        device_id: Some("d1".into()),
        severity: Severity::Critical,
        kind: "device_offline".into(),
        message: "offline".into(),
        raised_ms: 1,
        state,
        acked_by: None,
        muted_until_ms: None,
    }
}

/// o1: d1 (rev 3), p1 (rev 2, c1 c2 c3), p2 (rev 1, empty), c1..c3, s1 (rev 4),
/// a1 open, a2 resolved; plus one entity of each of some kinds in org o2.
fn state() -> OrgState {
    OrgState::from_entities([
        Entity::Device(device("d1", ORG, 3)),
        Entity::Device(device("x-dev", "o2", 1)),
        Entity::Playlist(playlist("p1", ORG, 2, vec![item("c1", 10), item("c2", 20), item("c3", 30)])),
        Entity::Playlist(playlist("p2", ORG, 1, vec![])),
        Entity::Playlist(playlist("x-pl", "o2", 1, vec![])),
        Entity::Content(content("c1", ORG)),
        Entity::Content(content("c2", ORG)),
        Entity::Content(content("c3", ORG)),
        Entity::Content(content("x-c", "o2")),
        Entity::Schedule(Schedule {
            id: "s1".into(),
            org: ORG.into(),
            rev: 4,
            name: "mornings".into(),
            playlist_id: "p1".into(),
            target: ScheduleTarget::Tag("lobby".into()),
            start_ms: 100,
            end_ms: Some(200),
            days: Some(vec![1, 2]),
            daily_from: Some("08:00".into()),
            daily_to: None,
            priority: 3,
            enabled: true,
        }),
        Entity::Alert(alert("a1", AlertState::Open, 1)),
        Entity::Alert(alert("a2", AlertState::Resolved, 5)),
    ])
}

fn ctx(role: Role) -> ApplyCtx {
    ApplyCtx { org: ORG.into(), role, sub: "u-7".into(), new_id: "srv-1".into() }
}

/// A mutation decoded from wire JSON.
#[track_caller]
fn mutation(kind: &str, target: Option<&str>, base_rev: Option<u64>, args: Value) -> Mutation {
    let v = json!({"mutation_id": "m1", "client_id": "wall-1", "kind": kind,
        "target": target, "base_rev": base_rev, "args": args});
    Mutation::decode(&v).unwrap_or_else(|e| panic!("{v} does not decode: {e}"))
}

#[track_caller]
fn ok_as(role: Role, m: &Mutation) -> Applied {
    let s = state();
    let a = apply(&s, m, &ctx(role)).unwrap_or_else(|r| panic!("{} refused: {r}", m.op.kind_name()));
    assert_eq!(s, state(), "apply leaves its input alone");
    a
}

#[track_caller]
fn ok(m: &Mutation) -> Applied {
    ok_as(Role::Operator, m)
}

#[track_caller]
fn refused_as(role: Role, m: &Mutation) -> Rejection {
    match apply(&state(), m, &ctx(role)) {
        Ok(a) => panic!("{} applied: {a:?}", m.op.kind_name()),
        Err(r) => r,
    }
}

#[track_caller]
fn refused(m: &Mutation) -> Rejection {
    refused_as(Role::Operator, m)
}

/// The field an `invalid` rejection names.
#[track_caller]
fn invalid_field(r: &Rejection) -> &str {
    assert_eq!(r.code, RejectCode::Invalid, "{r}");
    r.message.split(':').next().unwrap_or_default()
}

/// The state after folding in the change `m` makes.
#[track_caller]
fn after(m: &Mutation) -> OrgState {
    let mut s = state();
    if let Some(e) = ok(m).event {
        s.apply_event(&e);
    }
    s
}

#[test]
fn device_edits_bump_the_rev_and_keep_the_rest() {
    let a = ok(&mutation("device.rename", Some("d1"), Some(3), json!({"name": "Atrium"})));
    let mut want = device("d1", ORG, 4);
    want.name = "Atrium".into();
    assert_eq!((a.kind, a.id.as_str(), a.rev), (EntityKind::Device, "d1", 4));
    assert_eq!(a.event, Some(Event::DeviceUpserted(want)));

    let s = after(&mutation("device.set_tags", Some("d1"), Some(3), json!({"tags": ["b", "a", "b"]})));
    assert_eq!((s.devices["d1"].tags.clone(), s.devices["d1"].rev), (vec!["b".to_owned(), "a".to_owned()], 4));

    let s = after(&mutation("device.assign_playlist", Some("d1"), Some(3), json!({"playlist_id": "p2"})));
    assert_eq!((s.devices["d1"].playlist_id.as_deref(), s.devices["d1"].rev), (Some("p2"), 4));
    let s = after(&mutation("device.assign_playlist", Some("d1"), Some(3), json!({"playlist_id": null})));
    assert_eq!((s.devices["d1"].playlist_id.as_deref(), s.devices["d1"].rev), (None, 4), "null clears");
}

#[test]
fn device_restart_changes_nothing_at_any_rev() {
    let m = mutation("device.restart", Some("d1"), Some(99), json!({}));
    let a = ok(&m);
    assert_eq!((a.rev, &a.event), (3, &None));
    let events = a.into_events(&m);
    assert_eq!(events.len(), 1, "only mutation.applied: {events:?}");
    assert_eq!(events[0].type_name(), "mutation.applied");
    assert_eq!(refused(&mutation("device.restart", Some("d9"), None, json!({}))).code, RejectCode::NotFound);
}

#[test]
fn removals_are_changes_with_the_old_rev_plus_one() {
    let cases = [
        ("device.remove", "d1", 3, EntityKind::Device),
        ("playlist.delete", "p1", 2, EntityKind::Playlist),
        ("content.delete", "c1", 1, EntityKind::Content),
        ("schedule.delete", "s1", 4, EntityKind::Schedule),
    ];
    for (kind, id, rev, entity_kind) in cases {
        let m = mutation(kind, Some(id), Some(rev), json!({}));
        let a = ok_as(Role::Admin, &m);
        assert_eq!(a.rev, rev + 1, "{kind}");
        let event = a.event.clone().expect("a removal is a change");
        assert_eq!(event.type_name(), format!("{}.removed", entity_kind.as_str()));
        assert_eq!(event.entity_ref(), Some((entity_kind, id)));
        let mut s = state();
        s.apply_event(&event);
        assert!(!s.contains(entity_kind, id), "{kind} removes {id}");
        let types: Vec<_> = a.into_events(&m).iter().map(Event::type_name).collect();
        assert_eq!(types[1], "mutation.applied", "change first, then whose it was");
    }
}

#[test]
fn deleting_a_referenced_entity_leaves_references_dangling() {
    let s = {
        let mut s = state();
        let a = apply(&s, &mutation("content.delete", Some("c1"), Some(1), json!({})), &ctx(Role::Admin));
        s.apply_event(&a.expect("admin may delete").event.expect("a change"));
        s
    };
    assert_eq!(s.playlists["p1"].items[0].content_id, "c1", "no cascade");
}

#[test]
fn roles_decide_who_may_mutate_and_delete() {
    let rename = mutation("device.rename", Some("d1"), Some(3), json!({"name": "x"}));
    for role in [Role::Viewer, Role::Device] {
        let r = refused_as(role, &rename);
        assert_eq!(r.code, RejectCode::Forbidden, "{role:?}");
        assert!(r.message.contains(role.as_str()), "{r}");
    }
    for (kind, id, rev) in [
        ("device.remove", "d1", 3),
        ("playlist.delete", "p1", 2),
        ("content.delete", "c1", 1),
        ("schedule.delete", "s1", 4),
    ] {
        let m = mutation(kind, Some(id), Some(rev), json!({}));
        let r = refused_as(Role::Operator, &m);
        assert_eq!(r.code, RejectCode::Forbidden, "{kind} needs admin");
        assert!(r.message.contains(kind), "{r}");
        ok_as(Role::Admin, &m);
    }
    // Role comes before existence: a viewer learns nothing about ids.
    let ghost = mutation("device.rename", Some("nope"), Some(1), json!({"name": "x"}));
    assert_eq!(refused_as(Role::Viewer, &ghost).code, RejectCode::Forbidden);
    let create = mutation("playlist.create", None, None, json!({"name": "x"}));
    assert_eq!(refused_as(Role::Viewer, &create).code, RejectCode::Forbidden);
}

#[test]
fn missing_targets_and_other_orgs_entities_are_not_found() {
    let cases = [
        mutation("device.rename", Some("x-dev"), Some(1), json!({"name": "x"})),
        mutation("device.set_tags", Some("d9"), Some(1), json!({"tags": []})),
        mutation("playlist.rename", Some("x-pl"), Some(1), json!({"name": "x"})),
        mutation("playlist.add_item", Some("p9"), Some(1), json!({"content_id": "c1", "duration_s": 5})),
        mutation("content.update", Some("x-c"), Some(1), json!({"name": "x"})),
        mutation("schedule.set_enabled", Some("s9"), Some(1), json!({"enabled": false})),
        mutation("alert.ack", Some("a9"), None, json!({})),
    ];
    for m in cases {
        let r = refused_as(Role::Admin, &m);
        assert_eq!((r.code, &r.current), (RejectCode::NotFound, &None), "{}", m.op.kind_name());
        assert!(!r.message.contains("o2"), "reveals nothing about the other org: {r}");
    }
}

#[test]
fn base_rev_is_compared_on_checking_kinds_only() {
    let r = refused(&mutation("playlist.rename", Some("p1"), Some(1), json!({"name": "x"})));
    assert_eq!(r.code, RejectCode::Conflict);
    assert_eq!(
        r.current.as_deref(),
        state().get(EntityKind::Playlist, "p1").as_ref(),
        "conflict carries the entity now"
    );
    let ack = r.to_ack();
    let MutationAck::Rejected { current: Some(current), .. } = ack else { panic!("{ack:?}") };
    assert_eq!(current["rev"], 2);

    // Built in code rather than decoded: apply still refuses a missing base_rev.
    let mut m = mutation("playlist.rename", Some("p1"), Some(2), json!({"name": "x"}));
    m.base_rev = None;
    assert_eq!(invalid_field(&refused(&m)), "base_rev");
    let mut m = mutation("playlist.rename", Some("p1"), Some(2), json!({"name": "x"}));
    m.target = None;
    assert_eq!(invalid_field(&refused(&m)), "target");

    // Any-rev kinds ignore it.
    ok(&mutation("alert.mute", Some("a1"), Some(77), json!({"until_ms": 9})));
}

#[test]
fn creates_start_at_rev_one_in_the_callers_org() {
    let a = ok(&mutation(
        "playlist.create",
        None,
        None,
        json!({"id": "p7", "name": "New", "items": [{"content_id": "c2", "duration_s": 4}]}),
    ));
    let mut want = playlist("p7", ORG, 1, vec![item("c2", 4)]);
    want.name = "New".into();
    assert_eq!((a.id.as_str(), a.rev, a.event), ("p7", 1, Some(Event::PlaylistUpserted(want))));
    let a = ok(&mutation("playlist.create", None, None, json!({"name": "New"})));
    assert_eq!((a.id.as_str(), a.rev), ("srv-1", 1), "no explicit id: the server's");

    let a = ok(&mutation(
        "content.create",
        None,
        None,
        json!({"id": "c9", "name": "Promo", "kind": "video", "uri": "u", "duration_s": 15, "size_bytes": 0}),
    ));
    let Some(Event::ContentUpserted(c)) = a.event else { panic!("{a:?}") };
    assert_eq!((c.id.as_str(), c.org.as_str(), c.rev, c.kind, c.duration_s), ("c9", ORG, 1, ContentKind::Video, 15.0));
    let a = ok(&mutation(
        "content.create",
        None,
        None,
        json!({"name": "Promo", "kind": "web", "uri": "u", "duration_s": 1, "size_bytes": 3}),
    ));
    assert_eq!(a.id, "srv-1");
}

#[test]
fn a_create_with_an_existing_id_conflicts_with_current() {
    let r = refused(&mutation("playlist.create", None, None, json!({"id": "p1", "name": "x"})));
    assert_eq!(
        (r.code, r.current.as_deref()),
        (RejectCode::Conflict, state().get(EntityKind::Playlist, "p1").as_ref())
    );
    let r = refused(&mutation(
        "content.create",
        None,
        None,
        json!({"id": "c1", "name": "x", "kind": "web", "uri": "u", "duration_s": 1, "size_bytes": 0}),
    ));
    assert_eq!(r.code, RejectCode::Conflict);
    // The server's id is checked too (a reused id is the server's bug, not a silent overwrite).
    let mut c = ctx(Role::Operator);
    c.new_id = "s1".into();
    let m = mutation(
        "schedule.create",
        None,
        None,
        json!({"name": "n", "playlist_id": "p1", "target": {"tag": "t"}, "start_ms": 0}),
    );
    assert_eq!(apply(&state(), &m, &c).map_err(|r| r.code), Err(RejectCode::Conflict));
}

#[test]
fn references_must_exist_in_the_org() {
    let r = refused(&mutation(
        "playlist.create",
        None,
        None,
        json!({"name": "x", "items": [{"content_id": "c1", "duration_s": 1}, {"content_id": "x-c", "duration_s": 1}]}),
    ));
    assert_eq!(invalid_field(&r), "items[1].content_id");
    let r = refused(&mutation("playlist.add_item", Some("p1"), Some(2), json!({"content_id": "c9", "duration_s": 1})));
    assert_eq!(invalid_field(&r), "content_id");
    let r = refused(&mutation("device.assign_playlist", Some("d1"), Some(3), json!({"playlist_id": "x-pl"})));
    assert_eq!(invalid_field(&r), "playlist_id");
    let r = refused(&mutation(
        "schedule.create",
        None,
        None,
        json!({"name": "n", "playlist_id": "p9", "target": {"tag": "t"}, "start_ms": 0}),
    ));
    assert_eq!(invalid_field(&r), "playlist_id");
    let r = refused(&mutation("schedule.update", Some("s1"), Some(4), json!({"playlist_id": "p9"})));
    assert_eq!(invalid_field(&r), "playlist_id");
}

fn items_after(kind: &str, args: Value) -> Result<Vec<String>, String> {
    let m = mutation(kind, Some("p1"), Some(2), args);
    match apply(&state(), &m, &ctx(Role::Operator)) {
        Ok(Applied { event: Some(Event::PlaylistUpserted(p)), rev: 3, .. }) => {
            Ok(p.items.into_iter().map(|i| i.content_id).collect())
        }
        Ok(other) => panic!("{other:?}"),
        Err(r) => Err(invalid_field(&r).to_owned()),
    }
}

#[test]
fn playlist_items_are_added_removed_and_moved_within_range() {
    let ids = |v: &[&str]| Ok(v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    assert_eq!(
        items_after("playlist.add_item", json!({"content_id": "c1", "duration_s": 1})),
        ids(&["c1", "c2", "c3", "c1"]),
        "no index appends"
    );
    assert_eq!(
        items_after("playlist.add_item", json!({"content_id": "c3", "duration_s": 1, "index": 0})),
        ids(&["c3", "c1", "c2", "c3"])
    );
    assert_eq!(
        items_after("playlist.add_item", json!({"content_id": "c3", "duration_s": 1, "index": 3})),
        ids(&["c1", "c2", "c3", "c3"]),
        "index len is allowed"
    );
    assert_eq!(
        items_after("playlist.add_item", json!({"content_id": "c3", "duration_s": 1, "index": 4})),
        Err("index".into())
    );
    assert_eq!(items_after("playlist.remove_item", json!({"index": 1})), ids(&["c1", "c3"]));
    assert_eq!(items_after("playlist.remove_item", json!({"index": 3})), Err("index".into()));
    assert_eq!(items_after("playlist.move_item", json!({"from": 0, "to": 2})), ids(&["c2", "c3", "c1"]));
    assert_eq!(items_after("playlist.move_item", json!({"from": 2, "to": 0})), ids(&["c3", "c1", "c2"]));
    assert_eq!(
        items_after("playlist.move_item", json!({"from": 1, "to": 1})),
        ids(&["c1", "c2", "c3"]),
        "a no-op move still applies"
    );
    assert_eq!(items_after("playlist.move_item", json!({"from": 3, "to": 0})), Err("from".into()));
    assert_eq!(
        items_after("playlist.move_item", json!({"from": 0, "to": 3})),
        Err("to".into()),
        "to is in 0..len, not 0..=len"
    );
    assert_eq!(items_after("playlist.rename", json!({"name": "Foyer"})), ids(&["c1", "c2", "c3"]));

    let empty = |kind, args| invalid_field(&refused(&mutation(kind, Some("p2"), Some(1), args))).to_owned();
    assert_eq!(empty("playlist.remove_item", json!({"index": 0})), "index");
    assert_eq!(empty("playlist.move_item", json!({"from": 0, "to": 0})), "from");
}

#[test]
fn content_update_changes_only_the_given_fields() {
    let s = after(&mutation("content.update", Some("c1"), Some(1), json!({"uri": "https://cdn/new.png"})));
    let mut want = content("c1", ORG);
    want.uri = "https://cdn/new.png".into();
    want.rev = 2;
    assert_eq!(s.contents["c1"], want);
    let s = after(&mutation("content.update", Some("c1"), Some(1), json!({"name": "N", "duration_s": 7})));
    assert_eq!(
        (s.contents["c1"].name.as_str(), s.contents["c1"].duration_s, s.contents["c1"].uri.as_str()),
        ("N", 7.0, "https://cdn/c1.png")
    );
}

#[test]
fn schedule_create_always_gets_the_server_id_and_defaults() {
    let a = ok(&mutation(
        "schedule.create",
        None,
        None,
        json!({"id": "mine", "name": "n", "playlist_id": "p2", "target": {"device": "d1"}, "start_ms": 5}),
    ));
    let Some(Event::ScheduleUpserted(s)) = a.event else { panic!("{a:?}") };
    assert_eq!((s.id.as_str(), s.org.as_str(), s.rev, s.priority, s.enabled), ("srv-1", ORG, 1, 0, true));
    assert_eq!((s.end_ms, s.days, s.daily_from, s.daily_to), (None, None, None, None));
}

#[test]
fn schedule_update_applies_the_patch_and_an_end_before_the_start_never_applies() {
    let s = after(&mutation(
        "schedule.update",
        Some("s1"),
        Some(4),
        json!({"end_ms": null, "daily_from": null, "priority": -1, "name": "evenings"}),
    ));
    let got = &s.schedules["s1"];
    assert_eq!(
        (got.end_ms, got.daily_from.as_deref(), got.priority, got.name.as_str(), got.rev),
        (None, None, -1, "evenings", 5)
    );
    assert_eq!(
        (got.days.clone(), got.start_ms, got.playlist_id.as_str()),
        (Some(vec![1, 2]), 100, "p1"),
        "untouched fields stay"
    );

    // An end before the start is accepted (§8 sets no order): that schedule never applies.
    let s = after(&mutation("schedule.update", Some("s1"), Some(4), json!({"end_ms": 50})));
    assert_eq!((s.schedules["s1"].start_ms, s.schedules["s1"].end_ms), (100, Some(50)));
    assert!(!crate::schedule::active_at(&s.schedules["s1"], 150), "after its start, but past its end");
    let s = after(&mutation("schedule.update", Some("s1"), Some(4), json!({"start_ms": 300, "end_ms": null})));
    assert_eq!(s.schedules["s1"].start_ms, 300);

    let s = after(&mutation("schedule.set_enabled", Some("s1"), Some(4), json!({"enabled": false})));
    assert_eq!((s.schedules["s1"].enabled, s.schedules["s1"].rev), (false, 5));
}

#[test]
fn alert_mutations_apply_at_any_rev_except_acking_a_resolved_alert() {
    let s = after(&mutation("alert.ack", Some("a1"), None, json!({})));
    assert_eq!(
        (s.alerts["a1"].state, s.alerts["a1"].acked_by.as_deref(), s.alerts["a1"].rev),
        (AlertState::Acked, Some("u-7"), 2)
    );
    let twice = {
        let mut s2 = s.clone();
        let a = apply(&s, &mutation("alert.ack", Some("a1"), None, json!({})), &ctx(Role::Operator));
        s2.apply_event(&a.expect("acking twice applies").event.expect("a change"));
        s2
    };
    assert_eq!(twice.alerts["a1"].rev, 3, "every applied alert mutation is a change");

    let r = refused(&mutation("alert.ack", Some("a2"), None, json!({})));
    assert_eq!(invalid_field(&r), "state");
    let s = after(&mutation("alert.resolve", Some("a2"), None, json!({})));
    assert_eq!((s.alerts["a2"].state, s.alerts["a2"].rev), (AlertState::Resolved, 6), "resolving again still applies");
    let s = after(&mutation("alert.resolve", Some("a1"), None, json!({})));
    assert_eq!((s.alerts["a1"].state, s.alerts["a1"].acked_by.clone()), (AlertState::Resolved, None));
    let s = after(&mutation("alert.mute", Some("a2"), None, json!({"until_ms": 1234})));
    assert_eq!(
        (s.alerts["a2"].muted_until_ms, s.alerts["a2"].state, s.alerts["a2"].rev),
        (Some(1234), AlertState::Resolved, 6)
    );
}

#[test]
fn rejections_read_like_acks() {
    let r = refused(&mutation("playlist.remove_item", Some("p1"), Some(2), json!({"index": 9})));
    assert_eq!(r.to_string(), "invalid: index: must be in 0..3, got 9");
    assert_eq!(r.to_ack(), MutationAck::invalid(&ArgError::new("index", "must be in 0..3, got 9")));
}

#[test]
fn log_events_fold_into_state() {
    let mut s = state();
    let status = Event::DeviceStatus(DeviceStatusData {
        id: "d1".into(),
        rev: 4,
        status: DeviceStatus::Offline,
        last_seen_ms: 99,
    });
    s.apply_event(&status);
    let d = &s.devices["d1"];
    assert_eq!((d.status, d.rev, d.last_seen_ms, d.name.as_str()), (DeviceStatus::Offline, 4, 99, "d1 name"));

    let before = s.clone();
    s.apply_event(&Event::DeviceStatus(DeviceStatusData {
        id: "ghost".into(),
        rev: 1,
        status: DeviceStatus::Online,
        last_seen_ms: 1,
    }));
    s.apply_event(&Event::MutationApplied(MutationApplied {
        mutation_id: "m".into(),
        client_id: "c".into(),
        kind: "alert.ack".into(),
    }));
    assert_eq!(s, before, "unknown devices and non-state events change nothing");

    s.apply_event(&Event::ScheduleRemoved(Removed { id: "s1".into(), rev: 5 }));
    assert!(!s.contains(EntityKind::Schedule, "s1"));
    assert_eq!(s.len(), state().len() - 1);
    let copy = OrgState::from_entities(s.entities());
    assert_eq!(copy, s, "entities() and from_entities() round-trip");
}

#[test]
fn device_create_registers_a_device_before_it_connects_admin_only() {
    let state = OrgState::default();
    let m = |id: &str| {
        Mutation::decode(&serde_json::json!({
            "mutation_id": "m-dc", "client_id": "w", "kind": "device.create",
            "args": { "id": id, "name": "Till 9", "tags": ["north", "north"] }
        }))
        .expect("valid")
    };
    let ctx = |role| ApplyCtx { org: ORG.into(), role, sub: "u".into(), new_id: "server-made".into() };
    let forbidden = apply(&state, &m("dev-9"), &ctx(Role::Operator)).expect_err("operators may not");
    assert_eq!(forbidden.code, RejectCode::Forbidden);
    let applied = apply(&state, &m("dev-9"), &ctx(Role::Admin)).expect("admin may");
    let Some(Event::DeviceUpserted(d)) = &applied.event else { panic!("{:?}", applied.event) };
    assert_eq!((d.id.as_str(), d.rev, d.status, d.last_seen_ms), ("dev-9", 1, DeviceStatus::Unknown, 0));
    assert_eq!(d.tags, vec!["north".to_owned()]);
    let mut state = state;
    state.apply_event(&Event::DeviceUpserted(d.clone()));
    let again = apply(&state, &m("dev-9"), &ctx(Role::Admin)).expect_err("exists");
    assert_eq!(again.code, RejectCode::Conflict);
}
