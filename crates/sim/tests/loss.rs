//! The load generator's loss accounting against the real gateway, with a
//! fault injected on the wire: a proxy in front of the gateway drops exactly
//! one `events` frame on its way to a subscriber, and the report must count
//! exactly the entries that frame carried; through a proxy that drops
//! nothing, it must count none while every entry is delivered.

mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use support::proxy;
use vizora_protocol::Role;
use vizora_sim::loadtest::{self, LoadConfig, LoadReport};

fn config(server: String, walls: usize) -> LoadConfig {
    LoadConfig {
        wall_servers: Vec::new(),
        server,
        walls,
        players: 0,
        mutations_per_s: 100.0,
        duration: Duration::from_secs(2),
        heartbeat: Duration::from_secs(1),
        wall_token: Arc::new(|i: &str| support::token("load", Role::Viewer, &format!("wall-{i}"))),
        operator_token: support::token("load", Role::Operator, "operator"),
        device_token: Arc::new(|id: &str| support::token("load", Role::Device, id)),
        gateway_pid: None,
        connect_parallelism: 4,
        working_set: None,
    }
}

fn run_through_proxy(drop_nth: Option<usize>) -> (LoadReport, u64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = support::gateway(dir.path());
    support::runtime().block_on(async {
        let (url, stats) = proxy::start(gw.url(), drop_nth).await;
        let report = loadtest::run(config(url, 1)).await.expect("load run");
        (report, stats.dropped_entries.load(Ordering::SeqCst))
    })
}

#[test]
fn a_dropped_events_frame_is_counted_as_exactly_its_entries_lost() {
    let (report, dropped) = run_through_proxy(Some(5));
    assert!(dropped > 0, "the proxy dropped a frame carrying entries");
    assert_eq!(report.lost, dropped, "{}", report.table());
    assert_eq!((report.walls_with_loss, report.duplicated), (1, 0), "{}", report.table());
    assert_eq!(report.delivered + dropped, 2 * report.mutations_applied, "everything else arrived");
}

#[test]
fn a_clean_run_counts_no_loss_and_delivers_every_entry() {
    let (report, dropped) = run_through_proxy(None);
    assert_eq!(dropped, 0);
    assert!(report.mutations_applied >= 150, "the operator wrote: {}", report.table());
    assert_eq!(report.delivered, 2 * report.mutations_applied, "{}", report.table());
    assert_eq!((report.lost, report.duplicated, report.walls_with_loss), (0, 0, 0), "{}", report.table());
}
