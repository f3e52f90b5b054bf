//! §2 sessions that never authenticate, flood CONNECTs, crowd one address,
//! send on a namespace not joined or carry oversized claims; and `/metrics`
//! behind its bearer token. The abuser is closed or ignored; members are
//! served throughout.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vizora_protocol::Role;
use vizora_protocol::codec::encode_event;

use crate::support::raw::{Raw, ack, http_get, http_get_with, sample};
use crate::support::{mutation, token};
use crate::{auth, block_on, gateway, refusal_code};

/// Subscribes on a joined `/wall` session with ack `id`; returns the ack.
async fn subscribed(raw: &mut Raw, id: u64) -> Value {
    assert!(raw.try_send_sio(&encode_event("/wall", Some(id), "subscribe", &json!({ "since": null }))).await, "open");
    loop {
        let p = raw.packet(Duration::from_secs(10)).await.expect("the session is still open");
        if let Some((got, a)) = ack(&p)
            && got == id
        {
            return a;
        }
    }
}

#[test]
fn sessions_in_no_namespace_are_closed_after_the_connect_timeout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = gateway(dir.path(), |c| c.connect_timeout_ms = 300);
    let addr = gw.addr.to_string();
    block_on(async {
        let url = gw.url();
        let viewer = auth(&token("acme", Role::Viewer, "v"));
        let mut member = Raw::open(&url).await;
        assert!(member.connect_ns("/wall", Some(&viewer)).await.starts_with("0/wall,"));

        let mut idle = Raw::open(&url).await;
        let (closed, seen) = idle.closed_within(Duration::from_secs(5)).await;
        assert!(closed, "a session that never sends CONNECT is closed");
        assert!(seen.is_empty(), "and is sent nothing: {seen:?}");

        let mut refused = Raw::open(&url).await;
        let answer = refused.connect_ns("/wall", Some(&auth("forged"))).await;
        assert_eq!(refusal_code(&answer, "/wall"), "token_invalid");
        assert!(refused.closed_within(Duration::from_secs(5)).await.0, "a refused CONNECT counts as none");

        let mut leaver = Raw::open(&url).await;
        assert!(leaver.connect_ns("/wall", Some(&viewer)).await.starts_with("0/wall,"));
        leaver.send_sio("1/wall,").await;
        assert!(leaver.closed_within(Duration::from_secs(5)).await.0, "leaving the last namespace re-arms the timeout");

        // The member has been joined for well over the timeout and is served.
        let (closed, _) = member.closed_within(Duration::from_millis(100)).await;
        assert!(!closed, "a joined session is not closed by the connect timeout");
        let a = subscribed(&mut member, 1).await;
        assert_eq!(a["mode"], "snapshot", "{a}");

        let (_, metrics) = http_get(&addr, "/metrics").expect("GET /metrics");
        let timeouts = sample(&metrics, r#"vizora_refusals_total{reason="connect_timeout"}"#);
        assert!(timeouts.is_some_and(|n| n >= 3.0), "idle, refused and leaver counted: {timeouts:?}");
    });
}

#[test]
fn a_connect_flood_closes_that_session_and_others_still_connect() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = gateway(dir.path(), |_| {});
    block_on(async {
        let url = gw.url();
        let mut flooder = Raw::open(&url).await;
        let forged = format!("0/wall,{}", auth("forged"));
        for _ in 0..40 {
            if !flooder.try_send_sio(&forged).await {
                break;
            }
        }
        let (closed, seen) = flooder.closed_within(Duration::from_secs(5)).await;
        assert!(closed, "40 CONNECTs at once close the session");
        let answered = seen.iter().filter(|p| p.starts_with("4/wall,")).count();
        assert!(answered <= 25, "a burst of 20 (+5/s) is answered, then the session ends; {answered} were");

        let mut wall = Raw::open(&url).await;
        let ok = wall.connect_ns("/wall", Some(&auth(&token("acme", Role::Viewer, "v")))).await;
        assert!(ok.starts_with("0/wall,"), "{ok}");
        assert_eq!(subscribed(&mut wall, 1).await["mode"], "snapshot");
    });
}

/// A new session that joins `/wall`, or `None` when the server closes it.
async fn try_join(url: &str, auth: &Value) -> Option<Raw> {
    let mut raw = Raw::try_open(url).await?;
    let answer = raw.try_connect_ns("/wall", Some(auth)).await?;
    answer.starts_with("0/wall,").then_some(raw)
}

#[test]
fn the_per_ip_cap_refuses_the_extra_session_and_frees_slots_on_close() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = gateway(dir.path(), |c| {
        c.per_ip_exempt_loopback = false;
        c.max_connections_per_ip = 3;
    });
    let addr = gw.addr.to_string();
    block_on(async {
        let url = gw.url();
        let viewer = auth(&token("acme", Role::Viewer, "v"));
        let mut held = Vec::new();
        for i in 0..3 {
            held.push(try_join(&url, &viewer).await.unwrap_or_else(|| panic!("session {i} of 3 gets in")));
        }
        assert!(try_join(&url, &viewer).await.is_none(), "a 4th session from 127.0.0.1 is closed");

        held.pop().expect("a held session").close().await;
        // The slot frees when the server has seen the close: no event says so, poll.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(r) = try_join(&url, &viewer).await {
                held.push(r);
                break;
            }
            assert!(Instant::now() < deadline, "the freed slot never went to a new session");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        for (i, r) in held.iter_mut().enumerate() {
            assert_eq!(subscribed(r, 1).await["mode"], "snapshot", "session {i} is served");
        }
        let (_, metrics) = http_get(&addr, "/metrics").expect("GET /metrics");
        let refused = sample(&metrics, r#"vizora_refusals_total{reason="per_ip_cap"}"#);
        assert!(refused.is_some_and(|n| n >= 1.0), "{refused:?}");
    });
}

#[test]
fn events_after_a_refused_connect_get_no_answer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = gateway(dir.path(), |_| {});
    block_on(async {
        let url = gw.url();
        let mut raw = Raw::open(&url).await;
        let refused = raw.connect_ns("/wall", Some(&auth("forged"))).await;
        assert_eq!(refusal_code(&refused, "/wall"), "token_invalid");
        let sneaky = mutation("x1", "raw", "playlist.create", None, None, json!({ "id": "pwned", "name": "x" }));
        raw.send_sio(&encode_event("/wall", Some(0), "subscribe", &json!({ "since": null }))).await;
        raw.send_sio(&encode_event("/wall", Some(1), "mutate", &sneaky)).await;
        raw.send_sio(&encode_event("/wall", None, "frobnicate", &json!({}))).await;
        let (fence, seen) = raw.connect_ns_seen("/wall", Some(&auth("forged"))).await;
        assert!(fence.starts_with("4/wall,"), "{fence}");
        assert!(seen.is_empty(), "answered on a namespace not joined: {seen:?}");

        // The same session may still join properly, and is then served.
        let ok = raw.connect_ns("/wall", Some(&auth(&token("acme", Role::Viewer, "v")))).await;
        assert!(ok.starts_with("0/wall,"), "{ok}");
        let a = subscribed(&mut raw, 2).await;
        assert_eq!(a["head_seq"], 0, "the unauthenticated mutate changed nothing: {a}");
    });
}

#[test]
fn a_token_with_a_129_byte_sub_or_org_is_invalid() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = gateway(dir.path(), |_| {});
    block_on(async {
        let mut raw = Raw::open(&gw.url()).await;
        let long = "u".repeat(129);
        for (ns, tok) in [
            ("/wall", token("acme", Role::Viewer, &long)),
            ("/device", token("acme", Role::Device, &long)),
            ("/wall", token(&long, Role::Viewer, "u")),
        ] {
            let answer = raw.connect_ns(ns, Some(&auth(&tok))).await;
            assert_eq!(refusal_code(&answer, ns), "token_invalid", "{ns}: {answer}");
        }
        // 128 bytes is within bounds.
        let edge = "u".repeat(128);
        let ok = raw.connect_ns("/device", Some(&auth(&token("acme", Role::Device, &edge)))).await;
        assert!(ok.starts_with("0/device,"), "{ok}");
    });
}

#[test]
fn metrics_need_the_bearer_token_and_probes_stay_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = gateway(dir.path(), |c| c.metrics_token = Some("s3cret".into()));
    let addr = gw.addr.to_string();
    let (code, _) = http_get(&addr, "/metrics").expect("GET");
    assert_eq!(code, 401, "no Authorization header");
    let (code, _) = http_get_with(&addr, "/metrics", &[("Authorization", "Bearer wrong")]).expect("GET");
    assert_eq!(code, 401, "a wrong token");
    let (code, body) = http_get_with(&addr, "/metrics", &[("Authorization", "Bearer s3cret")]).expect("GET");
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("vizora_refusals_total"), "{body}");
    assert_eq!(http_get(&addr, "/readyz").expect("GET").0, 200, "readiness needs no token");
    assert_eq!(http_get(&addr, "/healthz").expect("GET").0, 200, "liveness needs no token");
}

/// §1 over the gateway's own WebSocket transport: an Engine.IO packet a
/// client never sends (OPEN, UPGRADE, an unknown type, an empty frame)
/// closes that session only; a client's ping and a noop do not, and a
/// member's session is served throughout.
#[test]
fn engine_io_packets_a_client_never_sends_close_only_that_session() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = gateway(dir.path(), |_| {});
    let url = gw.url();
    block_on(async {
        let viewer = auth(&token("acme", Role::Viewer, "v"));
        let mut member = Raw::open(&url).await;
        assert!(member.connect_ns("/wall", Some(&viewer)).await.starts_with("0/wall,"));
        for (i, bad) in ["0{}", "5", "x", "", "9junk"].into_iter().enumerate() {
            let mut abuser = Raw::open(&url).await;
            assert!(abuser.connect_ns("/wall", Some(&viewer)).await.starts_with("0/wall,"));
            abuser.send(bad).await;
            let (closed, seen) = abuser.closed_within(Duration::from_secs(10)).await;
            assert!(closed, "{bad:?} did not close the session: {seen:?}");
            let a = subscribed(&mut member, i as u64).await;
            assert!(a["head_seq"].is_u64(), "the member is still served after {bad:?}: {a}");
        }
        // A client's ping and a noop are harmless: the session stays and answers.
        let mut polite = Raw::open(&url).await;
        assert!(polite.connect_ns("/wall", Some(&viewer)).await.starts_with("0/wall,"));
        polite.send("2").await;
        polite.send("6").await;
        let a = subscribed(&mut polite, 0).await;
        assert!(a["head_seq"].is_u64(), "{a}");
    });
}
