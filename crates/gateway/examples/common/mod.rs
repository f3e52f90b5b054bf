//! What the gateway's benchmark examples share.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::json;
use vizora_client::transport::{Incoming, Session};

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
