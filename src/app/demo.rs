//! The self-contained demo backend: an embedded gateway on a free loopback
//! port and a simulated fleet, both on their own threads.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use vizora_gateway::{Auth, Embedded, GatewayConfig};
use vizora_protocol::{Claims, Role, now_ms};
use vizora_sim::{FaultRates, Fleet, Scenario, SimConfig};

/// Org the demo fleet belongs to.
pub const DEMO_ORG: &str = "demo";

/// A running demo backend; dropping it stops everything and removes its data.
pub struct DemoBackend {
    gateway: Option<Embedded>,
    fleet_rt: Option<tokio::runtime::Runtime>,
    fleet: Option<tokio::task::JoinHandle<Fleet>>,
    data_dir: PathBuf,
    /// `ws://` URL of the embedded gateway.
    pub url: String,
    /// A wall token for the demo org.
    pub viewer: String,
}

impl std::fmt::Debug for DemoBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoBackend").field("url", &self.url).finish()
    }
}

impl DemoBackend {
    /// Starts a gateway and `players` simulated players.
    pub fn start(players: usize, heartbeat: Duration, seed: u64) -> anyhow::Result<Self> {
        let data_dir = std::env::temp_dir().join(format!("vizora-demo-{}", std::process::id()));
        let secret: [u8; 32] = rand_secret();
        let auth = Auth::hs256(&secret);
        let cfg = GatewayConfig {
            listen: "127.0.0.1:0".into(),
            data_dir: data_dir.clone(),
            heartbeat_s: heartbeat.as_secs_f64(),
            ..Default::default()
        };
        let gateway = Embedded::start(cfg, auth.clone())?;
        let url = gateway.url();
        let fleet_rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("vizora-demo-fleet")
            .enable_all()
            .build()?;
        let mint = auth.clone();
        let sim = SimConfig {
            server: url.clone(),
            players,
            id_prefix: "player".into(),
            heartbeat,
            seed,
            faults: FaultRates {
                drop: 0.012,
                overheat: 0.01,
                disk_full: 0.006,
                crash_loop: 0.004,
                site_dark: 0.0,
                site_size: 20,
            },
            fault_period: Duration::from_secs(25),
            token: Arc::new(move |id: &str| token(&mint, Role::Device, id)),
            ramp: Duration::from_secs(2),
        };
        // The shipped scenario seeds content, playlists and schedules over the
        // wire while the wall starts; the dashboards fill in as it lands.
        let scenario = Scenario::parse(include_str!("../../config/scenario.ron"), "config/scenario.ron")?;
        let admin = token(&auth, Role::Admin, "demo-scenario");
        let fleet = fleet_rt.spawn(async move {
            match Fleet::start_scenario(sim.clone(), &scenario, &admin).await {
                Ok(f) => f,
                Err(e) => {
                    tracing::error!("demo scenario could not be seeded ({e}); running players without it");
                    Fleet::start(sim)
                }
            }
        });
        Ok(Self {
            gateway: Some(gateway),
            fleet_rt: Some(fleet_rt),
            fleet: Some(fleet),
            data_dir,
            url,
            viewer: token(&auth, Role::Operator, "demo-wall"),
        })
    }
}

fn rand_secret() -> [u8; 32] {
    let mut s = [0u8; 32];
    for b in &mut s {
        *b = rand::random();
    }
    s
}

fn token(auth: &Auth, role: Role, sub: &str) -> String {
    let claims = Claims {
        sub: sub.into(),
        org: DEMO_ORG.into(),
        role,
        exp: now_ms() / 1000 + 30 * 86_400,
        iat: Some((now_ms() / 1000) as f64),
    };
    auth.mint(&claims).unwrap_or_default()
}

impl Drop for DemoBackend {
    fn drop(&mut self) {
        if let (Some(rt), Some(fleet)) = (self.fleet_rt.take(), self.fleet.take()) {
            rt.block_on(async {
                if let Ok(Ok(fleet)) = tokio::time::timeout(Duration::from_secs(3), fleet).await {
                    tokio::time::timeout(Duration::from_secs(3), fleet.stop()).await.ok();
                }
            });
            rt.shutdown_timeout(Duration::from_secs(1));
        }
        if let Some(gw) = self.gateway.take() {
            gw.stop();
        }
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}
