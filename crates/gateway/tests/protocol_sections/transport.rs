//! §1 Transport: `maxPayload` and the Engine.IO heartbeat.

use std::time::{Duration, Instant};

use serde_json::json;
use vizora_protocol::Role;
use vizora_protocol::codec::encode_event;

use crate::support::raw::{Frame, Raw, event, http_get, is_ack, sample};
use crate::support::{Wall, mutation, token};
use crate::{auth, block_on, gateway};

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

#[test]
fn pings_come_every_interval_and_a_peer_that_never_pongs_is_dropped() {
    let dir = tempfile::tempdir().expect("tempdir");
    // engineioxide's own timers run on real time: periods long enough that
    // a loaded 2-core machine (the whole suite at once) still keeps them.
    let (interval, timeout) = (500u64, 600u64);
    let gw = gateway(dir.path(), |c| {
        c.ping_interval_ms = interval;
        c.ping_timeout_ms = timeout;
    });
    let addr = gw.addr.to_string();
    block_on(async {
        let url = gw.url();
        let mut ponger = Raw::open(&url).await;
        assert_eq!(
            (ponger.open["pingInterval"].as_u64(), ponger.open["pingTimeout"].as_u64()),
            (Some(interval), Some(timeout))
        );
        let viewer = auth(&token("acme", Role::Viewer, "v"));
        assert!(ponger.connect_ns("/wall", Some(&viewer)).await.starts_with("0/wall,"));
        // Taken before the handshake, so surely before the server's session starts.
        let opened = Instant::now();
        let mut silent = Raw::open(&url).await;
        silent.auto_pong = false;
        assert!(silent.connect_ns("/wall", Some(&viewer)).await.starts_with("0/wall,"));

        let silent_task = tokio::spawn(async move {
            let mut pinged = false;
            loop {
                match silent.frame(Duration::from_secs(10)).await {
                    Some(Frame::Ping) => pinged = true,
                    Some(Frame::Closed) => return pinged.then(|| opened.elapsed()),
                    Some(Frame::Packet(_)) => {}
                    None => panic!("a peer that never pongs was not dropped within 10 s"),
                }
            }
        });

        let start = Instant::now();
        let mut pings = Vec::new();
        let window = Duration::from_millis(10 * interval);
        while start.elapsed() < window {
            match ponger.frame(window.saturating_sub(start.elapsed())).await {
                Some(Frame::Ping) => pings.push(start.elapsed()),
                Some(Frame::Closed) => panic!("a client answering pings was dropped after {:?}", start.elapsed()),
                Some(Frame::Packet(_)) | None => {}
            }
        }
        assert!(pings.len() >= 4, "pings at {pings:?}");
        let (first, last) = (pings[0], pings[pings.len() - 1]);
        let mean = (last - first) / (pings.len() as u32 - 1);
        assert!(
            mean >= Duration::from_millis(interval * 8 / 10) && mean <= Duration::from_millis(interval * 2),
            "mean ping period {mean:?} for pingInterval {interval} ms"
        );

        let lived = silent_task.await.expect("silent task").expect("the silent peer was pinged before being dropped");
        // engineioxide pings once right after OPEN, so a peer that never pongs
        // goes pingTimeout after that ping: never sooner, and surely within
        // pingInterval + pingTimeout (plus scheduling slack).
        assert!(lived >= Duration::from_millis(timeout), "dropped {lived:?} after opening, before pingTimeout ran out");
        assert!(
            lived <= Duration::from_millis(interval + timeout) + Duration::from_secs(2),
            "dropped only {lived:?} after opening"
        );

        // Its /wall session is gone from the gauge; the ponger still gets answers.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let (_, body) = http_get(&addr, "/metrics").expect("metrics");
            if sample(&body, "vizora_connections{namespace=\"/wall\"}") == Some(1.0) {
                break;
            }
            assert!(Instant::now() < deadline, "wall gauge never went back to 1:\n{body}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        ponger.send_sio(&encode_event("/wall", Some(0), "subscribe", &json!({ "since": null }))).await;
        let ack = ponger.packet(Duration::from_secs(10)).await.expect("still open");
        assert!(ack.starts_with("3/wall,0["), "{ack}");
    });
}
