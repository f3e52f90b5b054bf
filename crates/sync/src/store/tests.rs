//! The outbox and state cache on disk: order, capacity, reopen, locking,
//! full and incremental saves.

use serde_json::json;
use vizora_protocol::{Device, DeviceStatus, Playlist};

use super::*;

fn queued(i: usize) -> QueuedMutation {
    let v = json!({
        "mutation_id": format!("m{i}"), "client_id": "wall-1", "kind": "playlist.rename",
        "target": "pl1", "base_rev": i + 1, "args": { "name": format!("name {i}") },
    });
    let mutation = Mutation::decode(&v).expect("valid mutation");
    QueuedMutation {
        mutation,
        ctx: ApplyCtx { org: "o1".into(), role: Role::Operator, sub: "alice".into(), new_id: format!("local-{i}") },
    }
}

fn ids(q: &[QueuedMutation]) -> Vec<String> {
    q.iter().map(|q| q.mutation.mutation_id.clone()).collect()
}

fn playlist(id: &str, rev: u64) -> Entity {
    Entity::Playlist(Playlist { id: id.into(), org: "o1".into(), rev, name: format!("{id} r{rev}"), items: vec![] })
}

fn device(id: &str) -> Entity {
    Entity::Device(Device {
        id: id.into(),
        org: "o1".into(),
        rev: 3,
        name: id.into(),
        tags: vec!["lobby".into()],
        playlist_id: Some("pl1".into()),
        status: DeviceStatus::Degraded,
        last_seen_ms: 77,
        health: None,
        playing: None,
    })
}

fn pos(seq: u64) -> Position {
    Position { epoch: "e1".into(), seq }
}

#[test]
fn outbox_keeps_order_and_context_across_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("client.db");
    {
        let mut s = ClientStore::open(&path, 100).expect("open");
        for i in 0..5 {
            s.push(&queued(i)).expect("push");
        }
        assert!(s.remove("m1").expect("remove"));
        assert!(!s.remove("m1").expect("remove twice"), "removing twice finds nothing");
        assert_eq!(s.len(), 4);
        // Dropped without any close: what push returned Ok for is on disk.
    }
    let s = ClientStore::open(&path, 100).expect("reopen");
    assert_eq!(s.len(), 4);
    let pending = s.pending().expect("pending");
    assert_eq!(ids(&pending), ["m0", "m2", "m3", "m4"]);
    assert_eq!(pending[2], queued(3), "mutation and its context come back exactly");
}

#[test]
fn full_outbox_refuses_with_the_capacity_and_drops_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("client.db");
    let mut s = ClientStore::open(&path, 3).expect("open");
    let batch: Vec<QueuedMutation> = (0..5).map(queued).collect();
    assert_eq!(s.push_all(&batch[..2]).expect("push two"), 2);
    assert_eq!(s.push_all(&batch[2..]).expect("push the rest"), 1, "only what fits is queued");
    let err = s.push(&queued(9)).expect_err("full");
    assert!(matches!(err, StoreError::Full { capacity: 3 }), "{err:?}");
    assert!(err.to_string().contains("3 mutations"), "names the capacity: {err}");
    assert_eq!(ids(&s.pending().expect("pending")), ["m0", "m1", "m2"]);
    s.remove("m0").expect("remove");
    s.push(&queued(9)).expect("room again");
    drop(s);
    let s = ClientStore::open(&path, 3).expect("reopen");
    assert_eq!(ids(&s.pending().expect("pending")), ["m1", "m2", "m9"]);
}

#[test]
fn a_duplicate_id_fails_the_whole_batch() {
    let mut s = ClientStore::in_memory(DEFAULT_OUTBOX_CAPACITY).expect("open");
    s.push(&queued(1)).expect("push");
    let err = s.push_all(&[queued(2), queued(1)]).expect_err("duplicate");
    assert!(matches!(&err, StoreError::DuplicateId(id) if id == "m1"), "{err:?}");
    assert_eq!(ids(&s.pending().expect("pending")), ["m1"], "nothing of the failed batch is queued");
    assert_eq!(s.len(), 1);
}

#[test]
fn confirmed_state_saves_whole_then_in_steps() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("nested").join("client.db");
    let mut s = ClientStore::open(&path, 10).expect("open creates the directory");
    assert_eq!(s.load_confirmed().expect("load"), None, "nothing saved yet");
    s.save_confirmed(&pos(10), 1_000, &[playlist("pl2", 1), device("d1"), playlist("pl1", 1)]).expect("save");
    s.update_confirmed(&pos(12), 2_000, &[playlist("pl1", 2)], &[(EntityKind::Playlist, "pl2".to_owned())])
        .expect("update");
    drop(s);
    let s = ClientStore::open(&path, 10).expect("reopen");
    let c = s.load_confirmed().expect("load").expect("saved");
    assert_eq!(c.position, pos(12));
    assert_eq!(c.as_of_ms, 2_000);
    assert_eq!(c.entities, vec![device("d1"), playlist("pl1", 2)], "kind then id order");
    drop(s);
    let mut s = ClientStore::open(&path, 10).expect("reopen");
    s.save_confirmed(&pos(1), 3_000, &[playlist("pl9", 1)]).expect("replace");
    let c = s.load_confirmed().expect("load").expect("saved");
    assert_eq!((c.position, c.entities), (pos(1), vec![playlist("pl9", 1)]), "a whole save replaces everything");
}

#[test]
fn a_second_open_of_the_same_file_is_refused_while_the_first_lives() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("client.db");
    let first = ClientStore::open(&path, 10).expect("open");
    let err = ClientStore::open(&path, 10).expect_err("locked");
    assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
    drop(first);
    ClientStore::open(&path, 10).expect("free again after the first is dropped");
}

#[test]
fn a_file_from_a_newer_format_is_not_touched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("client.db");
    {
        let c = Connection::open(&path).expect("sqlite");
        c.pragma_update(None, "user_version", FORMAT + 1).expect("version");
    }
    let err = ClientStore::open(&path, 10).expect_err("newer");
    assert!(err.to_string().contains("newer"), "{err}");
}
