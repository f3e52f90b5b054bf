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
use super::{Feed, block_on, gateway};

#[test]
fn a_consumer_that_stops_reading_is_cut_off_and_the_others_get_everything() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A short per-socket queue, so a stalled reader fills it quickly.
    // Long heartbeats, so only backpressure can end the stalled session here.
    let gw = gateway(dir.path(), |c| {
        c.socket_buffer = 16;
        c.ping_interval_ms = 120_000;
        c.ping_timeout_ms = 120_000;
    });
    let url = gw.url();
    block_on(async {
        // The slow consumer: a tiny receive buffer, subscribes, then never reads again.
        let sock = TcpSocket::new_v4().expect("socket");
        sock.set_recv_buffer_size(2048).expect("rcvbuf");
        let stream = sock.connect(gw.addr).await.expect("tcp connect");
        let (mut slow, _) = tokio_tungstenite::client_async(engine_url(&url), stream).await.expect("ws handshake");
        let _open = slow.next().await.expect("open").expect("open frame");
        let tok = token("acme", Role::Viewer, "slow");
        slow.send(Message::Text(format!("40/wall,{}", json!({ "token": tok })).into())).await.expect("connect");
        slow.send(Message::Text("42/wall,0[\"subscribe\",{\"since\":null}]".into())).await.expect("subscribe");

        let mut fast = Feed::subscribe(&url, &token("acme", Role::Viewer, "fast")).await;
        let n = 1000;
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
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut closed = false;
        while Instant::now() < deadline {
            match tokio::time::timeout(Duration::from_secs(2), slow.next()).await {
                Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => {
                    closed = true;
                    break;
                }
                Ok(Some(Ok(_))) => {}
                Err(_) => break,
            }
        }
        assert!(closed, "the stalled consumer should have been disconnected");
    });
    gw.stop();
}
