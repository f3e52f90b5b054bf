//! A session answers every ping, including one sent right after OPEN while
//! the CONNECT is still in flight, so it outlives many ping timeouts.

use std::time::{Duration, Instant};

use vizora_client::transport::{Incoming, Session};
use vizora_gateway::{Auth, Embedded, GatewayConfig};
use vizora_protocol::{Claims, Role, now_ms};

#[test]
fn a_session_survives_many_ping_timeouts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = GatewayConfig {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.path().into(),
        ping_interval_ms: 200,
        ping_timeout_ms: 150,
        ..Default::default()
    };
    let auth = Auth::hs256(b"liveness");
    let gw = Embedded::start(cfg, auth.clone()).expect("gateway");
    let token = auth
        .mint(&Claims { sub: "w".into(), org: "o".into(), role: Role::Viewer, exp: now_ms() / 1000 + 600, iat: None })
        .expect("mint");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    rt.block_on(async {
        let mut s = Session::connect(&gw.url(), "/wall", &token, Duration::from_secs(5)).await.expect("connect");
        // Ten ping periods, reading (and so answering) as a client does.
        let end = Instant::now() + Duration::from_secs(2);
        while Instant::now() < end {
            match tokio::time::timeout(Duration::from_millis(50), s.recv()).await {
                Err(_) => {}
                Ok(Ok(_)) => {}
                Ok(Err(e)) => panic!("session dropped: {e}"),
            }
        }
        let id = s.emit_with_ack("subscribe", &serde_json::json!({ "since": null })).await.expect("emit");
        loop {
            match tokio::time::timeout(Duration::from_secs(5), s.recv())
                .await
                .expect("ack in time")
                .expect("still connected")
            {
                Incoming::Ack { id: got, .. } if got == id => break,
                _ => {}
            }
        }
    });
    gw.stop();
}
