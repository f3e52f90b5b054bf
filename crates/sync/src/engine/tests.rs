//! Scenarios of one client: optimistic changes, confirmation without
//! flicker, rollbacks, retries, gaps, epochs and snapshots.

use serde_json::json;
use vizora_protocol::{
    Alert, AlertState, Content, ContentKind, Device, DeviceStatus, DeviceStatusData, MutationApplied, Playlist, Role,
    Severity,
};

use super::*;

const ORG: &str = "o1";
const ME: &str = "wall-1";

fn device(id: &str, rev: u64, name: &str) -> Entity {
    Entity::Device(Device {
        id: id.into(),
        org: ORG.into(),
        rev,
        name: name.into(),
        tags: vec![],
        playlist_id: None,
        status: DeviceStatus::Online,
        last_seen_ms: 1,
        health: None,
        playing: None,
    })
}

fn playlist(id: &str, rev: u64, name: &str) -> Entity {
    Entity::Playlist(Playlist { id: id.into(), org: ORG.into(), rev, name: name.into(), items: vec![] })
}

fn alert(id: &str, rev: u64, state: AlertState) -> Entity {
    Entity::Alert(Alert {
        id: id.into(),
        org: ORG.into(),
        rev,
        device_id: None,
        severity: Severity::Warning,
        kind: "device_degraded".into(),
        message: "hot".into(),
        raised_ms: 1,
        state,
        acked_by: None,
        muted_until_ms: None,
    })
}

fn content(id: &str) -> Entity {
    Entity::Content(Content {
        id: id.into(),
        org: ORG.into(),
        rev: 1,
        name: id.into(),
        kind: ContentKind::Image,
        uri: "u".into(),
        duration_s: 5.0,
        size_bytes: 1,
    })
}

fn ctx(new_id: &str) -> ApplyCtx {
    ApplyCtx { org: ORG.into(), role: Role::Operator, sub: "u1".into(), new_id: new_id.into() }
}

fn mutation(id: &str, kind: &str, target: Option<&str>, base_rev: Option<u64>, args: serde_json::Value) -> Mutation {
    let v =
        json!({"mutation_id": id, "client_id": ME, "kind": kind, "target": target, "base_rev": base_rev, "args": args});
    Mutation::decode(&v).expect("test mutation decodes")
}

fn rename(id: &str, target: &str, base_rev: u64, name: &str) -> Mutation {
    mutation(id, "device.rename", Some(target), Some(base_rev), json!({"name": name}))
}

fn entry(seq: u64, event: Event) -> LogEntry {
    LogEntry { seq, ts_ms: seq, event }
}

fn applied(m: &Mutation) -> Event {
    Event::MutationApplied(MutationApplied {
        mutation_id: m.mutation_id.clone(),
        client_id: m.client_id.clone(),
        kind: m.op.kind_name().into(),
    })
}

/// At e1/10 with d1 (rev 1, "Lobby"), d2, p1, c1 and a1 (open).
fn engine() -> SyncEngine {
    let mut e = SyncEngine::new();
    let items = vec![
        device("d1", 1, "Lobby"),
        device("d2", 1, "Bar"),
        playlist("p1", 1, "Main"),
        content("c1"),
        alert("a1", 1, AlertState::Open),
    ];
    let changes = e.apply_snapshot("e1", 10, items);
    assert_eq!(changes.changed.len(), 5, "everything appeared");
    e
}

fn name_of(state: &OrgState, id: &str) -> String {
    state.devices.get(id).map(|d| d.name.clone()).unwrap_or_default()
}

fn key(kind: EntityKind, id: &str) -> EntityKey {
    (kind, id.to_owned())
}

#[test]
fn a_local_change_shows_at_once_and_confirms_without_flicker() {
    let mut e = engine();
    let m = rename("m1", "d1", 1, "Atrium");
    let changes = e.mutate(m.clone(), ctx("n1")).expect("applies locally");
    assert_eq!(changes.changed, vec![key(EntityKind::Device, "d1")]);
    assert_eq!((name_of(e.view(), "d1"), name_of(e.confirmed(), "d1")), ("Atrium".into(), "Lobby".into()));
    assert_eq!(e.unacked().count(), 1);

    assert_eq!(e.ack("m1", &MutationAck::Applied { seq: 11, rev: 2 }), AckOutcome::Waiting);
    assert_eq!((e.pending().len(), e.unacked().count()), (1, 0), "waits for its entry; not resent");

    let changes =
        e.apply_entries("e1", &[entry(11, Event::upserted(device("d1", 2, "Atrium"))), entry(12, applied(&m))]);
    assert_eq!(changes.confirmed, vec!["m1".to_owned()]);
    assert!(changes.changed.is_empty(), "the view already showed it: {changes:?}");
    assert!(e.pending().is_empty());
    assert_eq!(e.view(), e.confirmed());
    assert_eq!(e.stats().confirmed, 1);
}

#[test]
fn an_acked_change_confirms_at_its_entry_even_before_mutation_applied() {
    let mut e = engine();
    let m = mutation("m1", "alert.ack", Some("a1"), None, json!({}));
    e.mutate(m, ctx("n1")).expect("applies");
    assert_eq!(e.view().alerts["a1"].rev, 2);
    assert_eq!(e.ack("m1", &MutationAck::Applied { seq: 11, rev: 2 }), AckOutcome::Waiting);
    let mut acked = alert("a1", 2, AlertState::Acked);
    if let Entity::Alert(a) = &mut acked {
        a.acked_by = Some("u1".into());
    }
    // An any-rev kind would apply again on top; the ack says it is this entry.
    let changes = e.apply_entries("e1", &[entry(11, Event::upserted(acked))]);
    assert_eq!((changes.confirmed.len(), changes.changed.len()), (1, 0));
    assert_eq!(e.view().alerts["a1"].rev, 2);
    let changes =
        e.apply_entries("e1", &[entry(12, applied(&mutation("m1", "alert.ack", Some("a1"), None, json!({}))))]);
    assert!(changes.confirmed.is_empty(), "never confirmed twice");
}

#[test]
fn an_ack_after_the_log_is_unknown_and_a_duplicate_behind_the_log_confirms() {
    let mut e = engine();
    let m = rename("m1", "d1", 1, "Atrium");
    e.mutate(m.clone(), ctx("n1")).expect("applies");
    e.apply_entries("e1", &[entry(11, Event::upserted(device("d1", 2, "Atrium"))), entry(12, applied(&m))]);
    assert_eq!(e.ack("m1", &MutationAck::Applied { seq: 11, rev: 2 }), AckOutcome::Unknown);

    // Confirmed by a snapshot that skipped its entries: the resend's duplicate ack settles it.
    e.mutate(rename("m2", "d1", 2, "Hall"), ctx("n2")).expect("applies");
    e.apply_snapshot("e1", 20, vec![device("d1", 3, "Hall")]);
    assert_eq!(e.pending().len(), 1, "nothing says m2 is in the snapshot");
    let AckOutcome::Confirmed(changes) = e.ack("m2", &MutationAck::Duplicate { seq: Some(13), rev: Some(3) }) else {
        panic!("a duplicate behind the log is confirmed")
    };
    assert_eq!(changes.confirmed, vec!["m2".to_owned()]);
    assert!(e.pending().is_empty());

    // A duplicate's seq may come from an earlier epoch: it confirms at once rather than wait.
    e.mutate(rename("m3", "d1", 3, "Foyer"), ctx("n3")).expect("applies");
    let dup = MutationAck::Duplicate { seq: Some(500), rev: Some(4) };
    assert!(matches!(e.ack("m3", &dup), AckOutcome::Confirmed(c) if c.changed == vec![key(EntityKind::Device, "d1")]));
}

#[test]
fn a_rejected_change_rolls_back_and_says_why() {
    let mut e = engine();
    e.mutate(rename("m1", "d1", 1, "Atrium"), ctx("n1")).expect("applies");
    let current =
        json!({"id": "d1", "org": ORG, "rev": 2, "name": "Other", "tags": [], "status": "online", "last_seen_ms": 1});
    let ack = MutationAck::Rejected { code: RejectCode::Conflict, message: "at rev 2".into(), current: Some(current) };
    let AckOutcome::RolledBack(changes) = e.ack("m1", &ack) else { panic!("rejected") };
    assert_eq!(changes.changed, vec![key(EntityKind::Device, "d1")]);
    let rb = &changes.rollbacks[0];
    assert_eq!(
        (rb.mutation.mutation_id.as_str(), rb.code, rb.message.as_str()),
        ("m1", Some(RejectCode::Conflict), "at rev 2")
    );
    assert_eq!(rb.current, Some(device("d1", 2, "Other")));
    assert_eq!(name_of(e.view(), "d1"), "Lobby", "the view is back to confirmed");
    assert!(e.pending().is_empty());

    e.mutate(rename("m2", "d1", 1, "X"), ctx("n2")).expect("applies");
    let AckOutcome::RolledBack(changes) = e.ack("m2", &MutationAck::Duplicate { seq: None, rev: None }) else {
        panic!("a bare duplicate answers a rejected original")
    };
    assert_eq!(changes.rollbacks[0].code, None);
    assert_eq!(e.stats().rolled_back, 2);
}

#[test]
fn rate_limited_and_unavailable_stay_pending_for_a_retry() {
    // Neither is decided (§6): the change stays shown and is sent again.
    for code in [RejectCode::RateLimited, RejectCode::Unavailable] {
        let mut e = engine();
        e.mutate(rename("m1", "d1", 1, "Atrium"), ctx("n1")).expect("applies");
        let ack = MutationAck::rejected(code, "retry later");
        assert_eq!(e.ack("m1", &ack), AckOutcome::Retry, "{code:?}");
        assert_eq!(e.unacked().map(|m| m.mutation_id.as_str()).collect::<Vec<_>>(), vec!["m1"], "{code:?}");
        assert_eq!(name_of(e.view(), "d1"), "Atrium", "{code:?}");
    }
}

#[test]
fn local_refusals_are_not_queued_and_match_the_servers_wording() {
    let mut e = engine();
    let r = e.mutate(rename("m1", "nope", 1, "x"), ctx("n1")).expect_err("no such device");
    assert_eq!(r.code, RejectCode::NotFound);
    let mut blank = rename("m2", "d1", 1, "x");
    blank.op = vizora_protocol::MutationOp::DeviceRename { name: String::new() };
    let r = e.mutate(blank, ctx("n2")).expect_err("built in code, checked as the wire is");
    assert_eq!((r.code, r.message.split(':').next()), (RejectCode::Invalid, Some("name")));
    let mut viewer = ctx("n3");
    viewer.role = Role::Viewer;
    assert_eq!(e.mutate(rename("m3", "d1", 1, "x"), viewer).map_err(|r| r.code), Err(RejectCode::Forbidden));
    assert!(e.pending().is_empty());

    e.mutate(rename("m4", "d1", 1, "x"), ctx("n4")).expect("applies");
    let again = e.mutate(rename("m4", "d2", 1, "y"), ctx("n5")).expect_err("id reused");
    assert_eq!(again.message.split(':').next(), Some("mutation_id"));

    let tags = mutation("m5", "device.set_tags", Some("d2"), Some(1), json!({"tags": ["a"]}));
    let mut dup = tags.clone();
    dup.op = vizora_protocol::MutationOp::DeviceSetTags { tags: vec!["a".into(), "a".into()] };
    e.mutate(dup, ctx("n6")).expect("applies");
    assert_eq!(e.pending()[1].mutation(), &tags, "kept as the server will read it");
}

#[test]
fn pending_changes_rebase_on_remote_ones_or_wait_hidden() {
    let mut e = engine();
    e.mutate(mutation("m1", "alert.mute", Some("a1"), None, json!({"until_ms": 50})), ctx("n1")).expect("applies");
    e.mutate(rename("m2", "d2", 1, "Mine"), ctx("n2")).expect("applies");
    // Another client renames d2 and acks a1.
    let mut acked = alert("a1", 2, AlertState::Acked);
    if let Entity::Alert(a) = &mut acked {
        a.acked_by = Some("u9".into());
    }
    let changes = e.apply_entries(
        "e1",
        &[entry(11, Event::upserted(device("d2", 2, "Theirs"))), entry(12, Event::upserted(acked))],
    );
    let a1 = &e.view().alerts["a1"];
    assert_eq!(
        (a1.state, a1.muted_until_ms, a1.rev),
        (AlertState::Acked, Some(50), 3),
        "any-rev change rebased on top"
    );
    assert_eq!(name_of(e.view(), "d2"), "Theirs", "a conflicting rename stops showing");
    assert_eq!(e.pending()[1].shadowed().map(|r| r.code), Some(RejectCode::Conflict));
    assert_eq!(e.pending().len(), 2, "the server decides, not the client");
    assert_eq!(changes.changed, vec![key(EntityKind::Device, "d2"), key(EntityKind::Alert, "a1")]);
}

#[test]
fn chained_changes_and_optimistic_creates_keep_their_ids() {
    let mut e = engine();
    e.mutate(rename("m1", "d1", 1, "A"), ctx("n1")).expect("applies");
    e.mutate(rename("m2", "d1", 2, "B"), ctx("n2")).expect("builds on m1");
    e.mutate(mutation("m3", "playlist.create", None, None, json!({"name": "New"})), ctx("pl-local")).expect("applies");
    e.mutate(
        mutation("m4", "playlist.add_item", Some("pl-local"), Some(1), json!({"content_id": "c1", "duration_s": 3})),
        ctx("n4"),
    )
    .expect("targets the optimistic playlist");
    let remote = e.apply_entries("e1", &[entry(11, Event::upserted(device("d2", 2, "Other")))]);
    assert_eq!(remote.changed, vec![key(EntityKind::Device, "d2")], "only what moved");
    assert_eq!(name_of(e.view(), "d1"), "B");
    assert_eq!(e.view().playlists["pl-local"].items.len(), 1, "same id on every replay");
    assert!(e.pending().iter().all(|p| p.shadowed().is_none()));
}

#[test]
fn gaps_epochs_and_duplicates_are_reported_not_applied() {
    let mut e = engine();
    let status = |seq: u64| {
        entry(
            seq,
            Event::DeviceStatus(DeviceStatusData {
                id: "d1".into(),
                rev: seq,
                status: DeviceStatus::Offline,
                last_seen_ms: seq,
            }),
        )
    };
    let changes = e.apply_entries("e1", &[status(9), status(10), status(11), status(13), status(14)]);
    assert_eq!((changes.entries_skipped, changes.entries_applied), (2, 1));
    assert_eq!(
        changes.resubscribe,
        Some(Resubscribe::Gap { since: Position { epoch: "e1".into(), seq: 11 }, got: 13 })
    );
    assert_eq!(e.confirmed().devices["d1"].rev, 11, "nothing after the gap");
    assert_eq!(changes.changed, vec![key(EntityKind::Device, "d1")]);

    let changes = e.apply_entries("e2", &[status(1)]);
    assert_eq!(changes.resubscribe, Some(Resubscribe::NewEpoch { epoch: "e2".into() }));
    assert_eq!(e.position(), Some(&Position { epoch: "e1".into(), seq: 11 }));

    let mut fresh = SyncEngine::new();
    assert!(matches!(fresh.apply_entries("e1", &[status(1)]).resubscribe, Some(Resubscribe::NewEpoch { .. })));
    assert!(fresh.apply_entries("e1", &[]).is_empty());
}

#[test]
fn a_snapshot_swaps_confirmed_keeps_pending_and_reports_the_difference() {
    let mut e = engine();
    e.mutate(rename("m1", "d1", 1, "Mine"), ctx("n1")).expect("applies");
    e.mutate(rename("m2", "d2", 1, "Acked"), ctx("n2")).expect("applies");
    assert_eq!(e.ack("m2", &MutationAck::Applied { seq: 15, rev: 2 }), AckOutcome::Waiting);
    let changes =
        e.apply_snapshot("e1", 30, vec![device("d1", 1, "Lobby"), device("d2", 2, "Acked"), device("d3", 1, "New")]);
    assert_eq!(changes.confirmed, vec!["m2".to_owned()], "its entry is before the snapshot");
    assert_eq!(name_of(e.view(), "d1"), "Mine", "still pending, still shown");
    let keys = |v: &[(EntityKind, &str)]| v.iter().map(|(k, id)| key(*k, id)).collect::<Vec<_>>();
    assert_eq!(
        changes.changed,
        keys(&[
            (EntityKind::Device, "d3"),
            (EntityKind::Playlist, "p1"),
            (EntityKind::Content, "c1"),
            (EntityKind::Alert, "a1")
        ])
    );

    // From another epoch an acked mutation cannot be placed, but it was decided.
    e.mutate(rename("m3", "d3", 1, "X"), ctx("n3")).expect("applies");
    e.ack("m3", &MutationAck::Applied { seq: 99, rev: 2 });
    let changes = e.apply_snapshot("e2", 1, vec![device("d3", 2, "X")]);
    assert_eq!(changes.confirmed, vec!["m3".to_owned()]);
    assert_eq!(e.pending().len(), 1);
}

#[test]
fn a_step_reports_only_what_it_touched_in_a_large_org() {
    let mut e = SyncEngine::new();
    e.apply_snapshot("e1", 0, (0..10_000).map(|i| device(&format!("d{i}"), 1, "x")).collect());
    e.mutate(rename("m1", "d5", 1, "mine"), ctx("n1")).expect("applies");
    let changes = e.apply_entries("e1", &[entry(1, Event::upserted(device("d7", 2, "y")))]);
    assert_eq!(changes.changed, vec![key(EntityKind::Device, "d7")]);
    assert_eq!(name_of(e.view(), "d5"), "mine");
}

#[test]
fn a_hidden_change_reappears_when_what_it_refers_to_comes_back() {
    let mut e = engine();
    e.mutate(
        mutation("m1", "playlist.add_item", Some("p1"), Some(1), json!({"content_id": "c1", "duration_s": 3})),
        ctx("n1"),
    )
    .expect("applies");
    let gone = e
        .apply_entries("e1", &[entry(11, Event::ContentRemoved(vizora_protocol::Removed { id: "c1".into(), rev: 2 }))]);
    assert_eq!(gone.changed, vec![key(EntityKind::Playlist, "p1"), key(EntityKind::Content, "c1")]);
    assert_eq!(e.pending()[0].shadowed().map(|r| r.message.split(':').next()), Some(Some("content_id")));
    assert!(e.view().playlists["p1"].items.is_empty());

    // Only c1 moves in the log, yet p1 changes in the view.
    let back = e.apply_entries("e1", &[entry(12, Event::upserted(content("c1")))]);
    assert_eq!(back.changed, vec![key(EntityKind::Playlist, "p1"), key(EntityKind::Content, "c1")]);
    assert_eq!(e.view().playlists["p1"].items.len(), 1);
}

#[test]
fn pending_changes_replay_only_when_the_log_moves_what_they_refer_to() {
    let mut e = engine();
    let assign = mutation("m1", "device.assign_playlist", Some("d1"), Some(1), json!({"playlist_id": "p1"}));
    e.mutate(assign, ctx("n1")).expect("applies");
    let elsewhere = e.apply_entries("e1", &[entry(11, Event::upserted(device("d2", 2, "Bar")))]);
    assert_eq!(elsewhere.changed, vec![key(EntityKind::Device, "d2")]);
    assert_eq!(e.view().devices["d1"].playlist_id.as_deref(), Some("p1"));

    // d1 is not in the log's entry, yet its pending change no longer applies.
    let gone = e.apply_entries(
        "e1",
        &[entry(12, Event::PlaylistRemoved(vizora_protocol::Removed { id: "p1".into(), rev: 2 }))],
    );
    assert_eq!(gone.changed, vec![key(EntityKind::Device, "d1"), key(EntityKind::Playlist, "p1")]);
    assert_eq!(e.pending()[0].shadowed().map(|r| r.message.split(':').next()), Some(Some("playlist_id")));
    let back = e.apply_entries("e1", &[entry(13, Event::upserted(playlist("p1", 1, "Main")))]);
    assert_eq!(back.changed, vec![key(EntityKind::Device, "d1"), key(EntityKind::Playlist, "p1")]);
    assert_eq!(e.view().devices["d1"].playlist_id.as_deref(), Some("p1"));
}

#[test]
fn a_restored_engine_shows_what_it_showed_before_the_crash() {
    let mut before = engine();
    before
        .mutate(mutation("m1", "playlist.create", None, None, json!({"name": "New"})), ctx("pl-local"))
        .expect("applies");
    before.mutate(rename("m2", "d1", 1, "Atrium"), ctx("n2")).expect("applies");
    let queued: Vec<crate::QueuedMutation> = before
        .pending()
        .iter()
        .map(|p| crate::QueuedMutation { mutation: p.mutation().clone(), ctx: p.ctx().clone() })
        .collect();
    let position = before.position().cloned().expect("position");
    let entities = before.confirmed().entities().collect();
    let confirmed = crate::ConfirmedState { position: position.clone(), as_of_ms: 5, entities };
    let after = SyncEngine::restore(Some(confirmed), queued);
    assert_eq!(after.view(), before.view(), "the optimistic create keeps its id");
    assert_eq!(after.position(), Some(&position), "resumes with since = the stored position");
    assert_eq!(after.unacked().map(|m| m.mutation_id.as_str()).collect::<Vec<_>>(), ["m1", "m2"]);
    let cold = SyncEngine::restore(None, vec![]);
    assert!(cold.position().is_none() && cold.view().is_empty(), "nothing stored: needs a snapshot");
}

#[test]
fn a_change_that_could_not_be_queued_is_withdrawn_and_rolls_back() {
    let mut e = engine();
    e.mutate(rename("m1", "d1", 1, "Atrium"), ctx("n1")).expect("applies locally");
    e.mutate(rename("m2", "d2", 1, "Cafe"), ctx("n2")).expect("applies locally");
    let changes = e.withdraw("m1", "outbox full").expect("m1 is pending");
    assert_eq!(changes.changed, vec![key(EntityKind::Device, "d1")]);
    assert_eq!(changes.rollbacks.len(), 1);
    assert_eq!((changes.rollbacks[0].code, changes.rollbacks[0].message.as_str()), (None, "outbox full"));
    assert_eq!(name_of(e.view(), "d1"), "Lobby", "rolled back");
    assert_eq!(name_of(e.view(), "d2"), "Cafe", "the other change stays");
    assert!(e.withdraw("m1", "again").is_none(), "gone");
    assert_eq!(e.ack("m2", &MutationAck::Applied { seq: 11, rev: 2 }), AckOutcome::Waiting);
    assert!(e.withdraw("m2", "too late").is_none(), "the server has it: it cannot be taken back");
}
