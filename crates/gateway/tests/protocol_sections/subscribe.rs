//! §4–§5 Subscribing and recovery: ack, snapshot pages, live events; exact
//! replay across disconnects under concurrent writes; snapshot fallbacks;
//! malformed `since`.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use vizora_client::transport::{Incoming, Session};
use vizora_protocol::Role;

use crate::support::{Wall, mutation, token};
use crate::{Feed, block_on, gateway};

async fn recv(s: &mut Session) -> Incoming {
    tokio::time::timeout(Duration::from_secs(10), s.recv()).await.expect("something within 10 s").expect("recv")
}

fn json_of(arg: &str) -> Value {
    serde_json::from_str(arg).expect("json")
}

fn content(id: &str) -> Value {
    json!({ "id": id, "name": id, "kind": "image", "uri": format!("https://cdn.example/{id}.png"), "duration_s": 10, "size_bytes": 100 })
}

#[test]
fn the_ack_comes_first_then_five_kinds_of_pages_then_live_events() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = gateway(dir.path(), |c| c.snapshot_page = 2);
    block_on(async {
        let url = gw.url();
        let mut op = Feed::subscribe(&url, &token("acme", Role::Operator, "alice")).await;
        for i in 0..5 {
            let ack = op
                .wall
                .call(
                    "mutate",
                    &mutation(&format!("c{i}"), "op", "content.create", None, None, content(&format!("c{i}"))),
                )
                .await;
            assert_eq!(ack["status"], "applied", "{ack}");
        }
        for i in 0..3 {
            let ack = op
                .wall
                .call(
                    "mutate",
                    &mutation(
                        &format!("p{i}"),
                        "op",
                        "playlist.create",
                        None,
                        None,
                        json!({ "id": format!("p{i}"), "name": "P" }),
                    ),
                )
                .await;
            assert_eq!(ack["status"], "applied", "{ack}");
        }
        let sched =
            json!({ "name": "Mornings", "playlist_id": "p0", "target": { "device": "player-1" }, "start_ms": 0 });
        assert_eq!(
            op.wall.call("mutate", &mutation("s0", "op", "schedule.create", None, None, sched)).await["status"],
            "applied"
        );
        // A player that runs hot gives a device and an alert.
        let mut player =
            Session::connect(&url, "/device", &token("acme", Role::Device, "player-1"), Duration::from_secs(5))
                .await
                .expect("player");
        let hot = json!({ "ts_ms": 1, "health": { "cpu_pct": 10.0, "mem_pct": 20.0, "temp_c": 85.0, "disk_free_pct": 50.0, "uptime_s": 60 } });
        player.emit("heartbeat", &hot).await.expect("heartbeat");
        op.next_of("alert.upserted").await;

        let mut reader = Session::connect(&url, "/wall", &token("acme", Role::Viewer, "v"), Duration::from_secs(5))
            .await
            .expect("reader");
        let id = reader.emit_with_ack("subscribe", &json!({ "since": null })).await.expect("emit");
        let ack = match recv(&mut reader).await {
            Incoming::Ack { id: got, arg } if got == id => json_of(&arg),
            other => panic!("the ack comes first, got {other:?}"),
        };
        assert_eq!((ack["mode"].as_str(), ack["head_seq"].as_u64()), (Some("snapshot"), Some(op.last)), "{ack}");
        let mut pages = Vec::new();
        while pages.iter().filter(|(_, _, last)| *last).count() < 5 {
            match recv(&mut reader).await {
                Incoming::Event { name, arg, .. } if name == "snapshot" => {
                    let p = json_of(&arg);
                    assert_eq!(
                        (&p["epoch"], &p["seq"]),
                        (&ack["epoch"], &ack["head_seq"]),
                        "snapshot seq is the ack's head_seq"
                    );
                    let n = p["items"].as_array().expect("items").len();
                    pages.push((p["kind"].as_str().expect("kind").to_owned(), n, p["last"] == true));
                }
                Incoming::Event { name, .. } if name == "telemetry" || name == "metrics" => {}
                other => panic!("only snapshot pages until the snapshot is complete, got {other:?}"),
            }
        }
        let got: Vec<(&str, usize, bool)> = pages.iter().map(|(k, n, l)| (k.as_str(), *n, *l)).collect();
        assert_eq!(
            got,
            vec![
                ("device", 1, true),
                ("playlist", 2, false),
                ("playlist", 1, true),
                ("content", 2, false),
                ("content", 2, false),
                ("content", 1, true),
                ("schedule", 1, true),
                ("alert", 1, true),
            ],
            "five kinds in order, pages of at most 2, each kind ending with last: true"
        );

        let live = op
            .wall
            .call("mutate", &mutation("live", "op", "playlist.rename", Some("p1"), Some(1), json!({ "name": "Now" })))
            .await;
        let head = ack["head_seq"].as_u64().expect("head");
        assert_eq!(live["seq"].as_u64(), Some(head + 1), "{live}");
        let first = loop {
            match recv(&mut reader).await {
                Incoming::Event { name, arg, .. } if name == "events" => break json_of(&arg),
                Incoming::Event { name, .. } if name == "telemetry" || name == "metrics" => {}
                other => panic!("live events next, got {other:?}"),
            }
        };
        assert_eq!(first["items"][0]["seq"].as_u64(), Some(head + 1), "live events start at seq + 1: {first}");
        drop(player);
    });
}

/// Creates content until stopped, reporting each applied seq.
async fn writer(
    url: String,
    name: &'static str,
    stop: watch::Receiver<bool>,
    acks: mpsc::UnboundedSender<u64>,
) -> usize {
    let mut w = Wall::connect(&url, &token("acme", Role::Operator, name)).await;
    let mut n = 0;
    while !*stop.borrow() {
        let id = format!("{name}-{n}");
        let ack = w.call("mutate", &mutation(&id, name, "content.create", None, None, content(&id))).await;
        assert_eq!(ack["status"], "applied", "{ack}");
        let _ = acks.send(ack["seq"].as_u64().expect("seq"));
        n += 1;
    }
    n
}

/// Applies `events` until `done(last, fresh entries)`, asserting each
/// entry is exactly the next seq.
async fn apply_events(
    s: &mut Session,
    epoch: &str,
    last: &mut u64,
    seen: &mut Vec<u64>,
    done: impl Fn(u64, usize) -> bool,
) {
    let mut fresh = 0;
    while !done(*last, fresh) {
        if let Incoming::Event { name, arg, .. } = recv(s).await {
            if name != "events" {
                continue;
            }
            let ev = json_of(&arg);
            assert_eq!(ev["epoch"], epoch);
            for e in ev["items"].as_array().expect("items") {
                let seq = e["seq"].as_u64().expect("seq");
                assert_eq!(seq, *last + 1, "no gap, no duplicate (after {last})");
                *last = seq;
                seen.push(seq);
                fresh += 1;
            }
        }
    }
}

#[test]
fn replay_across_disconnects_while_others_write_has_every_seq_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = gateway(dir.path(), |_| {});
    block_on(async {
        let url = gw.url();
        let (stop_tx, stop) = watch::channel(false);
        let (acks_tx, mut acks) = mpsc::unbounded_channel();
        let mut writers = [
            tokio::spawn(writer(url.clone(), "w1", stop.clone(), acks_tx.clone())),
            tokio::spawn(writer(url.clone(), "w2", stop, acks_tx)),
        ];
        // Let the log get going before the first subscribe.
        for _ in 0..10 {
            acks.recv().await.expect("ack");
        }
        let viewer = token("acme", Role::Viewer, "reader");
        let (mut epoch, mut last, mut seen, mut first) = (String::new(), 0, Vec::new(), 0);
        for round in 0..5 {
            let mut s = Session::connect(&url, "/wall", &viewer, Duration::from_secs(5)).await.expect("connect");
            let since = if round == 0 { Value::Null } else { json!({ "epoch": epoch, "seq": last }) };
            let id = s.emit_with_ack("subscribe", &json!({ "since": since })).await.expect("emit");
            let ack = loop {
                if let Incoming::Ack { id: got, arg } = recv(&mut s).await
                    && got == id
                {
                    break json_of(&arg);
                }
            };
            let head = ack["head_seq"].as_u64().expect("head_seq");
            if round == 0 {
                assert_eq!(ack["mode"], "snapshot");
                (epoch, last, first) = (ack["epoch"].as_str().expect("epoch").to_owned(), head, head + 1);
                let mut kinds = 0;
                while kinds < 5 {
                    if let Incoming::Event { name, arg, .. } = recv(&mut s).await
                        && name == "snapshot"
                        && json_of(&arg)["last"] == true
                    {
                        kinds += 1;
                    }
                }
            } else {
                assert_eq!(
                    (ack["mode"].as_str(), ack["epoch"].as_str()),
                    (Some("replay"), Some(epoch.as_str())),
                    "{ack}"
                );
                assert!(head >= last, "{ack}");
            }
            if round < 4 {
                // Past the head at subscribe time and some live entries, then drop off.
                apply_events(&mut s, &epoch, &mut last, &mut seen, |l, fresh| l > head && fresh >= 20).await;
                if round % 2 == 0 {
                    drop(s)
                } else {
                    s.close().await
                }
                // Writers keep going while this reader is away.
                while acks.try_recv().is_ok() {}
                for _ in 0..10 {
                    acks.recv().await.expect("ack");
                }
            } else {
                stop_tx.send(true).expect("stop");
                let mut written = 0;
                for w in writers.iter_mut() {
                    written += w.await.expect("writer");
                }
                // Each content.create is two entries; the log holds nothing else.
                let total = 2 * written as u64;
                apply_events(&mut s, &epoch, &mut last, &mut seen, |l, _| l >= total).await;
                assert!(first > 1 && first < total, "subscribed mid-stream at {first} of {total}");
                assert_eq!(seen, (first..=total).collect::<Vec<u64>>(), "every seq after the snapshot exactly once");
                return;
            }
        }
    });
}

#[test]
fn stale_or_foreign_positions_get_a_snapshot_and_malformed_ones_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = gateway(dir.path(), |_| {});
    block_on(async {
        let url = gw.url();
        let mut op = Wall::connect(&url, &token("acme", Role::Operator, "alice")).await;
        for i in 0..2 {
            let ack = op
                .call(
                    "mutate",
                    &mutation(&format!("p{i}"), "op", "playlist.create", None, None, json!({ "name": "P" })),
                )
                .await;
            assert_eq!(ack["status"], "applied");
        }
        let mut v = Wall::connect(&url, &token("acme", Role::Viewer, "v")).await;
        let first = v.call("subscribe", &json!({ "since": null })).await;
        let epoch = first["epoch"].as_str().expect("epoch").to_owned();
        assert_eq!(first["head_seq"], 4);

        let cases = [
            (json!({ "epoch": "01JD0000000000000000000000", "seq": 2 }), "snapshot", "another epoch"),
            (json!({ "epoch": epoch, "seq": 99 }), "snapshot", "ahead of the head"),
            (json!({ "epoch": epoch, "seq": 4 }), "replay", "at the head"),
            (json!({ "epoch": epoch, "seq": 1 }), "replay", "behind the head"),
        ];
        for (since, mode, why) in cases {
            let ack = v.call("subscribe", &json!({ "since": since })).await;
            assert_eq!(
                (ack["mode"].as_str(), ack["epoch"].as_str(), ack["head_seq"].as_u64()),
                (Some(mode), Some(epoch.as_str()), Some(4)),
                "{why}: {ack}"
            );
            if mode == "snapshot" {
                let mut kinds = Vec::new();
                while kinds.len() < 5 {
                    let page = v.next_event("snapshot").await;
                    assert_eq!(page["seq"], 4, "{why}");
                    if page["last"] == true {
                        kinds.push(page["kind"].as_str().expect("kind").to_owned());
                    }
                }
                assert_eq!(kinds, ["device", "playlist", "content", "schedule", "alert"], "{why}");
            }
        }
        let replayed = v.entries_until(4).await;
        assert_eq!(replayed.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![2, 3, 4], "replay after seq 1");

        // Malformed `since`: error bad_request, no ack, no subscription.
        let mut bad = Session::connect(&url, "/wall", &token("acme", Role::Viewer, "b"), Duration::from_secs(5))
            .await
            .expect("connect");
        let malformed = [
            json!({ "since": { "epoch": 5, "seq": 1 } }),
            json!({ "since": { "epoch": epoch } }),
            json!({ "since": { "epoch": epoch, "seq": -1 } }),
            json!({ "since": "yesterday" }),
            json!("since"),
        ];
        for arg in malformed {
            let id = bad.emit_with_ack("subscribe", &arg).await.expect("emit");
            match recv(&mut bad).await {
                Incoming::Event { name, arg: e, .. } if name == "error" => {
                    assert_eq!(json_of(&e)["code"], "bad_request", "{arg}")
                }
                other => panic!("subscribe {arg} (ack {id}) answered {other:?}"),
            }
        }
        bad.emit("subscribe", &json!({ "since": null })).await.expect("emit");
        match recv(&mut bad).await {
            Incoming::Event { name, arg, .. } if name == "error" => {
                assert_eq!(json_of(&arg)["code"], "bad_request", "no ack id")
            }
            other => panic!("subscribe without an ack id answered {other:?}"),
        }
        let ack =
            op.call("mutate", &mutation("p9", "op", "playlist.create", None, None, json!({ "name": "Later" }))).await;
        assert_eq!(ack["status"], "applied");
        bad.emit("whoami", &json!({})).await.expect("emit");
        match recv(&mut bad).await {
            Incoming::Event { name, arg, .. } if name == "error" => assert_eq!(json_of(&arg)["code"], "bad_request"),
            other => panic!("never subscribed, so no {other:?}"),
        }
    });
}

/// Checks §8 "in the same `events` batch" on one packet's items: every
/// `mutation.applied` (but a `device.restart`'s, which has no change entry)
/// follows its change in the packet. Returns the packet's seqs.
fn pairs_whole(ev: &Value) -> Vec<u64> {
    let items = ev["items"].as_array().expect("items");
    for (i, e) in items.iter().enumerate() {
        if e["type"] == "mutation.applied" && e["data"]["kind"] != "device.restart" {
            assert!(i > 0, "a mutation.applied opens a packet, its change is in the one before: {e}");
            assert_eq!(items[i - 1]["seq"].as_u64().map(|s| s + 1), e["seq"].as_u64(), "{e}");
        }
    }
    items.iter().map(|e| e["seq"].as_u64().expect("seq")).collect()
}

#[test]
fn a_change_and_its_mutation_applied_share_a_packet_live_and_in_replay() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Small packets: the byte bound splits often, live and in replay.
    let gw = gateway(dir.path(), |c| c.max_packet_bytes = 1024);
    block_on(async {
        let url = gw.url();
        let mut admin = Wall::connect(&url, &token("acme", Role::Admin, "root")).await;
        let mut live = Wall::connect(&url, &token("acme", Role::Viewer, "live")).await;
        let ack = live.call("subscribe", &json!({ "since": null })).await;
        let epoch = ack["epoch"].as_str().expect("epoch").to_owned();
        // Three entries first (device.upserted + applied, then a restart's
        // applied alone), so replay's reads of 1,000 rows end mid-pair.
        let create = mutation("d", "root", "device.create", None, None, json!({ "id": "d-1", "name": "Lobby" }));
        assert_eq!(admin.call("mutate", &create).await["status"], "applied");
        let restart = mutation("r", "root", "device.restart", Some("d-1"), None, json!({}));
        assert_eq!(admin.call("mutate", &restart).await["status"], "applied");
        let n = 700;
        for i in 0..n {
            let name = format!("playlist {i} {}", "x".repeat(i % 200));
            let m = mutation(&format!("p{i}"), "root", "playlist.create", None, None, json!({ "name": name }));
            assert_eq!(admin.call("mutate", &m).await["status"], "applied");
        }
        let head = 3 + 2 * n as u64;
        let mut seqs = Vec::new();
        while seqs.last() != Some(&head) {
            seqs.extend(pairs_whole(&live.next_event("events").await));
        }
        assert_eq!(seqs, (1..=head).collect::<Vec<_>>(), "live: every entry once, in order");

        let mut replay = Wall::connect(&url, &token("acme", Role::Viewer, "replay")).await;
        let ack = replay.call("subscribe", &json!({ "since": { "epoch": epoch, "seq": 0 } })).await;
        assert_eq!(ack["mode"], "replay");
        let mut seqs = Vec::new();
        let mut packets = 0;
        while seqs.last() != Some(&head) {
            seqs.extend(pairs_whole(&replay.next_event("events").await));
            packets += 1;
        }
        assert_eq!(seqs, (1..=head).collect::<Vec<_>>(), "replay: every entry once, in order");
        assert!(packets > 100, "the byte bound split the replay ({packets} packets)");
    });
}
