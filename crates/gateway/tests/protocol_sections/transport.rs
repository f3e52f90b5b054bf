//! §1 Transport: `maxPayload` and the Engine.IO heartbeat (on a manual clock).

use std::time::Duration;

use serde_json::json;
use vizora_gateway::ManualClock;
use vizora_protocol::Role;
use vizora_protocol::codec::encode_event;

use crate::support::raw::{Frame, Raw, event, http_get, is_ack, sample};
use crate::support::{Wall, mutation, token};
use crate::{auth, block_on, gateway, gateway_on_heartbeat_clock};

fn content(id: &str, uri_len: usize) -> serde_json::Value {
    let uri = format!("https://cdn.example/{}", "a".repeat(uri_len));
    json!({ "id": id, "name": id, "kind": "web", "uri": uri, "duration_s": 5, "size_bytes": 0 })
}

#[test]
fn a_frame_over_max_payload_ends_that_connection_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = gateway(dir.path(), |c| c.max_payload = 4096);
    block_on(async {
        let url = gw.url();
        let mut other = Wall::connect(&url, &token("acme", Role::Operator, "bob")).await;
        let mut raw = Raw::open(&url).await;
        assert_eq!(raw.open["maxPayload"], 4096, "the handshake announces the limit");
        let ok = raw.connect_ns("/wall", Some(&auth(&token("acme", Role::Operator, "ray")))).await;
        assert!(ok.starts_with("0/wall,"), "{ok}");

        // Just under the limit: served as usual.
        let small = mutation("m1", "raw", "content.create", None, None, content("small", 3000));
        raw.send_sio(&encode_event("/wall", Some(0), "mutate", &small)).await;
        let ack = raw.packet(Duration::from_secs(10)).await.expect("still open");
        assert!(ack.starts_with("3/wall,0[") && ack.contains("applied"), "{ack}");

        // Over it: the connection ends (or is told payload_too_large), nothing is decided.
        let big = mutation("m2", "raw", "content.create", None, None, content("big", 8000));
        raw.send_sio(&encode_event("/wall", Some(1), "mutate", &big)).await;
        let (closed, seen) = raw.closed_within(Duration::from_secs(5)).await;
        let told = seen.iter().filter_map(|p| event(p)).any(|(n, a)| n == "error" && a["code"] == "payload_too_large");
        assert!(closed || told, "an oversized frame neither closed the connection nor was refused: {seen:?}");
        assert!(!seen.iter().any(|p| is_ack(p)), "the oversized mutate was not acknowledged: {seen:?}");

        // Everyone else is still served, and the big one never happened.
        let ack = other
            .call("mutate", &mutation("o1", "bob", "playlist.create", None, None, json!({ "name": "Lobby" })))
            .await;
        assert_eq!(ack["status"], "applied", "{ack}");
        let mut late = Wall::connect(&url, &token("acme", Role::Viewer, "late")).await;
        let sub = late.call("subscribe", &json!({ "since": null })).await;
        assert_eq!(sub["head_seq"], 4, "small create and Lobby, two entries each: {sub}");
    });
}

/// The frames that arrive before the answer to a probe sent now. The
/// server handles a connection's frames in order, so by then it has handled
/// everything sent before the probe (a pong, say).
async fn until_probed(raw: &mut Raw) -> Vec<Frame> {
    raw.send_sio(&encode_event("/wall", None, "probe", &json!({}))).await;
    let mut seen = Vec::new();
    loop {
        match raw.frame(Duration::from_secs(10)).await {
            Some(Frame::Packet(p)) if p.contains("unknown event `probe`") => return seen,
            Some(Frame::Closed) => panic!("closed while probing, after {seen:?}"),
            Some(f) => seen.push(f),
            None => panic!("no answer to a probe within 10 s, after {seen:?}"),
        }
    }
}

/// Waits for the next ping (a bounded wait: the heartbeat's clock already
/// passed its deadline).
async fn next_ping(raw: &mut Raw) {
    loop {
        match raw.frame(Duration::from_secs(10)).await {
            Some(Frame::Ping) => return,
            Some(Frame::Packet(_)) => {}
            other => panic!("expected a ping, got {other:?}"),
        }
    }
}

#[test]
fn pings_come_every_interval_and_a_peer_that_never_pongs_is_dropped() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The heartbeat runs on its own manual clock: every ping and timeout
    // below happens exactly when the clock is moved past it.
    let beat = ManualClock::at(vizora_protocol::now_ms());
    let (interval, timeout) = (10_000u64, 5_000u64);
    let gw = gateway_on_heartbeat_clock(dir.path(), &beat, |c| {
        c.ping_interval_ms = interval;
        c.ping_timeout_ms = timeout;
    });
    let addr = gw.addr.to_string();
    block_on(async {
        let url = gw.url();
        let viewer = auth(&token("acme", Role::Viewer, "v"));
        let mut ponger = Raw::open(&url).await;
        assert_eq!(
            (ponger.open["pingInterval"].as_u64(), ponger.open["pingTimeout"].as_u64()),
            (Some(interval), Some(timeout))
        );
        assert!(ponger.connect_ns("/wall", Some(&viewer)).await.starts_with("0/wall,"));
        let mut silent = Raw::open(&url).await;
        silent.auto_pong = false;
        assert!(silent.connect_ns("/wall", Some(&viewer)).await.starts_with("0/wall,"));

        // The first ping comes one interval after the handshake, not sooner.
        beat.advance(interval - 1);
        assert!(!until_probed(&mut ponger).await.contains(&Frame::Ping), "a ping before pingInterval");
        beat.advance(1);
        next_ping(&mut ponger).await; // answered (auto_pong)
        next_ping(&mut silent).await; // not answered
        until_probed(&mut ponger).await; // the pong is in

        // The silent peer lives until pingTimeout after its ping, and no longer.
        beat.advance(timeout - 1);
        until_probed(&mut silent).await;
        beat.advance(1);
        let (closed, seen) = silent.closed_within(Duration::from_secs(10)).await;
        assert!(closed, "a peer that never pongs was not dropped at pingTimeout: {seen:?}");

        // The ponger gets its next ping one interval after its pong, every time.
        for round in 0..3 {
            let to_next = if round == 0 { interval - timeout } else { interval };
            beat.advance(to_next - 1);
            let early = until_probed(&mut ponger).await;
            assert!(!early.contains(&Frame::Ping), "round {round}: a ping before pingInterval: {early:?}");
            beat.advance(1);
            next_ping(&mut ponger).await;
            until_probed(&mut ponger).await;
        }

        // Its /wall session is gone from the gauge (counted out before its
        // socket is closed); the ponger still gets answers.
        let (_, body) = http_get(&addr, "/metrics").expect("metrics");
        assert_eq!(sample(&body, "vizora_connections{namespace=\"/wall\"}"), Some(1.0), "{body}");
        ponger.send_sio(&encode_event("/wall", Some(0), "subscribe", &json!({ "since": null }))).await;
        let ack = ponger.packet(Duration::from_secs(10)).await.expect("still open");
        assert!(ack.starts_with("3/wall,0["), "{ack}");
    });
}
