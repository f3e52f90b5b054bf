//! The client against the real gateway: exact resume across a gateway
//! restart, mutations made while it is down delivered exactly once, a
//! conflicting edit rolled back with its reason, and token rotation.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use support::{Gateway, Watched, client_config, create_playlist, ctx, rename_playlist, token, token_ttl};
use vizora_client::{ConnectionState, Update};
use vizora_gateway::GatewayConfig;
use vizora_protocol::{AuthErrorCode, MutationAck, RejectCode, Role, SubscribeMode};
use vizora_sync::{AckOutcome, SyncEngine};

const LONG: Duration = Duration::from_secs(60);

#[test]
fn a_gateway_restart_mid_stream_loses_and_repeats_no_entry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut gw = Gateway::start(&dir.path().join("gw"));
    let mut reader =
        Watched::spawn(client_config(&gw.url(), token(Role::Viewer, "viewer"), Some(&dir.path().join("reader.db"))));
    reader.until_live(1);
    reader.until("the first snapshot", LONG, |w| !w.snapshots.is_empty());
    let mut writer =
        Watched::spawn(client_config(&gw.url(), token(Role::Operator, "writer"), Some(&dir.path().join("writer.db"))));
    writer.until_live(1);

    let ids: Vec<String> = (0..300).map(|i| format!("w{i:03}")).collect();
    for id in &ids[..100] {
        writer.mutate(create_playlist(id, "writer", &format!("pl-{id}")), ctx("writer", id));
    }
    // Stop while the writer is still sending and the reader still receiving.
    reader.until("some entries", LONG, |w| w.entries.len() >= 40);
    gw.stop();
    for id in &ids[100..200] {
        writer.mutate(create_playlist(id, "writer", &format!("pl-{id}")), ctx("writer", id));
    }
    writer.until("everything queued", LONG, |w| w.queued.len() == 200);
    gw.restart();
    for id in &ids[200..] {
        writer.mutate(create_playlist(id, "writer", &format!("pl-{id}")), ctx("writer", id));
    }
    writer.until("every mutation decided", LONG, |w| w.acks.len() >= 300);
    reader.until("every mutation.applied", LONG, |w| w.applied_ids("writer").len() >= 300);

    let seqs: Vec<u64> = reader.entries.iter().map(|(_, e)| e.seq).collect();
    let expected: Vec<u64> = (1..=seqs.len() as u64).collect();
    assert_eq!(seqs, expected, "entries arrive once each, without a gap, across the restart");
    let epochs: BTreeSet<&String> = reader.entries.iter().map(|(epoch, _)| epoch).collect();
    assert_eq!(epochs.len(), 1, "the gateway keeps its epoch across a restart");
    assert_eq!(reader.snapshots.len(), 1, "resumed by replay, not by a second snapshot");
    assert!(reader.live_count() >= 2, "the reader did reconnect");
    let applied = reader.applied_ids("writer");
    assert_eq!(applied.iter().collect::<BTreeSet<_>>().len(), 300, "each mutation applied exactly once");
    for (id, ack) in &writer.acks {
        assert!(
            matches!(ack, MutationAck::Applied { .. } | MutationAck::Duplicate { seq: Some(_), .. }),
            "{id}: an ack lost in the restart is answered `duplicate` with the original outcome: {ack:?}"
        );
    }
}

#[test]
fn a_thousand_mutations_made_while_the_gateway_is_down_apply_exactly_once_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut gw = Gateway::start(&dir.path().join("gw"));
    let mut wall =
        Watched::spawn(client_config(&gw.url(), token(Role::Operator, "bob"), Some(&dir.path().join("wall.db"))));
    wall.until_live(1);
    gw.stop();
    let ids: Vec<String> = (0..1000).map(|i| format!("b{i:04}")).collect();
    for id in &ids {
        wall.mutate(create_playlist(id, "wall-b", &format!("pl-{id}")), ctx("bob", id));
    }
    wall.until("1,000 mutations queued", LONG, |w| w.queued.len() + w.full.len() == 1000);
    assert!(wall.full.is_empty() && wall.store_failures.is_empty(), "all queued: {:?}", wall.store_failures);
    assert_eq!(wall.queued, ids, "reported queued in the order made");
    assert!(wall.acks.is_empty(), "nothing decided while the gateway is down");

    gw.restart();
    wall.until("1,000 acks", LONG, |w| w.acks.len() >= 1000);
    wall.until("1,000 mutation.applied entries", LONG, |w| w.applied_ids("wall-b").len() >= 1000);
    let bad: Vec<_> = wall.acks.iter().filter(|(_, a)| !matches!(a, MutationAck::Applied { .. })).collect();
    assert!(bad.is_empty(), "every ack is `applied`: {:?}", &bad[..bad.len().min(3)]);
    assert_eq!(wall.applied_ids("wall-b"), ids, "each applied exactly once, in the order made");
}

#[test]
fn a_conflicting_edit_rolls_the_first_back_with_the_reason_and_the_current_entity() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(&dir.path().join("gw"));
    let mut other = Watched::spawn(client_config(&gw.url(), token(Role::Operator, "bea"), None));
    let mut me = Watched::spawn(client_config(&gw.url(), token(Role::Operator, "al"), None)).keeping_log();
    let mut engine = SyncEngine::new();
    let mut rollbacks = Vec::new();
    let mut feed = |w: &mut Watched, engine: &mut SyncEngine| {
        for u in w.log.drain(..) {
            match u {
                Update::Restored { pending, confirmed } => *engine = SyncEngine::restore(confirmed, pending),
                Update::Snapshot { epoch, seq, entities } => drop(engine.apply_snapshot(&epoch, seq, entities)),
                Update::Entries { epoch, items } => drop(engine.apply_entries(&epoch, &items)),
                Update::Acked { mutation_id, ack } => {
                    if let AckOutcome::RolledBack(c) = engine.ack(&mutation_id, &ack) {
                        rollbacks.extend(c.rollbacks);
                    }
                }
                _ => {}
            }
        }
    };

    me.until("my snapshot", LONG, |w| !w.snapshots.is_empty());
    other.mutate(create_playlist("o1", "wall-o", "pl1"), ctx("bea", "o1"));
    other.until("the playlist created", LONG, |w| w.acks.len() == 1);
    me.until("the playlist in my view", LONG, |w| w.entries.len() >= 2);
    feed(&mut me, &mut engine);
    assert_eq!(engine.view().playlists["pl1"].rev, 1);

    // The other wall renames first; I act on what I saw (rev 1) before hearing of it.
    other.mutate(rename_playlist("o2", "wall-o", "pl1", 1, "Foyer"), ctx("bea", "o2"));
    other.until("their rename applied", LONG, |w| w.acks.len() == 2);
    let mine = rename_playlist("a1", "wall-a", "pl1", 1, "Lobby");
    engine.mutate(mine.clone(), ctx("al", "a1")).expect("applies to what I see");
    assert_eq!(engine.view().playlists["pl1"].name, "Lobby", "shown at once");
    me.mutate(mine, ctx("al", "a1"));
    me.until("my ack", LONG, |w| !w.acks.is_empty());
    me.until("their rename in my log", LONG, |w| w.entries.len() >= 4);
    feed(&mut me, &mut engine);

    assert!(
        matches!(&me.acks[..], [(id, MutationAck::Rejected { code: RejectCode::Conflict, .. })] if id == "a1"),
        "{:?}",
        me.acks
    );
    let [rollback] = &rollbacks[..] else { panic!("one rollback: {rollbacks:?}") };
    assert_eq!(rollback.code, Some(RejectCode::Conflict));
    assert_eq!(rollback.mutation.mutation_id, "a1");
    let current = rollback.current.as_ref().expect("the conflict carries the entity now");
    assert_eq!((current.rev(), current.id()), (2, "pl1"));
    assert!(rollback.message.contains("rev 2"), "{}", rollback.message);
    assert_eq!(engine.view().playlists["pl1"].name, "Foyer", "my change rolled back to theirs");
    assert!(engine.pending().is_empty());
}

#[test]
fn an_expired_token_is_read_again_from_its_file_and_refused_without_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(&dir.path().join("gw"));
    let file = dir.path().join("token");
    std::fs::write(&file, format!("{}\n", token_ttl(Role::Viewer, "kiosk", -60))).expect("write token");
    let mut cfg = client_config(&gw.url(), String::new(), None);
    cfg.token_file = Some(file.clone());
    let mut rotating = Watched::spawn(cfg);
    rotating.until("a retry for the expired token", LONG, |w| {
        w.states
            .iter()
            .any(|s| matches!(s, ConnectionState::Reconnecting { reason, .. } if reason.contains("token expired")))
    });
    std::fs::write(&file, token(Role::Viewer, "kiosk")).expect("rotate token");
    rotating.until_live(1);

    let mut fixed = Watched::spawn(client_config(&gw.url(), token_ttl(Role::Viewer, "kiosk", -60), None));
    fixed.until("the refusal", LONG, |w| w.states.contains(&ConnectionState::Refused(AuthErrorCode::TokenExpired)));
    assert_eq!(fixed.live_count(), 0);
}

#[test]
fn a_restarted_client_shows_its_saved_state_and_resumes_by_replay() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(&dir.path().join("gw"));
    let store = dir.path().join("wall.db");
    let writer = Watched::spawn(client_config(&gw.url(), token(Role::Operator, "wes"), None));
    let mut wall = Watched::spawn(client_config(&gw.url(), token(Role::Viewer, "kiosk"), Some(&store)));
    wall.until("the first snapshot", LONG, |w| !w.snapshots.is_empty());
    for i in 0..5 {
        writer.mutate(create_playlist(&format!("s{i}"), "wall-w", &format!("pl{i}")), ctx("wes", "n"));
    }
    wall.until("ten entries", LONG, |w| w.entries.len() >= 10);
    wall.shutdown();
    for i in 5..7 {
        writer.mutate(create_playlist(&format!("s{i}"), "wall-w", &format!("pl{i}")), ctx("wes", "n"));
    }

    let mut again = Watched::spawn(client_config(&gw.url(), token(Role::Viewer, "kiosk"), Some(&store)));
    again.until("the restored state", LONG, |w| w.restored.is_some());
    let (pending, confirmed) = again.restored.clone().expect("restored");
    let confirmed = confirmed.expect("the confirmed state was saved at shutdown");
    assert!(pending.is_empty());
    assert_eq!(confirmed.position.seq, 10);
    let ids: Vec<&str> = confirmed.entities.iter().map(|e| e.id()).collect();
    assert_eq!(ids, ["pl0", "pl1", "pl2", "pl3", "pl4"]);
    assert!(confirmed.as_of_ms > 0 && confirmed.as_of_ms <= vizora_protocol::now_ms());
    again.until("the entries made meanwhile", LONG, |w| w.applied_ids("wall-w").len() >= 2);
    assert!(again.snapshots.is_empty(), "resumed from the saved position, not from a snapshot");
    assert!(again.states.iter().any(|s| matches!(s, ConnectionState::Live { mode: SubscribeMode::Replay, .. })));
    assert_eq!(again.entries.first().map(|(_, e)| e.seq), Some(11), "from right after the saved position");
}

#[test]
fn rate_limited_mutations_are_retried_until_each_applies_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let slow = GatewayConfig { rate_per_s: 200.0, rate_burst: 40.0, ..Default::default() };
    let gw = Gateway::start_with(&dir.path().join("gw"), slow);
    let mut wall = Watched::spawn(client_config(&gw.url(), token(Role::Operator, "rae"), None));
    wall.until_live(1);
    let ids: BTreeSet<String> = (0..300).map(|i| format!("r{i:03}")).collect();
    for id in &ids {
        wall.mutate(create_playlist(id, "wall-r", &format!("pl-{id}")), ctx("rae", id));
    }
    wall.until("300 acks", LONG, |w| w.acks.len() >= 300);
    wall.until("300 mutation.applied entries", LONG, |w| w.applied_ids("wall-r").len() >= 300);
    assert!(wall.acks.iter().all(|(_, a)| matches!(a, MutationAck::Applied { .. })), "rate_limited is never final");
    let applied = wall.applied_ids("wall-r");
    assert_eq!(applied.len(), 300, "none applied twice");
    assert_eq!(applied.into_iter().collect::<BTreeSet<_>>(), ids);
}
