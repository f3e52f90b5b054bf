//! §8 Bounds, on what comes in (health numbers, schedule reports, mutation
//! ids) and on what goes out (packet size): refused naming the field,
//! nothing stored, everyone else served as before.

use std::time::Duration;

use serde_json::{Value, json};
use vizora_protocol::codec::encode_event;
use vizora_protocol::{DeviceStatus, Entity, Role, SnapshotPage, now_ms};

use crate::support::raw::{Raw, ack, event};
use crate::support::{Wall, mutation, token};
use crate::{
    Feed, auth, block_on, device, device_in, gateway, head_of, health, heartbeat_packet, next_error, report,
    report_packet, snapshot,
};

#[test]
fn out_of_range_health_is_refused_naming_the_field_and_the_last_good_health_stays() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A long heartbeat period: no status change while the test runs.
    let gw = gateway(dir.path(), |c| c.heartbeat_s = 3600.0);
    block_on(async {
        let url = gw.url();
        let mut p1 = device(&url, "acme", "p1").await;
        let mut p2 = device(&url, "acme", "p2").await;
        p1.send_sio(&heartbeat_packet(health(40.0))).await;
        p2.send_sio(&heartbeat_packet(health(55.0))).await;
        // A report after each heartbeat on the same connection: a later
        // request (the snapshot below) is handled after both.
        p1.send_sio(&report_packet(&report("p1", "s1"))).await;
        p2.send_sio(&report_packet(&report("p2", "s2"))).await;

        let with = |field: &str, v: Value| {
            let mut h = health(40.0);
            h[field] = v;
            h
        };
        let cases = [
            // 1e39 does not fit an f32: it reads as infinity.
            ("health.cpu_pct", with("cpu_pct", json!(1e39))),
            ("health.temp_c", with("temp_c", json!(500))),
            ("health.temp_c", with("temp_c", json!(-1e39))),
            ("health.mem_pct", with("mem_pct", json!(-1))),
            ("health.disk_free_pct", with("disk_free_pct", json!(100.5))),
        ];
        for (field, bad) in cases {
            p1.send_sio(&heartbeat_packet(bad.clone())).await;
            let err = next_error(&mut p1, "/device").await;
            assert_eq!(err["code"], "bad_request", "{bad}: {err}");
            assert!(err["message"].as_str().is_some_and(|m| m.contains(field)), "names {field}: {err}");
        }
        let playing = json!({ "playlist_id": "x".repeat(129), "content_id": "c1", "since_ms": 1 });
        let hb = json!({ "ts_ms": now_ms(), "health": health(41.0), "playing": playing });
        p1.send_sio(&encode_event("/device", None, "heartbeat", &hb)).await;
        let err = next_error(&mut p1, "/device").await;
        assert!(err["message"].as_str().is_some_and(|m| m.contains("playing.playlist_id")), "{err}");

        // The good player heard nothing of it (a refused CONNECT as a fence).
        let (fence, seen) = p2.connect_ns_seen("/wall", Some(&auth("forged"))).await;
        assert!(fence.starts_with("4/wall,"), "{fence}");
        assert!(seen.is_empty(), "the good player was sent {seen:?}");

        let mut wall = Wall::connect(&url, &token("acme", Role::Viewer, "v")).await;
        let (ack, pages) = snapshot(&mut wall).await;
        assert_eq!(ack["head_seq"], 6, "two registrations (2 entries each) and two reports, nothing else: {ack}");
        let d1 = device_in(&pages, "p1");
        let h1 = d1.health.expect("p1 has health");
        assert_eq!(
            (h1.cpu_pct, h1.mem_pct, h1.temp_c, h1.disk_free_pct),
            (12.0, 30.0, 40.0, 60.0),
            "p1 keeps its last good heartbeat"
        );
        assert!(d1.playing.is_none(), "the refused `playing` was not stored: {:?}", d1.playing);
        assert_eq!(d1.status, DeviceStatus::Online);
        let d2 = device_in(&pages, "p2");
        assert_eq!((d2.status, d2.health.map(|h| h.temp_c)), (DeviceStatus::Online, Some(55.0)));
    });
}

#[test]
fn out_of_bounds_mutation_ids_are_not_remembered_and_in_bounds_rejections_are() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = gateway(dir.path(), |_| {});
    block_on(async {
        let mut op = Wall::connect(&gw.url(), &token("acme", Role::Operator, "alice")).await;
        let create = |mid: &str, client: &str| {
            mutation(mid, client, "playlist.create", None, None, json!({ "id": "pl1", "name": "Lobby" }))
        };
        let long = "m".repeat(129);
        for (field, m) in [
            ("mutation_id", create(&long, "alice")),
            ("client_id", create("m1", &long)),
            ("mutation_id", create("", "alice")),
        ] {
            for attempt in 1..=2 {
                let ack = op.call("mutate", &m).await;
                assert_eq!(
                    (ack["status"].as_str(), ack["code"].as_str()),
                    (Some("rejected"), Some("invalid")),
                    "attempt {attempt}, {field} out of bounds: not a duplicate, never stored: {ack}"
                );
                assert!(ack["message"].as_str().is_some_and(|msg| msg.starts_with(field)), "names {field}: {ack}");
            }
        }

        // Ids within bounds: the rejection is decided and remembered.
        let unknown_kind = mutation("m2", "alice", "playlist.explode", None, None, json!({}));
        let empty_name = mutation("m3", "alice", "playlist.create", None, None, json!({ "name": "" }));
        for (field, m) in [("kind", unknown_kind), ("name", empty_name)] {
            let first = op.call("mutate", &m).await;
            assert_eq!(first["code"], "invalid", "{first}");
            assert!(first["message"].as_str().is_some_and(|msg| msg.starts_with(field)), "names {field}: {first}");
            let again = op.call("mutate", &m).await;
            assert_eq!(again, json!({ "status": "duplicate" }), "{field}: a decided rejection is remembered");
        }

        // None of it touched the log: a good mutation is its first entry.
        let ok = op.call("mutate", &create("m1", "alice")).await;
        assert_eq!(ok, json!({ "status": "applied", "seq": 1, "rev": 1 }));
    });
}

#[test]
fn oversized_schedule_reports_are_refused_and_log_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = gateway(dir.path(), |c| c.heartbeat_s = 3600.0);
    block_on(async {
        let url = gw.url();
        let mut feed = Feed::viewer(&url, "acme").await;
        let mut p1 = device(&url, "acme", "p1").await;
        let (online, _) = feed.next_of("device.status").await;
        assert_eq!(online["seq"], 2, "{online}");
        assert_eq!(head_of(&url, "acme").await, 2);

        let mut long_error = report("p1", "s1");
        long_error["outcome"] = json!("failed");
        long_error["error"] = json!("e".repeat(10_000));
        let mut long_playlist = report("p1", "s1");
        long_playlist["playlist_id"] = json!("p".repeat(200));
        for (field, bad) in [("error", long_error), ("playlist_id", long_playlist)] {
            p1.send_sio(&report_packet(&bad)).await;
            let err = next_error(&mut p1, "/device").await;
            assert_eq!(err["code"], "bad_request", "{field}: {err}");
            let named = format!("{field}:");
            assert!(err["message"].as_str().is_some_and(|m| m.contains(&named)), "names {field}: {err}");
        }
        assert_eq!(head_of(&url, "acme").await, 2, "no schedule.executed entry was logged");

        // A report within bounds is still logged, next in order.
        p1.send_sio(&report_packet(&report("p1", "s2"))).await;
        let e = feed.next().await;
        assert_eq!(
            (e["seq"].as_u64(), e["type"].as_str(), e["data"]["schedule_id"].as_str(), e["data"]["device_id"].as_str()),
            (Some(3), Some("schedule.executed"), Some("s2"), Some("p1")),
            "{e}"
        );
    });
}

/// With `max_packet_bytes` 2048: the bound plus slack for framing.
const PACKET_LIMIT: usize = 2048 + 16;

/// The next packet, checked against [`PACKET_LIMIT`].
async fn bounded_packet(raw: &mut Raw) -> String {
    let p = raw.packet(Duration::from_secs(10)).await.expect("the wall stays connected");
    assert!(p.len() <= PACKET_LIMIT, "a {}-byte packet over the bound: {:.120}", p.len(), p);
    p
}

#[test]
fn every_packet_fits_the_byte_bound_and_snapshot_and_replay_lose_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = gateway(dir.path(), |c| c.max_packet_bytes = 2048);
    block_on(async {
        let url = gw.url();
        let mut op = Wall::connect(&url, &token("acme", Role::Operator, "alice")).await;
        for i in 0..60 {
            // About 300 bytes per entry: several entries per packet, many packets.
            let args = json!({ "id": format!("pl-{i:03}"), "name": format!("{i:03} {}", "n".repeat(196)) });
            let ack =
                op.call("mutate", &mutation(&format!("m{i}"), "alice", "playlist.create", None, None, args)).await;
            assert_eq!(ack["status"], "applied", "{ack}");
        }
        let mut raw = Raw::open(&url).await;
        let joined = raw.connect_ns("/wall", Some(&auth(&token("acme", Role::Viewer, "v")))).await;
        assert!(joined.starts_with("0/wall,"), "{joined}");

        // Snapshot: pages split by bytes, every playlist exactly once.
        raw.send_sio(&encode_event("/wall", Some(1), "subscribe", &json!({ "since": null }))).await;
        let mut answer = None;
        let mut playlists = Vec::new();
        let mut lasts = 0;
        while lasts < 5 {
            let p = bounded_packet(&mut raw).await;
            if let Some((1, a)) = ack(&p) {
                answer = Some(a);
            } else if let Some((name, arg)) = event(&p)
                && name == "snapshot"
            {
                assert!(answer.is_some(), "the ack comes before the pages");
                let page: SnapshotPage = serde_json::from_value(arg).expect("a snapshot page parses");
                lasts += usize::from(page.last);
                playlists.extend(page.items.iter().filter_map(|e| match e {
                    Entity::Playlist(pl) => Some(pl.id.clone()),
                    _ => None,
                }));
            }
        }
        let answer = answer.expect("subscribe ack");
        assert_eq!(answer["head_seq"], 120, "{answer}");
        playlists.sort();
        assert_eq!(playlists, (0..60).map(|i| format!("pl-{i:03}")).collect::<Vec<_>>());

        // Replay from the start: events split by bytes, every seq once, in order.
        let since = json!({ "since": { "epoch": answer["epoch"].clone(), "seq": 0 } });
        raw.send_sio(&encode_event("/wall", Some(2), "subscribe", &since)).await;
        let (mut seqs, mut packets) = (Vec::new(), 0);
        while seqs.len() < 120 {
            let p = bounded_packet(&mut raw).await;
            if let Some((2, a)) = ack(&p) {
                assert_eq!((a["mode"].as_str(), a["head_seq"].as_u64()), (Some("replay"), Some(120)), "{a}");
            } else if let Some((name, arg)) = event(&p)
                && name == "events"
            {
                packets += 1;
                let items = arg["items"].as_array().expect("items");
                seqs.extend(items.iter().map(|e| e["seq"].as_u64().expect("seq")));
            }
        }
        assert_eq!(seqs, (1..=120).collect::<Vec<u64>>(), "every entry once, in order");
        assert!(packets >= 10, "~27 KB of entries came in only {packets} packets");
    });
}
