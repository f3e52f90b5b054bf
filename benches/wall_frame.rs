//! ECS CPU per frame of the wallboard with 10,000 devices while 1,000
//! device events a second arrive (status changes and telemetry, about 17 a
//! frame at 60 fps): every plugin of the wall except rendering, on
//! `MinimalPlugins`, time stepping 1/60 s a frame so the once-a-second
//! redraws and the 2 s silent-tile scan land in the measurement at their
//! real cadence. Which page shows does not change the ECS work: every
//! panel keeps its data current while hidden.
//!
//! `cargo bench -p vizora --bench wall_frame`

use std::time::{Duration, Instant};

use bevy::prelude::*;
use bevy::state::app::StatesPlugin;
use bevy::time::TimeUpdateStrategy;
use criterion::{Criterion, criterion_group, criterion_main};
use vizora::app::WallPlugins;
use vizora::app::sample::SampleFeed;
use vizora::app::sample::sample_fleet;
use vizora::base::config::WallConfig;
use vizora::sync::net::NetLink;
use vizora::wall::WallSettings;
use vizora_client::{ConnectionState, Update};
use vizora_protocol::{SubscribeMode, now_ms};

const DEVICES: usize = 10_000;
const EVENTS_PER_S: usize = 1_000;
const FPS: usize = 60;

fn wall(devices: usize, single: bool) -> (App, crossbeam_channel::Sender<Update>, SampleFeed) {
    let (tx, rx) = crossbeam_channel::unbounded();
    let mut app = App::new();
    if single {
        vizora::app::single_threaded_main(&mut app);
    }
    app.add_plugins((MinimalPlugins, StatesPlugin))
        .insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_secs_f64(1.0 / FPS as f64)))
        .insert_resource(WallSettings(WallConfig::default()))
        .add_plugins(WallPlugins::default())
        .insert_resource(NetLink::from_channel(rx));
    let fleet = sample_fleet(devices, now_ms());
    let feed = SampleFeed::new(&fleet);
    let _ =
        tx.send(Update::Connection(ConnectionState::Live { server: "bench".into(), mode: SubscribeMode::Snapshot }));
    for u in fleet.into_updates() {
        let _ = tx.send(u);
    }
    // Build the tiles and let every panel draw once.
    for _ in 0..3 {
        app.update();
    }
    (app, tx, feed)
}

fn frame(c: &mut Criterion) {
    let mut g = c.benchmark_group("wall_frame");
    g.sample_size(30).measurement_time(Duration::from_secs(20));
    let ev = EVENTS_PER_S / FPS;
    for (name, events, single) in [
        ("10k_devices_idle", 0, false),
        ("10k_devices_1000_events_per_s", ev, false),
        ("10k_devices_idle_single_threaded", 0, true),
        ("10k_devices_1000_events_per_s_single_threaded", ev, true),
    ] {
        let (mut app, tx, mut feed) = wall(DEVICES, single);
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    if events > 0 {
                        let (items, telemetry) = feed.next(events, now_ms());
                        let _ = tx.send(Update::Entries { epoch: "fixture".into(), items });
                        let _ = tx.send(Update::Telemetry(telemetry));
                    }
                    let t = Instant::now();
                    app.update();
                    spent += t.elapsed();
                }
                spent
            })
        });
    }
    g.finish();
}

criterion_group!(benches, frame);
criterion_main!(benches);
