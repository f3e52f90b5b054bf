//! Reconnect storms against the real gateway: every subscriber loses its
//! connection at once, resumes with `since`, and the report says how long
//! until all had caught up to the log head, with nothing lost or repeated.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use vizora_gateway::{Auth, Embedded};
use vizora_protocol::Role;
use vizora_sim::loadtest::{self, LoadConfig, LoadReport, Storm, StormKind};

const WALLS: usize = 20;

fn config(server: String) -> LoadConfig {
    LoadConfig {
        wall_servers: Vec::new(),
        server,
        walls: WALLS,
        players: 5,
        mutations_per_s: 50.0,
        duration: Duration::from_secs(4),
        heartbeat: Duration::from_millis(500),
        wall_token: Arc::new(|i: &str| support::token("load", Role::Viewer, &format!("wall-{i}"))),
        operator_token: support::token("load", Role::Operator, "operator"),
        device_token: Arc::new(|id: &str| support::token("load", Role::Device, id)),
        gateway_pid: None,
        connect_parallelism: 8,
        working_set: None,
    }
}

fn assert_recovered(report: &LoadReport, kind: &str) {
    let table = report.table();
    let storm = report.storm.as_ref().expect("storm reported");
    assert_eq!(storm.kind, kind);
    assert_eq!((storm.walls_recovered, storm.walls), (WALLS as u64, WALLS as u64), "{table}");
    assert!(storm.recovery_s.is_some(), "{table}");
    assert_eq!(report.walls_subscribed, WALLS, "{table}");
    assert_eq!(report.walls_disconnected, WALLS, "every wall lost its connection: {table}");
    assert!(report.resumed_by_replay >= WALLS as u64, "each resumed by replay: {table}");
    assert_eq!(report.resumed_by_snapshot, 0, "the gateway kept every entry: {table}");
    assert_eq!((report.lost, report.duplicated), (0, 0), "{table}");
    assert!(report.mutations_applied > 100, "the operator kept writing through it: {table}");
    // Every wall subscribed before the operator began, so each got all of its entries.
    assert!(report.delivered >= WALLS as u64 * 2 * report.mutations_applied, "{table}");
    assert!(table.contains("reconnect storm recovery"), "{table}");
    let json = serde_json::to_value(report).expect("json");
    assert_eq!(json["storm"]["walls_recovered"], WALLS as u64);
}

#[test]
fn every_subscriber_recovers_from_a_gateway_restart_with_nothing_lost() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = support::gateway(dir.path());
    let (addr, url) = (first.addr, first.url());
    let slot: Arc<Mutex<Option<Embedded>>> = Arc::new(Mutex::new(Some(first)));
    let data = dir.path().to_owned();
    let s = slot.clone();
    // Stop, then start on the same port and store (the epoch survives), off the async threads.
    let restart: loadtest::RestartFn = Arc::new(move || {
        let (s, data) = (s.clone(), data.clone());
        Box::pin(async move {
            let (tx, rx) = tokio::sync::oneshot::channel();
            std::thread::spawn(move || {
                let old = s.lock().map_err(|e| e.to_string()).and_then(|mut g| g.take().ok_or("no gateway".into()));
                let started = old.and_then(|old| {
                    old.stop();
                    let mut cfg = support::config(&data);
                    cfg.listen = addr.to_string();
                    Embedded::start(cfg, Auth::hs256(support::SECRET)).map_err(|e| e.to_string())
                });
                let result = started.and_then(|gw| s.lock().map(|mut g| *g = Some(gw)).map_err(|e| e.to_string()));
                let _ = tx.send(result);
            });
            rx.await.map_err(|e| e.to_string())?
        })
    });
    let storm = Storm { at: Duration::from_secs(1), kind: StormKind::RestartGateway(restart) };
    let report = support::runtime().block_on(loadtest::run_with(config(url), Some(storm))).expect("load run");
    println!("{}", report.table());
    assert_recovered(&report, "restart_gateway");
    drop(slot);
}

#[test]
fn every_subscriber_recovers_when_all_connections_are_cut_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = support::gateway(dir.path());
    let storm = Storm { at: Duration::from_secs(1), kind: StormKind::DropConnections };
    let report = support::runtime().block_on(loadtest::run_with(config(gw.url()), Some(storm))).expect("load run");
    println!("{}", report.table());
    assert_recovered(&report, "drop_connections");
}
