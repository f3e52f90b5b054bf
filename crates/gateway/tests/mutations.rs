//! PROTOCOL.md §6 over real sockets: every outcome, roles, isolation,
//! duplicates, concurrency, and durability across restarts.

mod support;

use serde_json::{Value, json};
use support::{Wall, mutation, start, token};
use vizora_protocol::{Event, Role};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

#[test]
fn outcomes_roles_isolation_and_duplicates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = start(dir.path());
    rt().block_on(async {
        let mut op = Wall::connect(&gw.url(), &token("acme", Role::Operator, "alice")).await;
        let sub = op.call("subscribe", &json!({ "since": null })).await;
        assert_eq!(sub["mode"], "snapshot");

        let created = op
            .call("mutate", &mutation("m1", "wall-a", "content.create", None, None, json!({ "id": "c1", "name": "Menu", "kind": "image", "uri": "https://x/menu.png", "duration_s": 10, "size_bytes": 1000 })))
            .await;
        assert_eq!(created, json!({ "status": "applied", "seq": 1, "rev": 1 }));
        let pl = op.call("mutate", &mutation("m2", "wall-a", "playlist.create", None, None, json!({ "id": "pl1", "name": "Lobby" }))).await;
        assert_eq!(pl["status"], "applied");
        let add = op
            .call("mutate", &mutation("m3", "wall-a", "playlist.add_item", Some("pl1"), Some(1), json!({ "content_id": "c1", "duration_s": 8 })))
            .await;
        assert_eq!((add["status"].as_str(), add["rev"].as_u64()), (Some("applied"), Some(2)));

        // The change and its mutation.applied arrive as seq and seq + 1.
        let seq = add["seq"].as_u64().expect("seq");
        let entries = op.entries_until(seq + 1).await;
        let tail: Vec<&Event> = entries.iter().filter(|e| e.seq >= seq).map(|e| &e.event).collect();
        assert!(matches!(tail[0], Event::PlaylistUpserted(p) if p.items.len() == 1));
        assert!(matches!(tail[1], Event::MutationApplied(a) if a.mutation_id == "m3" && a.client_id == "wall-a"));

        // Stale base_rev: conflict with the entity now.
        let stale = op.call("mutate", &mutation("m4", "wall-a", "playlist.rename", Some("pl1"), Some(1), json!({ "name": "Foyer" }))).await;
        assert_eq!(stale["code"], "conflict");
        assert_eq!(stale["current"]["rev"], 2);
        assert_eq!(stale["current"]["name"], "Lobby");

        // Invalid args name the field; references must exist.
        let bad = op.call("mutate", &mutation("m5", "wall-a", "playlist.add_item", Some("pl1"), Some(2), json!({ "content_id": "nope", "duration_s": 8 }))).await;
        assert_eq!(bad["code"], "invalid");
        assert!(bad["message"].as_str().unwrap_or("").starts_with("content_id"), "{bad}");
        let bad = op.call("mutate", &mutation("m6", "wall-a", "playlist.rename", Some("pl1"), Some(2), json!({ "name": "" }))).await;
        assert!(bad["message"].as_str().unwrap_or("").starts_with("name"), "{bad}");
        let bad = op.call("mutate", &mutation("m7", "wall-a", "playlist.rename", Some("pl1"), None, json!({ "name": "x" }))).await;
        assert!(bad["message"].as_str().unwrap_or("").starts_with("base_rev"), "{bad}");

        // Duplicates: the original outcome is not repeated.
        let dup = op.call("mutate", &mutation("m3", "wall-a", "playlist.add_item", Some("pl1"), Some(1), json!({ "content_id": "c1", "duration_s": 8 }))).await;
        assert_eq!(dup, json!({ "status": "duplicate", "seq": seq, "rev": 2 }));
        let dup = op.call("mutate", &mutation("m4", "wall-a", "playlist.rename", Some("pl1"), Some(2), json!({ "name": "Foyer" }))).await;
        assert_eq!(dup, json!({ "status": "duplicate" }));
        let dup = op.call("mutate", &mutation("m6", "wall-a", "playlist.rename", Some("pl1"), Some(2), json!({ "name": "ok now" }))).await;
        assert_eq!(dup, json!({ "status": "duplicate" }), "an invalid outcome is decided too");

        // Operators may not delete; viewers may not mutate; other orgs see nothing.
        let del = op.call("mutate", &mutation("m8", "wall-a", "playlist.delete", Some("pl1"), Some(2), json!({}))).await;
        assert_eq!(del["code"], "forbidden");
        let mut viewer = Wall::connect(&gw.url(), &token("acme", Role::Viewer, "vic")).await;
        let v = viewer.call("mutate", &mutation("v1", "wall-v", "playlist.rename", Some("pl1"), Some(2), json!({ "name": "x" }))).await;
        assert_eq!(v["code"], "forbidden");
        let mut other = Wall::connect(&gw.url(), &token("globex", Role::Admin, "eve")).await;
        let o = other.call("mutate", &mutation("o1", "wall-o", "playlist.delete", Some("pl1"), Some(2), json!({}))).await;
        assert_eq!(o["code"], "not_found");
        let snap = other.call("subscribe", &json!({ "since": null })).await;
        assert_eq!(snap["head_seq"], 0, "another org's log is empty: {snap}");

        // mutate without an ack id: error bad_request, nothing applied.
        op.s.emit("mutate", &mutation("m9", "wall-a", "playlist.rename", Some("pl1"), Some(2), json!({ "name": "Nope" }))).await.expect("emit");
        let err = op.next_event("error").await;
        assert_eq!(err["code"], "bad_request");
        let again = op.call("mutate", &mutation("m10", "wall-a", "playlist.rename", Some("pl1"), Some(2), json!({ "name": "Atrium" }))).await;
        assert_eq!(again["status"], "applied", "pl1 still at rev 2: the ack-less mutate did nothing");
    });
    gw.stop();
}

#[test]
fn concurrent_mutations_from_four_clients_leave_a_gap_free_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = start(dir.path());
    let url = gw.url();
    rt().block_on(async {
        let mut watcher = Wall::connect(&url, &token("acme", Role::Viewer, "w")).await;
        watcher.call("subscribe", &json!({ "since": null })).await;
        let mut tasks = Vec::new();
        for c in 0..4 {
            let url = url.clone();
            tasks.push(tokio::spawn(async move {
                let mut w = Wall::connect(&url, &token("acme", Role::Operator, &format!("op{c}"))).await;
                let mut acks = Vec::new();
                for i in 0..50 {
                    let args = json!({ "id": format!("c{c}-{i}"), "name": "x", "kind": "web", "uri": "https://x", "duration_s": 5, "size_bytes": 0 });
                    acks.push(w.call("mutate", &mutation(&format!("m{i}"), &format!("client-{c}"), "content.create", None, None, args)).await);
                }
                acks
            }));
        }
        let mut seqs = Vec::new();
        for t in tasks {
            for ack in t.await.expect("task") {
                assert_eq!(ack["status"], "applied", "{ack}");
                seqs.push(ack["seq"].as_u64().expect("seq"));
            }
        }
        seqs.sort_unstable();
        assert_eq!(seqs, (0..200).map(|i| 1 + 2 * i).collect::<Vec<u64>>(), "each change at an odd seq, its mutation.applied next");
        let entries = watcher.entries_until(400).await;
        let got: Vec<u64> = entries.iter().map(|e| e.seq).collect();
        assert_eq!(got, (1..=400).collect::<Vec<u64>>(), "the watcher saw every entry once, in order");
        let applied = entries.iter().filter(|e| matches!(e.event, Event::MutationApplied(_))).count();
        assert_eq!(applied, 200);
    });
    gw.stop();
}

#[test]
fn a_restart_keeps_entities_log_epoch_and_decided_ids() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = start(dir.path());
    let (epoch, head) = rt().block_on(async {
        let mut op = Wall::connect(&gw.url(), &token("acme", Role::Operator, "alice")).await;
        for i in 0..20 {
            let args = json!({ "id": format!("p{i}"), "name": format!("Playlist {i}") });
            let ack =
                op.call("mutate", &mutation(&format!("m{i}"), "wall-a", "playlist.create", None, None, args)).await;
            assert_eq!(ack["status"], "applied");
        }
        let sub = op.call("subscribe", &json!({ "since": null })).await;
        (sub["epoch"].as_str().expect("epoch").to_owned(), sub["head_seq"].as_u64().expect("head"))
    });
    assert_eq!(head, 40);
    gw.stop();

    let gw = start(dir.path());
    rt().block_on(async {
        let mut op = Wall::connect(&gw.url(), &token("acme", Role::Operator, "alice")).await;
        let dup = op
            .call(
                "mutate",
                &mutation("m3", "wall-a", "playlist.create", None, None, json!({ "id": "p3", "name": "again" })),
            )
            .await;
        assert_eq!(dup, json!({ "status": "duplicate", "seq": 7, "rev": 1 }));
        // Resume from the middle: replay, same epoch, exact entries.
        let sub = op.call("subscribe", &json!({ "since": { "epoch": epoch, "seq": 30 } })).await;
        assert_eq!(
            (sub["mode"].as_str(), sub["epoch"].as_str(), sub["head_seq"].as_u64()),
            (Some("replay"), Some(epoch.as_str()), Some(40))
        );
        let entries = op.entries_until(40).await;
        assert_eq!(entries.iter().map(|e| e.seq).collect::<Vec<_>>(), (31..=40).collect::<Vec<_>>());
        let snap = op.call("subscribe", &json!({ "since": null })).await;
        assert_eq!(snap["mode"], "snapshot");
        let mut playlists = 0;
        loop {
            let page = op.next_event("snapshot").await;
            if page["kind"] == "playlist" {
                playlists += page["items"].as_array().map(Vec::len).unwrap_or(0);
                if page["last"] == Value::Bool(true) {
                    break;
                }
            }
        }
        assert_eq!(playlists, 20);
    });
    gw.stop();
}

#[test]
fn decided_ids_past_the_memory_cap_are_found_on_disk_before_and_after_a_restart() {
    // §6: servers remember decided ids at least 24 hours; the per-org cap
    // only bounds memory.
    let dir = tempfile::tempdir().expect("tempdir");
    let capped = |dir: &std::path::Path| {
        let cfg = vizora_gateway::GatewayConfig { decided_per_org_max: 3, ..support::config(dir) };
        vizora_gateway::Embedded::start(cfg, vizora_gateway::Auth::hs256(support::SECRET)).expect("gateway starts")
    };
    let create = |i: usize, name: &str| {
        mutation(
            &format!("m{i}"),
            "wall-a",
            "playlist.create",
            None,
            None,
            json!({ "id": format!("p{i}"), "name": name }),
        )
    };
    let gw = capped(dir.path());
    rt().block_on(async {
        let mut op = Wall::connect(&gw.url(), &token("acme", Role::Operator, "alice")).await;
        for i in 0..10 {
            assert_eq!(op.call("mutate", &create(i, "first")).await["status"], "applied");
        }
        // m0 left memory seven decisions ago: its repeat is still a duplicate.
        assert_eq!(op.call("mutate", &create(0, "again")).await, json!({ "status": "duplicate", "seq": 1, "rev": 1 }));
        // An invalid one is decided too, and found the same way.
        let bad = mutation("bad", "wall-a", "playlist.rename", Some("p1"), Some(1), json!({ "name": "" }));
        assert_eq!(op.call("mutate", &bad).await["status"], "rejected");
        for i in 10..14 {
            assert_eq!(op.call("mutate", &create(i, "first")).await["status"], "applied");
        }
        assert_eq!(op.call("mutate", &bad).await, json!({ "status": "duplicate" }));
    });
    gw.stop();

    // After a restart only the newest three are loaded; the rest are on disk.
    let gw = capped(dir.path());
    rt().block_on(async {
        let mut op = Wall::connect(&gw.url(), &token("acme", Role::Operator, "alice")).await;
        assert_eq!(op.call("mutate", &create(5, "again")).await, json!({ "status": "duplicate", "seq": 11, "rev": 1 }));
        assert_eq!(
            op.call("mutate", &create(13, "again")).await,
            json!({ "status": "duplicate", "seq": 27, "rev": 1 })
        );
        // A new id is decided as ever.
        assert_eq!(op.call("mutate", &create(20, "new")).await["status"], "applied");
    });
    gw.stop();
}
