//! A fleet of simulated signage players speaking `/device` (PROTOCOL.md §7):
//! heartbeats with drifting health, playback reports that walk the playlist
//! each player's schedules name, `schedule.executed` reports, and injected
//! faults (overheating, full disks, going dark), deterministic for a given
//! seed. A scenario file seeds the org first ([`scenario`]).

pub mod accounting;
pub mod events_scan;
pub mod loadtest;
pub mod player;
pub mod scenario;
pub mod show;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

pub use player::{Fault, PlayerPlan};
pub use scenario::{Provision, Scenario, SeedError};
use show::Show;

/// Makes the token a player connects with, from its device id.
pub type TokenFn = Arc<dyn Fn(&str) -> String + Send + Sync>;

/// Fault rates: the fraction of players that cycle through each fault.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRates {
    /// Players that go dark (disconnect and stay silent) now and then.
    pub drop: f64,
    /// Players that overheat now and then.
    pub overheat: f64,
    /// Players whose disk fills up now and then.
    pub disk_full: f64,
    /// Players that crash-loop now and then.
    pub crash_loop: f64,
    /// Fraction of sites whose players all go dark at the same moments.
    pub site_dark: f64,
    /// Players per site (consecutive indices).
    pub site_size: usize,
}

impl FaultRates {
    /// No faults at all.
    pub fn none() -> Self {
        Self { drop: 0.0, overheat: 0.0, disk_full: 0.0, crash_loop: 0.0, site_dark: 0.0, site_size: 20 }
    }
}

impl Default for FaultRates {
    fn default() -> Self {
        Self { drop: 0.01, overheat: 0.01, disk_full: 0.005, crash_loop: 0.005, site_dark: 0.0, site_size: 20 }
    }
}

/// What to simulate.
#[derive(Clone)]
pub struct SimConfig {
    /// Gateway base URL (`ws://host:port`).
    pub server: String,
    /// Number of players.
    pub players: usize,
    /// Device id prefix; ids are `{prefix}-{index:05}`.
    pub id_prefix: String,
    /// Heartbeat period.
    pub heartbeat: Duration,
    /// Seed for everything random.
    pub seed: u64,
    /// Fault rates.
    pub faults: FaultRates,
    /// How long a fault lasts, and the healthy time between faults (mean).
    pub fault_period: Duration,
    /// Token per device id.
    pub token: TokenFn,
    /// Spread the initial connects over this long.
    pub ramp: Duration,
}

impl std::fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimConfig")
            .field("server", &self.server)
            .field("players", &self.players)
            .field("seed", &self.seed)
            .finish()
    }
}

/// Counters the fleet keeps while it runs.
#[derive(Debug, Default)]
pub struct FleetStats {
    /// Players with a live session.
    pub connected: AtomicU64,
    /// Heartbeats sent.
    pub heartbeats: AtomicU64,
    /// Playback reports sent.
    pub playbacks: AtomicU64,
    /// Connect failures.
    pub connect_errors: AtomicU64,
    /// Restarts (commanded, or crashes in a crash loop).
    pub restarts: AtomicU64,
    /// `schedule.executed` reports sent.
    pub executions: AtomicU64,
}

/// A running fleet.
#[derive(Debug)]
pub struct Fleet {
    /// Live counters.
    pub stats: Arc<FleetStats>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Fleet {
    /// Starts every player on the current tokio runtime, each playing the built-in loop.
    pub fn start(cfg: SimConfig) -> Self {
        Self::start_with(cfg, Arc::new(show::builtin()))
    }

    /// Starts every player, each following what `provision` tells it (a seeded scenario).
    pub fn start_with(cfg: SimConfig, provision: Arc<Provision>) -> Self {
        let stats = Arc::new(FleetStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let n = cfg.players.max(1);
        let tasks = (0..cfg.players)
            .map(|i| {
                let plan = PlayerPlan::new(&cfg, i);
                let show = Show::new(provision.clone(), provision.device(&plan.id, i, cfg.players));
                let delay = cfg.ramp.mul_f64(i as f64 / n as f64);
                let (cfg, stats, stop) = (cfg.clone(), stats.clone(), stop.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    player::run(cfg, plan, show, stats, stop).await;
                })
            })
            .collect();
        Self { stats, stop, tasks }
    }

    /// Seeds `scenario` over an admin `/wall` session (`admin_token`: operator
    /// or admin), starts the players on what was seeded, then gives each its
    /// group's tags and playlist once it has connected. Fails naming the item
    /// the gateway refused; the players are stopped then.
    pub async fn start_scenario(cfg: SimConfig, scenario: &Scenario, admin_token: &str) -> Result<Self, SeedError> {
        let timeout = Duration::from_secs(30);
        let mut admin = scenario::Admin::connect(&cfg.server, admin_token, timeout).await?;
        let seeded = scenario::seed::seed(&mut admin, scenario, vizora_protocol::now_ms()).await?;
        let provision = Arc::new(Provision::new(scenario, &seeded, &admin.state));
        let ids: Vec<String> = (0..cfg.players).map(|i| PlayerPlan::new(&cfg, i).id).collect();
        let appear_within = cfg.ramp + timeout;
        let fleet = Self::start_with(cfg, provision.clone());
        let devices = scenario::seed::seed_devices(&mut admin, &provision, &ids, appear_within).await;
        admin.close().await;
        match devices {
            Ok(()) => Ok(fleet),
            Err(e) => {
                fleet.stop().await;
                Err(e)
            }
        }
    }

    /// Players with a live session now.
    pub fn connected(&self) -> u64 {
        self.stats.connected.load(Ordering::Relaxed)
    }

    /// Stops every player and waits for them to close.
    pub async fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}
