//! What the gateway's benchmark examples share.

use std::path::Path;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::json;
use vizora_client::transport::{Incoming, Session};
use vizora_gateway::GatewayConfig;

/// Command-line argument `i` as a number, or `default`.
pub fn arg(i: usize, default: u64) -> u64 {
    std::env::args().nth(i).and_then(|a| a.parse().ok()).unwrap_or(default)
}

/// A gateway on a free loopback port with its store in `dir`, the
/// per-token rate limit lifted (it would cap what is measured).
pub fn loopback_config(dir: &Path) -> GatewayConfig {
    GatewayConfig {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.into(),
        rate_per_s: 1e9,
        rate_burst: 1e9,
        ..Default::default()
    }
}

/// `n` `playlist.create` mutations on a fresh `/wall` session of `token`,
/// one at a time, each timed from emit to its `applied` ack (µs).
pub async fn timed_creates(url: &str, token: &str, n: usize, prefix: &str) -> anyhow::Result<Histogram<u64>> {
    let mut s = Session::connect(url, "/wall", token, Duration::from_secs(30)).await?;
    let mut h = Histogram::<u64>::new(3)?;
    for i in 0..n {
        let m = json!({"mutation_id": format!("{prefix}{i}"), "client_id": format!("bench-{prefix}"),
            "kind": "playlist.create", "args": {"id": format!("{prefix}{i}"), "name": "P"}});
        let t = Instant::now();
        let id = s.emit_with_ack("mutate", &m).await?;
        loop {
            if let Incoming::Ack { id: got, arg } = s.recv().await?
                && got == id
            {
                anyhow::ensure!(arg.contains("\"applied\""), "mutation {prefix}{i}: {arg}");
                break;
            }
        }
        h.record(t.elapsed().as_micros() as u64)?;
    }
    Ok(h)
}
