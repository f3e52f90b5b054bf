//! The load generator: W `/wall` subscribers, D players and an operator
//! writing at a fixed rate against any gateway, for a bounded time. It
//! measures connect time, delivered entries/s, publish → deliver latency
//! (HDR histogram), lost and duplicated entries per subscriber, and the
//! gateway's RSS per idle connection when given its pid.
//!
//! Subscribers that lose their connection resume with `since`. A *storm*
//! measures that at scale, the way an operator meets it: every subscriber
//! loses its connection at once, either because the gateway restarts (a
//! deploy or crash: [`StormKind::RestartGateway`], for a load generator that
//! runs its gateway) or because the network path drops them all
//! ([`StormKind::DropConnections`], any gateway). Recovery is the time from
//! the gateway being back (or the cut) until every subscriber has
//! re-subscribed and holds the log head its re-subscribe saw; lost and
//! duplicated entries are counted across the storm as everywhere else.

mod operator;
mod wall;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, Semaphore};

use crate::{FaultRates, Fleet, SimConfig, TokenFn};

/// Stops the gateway and starts it again on the same address and store;
/// resolves once it listens again.
pub type RestartFn = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// How every subscriber loses its connection at once.
#[derive(Clone)]
pub enum StormKind {
    /// The load generator drops every subscriber's socket (a network blip, a proxy restart).
    DropConnections,
    /// The gateway restarts (the caller runs it and knows how).
    RestartGateway(RestartFn),
}

/// A reconnect storm during the run.
#[derive(Clone)]
pub struct Storm {
    /// When, after the operator starts writing.
    pub at: Duration,
    /// How.
    pub kind: StormKind,
}

/// What a storm did.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StormReport {
    /// `drop_connections` or `restart_gateway`.
    pub kind: String,
    /// Seconds into the run when the gateway was back (or the connections were cut).
    pub at_s: f64,
    /// Seconds the gateway restart took (0 for a cut).
    pub restart_s: f64,
    /// Seconds from then until the last subscriber caught up; none if some never did.
    pub recovery_s: Option<f64>,
    /// Subscribers that caught up.
    pub walls_recovered: u64,
    /// Subscribers there were.
    pub walls: u64,
}

/// What to run.
#[derive(Clone)]
pub struct LoadConfig {
    /// Gateway base URL (the operator's and the players'; the walls' too
    /// unless `wall_servers` names others).
    pub server: String,
    /// Gateway nodes the walls spread over, wall `i` on `wall_servers[i % n]`
    /// (several nodes); empty: every wall on `server`.
    pub wall_servers: Vec<String>,
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
    /// With `Some(k)`, the operator creates `k` content items and then only
    /// updates them in turn (a flat working set, for soaks); with `None` it
    /// creates a new item with every mutation.
    pub working_set: Option<usize>,
}

/// The gateway wall `i` subscribes to.
fn wall_server(cfg: &LoadConfig, i: usize) -> String {
    if cfg.wall_servers.is_empty() { cfg.server.clone() } else { cfg.wall_servers[i % cfg.wall_servers.len()].clone() }
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
    /// Walls whose connection died at least once (they resume with `since`).
    pub walls_disconnected: usize,
    /// Re-subscribes after a lost connection, all walls together.
    #[serde(default)]
    pub resubscribes: u64,
    /// Of those, answered `replay` (the gateway had every entry since) …
    #[serde(default)]
    pub resumed_by_replay: u64,
    /// … or `snapshot` (it did not: history lost, or a new epoch).
    #[serde(default)]
    pub resumed_by_snapshot: u64,
    /// The reconnect storm, when one was asked for.
    #[serde(default)]
    pub storm: Option<StormReport>,
    /// Gateway RSS before the walls connected, MiB.
    pub gateway_rss_before_mib: Option<f64>,
    /// Gateway RSS with every wall connected and idle, MiB.
    pub gateway_rss_idle_mib: Option<f64>,
    /// (idle − before) / walls, KiB.
    pub gateway_rss_per_wall_kib: Option<f64>,
    /// Gateway RSS at the end, MiB.
    pub gateway_rss_end_mib: Option<f64>,
    /// `events` frames the walls read, all walls together.
    #[serde(default)]
    pub event_frames: u64,
    /// Delivered entries per `events` frame.
    #[serde(default)]
    pub entries_per_frame: f64,
    /// CPU seconds (user + system) the gateway used from the operator's
    /// first write until every wall had read the last entry.
    #[serde(default)]
    pub gateway_cpu_s: Option<f64>,
    /// `gateway_cpu_s` per million delivered entries.
    #[serde(default)]
    pub gateway_cpu_s_per_m_entries: Option<f64>,
    /// CPU seconds the load generator used over the same span.
    #[serde(default)]
    pub loadgen_cpu_s: Option<f64>,
    /// `loadgen_cpu_s` per million delivered entries.
    #[serde(default)]
    pub loadgen_cpu_s_per_m_entries: Option<f64>,
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

/// CPU seconds (user + system) a process has used: `/proc/PID/stat`, or
/// `/proc/self/stat` for `None`.
pub fn cpu_s(pid: Option<u32>) -> Option<f64> {
    let path = pid.map_or_else(|| "/proc/self/stat".to_owned(), |p| format!("/proc/{p}/stat"));
    let stat = std::fs::read_to_string(path).ok()?;
    // Fields after the command name (which may hold spaces) start at field 3.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / USER_HZ)
}

/// Clock ticks per second in `/proc/PID/stat` (`sysconf(_SC_CLK_TCK)`):
/// the kernel's USER_HZ, 100 on every Linux architecture this runs on.
const USER_HZ: f64 = 100.0;

/// Reads VmRSS of a process, MiB.
pub fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

struct Shared {
    start: Instant,
    /// Bumped to cut every subscriber's connection ([`StormKind::DropConnections`]).
    cut: tokio::sync::watch::Sender<u64>,
    /// Storms begun so far.
    storm_gen: AtomicU64,
    /// Walls caught up after the current storm, and the latest time one did (µs since `start`).
    recovered: AtomicU64,
    recovered_us: AtomicU64,
    recovered_note: tokio::sync::Notify,
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
    run_with(cfg, None).await
}

/// Runs the load with a reconnect storm, and reports.
pub async fn run_with(cfg: LoadConfig, storm: Option<Storm>) -> Result<LoadReport, LoadError> {
    let max_mutations = (cfg.mutations_per_s * cfg.duration.as_secs_f64()).ceil() as usize + 16;
    let shared = Arc::new(Shared {
        start: Instant::now(),
        cut: tokio::sync::watch::channel(0).0,
        storm_gen: AtomicU64::new(0),
        recovered: AtomicU64::new(0),
        recovered_us: AtomicU64::new(0),
        recovered_note: tokio::sync::Notify::new(),
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
    let walls = spawn_walls(&cfg, &sem, &shared).map_err(|e| LoadError::Operator(format!("wall threads: {e}")))?;
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

    // CPU is counted from here: the writing and its fan-out, not the connects.
    let cpu_at_start = (cfg.gateway_pid.and_then(|p| cpu_s(Some(p))), cpu_s(None));
    // The operator writes at a fixed rate; acks are counted as they come.
    let storm_run = async {
        match &storm {
            Some(st) => Some(run_storm(st, &shared, report.walls_subscribed as u64).await),
            None => None,
        }
    };
    let (written, storm_report) = tokio::join!(operator::operate(&cfg, &shared), storm_run);
    let (sent, applied, head) = written?;
    report.storm = storm_report;
    report.mutations_sent = sent;
    report.mutations_applied = applied;
    shared.final_head.store(head, Ordering::Relaxed);
    shared.stop.store(true, Ordering::Relaxed);

    let outcomes = tokio::task::spawn_blocking(move || {
        walls
            .into_iter()
            .flat_map(|t| {
                t.join().unwrap_or_else(|_| {
                    tracing::error!("a wall thread panicked: its walls are not counted");
                    Vec::new()
                })
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    let mut trackers = Vec::new();
    for mut out in outcomes {
        out.tracker.finish(head);
        trackers.push(out.tracker);
        report.walls_disconnected += usize::from(out.disconnected);
        report.event_frames += out.frames;
        report.resubscribes += out.resubscribes;
        report.resumed_by_replay += out.replays;
        report.resumed_by_snapshot += out.snapshots;
    }
    let per_m = |cpu: Option<f64>, at: Option<f64>, delivered: u64| {
        let used = cpu? - at?;
        Some((used, used / (delivered.max(1) as f64 / 1e6)))
    };
    report.delivered = trackers.iter().map(|t| t.received).sum();
    if let Some((used, per)) = per_m(cfg.gateway_pid.and_then(|p| cpu_s(Some(p))), cpu_at_start.0, report.delivered) {
        report.gateway_cpu_s = Some(used);
        report.gateway_cpu_s_per_m_entries = Some(per);
    }
    if let Some((used, per)) = per_m(cpu_s(None), cpu_at_start.1, report.delivered) {
        report.loadgen_cpu_s = Some(used);
        report.loadgen_cpu_s_per_m_entries = Some(per);
    }
    report.entries_per_frame = report.delivered as f64 / report.event_frames.max(1) as f64;
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

/// Starts the walls on one thread per core the process may use, each
/// running its share on a single-threaded runtime: a wall's reads never
/// wait for another thread's scheduler, and nothing is stolen across cores.
/// Each thread's handle yields the outcomes of its walls that subscribed.
fn spawn_walls(
    cfg: &LoadConfig,
    sem: &Arc<Semaphore>,
    shared: &Arc<Shared>,
) -> std::io::Result<Vec<std::thread::JoinHandle<Vec<wall::WallOutcome>>>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(cfg.walls.max(1));
    let mut shares: Vec<Vec<_>> = (0..threads).map(|_| Vec::new()).collect();
    for i in 0..cfg.walls {
        let (sem, shared, url, token) =
            (sem.clone(), shared.clone(), wall_server(cfg, i), (cfg.wall_token)(&i.to_string()));
        shares[i % threads].push(wall::run(i, url, token, sem, shared));
    }
    shares
        .into_iter()
        .enumerate()
        .map(|(t, share)| {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            std::thread::Builder::new().name(format!("walls-{t}")).spawn(move || {
                rt.block_on(async move {
                    let tasks: Vec<_> = share.into_iter().map(tokio::spawn).collect();
                    let mut out = Vec::with_capacity(tasks.len());
                    for t in tasks {
                        // A wall that never subscribed has no outcome.
                        if let Ok(Some(o)) = t.await {
                            out.push(o);
                        }
                    }
                    out
                })
            })
        })
        .collect()
}

/// Waits `storm.at`, cuts every subscriber off, and times their recovery.
async fn run_storm(storm: &Storm, shared: &Shared, walls: u64) -> StormReport {
    tokio::time::sleep(storm.at).await;
    shared.recovered.store(0, Ordering::SeqCst);
    shared.storm_gen.fetch_add(1, Ordering::SeqCst);
    let began = Instant::now();
    let kind = match &storm.kind {
        StormKind::DropConnections => {
            shared.cut.send_modify(|g| *g += 1);
            "drop_connections"
        }
        StormKind::RestartGateway(restart) => {
            if let Err(e) = restart().await {
                tracing::error!(cause = %e, "gateway restart failed");
            }
            "restart_gateway"
        }
    };
    let back_us = shared.start.elapsed().as_micros() as u64;
    let mut report = StormReport {
        kind: kind.into(),
        at_s: back_us as f64 / 1e6,
        restart_s: began.elapsed().as_secs_f64(),
        walls,
        ..Default::default()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    // Woken by each recovery, not polled.
    while shared.recovered.load(Ordering::SeqCst) < walls {
        if tokio::time::timeout_at(deadline, shared.recovered_note.notified()).await.is_err() {
            break;
        }
    }
    report.walls_recovered = shared.recovered.load(Ordering::SeqCst);
    if report.walls_recovered >= walls {
        let last = shared.recovered_us.load(Ordering::SeqCst);
        report.recovery_s = Some(last.saturating_sub(back_us) as f64 / 1e6);
    }
    report
}

impl LoadReport {
    /// A human table.
    pub fn table(&self) -> String {
        let opt = |v: Option<f64>, unit: &str| {
            v.map(|x| format!("{x:.1} {unit}")).unwrap_or_else(|| "n/a (no --gateway-pid)".into())
        };
        let cpu = |used: Option<f64>, per: Option<f64>| match (used, per) {
            (Some(u), Some(p)) => format!("{p:.2} ({u:.1} s)"),
            _ => "n/a".into(),
        };
        format!(
            "walls subscribed          {}/{}\n\
             players connected         {}\n\
             time to all subscribed    {:.2} s ({:.0}/s)\n\
             mutations sent/applied    {}/{}\n\
             delivered entries         {} ({:.0}/s)\n\
             events frames             {} ({:.1} entries a frame)\n\
             CPU s per M entries       gateway {}, load generator {}\n\
             latency ms p50/p90/p99/p999/max  {:.2} / {:.2} / {:.2} / {:.2} / {:.2}  (n={})\n\
             lost / duplicated         {} / {}  (walls with loss: {}, disconnected: {})\n\
             gateway RSS before/idle/end  {} / {} / {}\n\
             gateway RSS per idle wall {}\n\
             resubscribes              {} (replay {}, snapshot {})\n\
             reconnect storm recovery  {}\n",
            self.walls_subscribed,
            self.walls,
            self.players_connected,
            self.time_to_all_subscribed_s,
            self.connect_rate_per_s,
            self.mutations_sent,
            self.mutations_applied,
            self.delivered,
            self.delivered_per_s,
            self.event_frames,
            self.entries_per_frame,
            cpu(self.gateway_cpu_s, self.gateway_cpu_s_per_m_entries),
            cpu(self.loadgen_cpu_s, self.loadgen_cpu_s_per_m_entries),
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
            self.resubscribes,
            self.resumed_by_replay,
            self.resumed_by_snapshot,
            self.storm.as_ref().map_or_else(|| "n/a (no storm)".into(), StormReport::line),
        )
    }
}

impl StormReport {
    /// One line for the table.
    pub fn line(&self) -> String {
        let took = self.recovery_s.map_or_else(|| "NOT RECOVERED".to_owned(), |s| format!("{:.3} s", s));
        format!(
            "{took} ({}/{} walls caught up; {} at {:.1} s, restart {:.2} s)",
            self.walls_recovered, self.walls, self.kind, self.at_s, self.restart_s
        )
    }
}
