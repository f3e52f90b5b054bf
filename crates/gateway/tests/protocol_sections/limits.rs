//! §8 Limits: the per-connection rate limit on `mutate` and other events,
//! `bad_request` for unknown events and malformed payloads, and other
//! clients served throughout.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};
use vizora_client::transport::Incoming;
use vizora_protocol::Role;

use crate::support::raw::{Raw, event, is_ack};
use crate::support::{Wall, mutation, token};
use vizora_gateway::ManualClock;
use vizora_protocol::now_ms;

use crate::{auth, block_on, gateway, gateway_on_clock};

fn playlist(i: usize) -> Value {
    mutation(&format!("m{i}"), "op", "playlist.create", None, None, json!({ "id": format!("p{i}"), "name": "P" }))
}

#[test]
fn over_the_rate_mutations_are_rejected_and_other_events_get_one_error_a_second() {
    // The buckets read the gateway's clock: frozen, nothing refills; each
    // step below advances it by hand, so the counts are exact.
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::at(now_ms());
    let gw = gateway_on_clock(dir.path(), &clock, |c| {
        c.rate_per_s = 5.0;
        c.rate_burst = 5.0;
    });
    block_on(async {
        let url = gw.url();
        let mut op = Wall::connect(&url, &token("acme", Role::Operator, "alice")).await;
        let mut ids = HashMap::new();
        for i in 0..20 {
            ids.insert(op.s.emit_with_ack("mutate", &playlist(i)).await.expect("emit"), i);
        }
        let mut acks = vec![Value::Null; 20];
        let mut answered = 0;
        while answered < 20 {
            if let Incoming::Ack { id, arg } =
                tokio::time::timeout(Duration::from_secs(10), op.s.recv()).await.expect("acks in time").expect("recv")
            {
                acks[ids[&id]] = serde_json::from_str(&arg).expect("json");
                answered += 1;
            }
        }
        let status = |a: &Value| (a["status"].as_str().unwrap_or("").to_owned(), a["code"].as_str().map(str::to_owned));
        assert!(acks[..5].iter().all(|a| a["status"] == "applied"), "the burst is admitted: {acks:?}");
        assert!(
            acks[5..].iter().all(|a| status(a) == ("rejected".to_owned(), Some("rate_limited".to_owned()))),
            "past the burst, with no time passing, every mutate is rate_limited: {acks:?}"
        );

        // Someone else is not slowed down by alice's bucket.
        let mut bob = Wall::connect(&url, &token("acme", Role::Operator, "bob")).await;
        let ack =
            bob.call("mutate", &mutation("b1", "bob", "playlist.create", None, None, json!({ "name": "Bob's" }))).await;
        assert_eq!(ack["status"], "applied", "{ack}");

        // rate_limited is not a decision: the same mutation applies once there is room.
        let retry = playlist(5);
        assert_eq!(op.call("mutate", &retry).await["code"], "rate_limited", "no time passed, no token");
        clock.advance(200); // one token at 5/s
        assert_eq!(op.call("mutate", &retry).await["status"], "applied");

        // Other events: one `error rate_limited` per second at most. After
        // each burst a refused CONNECT on /wall (its own bucket) is a fence:
        // the server handles a session's packets in order, so every error
        // of the burst comes before its answer.
        let mut dev = Raw::open(&url).await;
        let dev_auth = auth(&token("acme", Role::Device, "p1"));
        assert!(dev.connect_ns("/device", Some(&dev_auth)).await.starts_with("0/device,"));
        let hb = r#"2/device,["heartbeat",{"ts_ms":1,"health":{"cpu_pct":1.0,"mem_pct":1.0,"temp_c":40.0,"disk_free_pct":50.0,"uptime_s":1}}]"#;
        let mut errors_per_burst = Vec::new();
        for _ in 0..3 {
            for _ in 0..30 {
                dev.send_sio(hb).await;
            }
            let (answer, seen) = dev.connect_ns_seen("/wall", Some(&dev_auth)).await;
            assert!(answer.starts_with("4/wall,"), "a device token is refused on /wall: {answer}");
            let codes: Vec<String> = seen
                .iter()
                .map(|p| {
                    let (name, arg) = event(p).unwrap_or_else(|| panic!("an event, got {p}"));
                    assert_eq!(name, "error", "{p}");
                    arg["code"].as_str().unwrap_or("").to_owned()
                })
                .collect();
            errors_per_burst.push(codes);
            clock.advance(500);
        }
        // Bursts at 0, 500 and 1,000 ms: the second is within a second of
        // the first error, so it gets none.
        assert_eq!(
            errors_per_burst,
            vec![vec!["rate_limited"], vec![], vec!["rate_limited"]],
            "one error per second, not one per event"
        );
        // And the connection still works: a malformed heartbeat is answered as such.
        expect_bad_request(&mut dev, r#"2/device,["heartbeat",{"ts_ms":1}]"#, "/device").await;
    });
}

/// Sends `packet` and expects exactly `error bad_request` back.
async fn expect_bad_request(raw: &mut Raw, packet: &str, ns: &str) {
    raw.send_sio(packet).await;
    expect_error(raw, ns, packet).await;
}

async fn expect_error(raw: &mut Raw, ns: &str, what: &str) {
    let p = raw.packet(Duration::from_secs(10)).await.unwrap_or_else(|| panic!("closed after {what}"));
    assert!(p.starts_with(&format!("2{ns},")), "answer on {ns}: {p}");
    let (name, arg) = event(&p).unwrap_or_else(|| panic!("an event, got {p}"));
    assert_eq!((name.as_str(), arg["code"].as_str()), ("error", Some("bad_request")), "{what} → {p}");
    assert!(arg["message"].as_str().is_some_and(|m| !m.is_empty()), "says what was wrong: {p}");
}

#[test]
fn unknown_events_and_malformed_payloads_get_bad_request() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = gateway(dir.path(), |_| {});
    block_on(async {
        let url = gw.url();
        let mut wall = Raw::open(&url).await;
        assert!(
            wall.connect_ns("/wall", Some(&auth(&token("acme", Role::Operator, "o")))).await.starts_with("0/wall,")
        );
        for p in [
            r#"2/wall,["frobnicate",{}]"#,
            r#"2/wall,["heartbeat",{"ts_ms":1}]"#,
            r#"2/wall,["subscribe""#,
            r#"2/wall,[]"#,
            r#"2/wall,[42,{}]"#,
            r#"2/wall,5["mutate",{"kind":"playlist.create""#,
            r#"9/wall,{}"#,
        ] {
            expect_bad_request(&mut wall, p, "/wall").await;
        }
        wall.send_binary(vec![1, 2, 3]).await;
        expect_error(&mut wall, "/wall", "a binary frame").await;

        let mut dev = Raw::open(&url).await;
        assert!(
            dev.connect_ns("/device", Some(&auth(&token("acme", Role::Device, "p1")))).await.starts_with("0/device,")
        );
        for p in [
            r#"2/device,["heartbeat",{"ts_ms":1}]"#,
            r#"2/device,["heartbeat","hot"]"#,
            r#"2/device,["playback",{}]"#,
            r#"2/device,["schedule.executed",{"schedule_id":1}]"#,
            r#"2/device,["reboot_me",{}]"#,
            r#"2/device,1["subscribe",{"since":null}]"#,
        ] {
            expect_bad_request(&mut dev, p, "/device").await;
        }

        // Both connections are still served, and so is everyone else.
        assert!(wall.try_send_sio(r#"2/wall,0["subscribe",{"since":null}]"#).await, "still open");
        let ack = wall.packet(Duration::from_secs(10)).await.expect("open");
        assert!(is_ack(&ack) && ack.contains("snapshot"), "{ack}");
        let mut other = Wall::connect(&url, &token("acme", Role::Operator, "x")).await;
        let ack =
            other.call("mutate", &mutation("ok", "x", "playlist.create", None, None, json!({ "name": "Fine" }))).await;
        assert_eq!(ack["status"], "applied", "{ack}");
    });
}
