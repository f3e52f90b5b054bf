//! §7–§8 players under a manual clock: a sensor flapping around a limit,
//! resolved alerts leaving snapshots (not the log), a removed device's old
//! token, and telemetry for a device first seen after its wall subscribed.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vizora_client::transport::{Session, TransportError};
use vizora_gateway::Clock;
use vizora_protocol::{AlertState, AuthErrorCode, Entity, Role, now_ms};

use crate::support::raw::Raw;
use crate::support::{Wall, mutation, token};
use crate::{
    Feed, auth, beat_forever, block_on, device, gateway, gateway_with, health, heartbeat_packet, manual, report,
    report_packet, snapshot_of, token_iat,
};

/// Sends a heartbeat at `temp_c`, then a report on the same connection, and
/// returns the log entries up to and including that report. A connection's
/// packets are handled in order and a heartbeat no later than a request
/// sent after it, so once the report is logged the beat was handled, at the
/// clock's time then.
async fn beat_fenced(p: &mut Raw, feed: &mut Feed, temp_c: f64, n: u64) -> Vec<Value> {
    let schedule = format!("s{n}");
    p.send_sio(&heartbeat_packet(health(temp_c))).await;
    p.send_sio(&report_packet(&report("p1", &schedule))).await;
    let mut out = Vec::new();
    loop {
        let e = feed.next().await;
        let fence = e["type"] == "schedule.executed" && e["data"]["schedule_id"].as_str() == Some(schedule.as_str());
        out.push(e);
        if fence {
            return out;
        }
    }
}

/// The `device.status` values in `log`, in order.
fn statuses(log: &[Value]) -> Vec<String> {
    log.iter()
        .filter(|e| e["type"] == "device.status")
        .map(|e| e["data"]["status"].as_str().unwrap_or("?").to_owned())
        .collect()
}

/// The `alert.upserted` entries in `log` as `kind/state`, in order.
fn alerts(log: &[Value]) -> Vec<String> {
    log.iter()
        .filter(|e| e["type"] == "alert.upserted")
        .map(|e| {
            format!("{}/{}", e["data"]["kind"].as_str().unwrap_or("?"), e["data"]["state"].as_str().unwrap_or("?"))
        })
        .collect()
}

#[test]
fn a_temperature_flapping_around_the_limit_holds_one_degraded_status_and_one_alert() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (clock, _fail, hooks) = manual();
    let gw = gateway_with(dir.path(), hooks, |c| {
        c.heartbeat_s = 5.0;
        c.tick_ms = 20;
        c.ping_interval_ms = 60_000;
    });
    block_on(async {
        let url = gw.url();
        let mut feed = Feed::viewer(&url, "acme").await;
        let mut p1 = device(&url, "acme", "p1").await;
        let mut log = Vec::new();
        for n in 0..20 {
            clock.advance(5_000);
            log.extend(beat_fenced(&mut p1, &mut feed, if n % 2 == 0 { 81.0 } else { 79.0 }, n).await);
        }
        assert_eq!(statuses(&log), ["online", "degraded"], "20 beats at 81/79 °C");
        assert_eq!(alerts(&log), ["device_degraded/open"]);

        // Clear on every beat for the clear window (60 s): online once, the alert resolved once.
        let mut calm = Vec::new();
        for n in 20..35 {
            clock.advance(5_000);
            calm.extend(beat_fenced(&mut p1, &mut feed, 60.0, n).await);
        }
        assert_eq!(statuses(&calm), ["online"]);
        assert_eq!(alerts(&calm), ["device_degraded/resolved"]);
    });
}

/// Alert `id`'s state in a snapshot, if it is there.
fn alert_state(pages: &[vizora_protocol::SnapshotPage], id: &str) -> Option<AlertState> {
    crate::entities(pages).find_map(|e| match e {
        Entity::Alert(a) if a.id == id => Some(a.state),
        _ => None,
    })
}

#[test]
fn resolved_alerts_leave_snapshots_after_the_retention_but_stay_in_the_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (clock, _fail, hooks) = manual();
    let gw = gateway_with(dir.path(), hooks, |c| {
        c.heartbeat_s = 5.0;
        c.tick_ms = 20;
        c.prune_every_ms = 50;
        c.resolved_alert_retention_s = 60;
        c.ping_interval_ms = 60_000;
    });
    block_on(async {
        let url = gw.url();
        let mut feed = Feed::viewer(&url, "acme").await;
        let mut p1 = device(&url, "acme", "p1").await;
        assert_eq!(feed.next_of("device.status").await.0["data"]["status"], "online");

        // Silent for more than 3 × 5 s: offline, alert raised.
        clock.advance(16_000);
        assert_eq!(feed.next_of("device.status").await.0["data"]["status"], "offline");
        let (raised, _) = feed.next_of("alert.upserted").await;
        assert_eq!(
            (raised["data"]["kind"].as_str(), raised["data"]["state"].as_str()),
            (Some("device_offline"), Some("open"))
        );
        let id = raised["data"]["id"].as_str().expect("alert id").to_owned();

        // Back: online, the same alert resolved; still in snapshots for now.
        p1.send_sio(&heartbeat_packet(health(40.0))).await;
        assert_eq!(feed.next_of("device.status").await.0["data"]["status"], "online");
        let (resolved, _) = feed.next_of("alert.upserted").await;
        assert_eq!(
            (resolved["data"]["id"].as_str(), resolved["data"]["state"].as_str()),
            (Some(id.as_str()), Some("resolved"))
        );
        let (_, pages) = snapshot_of(&url, "acme").await;
        assert_eq!(alert_state(&pages, &id), Some(AlertState::Resolved), "within the retention");

        // 61 s later (silent again, so a new offline alert opens).
        clock.advance(61_000);
        assert_eq!(feed.next_of("device.status").await.0["data"]["status"], "offline");
        let (again, _) = feed.next_of("alert.upserted").await;
        let open_id = again["data"]["id"].as_str().expect("alert id").to_owned();
        assert_ne!(open_id, id, "a new alert, not the resolved one reopened");
        // Retention drops it without a log entry: poll fresh snapshots.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (_, pages) = snapshot_of(&url, "acme").await;
            if alert_state(&pages, &id).is_none() {
                assert_eq!(alert_state(&pages, &open_id), Some(AlertState::Open), "open alerts stay");
                break;
            }
            assert!(Instant::now() < deadline, "the resolved alert is still in snapshots");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        // The log still holds its history.
        let mut w = Wall::connect(&url, &token("acme", Role::Viewer, "historian")).await;
        let ack = w.call("subscribe", &json!({ "since": { "epoch": feed.epoch.clone(), "seq": 0 } })).await;
        assert_eq!(ack["mode"], "replay", "{ack}");
        let head = ack["head_seq"].as_u64().expect("head");
        let mut states = Vec::new();
        let mut last = 0;
        while last < head {
            let ev = w.next_event("events").await;
            for e in ev["items"].as_array().expect("items") {
                last = e["seq"].as_u64().expect("seq");
                if e["type"] == "alert.upserted" && e["data"]["id"].as_str() == Some(id.as_str()) {
                    states.push(e["data"]["state"].as_str().unwrap_or("?").to_owned());
                }
            }
        }
        assert_eq!(states, ["open", "resolved"], "the dropped alert's entries are replayed");
    });
}

#[test]
fn a_removed_device_is_cut_off_and_only_a_newer_token_registers_it_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = gateway(dir.path(), |c| c.heartbeat_s = 3600.0);
    block_on(async {
        let url = gw.url();
        let mut feed = Feed::viewer(&url, "acme").await;
        let old = token("acme", Role::Device, "p1");
        let mut p1 = Raw::open(&url).await;
        assert!(p1.connect_ns("/device", Some(&auth(&old))).await.starts_with("0/device,"));
        let (status, _) = feed.next_of("device.status").await;
        let rev = status["data"]["rev"].as_u64().expect("rev");

        let mut admin = Wall::connect(&url, &token("acme", Role::Admin, "root")).await;
        let ack =
            admin.call("mutate", &mutation("rm1", "root", "device.remove", Some("p1"), Some(rev), json!({}))).await;
        assert_eq!(ack["status"], "applied", "{ack}");
        assert!(p1.closed_within(Duration::from_secs(10)).await.0, "removing a device disconnects it");
        assert_eq!(feed.next_of("device.removed").await.0["data"]["id"], "p1");

        let before = token_iat("acme", Role::Device, "p1", Some((now_ms() / 1000 - 60) as f64));
        for (what, tok) in [("no iat", &old), ("an iat before the removal", &before)] {
            match Session::connect(&url, "/device", tok, Duration::from_secs(5)).await {
                Err(TransportError::Refused(code)) => assert_eq!(code, AuthErrorCode::TokenRevoked, "{what}"),
                Err(e) => panic!("{what}: refused with token_revoked, got {e}"),
                Ok(_) => panic!("{what}: a token older than the removal got in"),
            }
        }

        let fresh = token_iat("acme", Role::Device, "p1", Some((now_ms() / 1000 + 1) as f64));
        let _player = Session::connect(&url, "/device", &fresh, Duration::from_secs(5))
            .await
            .unwrap_or_else(|e| panic!("a token issued after the removal connects: {e}"));
        let (upserted, _) = feed.next_of("device.upserted").await;
        assert_eq!(
            (upserted["data"]["id"].as_str(), upserted["data"]["status"].as_str()),
            (Some("p1"), Some("unknown")),
            "registered again: {upserted}"
        );
        assert_eq!(feed.next_of("device.status").await.0["data"]["status"], "online");
    });
}

/// Connects `token` to `/device`: `Ok` when let in, else the refusal code.
async fn device_connect(url: &str, token: &str) -> Result<Session, AuthErrorCode> {
    match Session::connect(url, "/device", token, Duration::from_secs(5)).await {
        Ok(s) => Ok(s),
        Err(TransportError::Refused(code)) => Err(code),
        Err(e) => panic!("neither let in nor refused: {e}"),
    }
}

#[test]
fn revocation_compares_iat_in_milliseconds_and_device_create_registers_the_id_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (clock, _fail, hooks) = manual();
    // The removal lands half a second into a second: a whole-second `iat`
    // and a fractional one fall on either side of it.
    clock.advance(1_500 - clock.now_ms() % 1_000);
    let removed_ms = clock.now_ms();
    let gw = gateway_with(dir.path(), hooks, |c| c.heartbeat_s = 3600.0);
    block_on(async {
        let url = gw.url();
        let mut feed = Feed::viewer(&url, "acme").await;
        let p1 = device_connect(&url, &token("acme", Role::Device, "p1")).await.expect("first connect");
        let (status, _) = feed.next_of("device.status").await;
        let rev = status["data"]["rev"].as_u64().expect("rev");
        let mut admin = Wall::connect(&url, &token("acme", Role::Admin, "root")).await;
        let rm = mutation("rm1", "root", "device.remove", Some("p1"), Some(rev), json!({}));
        assert_eq!(admin.call("mutate", &rm).await["status"], "applied");
        feed.next_of("device.removed").await;
        drop(p1);

        // §2: revoked when `iat * 1000 < removed_ms`, in milliseconds.
        let second = (removed_ms / 1000) as f64;
        let just_before = token_iat("acme", Role::Device, "p1", Some(second + 0.499));
        assert_eq!(device_connect(&url, &just_before).await.err(), Some(AuthErrorCode::TokenRevoked));
        let whole = token_iat("acme", Role::Device, "p1", Some(second));
        assert_eq!(device_connect(&url, &whole).await.err(), Some(AuthErrorCode::TokenRevoked));
        let at_removal = token_iat("acme", Role::Device, "p1", Some(second + 0.5));
        let back = device_connect(&url, &at_removal).await.expect("a token issued at the removal registers it again");
        assert_eq!(feed.next_of("device.upserted").await.0["data"]["id"], "p1");
        drop(back);

        // Removed again later; then `device.create` of the same id registers
        // it again, and its older tokens get in.
        clock.advance(10_000);
        let (status, _) = feed.next_of("device.status").await;
        let rev = status["data"]["rev"].as_u64().expect("rev");
        let rm = mutation("rm2", "root", "device.remove", Some("p1"), Some(rev), json!({}));
        assert_eq!(admin.call("mutate", &rm).await["status"], "applied");
        feed.next_of("device.removed").await;
        assert_eq!(device_connect(&url, &at_removal).await.err(), Some(AuthErrorCode::TokenRevoked));
        let create = mutation("mk", "root", "device.create", None, None, json!({ "id": "p1", "name": "Lobby" }));
        assert_eq!(admin.call("mutate", &create).await["status"], "applied");
        let (made, _) = feed.next_of("device.upserted").await;
        assert_eq!(
            (made["data"]["status"].as_str(), made["data"]["last_seen_ms"].as_u64()),
            (Some("unknown"), Some(0))
        );
        feed.next_of("mutation.applied").await;
        let _again = device_connect(&url, &at_removal).await.expect("device.create registers the id again");
        // §6: a created device's first CONNECT logs only `device.status`.
        let (st, before) = feed.next_of("device.status").await;
        assert_eq!((st["data"]["id"].as_str(), st["data"]["status"].as_str()), (Some("p1"), Some("online")));
        assert!(before.is_empty(), "only device.status: {before:?}");
    });
}

#[test]
fn a_wall_subscribed_before_a_device_first_connects_gets_its_telemetry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = gateway(dir.path(), |c| c.tick_ms = 20);
    block_on(async {
        let url = gw.url();
        let mut wall = Wall::connect(&url, &token("acme", Role::Viewer, "v")).await;
        let ack = wall.call("subscribe", &json!({ "since": null })).await;
        assert_eq!(ack["head_seq"], 0, "nothing of the org exists yet: {ack}");
        let player = beat_forever(&url, "acme", "p1", Duration::from_millis(200));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let t = wall.next_event("telemetry").await;
            let mine = t["devices"].as_array().and_then(|ds| ds.iter().find(|d| d["id"] == "p1").cloned());
            if let Some(d) = mine {
                assert_eq!(d["health"]["temp_c"].as_f64(), Some(40.0), "{d}");
                break;
            }
            assert!(Instant::now() < deadline, "no telemetry for p1 within 10 s");
        }
        player.abort();
    });
}
