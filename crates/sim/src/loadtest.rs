//! The load generator: W `/wall` subscribers, D players and an operator
//! writing at a fixed rate against any gateway, for a bounded time. It
//! measures connect time, delivered entries/s, publish → deliver latency
//! (HDR histogram), lost and duplicated entries per subscriber, and the
//! gateway's RSS per idle connection when given its pid.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use serde_json::json;
use serde_json::value::RawValue;
use tokio::sync::{Mutex, Semaphore};
use vizora_client::transport::{Incoming, Session};

use crate::accounting::SeqTracker;
use crate::{FaultRates, Fleet, SimConfig, TokenFn};

/// What to run.
#[derive(Clone)]
pub struct LoadConfig {
    /// Gateway base URL.
    pub server: String,
    /// `/wall` subscribers.
    pub walls: usize,
    /// Players.
    pub players: usize,
    /// Operator mutations per second (each writes two log entries).
    pub mutations_per_s: f64,
    /// How long the operator writes.
    pub duration: Duration,
    /// Player heartbeat period.
    pub heartbeat: Duration,
    /// Token of wall `i`.
    pub wall_token: TokenFn,
    /// Token of the operator.
    pub operator_token: String,
    /// Token of a device id.
    pub device_token: TokenFn,
    /// Gateway process id, to read its RSS.
    pub gateway_pid: Option<u32>,
    /// Connects in flight at once.
    pub connect_parallelism: usize,
}

/// Results, as the table and the JSON file show them.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LoadReport {
    /// Subscribers asked for.
    pub walls: usize,
    /// Subscribers that subscribed.
    pub walls_subscribed: usize,
    /// Players connected.
    pub players_connected: u64,
    /// Seconds until every wall was subscribed.
    pub time_to_all_subscribed_s: f64,
    /// Subscribes per second.
    pub connect_rate_per_s: f64,
    /// Mutations sent.
    pub mutations_sent: u64,
    /// Mutations acknowledged `applied`.
    pub mutations_applied: u64,
    /// Entries delivered to all walls together.
    pub delivered: u64,
    /// Entries delivered per second, all walls together.
    pub delivered_per_s: f64,
    /// Publish → deliver latency percentiles, ms.
    pub latency_ms: Percentiles,
    /// Entries lost, all walls together (must be 0).
    pub lost: u64,
    /// Entries duplicated, all walls together (must be 0).
    pub duplicated: u64,
    /// Walls with any loss.
    pub walls_with_loss: usize,
    /// Walls whose connection ended before the run did (they would resume by replay; this tool does not reconnect).
    pub walls_disconnected: usize,
    /// Gateway RSS before the walls connected, MiB.
    pub gateway_rss_before_mib: Option<f64>,
    /// Gateway RSS with every wall connected and idle, MiB.
    pub gateway_rss_idle_mib: Option<f64>,
    /// (idle − before) / walls, KiB.
    pub gateway_rss_per_wall_kib: Option<f64>,
    /// Gateway RSS at the end, MiB.
    pub gateway_rss_end_mib: Option<f64>,
}

/// Latency percentiles, ms.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 90th.
    pub p90: f64,
    /// 99th.
    pub p99: f64,
    /// 99.9th.
    pub p999: f64,
    /// Largest.
    pub max: f64,
    /// Samples.
    pub count: u64,
}

/// A load run that could not be done.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The operator could not connect or subscribe.
    #[error("operator: {0}")]
    Operator(String),
}

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
    data: &'a RawValue,
}

#[derive(Deserialize)]
struct AppliedData<'a> {
    #[serde(borrow)]
    mutation_id: &'a str,
}

/// Reads VmRSS of a process, MiB.
pub fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

struct Shared {
    start: Instant,
    sent_us: Vec<AtomicU64>,
    hist: Mutex<Histogram<u64>>,
    subscribed: AtomicU64,
    subscribed_note: tokio::sync::Notify,
    stop: AtomicBool,
    /// Log head at the end of the run; walls read until they reach it.
    final_head: AtomicU64,
}

/// Runs the load and reports.
pub async fn run(cfg: LoadConfig) -> Result<LoadReport, LoadError> {
    let max_mutations = (cfg.mutations_per_s * cfg.duration.as_secs_f64()).ceil() as usize + 16;
    let shared = Arc::new(Shared {
        start: Instant::now(),
        sent_us: (0..max_mutations).map(|_| AtomicU64::new(0)).collect(),
        hist: Mutex::new(Histogram::new_with_bounds(1, 60_000_000, 3).map_err(|e| LoadError::Operator(e.to_string()))?),
        subscribed: AtomicU64::new(0),
        subscribed_note: tokio::sync::Notify::new(),
        stop: AtomicBool::new(false),
        final_head: AtomicU64::new(0),
    });
    let mut report = LoadReport { walls: cfg.walls, ..Default::default() };

    let fleet = (cfg.players > 0).then(|| {
        Fleet::start(SimConfig {
            server: cfg.server.clone(),
            players: cfg.players,
            id_prefix: "load".into(),
            heartbeat: cfg.heartbeat,
            seed: 42,
            faults: FaultRates::none(),
            fault_period: Duration::from_secs(3600),
            token: cfg.device_token.clone(),
            ramp: Duration::from_secs(2),
        })
    });
    report.gateway_rss_before_mib = cfg.gateway_pid.and_then(rss_mib);

    // Walls, with bounded connect parallelism.
    let sem = Arc::new(Semaphore::new(cfg.connect_parallelism.max(1)));
    let t0 = Instant::now();
    let mut walls = Vec::with_capacity(cfg.walls);
    for i in 0..cfg.walls {
        let (sem, shared, url, token) =
            (sem.clone(), shared.clone(), cfg.server.clone(), (cfg.wall_token)(&i.to_string()));
        walls.push(tokio::spawn(async move { wall(i, url, token, sem, shared).await }));
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    // Woken by each subscribe, not polled.
    while (shared.subscribed.load(Ordering::Relaxed) as usize) < cfg.walls {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || tokio::time::timeout(left, shared.subscribed_note.notified()).await.is_err() {
            break;
        }
    }
    let subscribe_time = t0.elapsed().as_secs_f64();
    report.walls_subscribed = shared.subscribed.load(Ordering::Relaxed) as usize;
    report.time_to_all_subscribed_s = subscribe_time;
    report.connect_rate_per_s = report.walls_subscribed as f64 / subscribe_time.max(1e-9);
    if let Some(f) = &fleet {
        let until = Instant::now() + Duration::from_secs(60);
        while (f.connected() as usize) < cfg.players && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        report.players_connected = f.connected();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    report.gateway_rss_idle_mib = cfg.gateway_pid.and_then(rss_mib);
    if let (Some(a), Some(b)) = (report.gateway_rss_before_mib, report.gateway_rss_idle_mib) {
        report.gateway_rss_per_wall_kib = Some((b - a) * 1024.0 / cfg.walls.max(1) as f64);
    }

    // The operator writes at a fixed rate; acks are counted as they come.
    let (sent, applied, head) = operate(&cfg, &shared).await?;
    report.mutations_sent = sent;
    report.mutations_applied = applied;
    shared.final_head.store(head, Ordering::Relaxed);
    shared.stop.store(true, Ordering::Relaxed);

    let mut trackers = Vec::new();
    for w in walls {
        if let Ok(Some((mut t, disconnected))) = w.await {
            t.finish(head);
            trackers.push(t);
            report.walls_disconnected += usize::from(disconnected);
        }
    }
    report.delivered = trackers.iter().map(|t| t.received).sum();
    report.delivered_per_s = report.delivered as f64 / cfg.duration.as_secs_f64().max(1e-9);
    report.lost = trackers.iter().map(|t| t.lost).sum();
    report.duplicated = trackers.iter().map(|t| t.duplicated).sum();
    report.walls_with_loss = trackers.iter().filter(|t| t.lost > 0).count();
    let h = shared.hist.lock().await;
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    report.latency_ms = Percentiles {
        p50: ms(0.5),
        p90: ms(0.9),
        p99: ms(0.99),
        p999: ms(0.999),
        max: h.max() as f64 / 1000.0,
        count: h.len(),
    };
    drop(h);
    report.gateway_rss_end_mib = cfg.gateway_pid.and_then(rss_mib);
    if let Some(f) = fleet {
        f.stop().await;
    }
    Ok(report)
}

async fn wall(
    i: usize,
    url: String,
    token: String,
    sem: Arc<Semaphore>,
    shared: Arc<Shared>,
) -> Option<(SeqTracker, bool)> {
    let mut s = {
        let _permit = sem.acquire().await.ok()?;
        let mut s = Session::connect(&url, "/wall", &token, Duration::from_secs(30))
            .await
            .map_err(|e| tracing::warn!(wall = i, cause = %e, "connect failed"))
            .ok()?;
        let id = s.emit_with_ack("subscribe", &json!({ "since": null })).await.ok()?;
        let head = loop {
            match s.recv().await.ok()? {
                Incoming::Ack { id: got, arg } if got == id => {
                    break serde_json::from_str::<serde_json::Value>(&arg).ok()?["head_seq"].as_u64()?;
                }
                _ => {}
            }
        };
        shared.subscribed.fetch_add(1, Ordering::Relaxed);
        // notify_one stores a permit, so a wake-up between the check and the wait is not lost.
        shared.subscribed_note.notify_one();
        (s, head)
    };
    let mut tracker = SeqTracker::starting_at(s.1);
    let mut samples: Vec<u64> = Vec::new();
    // After the stop, keep reading until the head is reached: a wall that is
    // behind is slow, not lossy. Give up after a bounded drain.
    let mut drain_deadline: Option<Instant> = None;
    let mut disconnected = false;
    loop {
        if shared.stop.load(Ordering::Relaxed) {
            let head = shared.final_head.load(Ordering::Relaxed);
            if tracker.last().is_some_and(|l| l >= head) {
                break;
            }
            let deadline = *drain_deadline.get_or_insert_with(|| Instant::now() + Duration::from_secs(30));
            if Instant::now() >= deadline {
                break;
            }
        }
        let msg = match tokio::time::timeout(Duration::from_millis(200), s.0.recv()).await {
            Ok(Ok(m)) => m,
            Ok(Err(e)) => {
                tracing::debug!(wall = i, cause = %e, "wall connection ended");
                disconnected = true;
                break;
            }
            Err(_) => continue,
        };
        let Incoming::Event { name, arg, .. } = msg else { continue };
        if name != "events" {
            continue;
        }
        let now_us = shared.start.elapsed().as_micros() as u64;
        let Ok(batch) = serde_json::from_str::<Batch>(&arg) else { continue };
        for item in batch.items {
            tracker.observe(item.seq);
            if item.ty == "mutation.applied" {
                let n = serde_json::from_str::<AppliedData>(item.data.get())
                    .ok()
                    .and_then(|d| d.mutation_id.strip_prefix("lt-")?.parse::<usize>().ok());
                if let Some(sent) = n.and_then(|n| shared.sent_us.get(n)).map(|a| a.load(Ordering::Relaxed))
                    && sent > 0
                {
                    samples.push(now_us.saturating_sub(sent).max(1));
                }
            }
        }
        if samples.len() >= 256 {
            let mut h = shared.hist.lock().await;
            samples.drain(..).for_each(|v| h.saturating_record(v));
        }
    }
    let mut h = shared.hist.lock().await;
    samples.drain(..).for_each(|v| h.saturating_record(v));
    drop(h);
    s.0.close().await;
    Some((tracker, disconnected))
}

/// Writes `content.create` at the configured rate; returns (sent, applied, final head).
async fn operate(cfg: &LoadConfig, shared: &Shared) -> Result<(u64, u64, u64), LoadError> {
    let mut s = Session::connect(&cfg.server, "/wall", &cfg.operator_token, Duration::from_secs(10))
        .await
        .map_err(|e| LoadError::Operator(e.to_string()))?;
    let run = format!("{:x}", shared.start.elapsed().as_nanos() ^ u128::from(std::process::id()));
    let period = Duration::from_secs_f64(1.0 / cfg.mutations_per_s.max(0.001));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let end = Instant::now() + cfg.duration;
    let (mut sent, mut applied) = (0u64, 0u64);
    let mut acks_wanted = std::collections::HashSet::new();
    while Instant::now() < end {
        tokio::select! {
            _ = tick.tick() => {
                let n = sent as usize;
                if n >= shared.sent_us.len() { continue; }
                let m = json!({
                    "mutation_id": format!("lt-{n}"), "client_id": format!("loadtest-{run}"), "kind": "content.create",
                    "args": { "name": format!("load {n}"), "kind": "web", "uri": "https://example.invalid/x", "duration_s": 5, "size_bytes": 0 },
                });
                shared.sent_us[n].store(shared.start.elapsed().as_micros() as u64, Ordering::Relaxed);
                match s.emit_with_ack("mutate", &m).await {
                    Ok(id) => { acks_wanted.insert(id); sent += 1; }
                    Err(e) => return Err(LoadError::Operator(e.to_string())),
                }
            }
            msg = s.recv() => match msg {
                Ok(Incoming::Ack { id, arg }) if acks_wanted.remove(&id) => {
                    if arg.contains("\"applied\"") { applied += 1; }
                }
                Ok(_) => {}
                Err(e) => return Err(LoadError::Operator(e.to_string())),
            }
        }
    }
    // Collect the remaining acks, then ask for the head.
    let until = Instant::now() + Duration::from_secs(10);
    while !acks_wanted.is_empty() && Instant::now() < until {
        if let Ok(Ok(Incoming::Ack { id, arg })) = tokio::time::timeout(Duration::from_millis(500), s.recv()).await
            && acks_wanted.remove(&id)
            && arg.contains("\"applied\"")
        {
            applied += 1;
        }
    }
    let id = s
        .emit_with_ack("subscribe", &json!({ "since": null }))
        .await
        .map_err(|e| LoadError::Operator(e.to_string()))?;
    let head = loop {
        match tokio::time::timeout(Duration::from_secs(10), s.recv()).await {
            Ok(Ok(Incoming::Ack { id: got, arg })) if got == id => {
                break serde_json::from_str::<serde_json::Value>(&arg)
                    .ok()
                    .and_then(|v| v["head_seq"].as_u64())
                    .unwrap_or(0);
            }
            Ok(Ok(_)) => {}
            _ => return Err(LoadError::Operator("no subscribe ack at the end".into())),
        }
    };
    s.close().await;
    Ok((sent, applied, head))
}

impl LoadReport {
    /// A human table.
    pub fn table(&self) -> String {
        let opt = |v: Option<f64>, unit: &str| {
            v.map(|x| format!("{x:.1} {unit}")).unwrap_or_else(|| "n/a (no --gateway-pid)".into())
        };
        format!(
            "walls subscribed          {}/{}\n\
             players connected         {}\n\
             time to all subscribed    {:.2} s ({:.0}/s)\n\
             mutations sent/applied    {}/{}\n\
             delivered entries         {} ({:.0}/s)\n\
             latency ms p50/p90/p99/p999/max  {:.2} / {:.2} / {:.2} / {:.2} / {:.2}  (n={})\n\
             lost / duplicated         {} / {}  (walls with loss: {}, disconnected: {})\n\
             gateway RSS before/idle/end  {} / {} / {}\n\
             gateway RSS per idle wall {}\n",
            self.walls_subscribed,
            self.walls,
            self.players_connected,
            self.time_to_all_subscribed_s,
            self.connect_rate_per_s,
            self.mutations_sent,
            self.mutations_applied,
            self.delivered,
            self.delivered_per_s,
            self.latency_ms.p50,
            self.latency_ms.p90,
            self.latency_ms.p99,
            self.latency_ms.p999,
            self.latency_ms.max,
            self.latency_ms.count,
            self.lost,
            self.duplicated,
            self.walls_with_loss,
            self.walls_disconnected,
            opt(self.gateway_rss_before_mib, "MiB"),
            opt(self.gateway_rss_idle_mib, "MiB"),
            opt(self.gateway_rss_end_mib, "MiB"),
            opt(self.gateway_rss_per_wall_kib, "KiB"),
        )
    }
}
