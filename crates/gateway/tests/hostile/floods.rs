//! Floods from one client: megabyte mutations and a subscribe loop. The
//! flooder is refused as specified; operators of the same org and of
//! another org keep getting their acks fast, and players stay online.

use std::time::Duration;

use serde_json::json;
use vizora_protocol::Role;
use vizora_protocol::codec::encode_event;

use crate::support::raw::{Raw, ack, event};
use crate::support::{Wall, mutation, token};
use crate::{Feed, auth, beat_forever, block_on, gateway, p99, timed_mutations};

/// The service level a well-behaved operator keeps under attack.
const P99_LIMIT: Duration = Duration::from_millis(250);

#[test]
fn a_megabyte_of_tags_is_refused_while_other_operators_stay_fast() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = gateway(dir.path(), |_| {});
    block_on(async {
        let url = gw.url();
        let mut admin = Wall::connect(&url, &token("acme", Role::Admin, "root")).await;
        let created = admin
            .call(
                "mutate",
                &mutation("d1", "root", "device.create", None, None, json!({ "id": "p1", "name": "Lobby" })),
            )
            .await;
        assert_eq!(created["status"], "applied", "{created}");

        // 200,000 tags of one character: ~800 KB, under the 1 MiB frame limit.
        let tags = json!({ "tags": vec!["t"; 200_000] });
        let attacker = tokio::spawn({
            let url = url.clone();
            async move {
                let mut w = Wall::connect(&url, &token("acme", Role::Operator, "mallory")).await;
                let mut acks = Vec::new();
                for i in 0..20 {
                    let m =
                        mutation(&format!("big{i}"), "mallory", "device.set_tags", Some("p1"), Some(1), tags.clone());
                    acks.push(w.call("mutate", &m).await);
                }
                acks
            }
        });

        let mut bob = Wall::connect(&url, &token("acme", Role::Operator, "bob")).await;
        let rtts = timed_mutations(&mut bob, "bob", || !attacker.is_finished(), 40).await;
        let acks = attacker.await.expect("attacker task");
        for a in &acks {
            assert_eq!((a["status"].as_str(), a["code"].as_str()), (Some("rejected"), Some("invalid")), "{a:.200}");
            assert!(a["message"].as_str().is_some_and(|m| m.starts_with("tags")), "names tags: {a:.200}");
        }
        let slow = p99(&rtts);
        assert!(slow < P99_LIMIT, "bob's acks p99 {slow:?} over {} mutations under attack", rtts.len());

        // None of the attack applied: the device is still at rev 1.
        let set = bob
            .call(
                "mutate",
                &mutation("tags", "bob", "device.set_tags", Some("p1"), Some(1), json!({ "tags": ["lobby"] })),
            )
            .await;
        assert_eq!(set["status"], "applied", "{set}");
        assert_eq!(set["rev"], 2, "{set}");
    });
}

/// A wall of "acme" that emits `subscribe` 100 times, 20 ms apart, then a
/// `mutate`, and reads the answers up to that mutation's ack (which the
/// sequencer sends after every subscribe's): the subscribe ack ids it got
/// and how many `rate_limited` errors.
async fn subscribe_loop(url: String) -> (Vec<u64>, usize) {
    let mut raw = Raw::open(&url).await;
    let joined = raw.connect_ns("/wall", Some(&auth(&token("acme", Role::Operator, "looper")))).await;
    assert!(joined.starts_with("0/wall,"), "{joined}");
    for i in 0..100u64 {
        raw.send_sio(&encode_event("/wall", Some(i), "subscribe", &json!({ "since": null }))).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let fence = mutation("fence", "looper", "playlist.create", None, None, json!({ "name": "fence" }));
    raw.send_sio(&encode_event("/wall", Some(1000), "mutate", &fence)).await;
    let (mut acked, mut limited) = (Vec::new(), 0);
    loop {
        let p = raw.packet(Duration::from_secs(10)).await.expect("the looping wall is answered, not cut off");
        if let Some((id, arg)) = ack(&p) {
            if id == 1000 {
                assert_eq!(arg["status"], "applied", "{arg}");
                return (acked, limited);
            }
            acked.push(id);
        } else if let Some((name, arg)) = event(&p)
            && name == "error"
        {
            assert_eq!(arg["code"], "rate_limited", "{arg}");
            limited += 1;
        }
    }
}

#[test]
fn a_subscribe_loop_is_rate_limited_and_another_org_does_not_notice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = gateway(dir.path(), |c| {
        // Offline after 1.5 s of silence: a stalled gateway would show.
        c.heartbeat_s = 0.5;
        c.tick_ms = 20;
    });
    block_on(async {
        let url = gw.url();
        let mut feed = Feed::viewer(&url, "globex").await;
        let player = beat_forever(&url, "globex", "g1", Duration::from_millis(100));
        let (online, _) = feed.next_of("device.status").await;
        assert_eq!((online["data"]["id"].as_str(), online["data"]["status"].as_str()), (Some("g1"), Some("online")));

        let looper = tokio::spawn(subscribe_loop(url.clone()));
        let mut gina = Wall::connect(&url, &token("globex", Role::Operator, "gina")).await;
        let rtts = timed_mutations(&mut gina, "gina", || !looper.is_finished(), 40).await;
        let (acked, limited) = looper.await.expect("looper task");

        for id in 0..20 {
            assert!(acked.contains(&id), "the burst of 20 is served: acks {acked:?}");
        }
        assert!(acked.len() <= 25, "20 + 1/s over ~2 s at most, got {} acks: {acked:?}", acked.len());
        // The refused ones: `error rate_limited`, at most one a second (§8).
        assert!((1..=4).contains(&limited), "{limited} rate_limited errors for {} refused", 100 - acked.len());
        let slow = p99(&rtts);
        assert!(slow < P99_LIMIT, "globex acks p99 {slow:?} over {} mutations", rtts.len());

        // Globex's player stayed online throughout: up to a fence entry, no status change.
        let fence = gina
            .call("mutate", &mutation("fence", "gina", "playlist.create", None, None, json!({ "name": "fence" })))
            .await;
        let until = fence["seq"].as_u64().expect("fence seq") + 1;
        while feed.last < until {
            let e = feed.next().await;
            assert_ne!(e["type"], "device.status", "g1 changed status during the flood: {e}");
        }
        player.abort();
    });
}
