//! Hostile and careless peers against a real gateway (PROTOCOL.md §2, §7,
//! §8 "Bounds"). Each test sends one kind of abuse: out-of-range numbers,
//! oversized lists and strings, floods of CONNECTs, subscribes and big
//! frames, sessions that never authenticate, too many sessions from one
//! address, a flapping sensor, a failing disk, a removed device's old token.
//! Each asserts both that the abuse is refused as specified and what a
//! well-behaved client still gets: acks in time, devices online, nothing
//! lost and nothing invented.
//!
//! Time-driven checks run on an injected `ManualClock` (advance the clock,
//! then await the event, never a timing window); the disk-full drill uses a
//! `FailSwitch`.

mod support;

#[path = "hostile/durability.rs"]
mod durability;
#[path = "hostile/floods.rs"]
mod floods;
#[path = "hostile/input_bounds.rs"]
mod input_bounds;
#[path = "hostile/players.rs"]
mod players;
#[path = "hostile/sessions.rs"]
mod sessions;

use std::collections::BTreeSet;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
pub use support::feed::Feed;
use support::raw::{Raw, event, http_get};
use support::{SECRET, Wall, mutation, token};
use vizora_client::transport::{Incoming, Session};
use vizora_gateway::{Auth, Embedded, FailSwitch, GatewayConfig, Hooks, ManualClock};
use vizora_protocol::codec::encode_event;
use vizora_protocol::{Claims, Device, Entity, Role, SnapshotPage, now_ms};

/// Runs `f` on a fresh two-thread runtime (the gateway has its own).
fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime").block_on(f)
}

/// A gateway on a free port with `tweak` applied to the test config.
fn gateway(dir: &Path, tweak: impl FnOnce(&mut GatewayConfig)) -> Embedded {
    gateway_with(dir, Hooks::default(), tweak)
}

/// [`gateway`] with an injected clock and store failure switch.
fn gateway_with(dir: &Path, hooks: Hooks, tweak: impl FnOnce(&mut GatewayConfig)) -> Embedded {
    let mut cfg = support::config(dir);
    tweak(&mut cfg);
    Embedded::start_with(cfg, Auth::hs256(SECRET), hooks).expect("gateway starts")
}

/// A clock standing at the real now that moves only when the test says,
/// a store failure switch, and the hooks that inject both.
fn manual() -> (ManualClock, FailSwitch, Hooks) {
    let clock = ManualClock::at(now_ms());
    let fail = FailSwitch::default();
    let hooks = Hooks { clock: Arc::new(clock.clone()), store_fault: fail.clone(), ..Default::default() };
    (clock, fail, hooks)
}

/// CONNECT auth payload.
fn auth(token: &str) -> Value {
    json!({ "token": token })
}

/// A token with an explicit `iat` (seconds); `support::token` has none.
fn token_iat(org: &str, role: Role, sub: &str, iat: Option<f64>) -> String {
    let claims = Claims { sub: sub.into(), org: org.into(), role, exp: now_ms() / 1000 + 3600, iat };
    Auth::hs256(SECRET).mint(&claims).expect("mint")
}

/// A health sample within every bound and limit but `temp_c` as given.
fn health(temp_c: f64) -> Value {
    json!({ "cpu_pct": 12.0, "mem_pct": 30.0, "temp_c": temp_c, "disk_free_pct": 60.0, "uptime_s": 100 })
}

/// A `heartbeat` packet on `/device` carrying `health`.
fn heartbeat_packet(health: Value) -> String {
    encode_event("/device", None, "heartbeat", &json!({ "ts_ms": now_ms(), "health": health }))
}

/// A `schedule.executed` report within bounds.
fn report(device_id: &str, schedule_id: &str) -> Value {
    json!({ "schedule_id": schedule_id, "device_id": device_id, "playlist_id": "pl1", "at_ms": 1_000, "outcome": "ok" })
}

/// A `schedule.executed` packet on `/device`.
fn report_packet(report: &Value) -> String {
    encode_event("/device", None, "schedule.executed", report)
}

/// A raw player joined to `/device` as `id`.
async fn device(url: &str, org: &str, id: &str) -> Raw {
    let mut raw = Raw::open(url).await;
    let answer = raw.connect_ns("/device", Some(&auth(&token(org, Role::Device, id)))).await;
    assert!(answer.starts_with("0/device,"), "{id} joins /device: {answer}");
    raw
}

/// The next `error` event on `ns` (other packets skipped).
async fn next_error(raw: &mut Raw, ns: &str) -> Value {
    loop {
        let p = raw.packet(Duration::from_secs(10)).await.unwrap_or_else(|| panic!("closed awaiting an error on {ns}"));
        if let Some((name, arg)) = event(&p)
            && name == "error"
        {
            assert!(p.starts_with(&format!("2{ns},")), "the error comes on {ns}: {p}");
            return arg;
        }
    }
}

/// The `data.code` of a CONNECT_ERROR packet on `ns`.
fn refusal_code(packet: &str, ns: &str) -> String {
    let body = packet.strip_prefix(&format!("4{ns},")).unwrap_or_else(|| panic!("CONNECT_ERROR on {ns}, got {packet}"));
    let v: Value = serde_json::from_str(body).expect("CONNECT_ERROR json");
    v["data"]["code"].as_str().unwrap_or_default().to_owned()
}

/// Subscribes with `since: null` and returns the ack and every page, each
/// parsed with `vizora_protocol::SnapshotPage`.
async fn snapshot(wall: &mut Wall) -> (Value, Vec<SnapshotPage>) {
    let ack = wall.call("subscribe", &json!({ "since": null })).await;
    assert_eq!(ack["mode"], "snapshot", "{ack}");
    let mut pages = Vec::new();
    let mut done = 0;
    while done < 5 {
        let v = wall.next_event("snapshot").await;
        let page: SnapshotPage =
            serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("a snapshot page parses: {e}: {v:.300}"));
        assert_eq!(Some(page.seq), ack["head_seq"].as_u64(), "pages are as of the ack's head");
        done += usize::from(page.last);
        pages.push(page);
    }
    (ack, pages)
}

/// A snapshot of `org` through a fresh viewer connection.
async fn snapshot_of(url: &str, org: &str) -> (Value, Vec<SnapshotPage>) {
    let mut wall = Wall::connect(url, &token(org, Role::Viewer, "snapshot-taker")).await;
    snapshot(&mut wall).await
}

/// The log head of `org` as a fresh subscriber is told it.
async fn head_of(url: &str, org: &str) -> u64 {
    let mut wall = Wall::connect(url, &token(org, Role::Viewer, "head-reader")).await;
    let ack = wall.call("subscribe", &json!({ "since": null })).await;
    ack["head_seq"].as_u64().unwrap_or_else(|| panic!("head_seq in {ack}"))
}

/// Every entity on the pages.
fn entities(pages: &[SnapshotPage]) -> impl Iterator<Item = &Entity> {
    pages.iter().flat_map(|p| p.items.iter())
}

/// The device `id` from a snapshot.
fn device_in(pages: &[SnapshotPage], id: &str) -> Device {
    entities(pages)
        .find_map(|e| match e {
            Entity::Device(d) if d.id == id => Some(d.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("device {id} in the snapshot"))
}

/// Ids of the playlists in a snapshot.
fn playlist_ids(pages: &[SnapshotPage]) -> BTreeSet<String> {
    entities(pages)
        .filter_map(|e| match e {
            Entity::Playlist(p) => Some(p.id.clone()),
            _ => None,
        })
        .collect()
}

/// A well-behaved player on its own task: heartbeats every `every`,
/// answers pings, ends with its session (or when aborted).
fn beat_forever(url: &str, org: &str, id: &str, every: Duration) -> tokio::task::JoinHandle<()> {
    let (url, tok) = (url.to_owned(), token(org, Role::Device, id));
    tokio::spawn(async move {
        let mut s = Session::connect(&url, "/device", &tok, Duration::from_secs(5)).await.expect("player connects");
        let mut tick = tokio::time::interval(every);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    let hb = json!({ "ts_ms": now_ms(), "health": health(40.0) });
                    if s.emit("heartbeat", &hb).await.is_err() {
                        return;
                    }
                }
                r = s.recv() => {
                    if matches!(r, Err(_) | Ok(Incoming::Disconnected)) {
                        return;
                    }
                }
            }
        }
    })
}

/// A well-behaved operator: `playlist.create` after `playlist.create`,
/// each ack's round trip timed, at least `min` of them and on while `more()`.
async fn timed_mutations(op: &mut Wall, client: &str, mut more: impl FnMut() -> bool, min: usize) -> Vec<Duration> {
    let mut rtts = Vec::new();
    while rtts.len() < min || (more() && rtts.len() < 2_000) {
        let i = rtts.len();
        let m = mutation(
            &format!("{client}-{i}"),
            client,
            "playlist.create",
            None,
            None,
            json!({ "name": format!("{client} {i}") }),
        );
        let sent = Instant::now();
        let ack = op.call("mutate", &m).await;
        rtts.push(sent.elapsed());
        assert_eq!(ack["status"], "applied", "{client}'s mutation {i}: {ack}");
        // Paced like a person at a wall, not a benchmark.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    rtts
}

/// The 99th percentile (nearest rank).
fn p99(samples: &[Duration]) -> Duration {
    let mut v = samples.to_vec();
    v.sort_unstable();
    v[(v.len() * 99).div_ceil(100) - 1]
}

/// Polls `GET path` until it answers `want` (where no event says so);
/// returns the body. Panics after 10 s.
async fn wait_http(addr: &str, path: &str, want: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (code, body) = http_get(addr, path).expect("GET");
        if code == want {
            return body;
        }
        assert!(Instant::now() < deadline, "{path} still answers {code} {body:?}, not {want}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
