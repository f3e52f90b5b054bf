//! Retention (§5), command acks (§7) and the connection cap (§8).

use std::time::{Duration, Instant};

use serde_json::json;
use vizora_client::transport::{Incoming, Session};
use vizora_protocol::Role;

use super::support::raw::{Raw, http_get, sample};
use super::support::{Wall, mutation, token};
use super::{block_on, gateway};

fn metric(addr: &str, name: &str) -> f64 {
    let (_, body) = http_get(addr, "/metrics").expect("metrics");
    sample(&body, name).unwrap_or(0.0)
}

#[test]
fn history_beyond_retention_is_pruned_and_resumes_from_there_get_a_snapshot() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Keep at least 10 entries, no time floor, prune often.
    let gw = gateway(dir.path(), |c| {
        c.history_entries = 10;
        c.history_secs = 0;
        c.prune_every_ms = 100;
    });
    block_on(async {
        let mut op = Wall::connect(&gw.url(), &token("acme", Role::Operator, "op")).await;
        for i in 0..20 {
            let args = json!({ "id": format!("p{i}"), "name": "x" });
            assert_eq!(
                op.call("mutate", &mutation(&format!("m{i}"), "op", "playlist.create", None, None, args)).await["status"],
                "applied"
            );
        }
        let head = op.call("subscribe", &json!({ "since": null })).await;
        let epoch = head["epoch"].as_str().expect("epoch").to_owned();
        assert_eq!(head["head_seq"], 40);
        // Old positions fall out of the retained history: snapshot.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let ack = op.call("subscribe", &json!({ "since": { "epoch": epoch, "seq": 5 } })).await;
            if ack["mode"] == "snapshot" {
                break;
            }
            assert!(Instant::now() < deadline, "seq 5 was never pruned");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // The last 10 entries are kept: a resume from 30 replays 31..=40.
        let mut fresh = Wall::connect(&gw.url(), &token("acme", Role::Viewer, "v")).await;
        let ack = fresh.call("subscribe", &json!({ "since": { "epoch": epoch, "seq": 30 } })).await;
        assert_eq!(ack["mode"], "replay", "{ack}");
        let entries = fresh.entries_until(40).await;
        assert_eq!(entries.iter().map(|e| e.seq).collect::<Vec<_>>(), (31..=40).collect::<Vec<_>>());
    });
    gw.stop();
}

#[test]
fn command_acks_are_counted_and_unanswered_commands_time_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = gateway(dir.path(), |c| c.command_ack_timeout_ms = 300);
    let addr = gw.addr.to_string();
    block_on(async {
        let connect = |id: &'static str| {
            let url = gw.url();
            async move {
                Session::connect(&url, "/device", &token("acme", Role::Device, id), Duration::from_secs(5))
                    .await
                    .expect("player")
            }
        };
        let mut polite = connect("p-polite").await;
        let _silent = connect("p-silent").await;
        let mut op = Wall::connect(&gw.url(), &token("acme", Role::Operator, "op")).await;
        for (i, target) in ["p-polite", "p-silent"].iter().enumerate() {
            let ack = op
                .call("mutate", &mutation(&format!("r{i}"), "op", "device.restart", Some(target), None, json!({})))
                .await;
            assert_eq!(ack["status"], "applied", "{ack}");
        }
        // The polite player answers its command.
        loop {
            match tokio::time::timeout(Duration::from_secs(5), polite.recv())
                .await
                .expect("command in time")
                .expect("recv")
            {
                Incoming::Event { name, ack: Some(id), .. } if name == "command" => {
                    polite.ack(id, &json!({ "ok": true })).await.expect("ack");
                    break;
                }
                _ => {}
            }
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline
            && (metric(&addr, "vizora_commands_total{outcome=\"acked\"}") < 1.0
                || metric(&addr, "vizora_commands_total{outcome=\"timed_out\"}") < 1.0)
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(metric(&addr, "vizora_commands_total{outcome=\"acked\"}"), 1.0);
        assert_eq!(
            metric(&addr, "vizora_commands_total{outcome=\"timed_out\"}"),
            1.0,
            "the silent player's command expired"
        );
    });
    gw.stop();
}

#[test]
fn sessions_over_the_connection_cap_are_closed_and_the_rest_keep_working() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = gateway(dir.path(), |c| c.max_connections = 2);
    block_on(async {
        let mut a = Wall::connect(&gw.url(), &token("acme", Role::Viewer, "a")).await;
        let _b = Wall::connect(&gw.url(), &token("acme", Role::Viewer, "b")).await;
        let mut c = Raw::open(&gw.url()).await;
        let (closed, _) = c.closed_within(Duration::from_secs(5)).await;
        assert!(closed, "a third session is refused");
        let ack = a.call("subscribe", &json!({ "since": null })).await;
        assert_eq!(ack["mode"], "snapshot", "the first sessions are unaffected");
    });
    gw.stop();
}
