//! Tenant isolation: how long a quiet org's mutations take while another
//! org floods the same gateway, with its orgs on one sequencer thread and
//! on two (`sequencers`).
//!
//! ```sh
//! cargo run --release -p vizora-gateway --example tenant_isolation -- [QUIET_MUTATIONS] [NOISY_WALLS] [NOISY_WRITERS]
//! ```
//!
//! The noisy org has `NOISY_WALLS` subscribed walls (each commit fans out
//! to all of them) and `NOISY_WRITERS` operators, each keeping 16 mutations
//! in flight. The quiet org's one operator sends its mutations one at a
//! time and times each round trip. Three runs, each on a fresh embedded
//! gateway with a durable store: the quiet org alone; with the noisy org on
//! one sequencer thread; with the two orgs on two threads. Loopback; the
//! load runs in this process; the per-token rate limit is lifted.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

mod common;

use hdrhistogram::Histogram;
use serde_json::json;
use vizora_client::transport::{Incoming, Session};
use vizora_gateway::sequencer::shard_of;
use vizora_gateway::{Auth, Embedded, GatewayConfig};
use vizora_protocol::{Claims, Role, now_ms};

const SECRET: &[u8] = b"bench-secret";
const NOISY: &str = "noisy";
const IN_FLIGHT: usize = 16;

fn token(org: &str, role: Role, sub: &str) -> String {
    let claims = Claims { sub: sub.into(), org: org.into(), role, exp: now_ms() / 1000 + 3600, iat: None };
    Auth::hs256(SECRET).mint(&claims).expect("mint")
}

fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

struct Run {
    name: String,
    quiet: Histogram<u64>,
    noisy_applied: u64,
    secs: f64,
}

/// One run: a fresh gateway with `sequencers` threads; the noisy org's load when `noisy`.
fn run(
    name: &str,
    sequencers: usize,
    quiet_org: &str,
    noisy: bool,
    quiet_n: usize,
    walls: usize,
    writers: usize,
) -> anyhow::Result<Run> {
    let dir = tempfile::tempdir()?;
    let cfg = GatewayConfig { sequencers, ..common::loopback_config(dir.path()) };
    let gw = Embedded::start(cfg, Auth::hs256(SECRET))?;
    let url = format!("http://{}", gw.addr);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let stop = Arc::new(AtomicBool::new(false));
    // Noisy mutations applied so far (watched: the timing starts once the flood is under way).
    let (applied, applied_rx) = tokio::sync::watch::channel(0u64);
    let applied = Arc::new(applied);
    let mut load = Vec::new();
    if noisy {
        for w in 0..walls {
            let (url, stop) = (url.clone(), stop.clone());
            load.push(rt.spawn(async move {
                let mut s = Session::connect(
                    &url,
                    "/wall",
                    &token(NOISY, Role::Viewer, &format!("w{w}")),
                    Duration::from_secs(30),
                )
                .await?;
                s.emit_with_ack("subscribe", &json!({ "since": null })).await?;
                while !stop.load(Ordering::Relaxed) {
                    if tokio::time::timeout(Duration::from_millis(200), s.recv()).await.is_ok_and(|r| r.is_err()) {
                        break;
                    }
                }
                anyhow::Ok(())
            }));
        }
        for k in 0..writers {
            let (url, stop, applied) = (url.clone(), stop.clone(), applied.clone());
            load.push(rt.spawn(async move {
                let mut s = Session::connect(
                    &url,
                    "/wall",
                    &token(NOISY, Role::Operator, &format!("op{k}")),
                    Duration::from_secs(30),
                )
                .await?;
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..IN_FLIGHT {
                        let m = json!({"mutation_id": format!("n{k}-{i}"), "client_id": format!("noisy{k}"),
                            "kind": "playlist.create", "args": {"id": format!("p{k}-{i}"), "name": "Noise"}});
                        s.emit_with_ack("mutate", &m).await?;
                        i += 1;
                    }
                    let mut acks = 0;
                    while acks < IN_FLIGHT {
                        if let Incoming::Ack { .. } = s.recv().await? {
                            acks += 1;
                            applied.send_modify(|n| *n += 1);
                        }
                    }
                }
                anyhow::Ok(())
            }));
        }
        // The quiet org is timed once the flood is under way: every noisy
        // writer has had a few rounds applied.
        rt.block_on(async {
            let _ = applied_rx.clone().wait_for(|n| *n >= (writers * IN_FLIGHT * 4) as u64).await;
        });
    }
    let before = *applied_rx.borrow();
    let started = Instant::now();
    let quiet = rt.block_on(common::timed_creates(&url, &token(quiet_org, Role::Operator, "q"), quiet_n, "q"))?;
    let secs = started.elapsed().as_secs_f64();
    let noisy_applied = *applied_rx.borrow() - before;
    stop.store(true, Ordering::Relaxed);
    for t in load {
        let _ = rt.block_on(t);
    }
    drop(rt);
    gw.stop();
    Ok(Run { name: name.into(), quiet, noisy_applied, secs })
}

fn main() -> anyhow::Result<()> {
    let (quiet_n, walls, writers) =
        (common::arg(1, 500) as usize, common::arg(2, 300) as usize, common::arg(3, 4) as usize);
    // A quiet org that two threads put on the other thread than the noisy one.
    let quiet_org = (0..).map(|i| format!("quiet{i}")).find(|o| shard_of(o, 2) != shard_of(NOISY, 2)).expect("an org");
    let runs = [
        run("quiet org alone, 1 sequencer thread", 1, &quiet_org, false, quiet_n, walls, writers)?,
        run("beside the noisy org, 1 sequencer thread", 1, &quiet_org, true, quiet_n, walls, writers)?,
        run("beside the noisy org, 2 sequencer threads", 2, &quiet_org, true, quiet_n, walls, writers)?,
    ];
    println!("| run | quiet org ack p50 ms | p99 ms | max ms | noisy org mutations applied/s meanwhile |");
    println!("|---|---:|---:|---:|---:|");
    for r in &runs {
        println!(
            "| {} | {:.2} | {:.2} | {:.2} | {:.0} |",
            r.name,
            ms(&r.quiet, 0.5),
            ms(&r.quiet, 0.99),
            r.quiet.max() as f64 / 1000.0,
            r.noisy_applied as f64 / r.secs
        );
    }
    let line: Vec<_> = runs
        .iter()
        .map(|r| json!({"run": r.name, "p50_ms": ms(&r.quiet, 0.5), "p99_ms": ms(&r.quiet, 0.99), "max_ms": r.quiet.max() as f64 / 1000.0, "noisy_per_s": r.noisy_applied as f64 / r.secs}))
        .collect();
    println!("{}", serde_json::Value::Array(line));
    Ok(())
}
