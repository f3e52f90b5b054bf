//! End to end over real sockets: gateway on a free loopback port, a
//! simulated player on `/device`, a client on `/wall`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use vizora_client::{ClientConfig, ConnectionState, Update};
use vizora_gateway::{Auth, Embedded, GatewayConfig};
use vizora_protocol::{Claims, DeviceStatus, Event, Role, now_ms};
use vizora_sim::{FaultRates, Fleet, SimConfig};

fn token(auth: &Auth, org: &str, role: Role, sub: &str) -> String {
    let claims = Claims { sub: sub.into(), org: org.into(), role, exp: now_ms() / 1000 + 3600, iat: None };
    auth.mint(&claims).expect("mint")
}

fn gateway(dir: &std::path::Path, heartbeat_s: f64) -> Embedded {
    let cfg = GatewayConfig {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.into(),
        heartbeat_s,
        tick_ms: 50,
        ..Default::default()
    };
    Embedded::start(cfg, Auth::hs256(b"test-secret")).expect("gateway starts")
}

fn fleet(gw: &Embedded, players: usize, heartbeat: Duration, faults: FaultRates, fault_period: Duration) -> SimConfig {
    let auth = gw.auth.clone();
    SimConfig {
        server: gw.url(),
        players,
        id_prefix: "player".into(),
        heartbeat,
        seed: 7,
        faults,
        fault_period,
        token: Arc::new(move |id: &str| token(&auth, "acme", Role::Device, id)),
        ramp: Duration::ZERO,
    }
}

/// Collects log entries until `done` says so or the deadline passes.
fn collect_until(
    rx: &crossbeam_channel::Receiver<Update>,
    limit: Duration,
    mut done: impl FnMut(&[vizora_protocol::LogEntry]) -> bool,
) -> Vec<vizora_protocol::LogEntry> {
    let end = Instant::now() + limit;
    let mut entries = Vec::new();
    while Instant::now() < end {
        if let Ok(Update::Entries { items, .. }) = rx.recv_timeout(Duration::from_millis(100)) {
            entries.extend(items);
            if done(&entries) {
                break;
            }
        }
    }
    entries
}

#[test]
fn player_entries_reach_the_wall_in_seq_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = gateway(dir.path(), 1.0);
    let client = vizora_client::spawn(ClientConfig::new(gw.url(), token(&gw.auth, "acme", Role::Viewer, "wall-1")))
        .expect("client");

    // Wait for the (empty) snapshot so the player's entries arrive live.
    let end = Instant::now() + Duration::from_secs(10);
    let mut snap_seq = None;
    while snap_seq.is_none() && Instant::now() < end {
        if let Ok(Update::Snapshot { seq, entities, .. }) = client.updates.recv_timeout(Duration::from_millis(100)) {
            assert!(entities.is_empty(), "fresh org has no entities");
            snap_seq = Some(seq);
        }
    }
    assert_eq!(snap_seq, Some(0), "snapshot of an empty org is at seq 0");

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let fleet = rt.block_on(async {
        Fleet::start(fleet(&gw, 1, Duration::from_millis(200), FaultRates::none(), Duration::from_secs(60)))
    });

    let entries = collect_until(&client.updates, Duration::from_secs(10), |e| {
        e.iter().any(|e| matches!(e.event, Event::DeviceStatus(_)))
    });
    let seqs: Vec<u64> = entries.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "gap-free, in order, from 1");
    match &entries[0].event {
        Event::DeviceUpserted(d) => {
            assert_eq!(d.id, "player-00000");
            assert_eq!((d.rev, d.status), (1, DeviceStatus::Unknown));
        }
        other => panic!("first entry should be device.upserted, got {other:?}"),
    }
    match &entries[1].event {
        Event::DeviceStatus(s) => {
            assert_eq!((s.id.as_str(), s.rev, s.status), ("player-00000", 2, DeviceStatus::Online))
        }
        other => panic!("second entry should be device.status, got {other:?}"),
    }
    rt.block_on(fleet.stop());
    client.shutdown();
    gw.stop();
}

#[test]
fn silent_player_goes_offline_with_an_alert_and_recovers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = gateway(dir.path(), 0.2);
    let client = vizora_client::spawn(ClientConfig::new(gw.url(), token(&gw.auth, "acme", Role::Viewer, "wall-1")))
        .expect("client");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    // Every player goes dark for 1.5 s at a time: far beyond 3 heartbeats.
    let sim = fleet(
        &gw,
        2,
        Duration::from_millis(200),
        FaultRates { drop: 1.0, ..FaultRates::none() },
        Duration::from_millis(1500),
    );
    let fleet = rt.block_on(async { Fleet::start(sim) });
    let statuses = |e: &[vizora_protocol::LogEntry]| -> Vec<DeviceStatus> {
        e.iter()
            .filter_map(|e| match &e.event {
                Event::DeviceStatus(s) if s.id == "player-00000" => Some(s.status),
                _ => None,
            })
            .collect()
    };
    let entries = collect_until(&client.updates, Duration::from_secs(20), |e| {
        let s = statuses(e);
        s.windows(3).any(|w| w == [DeviceStatus::Online, DeviceStatus::Offline, DeviceStatus::Online])
    });
    let s = statuses(&entries);
    assert!(
        s.windows(3).any(|w| w == [DeviceStatus::Online, DeviceStatus::Offline, DeviceStatus::Online]),
        "statuses seen: {s:?}"
    );
    let alerts: Vec<_> = entries
        .iter()
        .filter_map(|e| match &e.event {
            Event::AlertUpserted(a) if a.device_id.as_deref() == Some("player-00000") => {
                Some((a.kind.clone(), a.state))
            }
            _ => None,
        })
        .collect();
    use vizora_protocol::AlertState::{Open, Resolved};
    assert!(alerts.contains(&("device_offline".into(), Open)), "offline raises an alert: {alerts:?}");
    assert!(alerts.contains(&("device_offline".into(), Resolved)), "coming back resolves it: {alerts:?}");
    rt.block_on(fleet.stop());
    client.shutdown();
    gw.stop();
}

#[test]
fn wrong_tokens_are_refused_with_their_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = gateway(dir.path(), 1.0);
    let expect_refusal = |tok: String, want: vizora_protocol::AuthErrorCode| {
        let c = vizora_client::spawn(ClientConfig::new(gw.url(), tok)).expect("client");
        let end = Instant::now() + Duration::from_secs(10);
        let mut got = None;
        while got.is_none() && Instant::now() < end {
            if let Ok(Update::Connection(ConnectionState::Refused(code))) =
                c.updates.recv_timeout(Duration::from_millis(100))
            {
                got = Some(code);
            }
        }
        assert_eq!(got, Some(want));
        c.shutdown();
    };
    expect_refusal("garbage".into(), vizora_protocol::AuthErrorCode::TokenInvalid);
    expect_refusal(token(&gw.auth, "acme", Role::Device, "p1"), vizora_protocol::AuthErrorCode::WrongNamespace);
    let foreign = Auth::hs256(b"someone-else");
    expect_refusal(token(&foreign, "acme", Role::Viewer, "x"), vizora_protocol::AuthErrorCode::TokenInvalid);
    gw.stop();
}

#[test]
fn a_restart_command_makes_the_player_reboot_and_come_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = gateway(dir.path(), 1.0);
    let client = vizora_client::spawn(ClientConfig::new(gw.url(), token(&gw.auth, "acme", Role::Viewer, "wall-1")))
        .expect("client");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let fleet = rt.block_on(async {
        Fleet::start(fleet(&gw, 1, Duration::from_millis(100), FaultRates::none(), Duration::from_secs(60)))
    });
    let uptime = |limit: Duration, want: &dyn Fn(f64) -> bool| -> Option<f64> {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if let Ok(Update::Telemetry(t)) = client.updates.recv_timeout(Duration::from_millis(100))
                && let Some(u) = t.devices.iter().find(|d| d.id == "player-00000").map(|d| d.health.uptime_s)
                && want(u)
            {
                return Some(u);
            }
        }
        None
    };
    assert!(uptime(Duration::from_secs(10), &|u| u >= 100.0).is_some(), "the player runs with its initial uptime");
    rt.block_on(async {
        let mut op = vizora_client::transport::Session::connect(&gw.url(), "/wall", &token(&gw.auth, "acme", Role::Operator, "op"), Duration::from_secs(5))
            .await
            .expect("operator");
        let m = serde_json::json!({ "mutation_id": "r1", "client_id": "op", "kind": "device.restart", "target": "player-00000", "args": {} });
        op.emit_with_ack("mutate", &m).await.expect("restart");
    });
    assert!(uptime(Duration::from_secs(10), &|u| u < 20.0).is_some(), "after the restart the uptime starts again");
    assert_eq!(fleet.stats.restarts.load(std::sync::atomic::Ordering::Relaxed), 1);
    rt.block_on(fleet.stop());
    client.shutdown();
    gw.stop();
}

#[test]
fn a_dark_site_goes_offline_together() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = gateway(dir.path(), 0.2);
    let client = vizora_client::spawn(ClientConfig::new(gw.url(), token(&gw.auth, "acme", Role::Viewer, "wall-1")))
        .expect("client");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let faults = FaultRates { site_dark: 1.0, site_size: 3, ..FaultRates::none() };
    let fleet = rt.block_on(async {
        Fleet::start(fleet(&gw, 3, Duration::from_millis(100), faults, Duration::from_millis(2000)))
    });
    let mut offline_at = std::collections::BTreeMap::new();
    let end = Instant::now() + Duration::from_secs(20);
    while offline_at.len() < 3 && Instant::now() < end {
        if let Ok(Update::Entries { items, .. }) = client.updates.recv_timeout(Duration::from_millis(100)) {
            for e in items {
                if let Event::DeviceStatus(s) = e.event
                    && s.status == DeviceStatus::Offline
                {
                    offline_at.entry(s.id).or_insert(e.ts_ms);
                }
            }
        }
    }
    assert_eq!(offline_at.len(), 3, "every player of the site went offline: {offline_at:?}");
    let (min, max) = (offline_at.values().min().copied().unwrap_or(0), offline_at.values().max().copied().unwrap_or(0));
    assert!(max - min < 1_000, "together, within a second: {offline_at:?}");
    rt.block_on(fleet.stop());
    client.shutdown();
    gw.stop();
}
