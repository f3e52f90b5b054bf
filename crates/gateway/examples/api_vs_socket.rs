//! The HTTP API against the socket path, same gateway, same run: mutation
//! round trips (sequential, one client each: p50/p99/p999) and reads per
//! second (HTTP: get by id and a page of 100 devices; socket: a fresh
//! `/wall` session's whole-org snapshot, which is how the socket reads).
//!
//! ```sh
//! cargo run --release -p vizora-gateway --example api_vs_socket -- [MUTATIONS] [READ_SECONDS] [THREADS]
//! ```
//!
//! Prints a Markdown table and one JSON line. Loopback, embedded gateway,
//! durable store in a temp dir (every mutation is committed to SQLite before
//! its ack, on both paths). The per-token rate limit is lifted for the run.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

mod common;

use hdrhistogram::Histogram;
use serde_json::{Value, json};
use vizora_client::cli::api::{Api, Target};
use vizora_client::transport::{Incoming, Session};
use vizora_gateway::{Auth, Embedded};
use vizora_protocol::{Claims, Role, now_ms};

const SECRET: &[u8] = b"bench-secret";
const DEVICES: usize = 1000;

fn token(role: Role, sub: &str) -> String {
    let claims = Claims { sub: sub.into(), org: "bench".into(), role, exp: now_ms() / 1000 + 3600, iat: None };
    Auth::hs256(SECRET).mint(&claims).expect("mint")
}

fn us(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

fn main() -> anyhow::Result<()> {
    let (mutations, read_s, threads) = (common::arg(1, 2000) as usize, common::arg(2, 5), common::arg(3, 4) as usize);
    let dir = tempfile::tempdir()?;
    // The per-token rate limit (1,000/s by default) would cap the reads: lifted to measure.
    let cfg = common::loopback_config(dir.path());
    let gw = Embedded::start(cfg, Auth::hs256(SECRET))?;
    let http = format!("http://{}", gw.addr);
    let admin =
        Api::new(&Target { server: Some(http.clone()), token: Some(token(Role::Admin, "a")), insecure: false })?;
    for i in 0..DEVICES {
        let body = json!({"kind": "device.create", "args": {"id": format!("d{i:05}"), "name": format!("Screen {i}")}});
        let (status, reply) = admin.post("/api/v1/mutations", &[], &body)?;
        anyhow::ensure!(status == 200, "seeding: {status} {reply}");
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;

    // Mutations over the socket: one /wall session, emit, wait for the ack.
    let socket_mut = rt.block_on(common::timed_creates(&http, &token(Role::Operator, "s"), mutations, "s"))?;

    // Mutations over HTTP: one keep-alive client, POST, read the reply.
    let op =
        Api::new(&Target { server: Some(http.clone()), token: Some(token(Role::Operator, "h")), insecure: false })?;
    let mut http_mut = Histogram::<u64>::new(3)?;
    for i in 0..mutations {
        let body = json!({"kind": "playlist.create", "args": {"id": format!("h{i}"), "name": "P"}});
        let key = format!("h{i}");
        let t = Instant::now();
        let (status, reply) = op.post("/api/v1/mutations", &[("Idempotency-Key", &key)], &body)?;
        anyhow::ensure!(status == 200 && reply["status"] == "applied", "http mutation: {status} {reply}");
        http_mut.record(t.elapsed().as_micros() as u64)?;
    }

    // Reads over HTTP, `threads` keep-alive clients for `read_s` seconds each kind.
    let http_reads = |path: &(dyn Fn(u64) -> String + Sync)| -> anyhow::Result<f64> {
        let done = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|w| {
                    let (done, count) = (done.clone(), count.clone());
                    let api = Api::new(&Target {
                        server: Some(http.clone()),
                        token: Some(token(Role::Viewer, &format!("r{w}"))),
                        insecure: false,
                    });
                    scope.spawn(move || -> anyhow::Result<()> {
                        let api = api?;
                        let mut i = w as u64;
                        while !done.load(Ordering::Relaxed) {
                            let v: Value = api.get(&path(i))?;
                            anyhow::ensure!(!v.is_null(), "empty read");
                            count.fetch_add(1, Ordering::Relaxed);
                            i += threads as u64;
                        }
                        Ok(())
                    })
                })
                .collect();
            std::thread::sleep(Duration::from_secs(read_s));
            done.store(true, Ordering::Relaxed);
            for w in workers {
                w.join().map_err(|_| anyhow::anyhow!("reader panicked"))??;
            }
            anyhow::Ok(())
        })?;
        Ok(count.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64())
    };
    let by_id = http_reads(&|i| format!("/api/v1/devices/d{:05}", i % DEVICES as u64))?;
    let page = http_reads(&|i| format!("/api/v1/devices?limit=100&cursor=d{:05}", (i * 100) % (DEVICES as u64 - 100)))?;

    // Reads over the socket: a fresh session, subscribe, every snapshot page.
    let snapshots = rt.block_on(async {
        let done = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for w in 0..threads {
            let (done, count, http) = (done.clone(), count.clone(), http.clone());
            tasks.push(tokio::spawn(async move {
                while !done.load(Ordering::Relaxed) {
                    let tok = token(Role::Viewer, &format!("snap{w}"));
                    let mut s = Session::connect(&http, "/wall", &tok, Duration::from_secs(5)).await?;
                    s.emit_with_ack("subscribe", &json!({"since": null})).await?;
                    let mut entities = 0;
                    loop {
                        if let Incoming::Event { name, arg, .. } = s.recv().await?
                            && name == "snapshot"
                        {
                            let page: Value = serde_json::from_str(&arg)?;
                            entities += page["items"].as_array().map_or(0, Vec::len);
                            if page["last"] == true && page["kind"] == "alert" {
                                break;
                            }
                        }
                    }
                    anyhow::ensure!(entities >= DEVICES, "snapshot had {entities} entities");
                    count.fetch_add(1, Ordering::Relaxed);
                }
                anyhow::Ok(())
            }));
        }
        tokio::time::sleep(Duration::from_secs(read_s)).await;
        done.store(true, Ordering::Relaxed);
        for t in tasks {
            t.await??;
        }
        anyhow::Ok(count.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64())
    })?;
    gw.stop();

    println!("| path | mutation p50 ms | p99 ms | p999 ms | reads/s |");
    println!("|---|---|---|---|---|");
    println!(
        "| socket `mutate` + ack | {:.2} | {:.2} | {:.2} | {snapshots:.1} whole-org snapshots ({DEVICES} devices + {} playlists) |",
        us(&socket_mut, 0.5),
        us(&socket_mut, 0.99),
        us(&socket_mut, 0.999),
        2 * mutations
    );
    println!(
        "| HTTP `POST /api/v1/mutations` | {:.2} | {:.2} | {:.2} | {by_id:.0} `GET /devices/{{id}}`, {page:.0} `GET /devices?limit=100` |",
        us(&http_mut, 0.5),
        us(&http_mut, 0.99),
        us(&http_mut, 0.999)
    );
    println!(
        "{}",
        json!({"mutations": mutations, "threads": threads, "read_s": read_s,
            "socket": {"p50_ms": us(&socket_mut, 0.5), "p99_ms": us(&socket_mut, 0.99), "p999_ms": us(&socket_mut, 0.999), "snapshots_per_s": snapshots},
            "http": {"p50_ms": us(&http_mut, 0.5), "p99_ms": us(&http_mut, 0.99), "p999_ms": us(&http_mut, 0.999), "get_by_id_per_s": by_id, "page_100_per_s": page}})
    );
    Ok(())
}
