//! The sequencer on its own thread, driven through its handle.

use super::*;
use crate::store::{FailSwitch, SqliteStore};
use vizora_protocol::MutationAck;

/// Both copies of one change are decided in the same batch (the second
/// as a duplicate of the first), and the store refuses that batch:
/// neither was applied, so neither may be answered as if it were.
#[test]
fn a_repeat_in_a_batch_the_store_refused_is_answered_unavailable_not_duplicate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fail = FailSwitch::default();
    let store = SqliteStore::open_with(dir.path(), fail.clone()).expect("store");
    let cfg = Arc::new(GatewayConfig { data_dir: dir.path().into(), ..Default::default() });
    let clock: SharedClock = Arc::new(crate::clock::SystemClock);
    let (h, joins) = spawn(cfg, vec![Box::new(store)], None, Arc::new(Counters::default()), clock).expect("spawn");
    let claims = vizora_protocol::Claims {
        sub: "alice".into(),
        org: "acme".into(),
        role: vizora_protocol::Role::Operator,
        exp: u64::MAX / 2,
        iat: None,
    };
    let create = |mid: &str, id: &str| {
        vizora_protocol::Mutation::decode(&serde_json::json!({
            "mutation_id": mid, "client_id": "c1", "kind": "playlist.create", "args": { "id": id, "name": "Lobby" }
        }))
        .expect("mutation")
    };
    // The org exists and is on disk before the store fails.
    let (tx0, rx0) = tokio::sync::oneshot::channel();
    let m0 = Cmd::Mutate { claims: claims.clone(), to: Replier::Channel(tx0), mutation: Box::new(create("m0", "p0")) };
    assert!(h.send(m0));
    assert!(matches!(rx0.blocking_recv(), Ok(MutationAck::Applied { .. })));
    // Hold the sequencer inside a read while both copies are queued, so
    // that one pass of its loop takes both.
    let (inside_tx, inside_rx) = std::sync::mpsc::channel::<()>();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let read = Box::new(move |_: ReadCtx<'_>| {
        let _ = inside_tx.send(());
        let _ = go_rx.recv();
    });
    assert!(h.send(Cmd::Read { org: "acme".into(), read }));
    inside_rx.recv().expect("the sequencer is in the read");
    fail.set(true);
    let m = create("m1", "p1");
    let (tx1, rx1) = tokio::sync::oneshot::channel();
    let (tx2, rx2) = tokio::sync::oneshot::channel();
    let send = |to| Cmd::Mutate { claims: claims.clone(), to: Replier::Channel(to), mutation: Box::new(m.clone()) };
    assert!(h.send(send(tx1)));
    assert!(h.send(send(tx2)));
    go_tx.send(()).expect("go");
    for rx in [rx1, rx2] {
        let ack = rx.blocking_recv().expect("answered");
        assert!(
            matches!(&ack, MutationAck::Rejected { code: vizora_protocol::RejectCode::Unavailable, .. }),
            "{ack:?}"
        );
    }
    h.send(Cmd::Shutdown);
    for j in joins {
        j.join().expect("sequencer ends");
    }
}

/// Two sequencer threads: while the thread of one org is held (here inside
/// a read; in life a flood, a huge snapshot or a slow fan-out), another
/// org's change on the other thread is decided, written and answered.
#[test]
fn an_org_on_another_sequencer_thread_is_answered_while_the_first_is_held() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(dir.path()).expect("store");
    let second = store.another().expect("a second connection");
    let cfg = Arc::new(GatewayConfig { data_dir: dir.path().into(), sequencers: 2, ..Default::default() });
    let clock: SharedClock = Arc::new(crate::clock::SystemClock);
    let (h, joins) =
        spawn(cfg, vec![Box::new(store), Box::new(second)], None, Arc::new(Counters::default()), clock).expect("spawn");
    let busy = "acme".to_owned();
    let other = (0..).map(|i| format!("org-{i}")).find(|o| shard_of(o, 2) != shard_of(&busy, 2)).expect("an org");
    let claims = |org: &str| vizora_protocol::Claims {
        sub: "alice".into(),
        org: org.into(),
        role: vizora_protocol::Role::Operator,
        exp: u64::MAX / 2,
        iat: None,
    };
    let create = |mid: &str, id: &str| {
        Box::new(
            vizora_protocol::Mutation::decode(&serde_json::json!({
                "mutation_id": mid, "client_id": "c1", "kind": "playlist.create", "args": { "id": id, "name": "Lobby" }
            }))
            .expect("mutation"),
        )
    };
    let (inside_tx, inside_rx) = std::sync::mpsc::channel::<()>();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let read = Box::new(move |_: ReadCtx<'_>| {
        let _ = inside_tx.send(());
        let _ = go_rx.recv();
    });
    assert!(h.send(Cmd::Read { org: busy.clone(), read }));
    inside_rx.recv().expect("the busy org's thread is in the read");
    // The busy org's own change waits behind its thread…
    let (tx_busy, mut rx_busy) = tokio::sync::oneshot::channel();
    assert!(h.send(Cmd::Mutate { claims: claims(&busy), to: Replier::Channel(tx_busy), mutation: create("m1", "p1") }));
    // …while the other org's goes through.
    let (tx_other, rx_other) = tokio::sync::oneshot::channel();
    assert!(h.send(Cmd::Mutate {
        claims: claims(&other),
        to: Replier::Channel(tx_other),
        mutation: create("m1", "p1")
    }));
    let ack = rx_other.blocking_recv().expect("answered");
    assert!(matches!(ack, MutationAck::Applied { .. }), "{ack:?}");
    assert!(rx_busy.try_recv().is_err(), "the held thread answered nothing yet");
    go_tx.send(()).expect("go");
    let ack = rx_busy.blocking_recv().expect("answered once released");
    assert!(matches!(ack, MutationAck::Applied { .. }), "{ack:?}");
    assert!(h.shared.ready().is_ok());
    h.send(Cmd::Shutdown);
    for j in joins {
        j.join().expect("sequencer ends");
    }
}

/// Past the memory cap the oldest decided ids leave memory, but not ones
/// still in the pending batch: those are not on disk yet, and a repeat
/// before the batch is written must still be found.
#[test]
fn decided_ids_not_yet_written_stay_in_memory_past_the_cap() {
    let mut org = Org::new("acme", 60);
    let applied = MutationAck::Applied { seq: 1, rev: 1 };
    for i in 0..5 {
        org.remember(("c1".into(), format!("m{i}")), &applied, 1_000 + i, 3);
    }
    for i in 0..5 {
        assert!(org.duplicate_of(&("c1".into(), format!("m{i}"))).is_some(), "m{i} is pending, so kept");
    }
    assert_eq!(org.decided_spilled_ms, None, "nothing left memory");
    // Once written, the next decision lets the oldest go (to disk only).
    org.batch = crate::store::OrgBatch::default();
    org.remember(("c1".into(), "m5".into()), &applied, 1_005, 3);
    assert!(org.duplicate_of(&("c1".into(), "m0".into())).is_none());
    assert!(org.duplicate_of(&("c1".into(), "m5".into())).is_some());
    assert_eq!(org.decided_spilled_ms, Some(1_002), "the newest of those that left");
}
