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
    let (h, join) = spawn(cfg, Box::new(store), None, Arc::new(Counters::default()), clock).expect("spawn");
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
    join.join().expect("sequencer ends");
}
