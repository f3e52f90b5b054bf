//! Publish → client-applied latency on loopback: an operator writes at a
//! fixed rate over a raw session; a full client (IO thread → channel →
//! SyncEngine) applies the log; the time from send to "in the view" is
//! recorded per mutation.
//!
//! `cargo run --release -p vizora-client --example latency -- [mutations] [per_second]`

use std::collections::HashMap;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::json;
use vizora_client::transport::{Incoming, Session};
use vizora_client::{ClientConfig, ConnectionState, Update};
use vizora_gateway::{Auth, Embedded, GatewayConfig};
use vizora_protocol::{Claims, Event, Role, now_ms};
use vizora_sync::SyncEngine;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(2000);
    let rate: f64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(200.0);
    let dir = std::env::temp_dir().join(format!("vizora-latency-{}", std::process::id()));
    let auth = Auth::hs256(b"latency");
    let gw = Embedded::start(
        GatewayConfig { listen: "127.0.0.1:0".into(), data_dir: dir.clone(), ..Default::default() },
        auth.clone(),
    )?;
    let mint = |role, sub: &str| {
        auth.mint(&Claims { sub: sub.into(), org: "lat".into(), role, exp: now_ms() / 1000 + 3600, iat: None })
    };
    let client = vizora_client::spawn(ClientConfig::new(gw.url(), mint(Role::Viewer, "wall").ok_or("mint")?))?;
    let mut engine = SyncEngine::new();

    // Wait until live with a snapshot in the engine.
    let ready = Instant::now() + Duration::from_secs(10);
    let mut live = false;
    let mut snap = false;
    while !(live && snap) && Instant::now() < ready {
        match client.updates.recv_timeout(Duration::from_millis(100)) {
            Ok(Update::Connection(ConnectionState::Live { .. })) => live = true,
            Ok(Update::Snapshot { epoch, seq, entities }) => {
                engine.apply_snapshot(&epoch, seq, entities);
                snap = true;
            }
            _ => {}
        }
    }

    // The operator writes from its own runtime thread; send times are shared by mutation id.
    let sent: std::sync::Arc<std::sync::Mutex<HashMap<String, Instant>>> = Default::default();
    let (url, token, sent_w) = (gw.url(), mint(Role::Operator, "op").ok_or("mint")?, sent.clone());
    let writer = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(async move {
            let mut s = Session::connect(&url, "/wall", &token, Duration::from_secs(5)).await.expect("operator");
            let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
            for i in 0..n {
                tick.tick().await;
                let id = format!("m{i}");
                let m = json!({ "mutation_id": id, "client_id": "op", "kind": "content.create",
                    "args": { "name": "x", "kind": "web", "uri": "https://example.invalid", "duration_s": 5, "size_bytes": 0 } });
                sent_w.lock().expect("lock").insert(id, Instant::now());
                s.emit_with_ack("mutate", &m).await.expect("emit");
                // Drain acks without waiting.
                while let Ok(Ok(msg)) = tokio::time::timeout(Duration::ZERO, s.recv()).await {
                    let _ = matches!(msg, Incoming::Ack { .. });
                }
            }
        });
    });

    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let end = Instant::now() + Duration::from_secs_f64(n as f64 / rate + 10.0);
    while (hist.len() as usize) < n && Instant::now() < end {
        let Ok(Update::Entries { epoch, items }) = client.updates.recv_timeout(Duration::from_millis(100)) else {
            continue;
        };
        engine.apply_entries(&epoch, &items);
        let now = Instant::now();
        let sent = sent.lock().expect("lock");
        for e in &items {
            if let Event::MutationApplied(a) = &e.event
                && let Some(t) = sent.get(&a.mutation_id)
            {
                hist.saturating_record(now.duration_since(*t).as_micros().max(1) as u64);
            }
        }
    }
    let _ = writer.join();
    let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "publish -> client-applied, {} of {n} mutations at {rate}/s: p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        hist.len(),
        ms(0.5),
        ms(0.9),
        ms(0.99),
        hist.max() as f64 / 1000.0
    );
    client.shutdown();
    gw.stop();
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}
