//! The sync engine's ingest: log entries applied to a 10,000-device view
//! (issue 4 aims at ≥ 1M entries/s/core): `device.status` alone (the common
//! case), a mix with upserts, alerts and other clients' `mutation.applied`,
//! each with no local mutation pending and with 10 pending (which replay
//! when an entry moves something they look up), in batches of 1, 64 and
//! 1024 entries.
//!
//! Each stream of entries is generated in advance from a model of the org,
//! so every entry is the next `seq` and carries the rev the log would. The
//! engine starts from a snapshot; when a stream is used up, a fresh copy of
//! the starting engine is taken outside the timed region.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use vizora_protocol::{
    Alert, AlertState, ApplyCtx, Content, ContentKind, Device, DeviceStatus, DeviceStatusData, Entity, Event, Health,
    LogEntry, Mutation, MutationApplied, OrgState, Playing, Playlist, PlaylistItem, Role, Severity,
};
use vizora_sync::SyncEngine;

const ORG: &str = "o1";
const EPOCH: &str = "e1";
const DEVICES: usize = 10_000;
/// Entries per generated stream; a stream is split into batches.
const STREAM: usize = 16_384;
/// The snapshot's position.
const START: u64 = 1_000;

/// A small deterministic generator (xorshift64*), so runs compare.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
    }
}

fn device(i: usize) -> Device {
    Device {
        id: format!("d{i:05}"),
        org: ORG.into(),
        rev: 1,
        name: format!("Store {} screen {}", i / 8, i % 8),
        tags: vec![format!("site-{}", i / 40), format!("floor-{}", i % 4)],
        playlist_id: Some(format!("p{}", i % 20)),
        status: DeviceStatus::Online,
        last_seen_ms: 1_700_000_000_000,
        health: Some(Health { cpu_pct: 12.5, mem_pct: 40.0, temp_c: 51.0, disk_free_pct: 70.0, uptime_s: 86_400.0 }),
        playing: Some(Playing {
            playlist_id: format!("p{}", i % 20),
            content_id: format!("c{}", i % 100),
            since_ms: 1_700_000_000_000,
        }),
    }
}

fn alert(i: usize, rev: u64, state: AlertState) -> Alert {
    Alert {
        id: format!("a{i}"),
        org: ORG.into(),
        rev,
        device_id: Some(format!("d{:05}", i % DEVICES)),
        severity: Severity::Warning,
        kind: "device_offline".into(),
        message: "no heartbeat for 90 s".into(),
        raised_ms: 1_700_000_000_000,
        state,
        acked_by: None,
        muted_until_ms: None,
    }
}

/// 10,000 devices, 20 playlists, 100 content items and 200 alerts.
fn org() -> OrgState {
    let devices = (0..DEVICES).map(|i| Entity::Device(device(i)));
    let contents = (0..100).map(|i| {
        Entity::Content(Content {
            id: format!("c{i}"),
            org: ORG.into(),
            rev: 1,
            name: format!("Spot {i}"),
            kind: ContentKind::Video,
            uri: format!("https://cdn.example/{i}.mp4"),
            duration_s: 15.0,
            size_bytes: 4_000_000,
        })
    });
    let playlists = (0..20).map(|i| {
        let items = (0..5).map(|k| PlaylistItem { content_id: format!("c{}", (i * 5 + k) % 100), duration_s: 15.0 });
        Entity::Playlist(Playlist {
            id: format!("p{i}"),
            org: ORG.into(),
            rev: 1,
            name: format!("Loop {i}"),
            items: items.collect(),
        })
    });
    let alerts = (0..200).map(|i| Entity::Alert(alert(i, 1, AlertState::Open)));
    OrgState::from_entities(devices.chain(contents).chain(playlists).chain(alerts))
}

/// What the log carries.
#[derive(Clone, Copy)]
enum Mix {
    /// Only `device.status` (the common case).
    Status,
    /// Mostly status, with device upserts, other clients' `mutation.applied`
    /// and alerts raised and resolved.
    Mixed,
}

/// `STREAM` entries following `START`, as the gateway would log them on top
/// of `state`, about the first `devices` devices.
fn stream(mut state: OrgState, mix: Mix, seed: u64, devices: usize) -> Vec<LogEntry> {
    let mut rng = Rng(seed);
    let mut entries = Vec::with_capacity(STREAM);
    let mut next_alert = 200;
    let mut next_mutation = 0;
    while entries.len() < STREAM {
        let d = format!("d{:05}", rng.below(devices));
        let rev = state.devices[&d].rev + 1;
        let pick = match mix {
            Mix::Status => 0,
            Mix::Mixed => rng.below(20),
        };
        let mut events = Vec::new();
        match pick {
            0..=14 => {
                let status = [DeviceStatus::Online, DeviceStatus::Degraded, DeviceStatus::Offline][rng.below(3)];
                let last_seen_ms = 1_700_000_000_000 + entries.len() as u64;
                events.push(Event::DeviceStatus(DeviceStatusData { id: d, rev, status, last_seen_ms }));
            }
            15 | 16 => {
                // Another wall renamed it: the change, then its `mutation.applied`.
                let mut dev = state.devices[&d].clone();
                (dev.rev, dev.name) = (rev, format!("Renamed {rev}"));
                next_mutation += 1;
                events.push(Event::DeviceUpserted(dev));
                events.push(Event::MutationApplied(MutationApplied {
                    mutation_id: format!("other-{next_mutation}"),
                    client_id: "wall-2".into(),
                    kind: "device.rename".into(),
                }));
            }
            17 | 18 => {
                events.push(Event::AlertUpserted(alert(next_alert, 1, AlertState::Open)));
                next_alert += 1;
            }
            _ => {
                let open = state.alerts.values().find(|a| a.state == AlertState::Open).cloned();
                if let Some(mut a) = open {
                    (a.rev, a.state) = (a.rev + 1, AlertState::Resolved);
                    events.push(Event::AlertUpserted(a));
                }
            }
        }
        for event in events {
            state.apply_event(&event);
            let seq = START + 1 + entries.len() as u64;
            entries.push(LogEntry { seq, ts_ms: seq, event });
        }
    }
    entries.truncate(STREAM);
    entries
}

fn ctx(new_id: &str) -> ApplyCtx {
    ApplyCtx { org: ORG.into(), role: Role::Operator, sub: "me".into(), new_id: new_id.into() }
}

fn mutation(id: usize, kind: &str, target: &str, base_rev: Option<u64>, args: serde_json::Value) -> Mutation {
    let v = json!({"mutation_id": format!("m{id}"), "client_id": "wall-1", "kind": kind, "target": target,
        "base_rev": base_rev, "args": args});
    Mutation::decode(&v).expect("bench mutation decodes")
}

/// The engine at `START` on a snapshot of [`org`], with `pending` local
/// mutations outstanding (renames, tags, playlist edits, alert mutes).
fn engine(pending: usize) -> SyncEngine {
    let mut e = SyncEngine::new();
    e.apply_snapshot(EPOCH, START, org().entities().collect());
    for i in 0..pending {
        let m = match i % 4 {
            0 => mutation(i, "device.rename", &format!("d{i:05}"), Some(1), json!({"name": format!("Mine {i}")})),
            1 => mutation(i, "device.set_tags", &format!("d{i:05}"), Some(1), json!({"tags": ["lobby"]})),
            2 => mutation(
                i,
                "playlist.add_item",
                &format!("p{i}"),
                Some(1),
                json!({"content_id": "c7", "duration_s": 10}),
            ),
            _ => mutation(i, "alert.mute", &format!("a{i}"), None, json!({"until_ms": 1_800_000_000_000u64})),
        };
        e.mutate(m, ctx(&format!("local-{i}"))).expect("applies on the snapshot");
    }
    e
}

/// Times `batches` applied in order, one fresh copy of `start` per pass over them.
fn ingest(c: &mut Criterion, group: &str, start: &SyncEngine, entries: &[LogEntry]) {
    let mut g = c.benchmark_group(group);
    for size in [1usize, 64, 1024] {
        let batches: Vec<&[LogEntry]> = entries.chunks(size).collect();
        g.throughput(Throughput::Elements(size as u64));
        g.bench_with_input(BenchmarkId::from_parameter(size), &batches, |b, batches| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                let mut left = iters as usize;
                while left > 0 {
                    let n = left.min(batches.len());
                    let mut e = start.clone();
                    let t = Instant::now();
                    for batch in &batches[..n] {
                        black_box(e.apply_entries(EPOCH, batch));
                    }
                    timed += t.elapsed();
                    assert_eq!(e.stats().entries_applied, batches[..n].iter().map(|b| b.len() as u64).sum::<u64>());
                    left -= n;
                }
                timed
            });
        });
    }
    g.finish();
}

fn benches(c: &mut Criterion) {
    let idle = engine(0);
    let busy = engine(10);
    assert_eq!(busy.pending().len(), 10);
    let status = stream(org(), Mix::Status, 0x9E37_79B9_7F4A_7C15, DEVICES);
    let mixed = stream(org(), Mix::Mixed, 0xD1B5_4A32_D192_ED03, DEVICES);
    // The worst case for pending mutations: most entries move a device one of them edits, so it rebases.
    let hot = stream(org(), Mix::Status, 0x94D0_49BB_1331_11EB, 10);
    ingest(c, "ingest/status", &idle, &status);
    ingest(c, "ingest/mixed", &idle, &mixed);
    ingest(c, "ingest/status+10_pending", &busy, &status);
    ingest(c, "ingest/mixed+10_pending", &busy, &mixed);
    ingest(c, "ingest/status_on_pending+10_pending", &busy, &hot);
}

criterion_group! {
    name = ingest_benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    targets = benches
}
criterion_main!(ingest_benches);
