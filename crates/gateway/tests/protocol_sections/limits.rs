//! §8 Limits: the per-connection rate limit on `mutate` and other events,
//! `bad_request` for unknown events and malformed payloads, and other
//! clients served throughout.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vizora_client::transport::{Incoming, Session};
use vizora_protocol::Role;

use crate::support::raw::{Raw, event, is_ack};
use crate::support::{Wall, mutation, token};
use crate::{auth, block_on, gateway};

fn playlist(i: usize) -> Value {
    mutation(&format!("m{i}"), "op", "playlist.create", None, None, json!({ "id": format!("p{i}"), "name": "P" }))
}

#[test]
fn over_the_rate_mutations_are_rejected_and_other_events_get_one_error_a_second() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = gateway(dir.path(), |c| {
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
        let applied = acks.iter().filter(|a| a["status"] == "applied").count();
        let limited: Vec<usize> =
            (0..20).filter(|&i| acks[i]["status"] == "rejected" && acks[i]["code"] == "rate_limited").collect();
        assert_eq!(applied + limited.len(), 20, "each mutate is applied or rate_limited: {acks:?}");
        assert!(acks[..5].iter().all(|a| a["status"] == "applied"), "the burst is admitted: {acks:?}");
        assert!((5..=12).contains(&applied), "{applied} applied of 20 with burst 5 at 5/s");

        // Someone else is not slowed down by alice's bucket.
        let mut bob = Wall::connect(&url, &token("acme", Role::Operator, "bob")).await;
        let ack =
            bob.call("mutate", &mutation("b1", "bob", "playlist.create", None, None, json!({ "name": "Bob's" }))).await;
        assert_eq!(ack["status"], "applied", "{ack}");

        // rate_limited is not a decision: the same mutation applies once there is room.
        let retry = playlist(limited[0]);
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let ack = op.call("mutate", &retry).await;
            if ack["status"] == "applied" {
                break;
            }
            assert_eq!(ack["code"], "rate_limited", "{ack}");
            assert!(Instant::now() < deadline, "the bucket never refilled");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        // Other events: one `error rate_limited` per second at most.
        let mut dev = Session::connect(&url, "/device", &token("acme", Role::Device, "p1"), Duration::from_secs(5))
            .await
            .expect("device");
        let hb = json!({ "ts_ms": 1, "health": { "cpu_pct": 1.0, "mem_pct": 1.0, "temp_c": 40.0, "disk_free_pct": 50.0, "uptime_s": 1 } });
        let mut errors: Vec<(Instant, Value)> = Vec::new();
        for _burst in 0..2 {
            let start = Instant::now();
            for _ in 0..30 {
                dev.emit("heartbeat", &hb).await.expect("emit");
            }
            // Listen out this second and a half before the next burst.
            let window = Duration::from_millis(1500);
            while start.elapsed() < window {
                let left = window.saturating_sub(start.elapsed());
                if let Ok(Ok(Incoming::Event { name, arg, .. })) = tokio::time::timeout(left, dev.recv()).await {
                    assert_eq!(name, "error");
                    errors.push((Instant::now(), serde_json::from_str(&arg).expect("json")));
                }
            }
        }
        let codes: Vec<&str> = errors.iter().map(|(_, e)| e["code"].as_str().unwrap_or("")).collect();
        assert_eq!(codes, vec!["rate_limited", "rate_limited"], "one error per burst, not one per event");
        assert!(
            errors[1].0 - errors[0].0 >= Duration::from_millis(900),
            "errors {:?} apart",
            errors[1].0 - errors[0].0
        );
        // And the connection still works: a malformed heartbeat is answered as such.
        dev.emit("heartbeat", &json!({ "ts_ms": 1 })).await.expect("emit");
        loop {
            if let Incoming::Event { name, arg, .. } =
                tokio::time::timeout(Duration::from_secs(10), dev.recv()).await.expect("answer").expect("recv")
            {
                assert_eq!(name, "error");
                assert!(arg.contains("bad_request"), "{arg}");
                break;
            }
        }
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
