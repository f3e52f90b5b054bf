//! §8 / backpressure: a `/wall` consumer that stops reading is disconnected
//! (it would resume by replay), and nobody else is slowed or loses anything.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::Message;
use vizora_client::transport::engine_url;
use vizora_protocol::Role;

use super::support::{Wall, mutation, token};
use super::{Feed, block_on, gateway, gateway_on_heartbeat_clock};

type Ws = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// A raw `/wall` session of org `acme` on a socket with a tiny receive
/// buffer, that has sent `subscribe` and read nothing after the OPEN.
async fn tiny_window_subscriber(addr: std::net::SocketAddr, url: &str, name: &str) -> Ws {
    let sock = TcpSocket::new_v4().expect("socket");
    sock.set_recv_buffer_size(2048).expect("rcvbuf");
    let stream = sock.connect(addr).await.expect("tcp connect");
    let (mut ws, _) = tokio_tungstenite::client_async(engine_url(url), stream).await.expect("ws handshake");
    let _open = ws.next().await.expect("open").expect("open frame");
    let tok = token("acme", Role::Viewer, name);
    ws.send(Message::Text(format!("40/wall,{}", json!({ "token": tok })).into())).await.expect("connect");
    ws.send(Message::Text("42/wall,0[\"subscribe\",{\"since\":null}]".into())).await.expect("subscribe");
    ws
}

/// Reads what is left until the connection closes (true), or nothing comes
/// for `quiet`, or 30 s pass (false).
async fn read_to_close(ws: &mut Ws, quiet: Duration) -> bool {
    let end = Instant::now() + Duration::from_secs(30);
    while Instant::now() < end {
        match tokio::time::timeout(quiet, ws.next()).await {
            Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => return true,
            Ok(Some(Ok(_))) => {}
            Err(_) => return false,
        }
    }
    false
}

#[test]
fn a_consumer_that_stops_reading_is_cut_off_and_the_others_get_everything() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A small byte budget, so a stalled reader exceeds it quickly.
    // Long heartbeats, so only backpressure can end the stalled session here.
    let gw = gateway(dir.path(), |c| {
        c.max_packet_bytes = 64 * 1024;
        c.slow_consumer_bytes = 256 * 1024;
        c.ping_interval_ms = 120_000;
        c.ping_timeout_ms = 120_000;
    });
    let url = gw.url();
    block_on(async {
        // The slow consumer: subscribes, then never reads again.
        let mut slow = tiny_window_subscriber(gw.addr, &url, "slow").await;

        let mut fast = Feed::subscribe(&url, &token("acme", Role::Viewer, "fast")).await;
        // ~11 MiB: more than the kernel's send buffer on loopback can grow
        // to (tcp_wmem's 4 MiB ceiling) plus the budget.
        let n = 2500;
        // The reader that keeps up reads concurrently and must see every entry, in order.
        let reader = tokio::spawn(async move {
            for _ in 0..2 * n {
                fast.next().await; // asserts last + 1 each time
            }
        });
        let mut op = Wall::connect(&url, &token("acme", Role::Operator, "op")).await;
        let name = "x".repeat(250);
        for i in 0..n {
            let args = json!({ "id": format!("c{i}"), "name": name, "kind": "web", "uri": format!("https://example.invalid/{}", "p".repeat(4000)), "duration_s": 5, "size_bytes": 0 });
            let ack = op.call("mutate", &mutation(&format!("m{i}"), "op", "content.create", None, None, args)).await;
            assert_eq!(ack["status"], "applied", "{ack}");
        }
        reader.await.expect("the reader that keeps up got every entry");

        // The stalled one was disconnected: reading now ends in a close, not an endless stream.
        assert!(
            read_to_close(&mut slow, Duration::from_secs(2)).await,
            "the stalled consumer should have been disconnected"
        );
    });
    gw.stop();
}

/// §8 / coalescing: while a consumer's socket is behind, the entries of the
/// commits made meanwhile wait and reach it together, several commits to a
/// frame, in order, with nothing lost; and once it keeps up again an entry
/// leaves on its own.
#[test]
fn a_consumer_that_is_behind_gets_several_commits_in_one_frame_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A budget above everything sent: this consumer is behind, never cut.
    let gw = gateway(dir.path(), |c| {
        c.ping_interval_ms = 120_000;
        c.ping_timeout_ms = 120_000;
        c.slow_consumer_bytes = 64 * 1024 * 1024;
    });
    let url = gw.url();
    block_on(async {
        // A tiny receive buffer, and nothing read while the operator writes:
        // the gateway's writer for this socket stalls on a full TCP window.
        let mut behind = tiny_window_subscriber(gw.addr, &url, "behind").await;
        // Read up to the subscribe ack and the last snapshot page.
        let mut head = None;
        while head.is_none() {
            let Some(Ok(Message::Text(t))) = behind.next().await else { panic!("closed before the subscribe ack") };
            if let Some(ack) = t.strip_prefix("43/wall,0") {
                let v: serde_json::Value = serde_json::from_str(ack).expect("ack JSON");
                head = v[0]["head_seq"].as_u64();
            }
        }
        let head = head.expect("head");

        let mut op = Wall::connect(&url, &token("acme", Role::Operator, "op")).await;
        // ~11 MiB, well over what the kernel buffers on both ends hold
        // (tcp_wmem's 4 MiB ceiling on loopback), so the writer must stall.
        let n = 2500;
        let uri = format!("https://example.invalid/{}", "p".repeat(4000));
        for i in 0..n {
            // One mutation per commit: each is acknowledged before the next is sent.
            let args = json!({ "id": format!("c{i}"), "name": format!("c{i}"), "kind": "web", "uri": uri, "duration_s": 5, "size_bytes": 0 });
            let ack = op.call("mutate", &mutation(&format!("m{i}"), "op", "content.create", None, None, args)).await;
            assert_eq!(ack["status"], "applied", "{ack}");
        }

        // Now read it all: every seq once, in order, and count commits per frame.
        let mut next = head + 1;
        let mut most_commits = 0;
        let mut frames = 0;
        let deadline = Instant::now() + Duration::from_secs(60);
        let last = head + 2 * n;
        while next <= last {
            assert!(Instant::now() < deadline, "stuck at seq {next} of {last}");
            let Some(Ok(msg)) = behind.next().await else { panic!("closed at seq {next} of {last}") };
            let Message::Text(t) = msg else { continue };
            let Some(body) = t.strip_prefix("42/wall,") else { continue };
            let v: serde_json::Value = serde_json::from_str(body).expect("event JSON");
            if v[0] != "events" {
                continue;
            }
            frames += 1;
            let mut commits = std::collections::HashSet::new();
            for item in v[1]["items"].as_array().expect("items") {
                assert_eq!(item["seq"].as_u64(), Some(next), "entries in order, none lost or doubled");
                next += 1;
                if item["type"] == "mutation.applied" {
                    commits.insert(item["data"]["mutation_id"].as_str().expect("mutation_id").to_owned());
                }
            }
            most_commits = most_commits.max(commits.len());
        }
        assert!(most_commits >= 3, "a frame carried at most {most_commits} commits ({frames} frames)");
        assert!(frames < n as usize, "{frames} frames for {n} commits");

        // Caught up: the next commit arrives as a frame of its own, at once.
        let args = json!({ "id": "solo", "name": "solo", "kind": "web", "uri": "https://example.invalid/solo", "duration_s": 5, "size_bytes": 0 });
        let ack = op.call("mutate", &mutation("solo", "op", "content.create", None, None, args)).await;
        assert_eq!(ack["status"], "applied", "{ack}");
        loop {
            let Some(Ok(Message::Text(t))) = behind.next().await else { panic!("closed") };
            let Some(body) = t.strip_prefix("42/wall,") else { continue };
            let v: serde_json::Value = serde_json::from_str(body).expect("event JSON");
            if v[0] == "events" {
                let seqs: Vec<u64> =
                    v[1]["items"].as_array().expect("items").iter().filter_map(|i| i["seq"].as_u64()).collect();
                assert_eq!(seqs, vec![last + 1, last + 2]);
                break;
            }
        }
    });
    gw.stop();
}

/// A reader that stops reading while under the byte budget still ends: the
/// gateway's write to it cannot finish (so no ping can go out either), and
/// the session is closed once the heartbeat's clock passes `pingInterval +
/// pingTimeout` after the write stalled, not before. Driven on a manual
/// heartbeat clock. (Without the stalled-write limit this test fails: the
/// session stays open.)
#[test]
fn a_reader_that_stops_under_the_byte_budget_is_closed_when_a_write_stalls_past_the_heartbeat() {
    let dir = tempfile::tempdir().expect("tempdir");
    let beat = vizora_gateway::ManualClock::at(vizora_protocol::now_ms());
    // Long, as the operator's client keeps its own liveness deadline on real
    // time (no ping within interval + timeout counts as a dead link): only
    // the manual clock may reach them.
    let (interval, timeout) = (60_000u64, 60_000u64);
    let gw = gateway_on_heartbeat_clock(dir.path(), &beat, |c| {
        c.ping_interval_ms = interval;
        c.ping_timeout_ms = timeout;
        // A budget above everything sent: only the heartbeat can end it.
        c.slow_consumer_bytes = 64 * 1024 * 1024;
    });
    let url = gw.url();
    let addr = gw.addr.to_string();
    block_on(async {
        let walls = || {
            let (_, body) = super::support::raw::http_get(&addr, "/metrics").expect("metrics");
            super::support::raw::sample(&body, "vizora_connections{namespace=\"/wall\"}")
        };
        let mut stalled = tiny_window_subscriber(gw.addr, &url, "stalled").await;
        let mut op = Wall::connect(&url, &token("acme", Role::Operator, "op")).await;
        // ~11 MiB: more than the kernel buffers of both ends hold.
        let uri = format!("https://example.invalid/{}", "p".repeat(4000));
        for i in 0..2500 {
            let args = json!({ "id": format!("c{i}"), "name": format!("c{i}"), "kind": "web", "uri": uri, "duration_s": 5, "size_bytes": 0 });
            let ack = op.call("mutate", &mutation(&format!("m{i}"), "op", "content.create", None, None, args)).await;
            assert_eq!(ack["status"], "applied", "{ack}");
        }
        assert_eq!(walls(), Some(2.0), "both sessions open while the heartbeat's clock stands still");

        beat.advance(interval + timeout - 1);
        // The operator answers pings (its client does): probe it so its pong is in.
        let ack =
            op.call("mutate", &mutation("late", "op", "playlist.create", None, None, json!({ "name": "L" }))).await;
        assert_eq!(ack["status"], "applied", "{ack}");
        assert_eq!(walls(), Some(2.0), "nobody is closed before pingInterval + pingTimeout");

        beat.advance(1);
        // The stalled reader, reading at last, finds its connection closed
        // (the gateway counts a session out before it drops the socket).
        assert!(read_to_close(&mut stalled, Duration::from_secs(5)).await, "the stalled session was not closed");
        assert_eq!(walls(), Some(1.0), "the stalled session is counted out");
        // The operator, who answers pings, is still served.
        let ack =
            op.call("mutate", &mutation("after", "op", "playlist.create", None, None, json!({ "name": "M" }))).await;
        assert_eq!(ack["status"], "applied", "{ack}");
    });
    gw.stop();
}
