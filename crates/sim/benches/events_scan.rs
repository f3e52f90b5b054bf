//! The load generator's read of an `events` payload: `scan_events` (one
//! pass over the bytes) against what it replaced, serde_json into borrowed
//! structs that skip entity data (issue #11). Frames are what the busy row
//! delivers: `content.upserted` and the operator's `mutation.applied` in
//! turn, 8 entries a frame (its mean), and 64 (a wall that fell behind).

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use serde::Deserialize;
use vizora_protocol::{Content, ContentKind, Event, LogEntry, MutationApplied};
use vizora_sim::events_scan::scan_events;

/// An `events` payload of `n` entries, as the gateway writes it.
fn frame(n: u64) -> String {
    let items: Vec<String> = (0..n)
        .map(|i| {
            let seq = 1_000_000 + i;
            let event = if i % 2 == 0 {
                Event::ContentUpserted(Content {
                    id: format!("01JEXAMPLECONTENT{seq:09}"),
                    org: "load-org".into(),
                    rev: 1,
                    name: format!("load {seq}"),
                    kind: ContentKind::Web,
                    uri: "https://example.invalid/x".into(),
                    duration_s: 5.0,
                    size_bytes: 0,
                })
            } else {
                Event::MutationApplied(MutationApplied {
                    mutation_id: format!("lt-{seq}"),
                    client_id: "load-operator".into(),
                    kind: "content.create".into(),
                })
            };
            serde_json::to_string(&LogEntry { seq, ts_ms: 1_765_000_000_000 + i, event }).unwrap()
        })
        .collect();
    format!(r#"{{"epoch":"01JEXAMPLEEPOCH0000000000","items":[{}]}}"#, items.join(","))
}

/// What the load generator used before: serde into borrowed structs.
#[derive(Deserialize)]
struct Batch<'a> {
    #[serde(borrow)]
    items: Vec<Item<'a>>,
}
#[derive(Deserialize)]
struct Item<'a> {
    seq: u64,
    #[serde(rename = "type", borrow)]
    ty: &'a str,
    #[serde(borrow)]
    data: Data<'a>,
}
#[derive(Deserialize)]
struct Data<'a> {
    #[serde(borrow, default)]
    mutation_id: Option<&'a str>,
}

/// The work per entry both do: a checksum of what was read.
fn fold(acc: u64, seq: u64, ty: &str, mid: Option<&str>) -> u64 {
    acc.wrapping_add(seq).wrapping_add(ty.len() as u64).wrapping_add(mid.map_or(0, str::len) as u64)
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("events payload read");
    for n in [8u64, 64] {
        let payload = frame(n);
        g.throughput(Throughput::Elements(n));
        g.bench_with_input(BenchmarkId::new("serde_json", n), &payload, |b, p| {
            b.iter(|| {
                let batch: Batch = serde_json::from_str(black_box(p)).unwrap();
                batch.items.iter().fold(0, |a, i| fold(a, i.seq, i.ty, i.data.mutation_id))
            })
        });
        g.bench_with_input(BenchmarkId::new("scan_events", n), &payload, |b, p| {
            b.iter(|| {
                let mut acc = 0;
                scan_events(black_box(p), |e| acc = fold(acc, e.seq, e.ty, e.mutation_id)).unwrap();
                acc
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
