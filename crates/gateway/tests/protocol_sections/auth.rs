//! §2 Authentication: CONNECT_ERROR codes and shape, expiry during a
//! connection, and nothing of any org before a successful CONNECT.

use std::time::Duration;

use serde_json::{Value, json};
use vizora_client::transport::{Incoming, Session};
use vizora_gateway::Auth;
use vizora_protocol::codec::encode_event;
use vizora_protocol::{Claims, Role, now_ms};

use crate::support::raw::Raw;
use crate::support::{SECRET, Wall, mutation, token};
use crate::{auth, block_on, gateway};

fn mint(claims: &Value) -> String {
    let key = jsonwebtoken::EncodingKey::from_secret(SECRET);
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), claims, &key).expect("encode")
}

fn token_exp(role: Role, sub: &str, exp: u64) -> String {
    Auth::hs256(SECRET).mint(&Claims { sub: sub.into(), org: "acme".into(), role, exp, iat: None }).expect("mint")
}

/// The CONNECT_ERROR payload, checked to be exactly the normative shape.
fn refusal(packet: &str, ns: &str) -> String {
    let prefix = if ns == "/" { "4".to_owned() } else { format!("4{ns},") };
    let body = packet.strip_prefix(&prefix).unwrap_or_else(|| panic!("CONNECT_ERROR on {ns}, got {packet}"));
    let v: Value = serde_json::from_str(body).expect("json");
    let code = v["data"]["code"].as_str().unwrap_or_default().to_owned();
    assert_eq!(v, json!({ "message": "unauthorized", "data": { "code": code } }), "exact shape");
    code
}

#[test]
fn refused_connects_carry_exactly_message_and_code() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = gateway(dir.path(), |_| {});
    block_on(async {
        let mut raw = Raw::open(&gw.url()).await;
        let hour = now_ms() / 1000 + 3600;
        let foreign = Auth::hs256(b"another-secret")
            .mint(&Claims { sub: "u".into(), org: "acme".into(), role: Role::Viewer, exp: hour, iat: None })
            .expect("mint");
        let cases: Vec<(&str, Option<Value>, &str)> = vec![
            ("/wall", None, "token_missing"),
            ("/wall", Some(json!({})), "token_missing"),
            ("/wall", Some(json!({ "token": "" })), "token_missing"),
            ("/wall", Some(json!({ "token": "not-a-jwt" })), "token_invalid"),
            ("/wall", Some(auth(&foreign)), "token_invalid"),
            ("/wall", Some(auth(&mint(&json!({ "sub": "u", "org": "acme", "role": "viewer" })))), "token_invalid"),
            ("/wall", Some(auth(&token_exp(Role::Viewer, "u", now_ms() / 1000 - 10))), "token_expired"),
            ("/wall", Some(auth(&token("acme", Role::Device, "player-1"))), "wrong_namespace"),
            ("/device", Some(auth(&token("acme", Role::Viewer, "u"))), "wrong_namespace"),
            ("/device", Some(auth(&token("acme", Role::Admin, "u"))), "wrong_namespace"),
            ("/admin", Some(auth(&token("acme", Role::Admin, "u"))), "wrong_namespace"),
            ("/", Some(auth(&token("acme", Role::Viewer, "u"))), "wrong_namespace"),
        ];
        for (ns, payload, want) in cases {
            let answer = raw.connect_ns(ns, payload.as_ref()).await;
            assert_eq!(refusal(&answer, ns), want, "CONNECT {ns} with {payload:?}");
        }
        // Refusals leave the connection usable: the right token still gets in.
        let ok = raw.connect_ns("/wall", Some(&auth(&token("acme", Role::Viewer, "u")))).await;
        let sid: Value = serde_json::from_str(ok.strip_prefix("0/wall,").expect("CONNECT")).expect("json");
        assert!(sid["sid"].as_str().is_some_and(|s| !s.is_empty()), "{ok}");
        let ok = raw.connect_ns("/device", Some(&auth(&token("acme", Role::Device, "player-1")))).await;
        assert!(ok.starts_with("0/device,"), "{ok}");
    });
}

/// Subscribe, mutate and heartbeat without an accepted CONNECT: nothing at
/// all comes back on a namespace not joined (PROTOCOL.md §2), up to a
/// refused CONNECT sent after them as a fence.
async fn unauthenticated_attempts(raw: &mut Raw, sneaky: &Value) {
    raw.send_sio(&encode_event("/wall", Some(7), "subscribe", &json!({ "since": null }))).await;
    raw.send_sio(&encode_event("/wall", Some(8), "mutate", sneaky)).await;
    raw.send_sio(&encode_event("/device", None, "heartbeat", &json!({ "ts_ms": 1, "health": {} }))).await;
    let (fence, seen) = raw.connect_ns_seen("/wall", Some(&auth("forged"))).await;
    assert!(fence.starts_with("4/wall,"), "{fence}");
    assert!(seen.is_empty(), "answered on a namespace not joined: {seen:?}");
}

#[test]
fn nothing_of_any_org_reaches_a_socket_before_it_authenticates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = gateway(dir.path(), |_| {});
    block_on(async {
        let url = gw.url();
        let mut op = Wall::connect(&url, &token("acme", Role::Operator, "alice")).await;
        let args = json!({ "id": "secret-menu", "name": "Secret", "kind": "web", "uri": "https://x", "duration_s": 5, "size_bytes": 1 });
        assert_eq!(
            op.call("mutate", &mutation("m1", "a", "content.create", None, None, args)).await["status"],
            "applied"
        );

        let mut raw = Raw::open(&url).await;
        let sneaky = mutation("x1", "raw", "playlist.create", None, None, json!({ "id": "pwned", "name": "x" }));
        unauthenticated_attempts(&mut raw, &sneaky).await;
        // A refused CONNECT is no better than none.
        let refused = raw.connect_ns("/wall", Some(&auth("forged"))).await;
        assert!(refused.starts_with("4/wall,"), "{refused}");
        unauthenticated_attempts(&mut raw, &sneaky).await;

        let mut fresh = Wall::connect(&url, &token("acme", Role::Viewer, "v")).await;
        let sub = fresh.call("subscribe", &json!({ "since": null })).await;
        assert_eq!(sub["head_seq"], 2, "the unauthenticated mutate changed nothing: {sub}");
    });
}

#[test]
fn a_token_expiring_mid_connection_ends_it_with_token_expired() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = gateway(dir.path(), |c| c.connect_timeout_ms = 1_000);
    block_on(async {
        let url = gw.url();
        let exp = now_ms() / 1000 + 2;
        let mut s = Session::connect(&url, "/wall", &token_exp(Role::Viewer, "short", exp), Duration::from_secs(5))
            .await
            .expect("connect");
        let id = s.emit_with_ack("subscribe", &json!({ "since": null })).await.expect("emit");
        let mut acked = false;
        let mut expired_at = None;
        loop {
            match tokio::time::timeout(Duration::from_secs(10), s.recv())
                .await
                .expect("expiry within 10 s")
                .expect("recv")
            {
                Incoming::Ack { id: got, .. } if got == id => acked = true,
                Incoming::Event { name, arg, .. } if name == "error" => {
                    let v: Value = serde_json::from_str(&arg).expect("json");
                    assert_eq!(v["code"], "token_expired", "{v}");
                    expired_at = Some(now_ms());
                }
                Incoming::Disconnected => break,
                Incoming::Event { .. } | Incoming::Ack { .. } => {}
            }
        }
        assert!(acked, "subscribed while the token was valid");
        let at = expired_at.expect("the error event came before the DISCONNECT");
        assert!(at + 50 >= exp * 1000, "ended {} ms before exp", exp * 1000 - at);
        assert!(at <= exp * 1000 + 3000, "ended {} ms after exp", at - exp * 1000);

        // Disconnected means no more data: a change now does not reach it,
        // a subscribe on the namespace left is not answered, and the
        // session, in no namespace, is closed after the connect timeout.
        let mut op = Wall::connect(&url, &token("acme", Role::Operator, "alice")).await;
        let ack =
            op.call("mutate", &mutation("m1", "a", "playlist.create", None, None, json!({ "name": "After" }))).await;
        assert_eq!(ack["status"], "applied");
        s.emit_with_ack("subscribe", &json!({ "since": null })).await.expect("emit");
        match tokio::time::timeout(Duration::from_secs(10), s.recv()).await.expect("closed in time") {
            Err(_) => {}
            Ok(other) => panic!("after the DISCONNECT nothing may come: {other:?}"),
        }
    });
}

/// Reads `raw` until an `events` packet carrying `mutation.applied` of
/// `mutation_id` arrives.
async fn applied_seen(raw: &mut Raw, mutation_id: &str) {
    loop {
        let p = raw.packet(Duration::from_secs(10)).await.expect("events in time");
        if let Some((name, arg)) = crate::support::raw::event(&p)
            && name == "events"
            && arg["items"].as_array().expect("items").iter().any(|e| e["data"]["mutation_id"] == mutation_id)
        {
            return;
        }
    }
}

#[test]
fn a_repeated_connect_is_answered_and_refreshes_the_token_a_refused_one_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = gateway(dir.path(), |_| {});
    block_on(async {
        let url = gw.url();
        let mut op = Wall::connect(&url, &token("acme", Role::Operator, "alice")).await;
        let mut raw = Raw::open(&url).await;
        let soon = now_ms() / 1000 + 3600;
        let first = raw.connect_ns("/wall", Some(&auth(&token_exp(Role::Viewer, "u", soon)))).await;
        assert!(first.starts_with("0/wall,"), "{first}");
        raw.send_sio(&encode_event("/wall", Some(1), "subscribe", &json!({ "since": null }))).await;

        // The same user with a later expiry (a token refresh): answered like
        // the first CONNECT, and the subscription goes on.
        let again = raw.connect_ns("/wall", Some(&auth(&token_exp(Role::Viewer, "u", soon + 3600)))).await;
        assert!(again.starts_with("0/wall,"), "a repeated CONNECT is answered: {again}");
        let m = mutation("m1", "alice", "playlist.create", None, None, json!({ "name": "A" }));
        assert_eq!(op.call("mutate", &m).await["status"], "applied");
        applied_seen(&mut raw, "m1").await;

        // A refused one is answered CONNECT_ERROR and leaves the joined session as it was.
        let expired = raw.connect_ns("/wall", Some(&auth(&token_exp(Role::Viewer, "u", now_ms() / 1000 - 10)))).await;
        assert_eq!(refusal(&expired, "/wall"), "token_expired");
        let m = mutation("m2", "alice", "playlist.create", None, None, json!({ "name": "B" }));
        assert_eq!(op.call("mutate", &m).await["status"], "applied");
        applied_seen(&mut raw, "m2").await;

        // Another user of the same org: the org's subscription goes on.
        let other = raw.connect_ns("/wall", Some(&auth(&token("acme", Role::Viewer, "u2")))).await;
        assert!(other.starts_with("0/wall,"), "{other}");
        let m = mutation("m3", "alice", "playlist.create", None, None, json!({ "name": "C" }));
        assert_eq!(op.call("mutate", &m).await["status"], "applied");
        applied_seen(&mut raw, "m3").await;
    });
}
