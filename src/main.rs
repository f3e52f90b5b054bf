//! `vizora`: the wallboard, the demo, and the fleet simulator.

mod api_cmd;
mod wall_cmd;

use wall_cmd::{DemoArgs, WallArgs};

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use vizora_client::ClientConfig;

#[derive(Parser, Debug)]
#[command(
    name = "vizora",
    version,
    about = "Vizora: realtime operations wall for digital-signage fleets.\nWith no command, runs the demo: embedded gateway, simulated fleet, wallboard window."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Embedded gateway + simulated fleet + wallboard window (the default).
    Demo(DemoArgs),
    /// The wallboard. Without --server it runs on the embedded demo, labelled DEMO.
    Wall(WallArgs),
    /// Simulated players against a gateway.
    Sim(SimArgs),
    /// Load generator: W walls, D players and an operator against a gateway.
    Loadtest(LoadArgs),
    /// Print every applied log entry (one line each; --json as PROTOCOL.md shows them).
    Tail(TailArgs),
    /// Sync, write the whole view as JSON, exit.
    State(StateArgs),
    /// List entities, or show one, over the HTTP API (exit 3 if the gateway can't be asked).
    Get(api_cmd::GetArgs),
    /// Send one change over the HTTP API; exit 0 applied or duplicate, 1 rejected, 2 bad input, 3 unreachable.
    Mutate(api_cmd::MutateArgs),
    /// Devices over the HTTP API.
    #[command(subcommand)]
    Device(api_cmd::DeviceCommand),
}

#[derive(Args, Debug, Clone)]
struct TailArgs {
    /// Gateway URL (ws://host:port).
    #[arg(long)]
    server: String,
    /// JWT for /wall (or VIZORA_TOKEN).
    #[arg(long, env = "VIZORA_TOKEN", hide_env_values = true)]
    token: String,
    /// Resume after this position, EPOCH:SEQ.
    #[arg(long)]
    since: Option<String>,
    /// Entries as PROTOCOL.md JSON, plus snapshot and connection lines.
    #[arg(long)]
    json: bool,
    /// Send the token over plain ws:// or http:// to a host that is not
    /// this machine (refused otherwise: anyone on the path could read it).
    #[arg(long)]
    insecure: bool,
}

#[derive(Args, Debug, Clone)]
struct StateArgs {
    /// Gateway URL (ws://host:port).
    #[arg(long)]
    server: String,
    /// JWT for /wall (or VIZORA_TOKEN).
    #[arg(long, env = "VIZORA_TOKEN", hide_env_values = true)]
    token: String,
    /// Output file (written atomically).
    #[arg(long)]
    out: PathBuf,
    /// Send the token over plain ws:// or http:// to a host that is not
    /// this machine (refused otherwise: anyone on the path could read it).
    #[arg(long)]
    insecure: bool,
}

#[derive(Args, Debug, Clone)]
struct LoadArgs {
    /// Gateway URL (ws://host:port).
    #[arg(long)]
    server: String,
    /// Several nodes: spread the walls over these gateways (repeat), the
    /// operator and players staying on --server.
    #[arg(long)]
    wall_server: Vec<String>,
    /// Org to load.
    #[arg(long, default_value = "load")]
    org: String,
    /// `/wall` subscribers.
    #[arg(long, default_value_t = 1000)]
    walls: usize,
    /// Players.
    #[arg(long, default_value_t = 100)]
    players: usize,
    /// Operator mutations per second (two log entries each).
    #[arg(long, default_value_t = 50.0)]
    mutations_per_s: f64,
    /// Seconds the operator writes.
    #[arg(long, default_value_t = 20)]
    duration_s: u64,
    /// Player heartbeat period, seconds.
    #[arg(long, default_value_t = 5.0)]
    heartbeat_s: f64,
    /// Gateway pid, to report its RSS per connection.
    #[arg(long)]
    gateway_pid: Option<u32>,
    /// Connects in flight at once.
    #[arg(long, default_value_t = 200)]
    connect_parallelism: usize,
    /// Create this many content items, then only update them in turn (a
    /// working set that does not grow, for soaks); default: every mutation
    /// creates a new item.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    working_set: Option<u64>,
    /// Write the report as JSON here too.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Reconnect storm: this many seconds into the writing, cut every wall's
    /// connection at once and time until all have resumed and caught up.
    #[arg(long)]
    storm_at_s: Option<f64>,
}

#[derive(Args, Debug, Clone)]
struct SimArgs {
    /// Gateway URL (ws://host:port).
    #[arg(long)]
    server: String,
    /// Org of the players.
    #[arg(long, default_value = "demo")]
    org: String,
    /// Players.
    #[arg(long, default_value_t = 500)]
    players: usize,
    /// Heartbeat period, seconds.
    #[arg(long, default_value_t = 5.0)]
    heartbeat_s: f64,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    duration_s: Option<u64>,
    /// Fraction of players that go dark now and then.
    #[arg(long, default_value_t = 0.01)]
    drop: f64,
    /// Fraction of players that overheat now and then.
    #[arg(long, default_value_t = 0.01)]
    overheat: f64,
    /// Fraction of players whose disk fills up now and then.
    #[arg(long, default_value_t = 0.005)]
    disk_full: f64,
    /// Fraction of players that crash-loop now and then.
    #[arg(long, default_value_t = 0.005)]
    crash_loop: f64,
    /// Fraction of sites whose players all go dark together.
    #[arg(long, default_value_t = 0.0)]
    site_dark: f64,
    /// Players per site.
    #[arg(long, default_value_t = 20)]
    site_size: usize,
    /// Mean seconds between faults, and how long each lasts.
    #[arg(long, default_value_t = 30.0)]
    fault_period_s: f64,
    /// Seed the org from this scenario (RON, e.g. config/scenario.ron) over
    /// /wall first; the players then follow its schedules.
    #[arg(long)]
    scenario: Option<PathBuf>,
    /// Spread the players' first connects over this many seconds.
    #[arg(long, default_value_t = 5.0)]
    ramp_s: f64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Command::Demo(DemoArgs { players: 500, heartbeat_s: 2.0, seed: 1 })) {
        Command::Demo(d) => wall_cmd::run_demo(d),
        Command::Wall(w) => wall_cmd::run_wall(w),
        Command::Sim(s) => run_sim(s),
        Command::Loadtest(l) => run_loadtest(l),
        Command::Tail(t) => run_tail(t),
        Command::State(s) => run_state(s),
        Command::Get(g) => return api_cmd::get(g),
        Command::Mutate(m) => return api_cmd::mutate(m),
        Command::Device(d) => return api_cmd::device(d),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("vizora: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_cli_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
}

fn auth_from_env() -> anyhow::Result<vizora_gateway::Auth> {
    let secret = std::env::var("VIZORA_JWT_SECRET")
        .ok()
        .filter(|s| !s.is_empty())
        .context("VIZORA_JWT_SECRET must hold the gateway's HS256 secret: tokens are signed with it")?;
    Ok(vizora_gateway::Auth::hs256(secret.as_bytes()))
}

fn mint(auth: &vizora_gateway::Auth, org: &str, role: vizora_protocol::Role, sub: &str) -> String {
    let claims = vizora_protocol::Claims {
        sub: sub.into(),
        org: org.into(),
        role,
        exp: vizora_protocol::now_ms() / 1000 + 86_400,
        iat: Some((vizora_protocol::now_ms() / 1000) as f64),
    };
    auth.mint(&claims).unwrap_or_default()
}

fn run_tail(args: TailArgs) -> anyhow::Result<ExitCode> {
    let mut cfg = ClientConfig::new(args.server, args.token);
    cfg.insecure = args.insecure;
    cfg.since = args.since.as_deref().map(vizora_client::cli::parse_since).transpose()?;
    let stop = vizora_client::cli::stop_on_ctrl_c()?;
    vizora_client::cli::tail(cfg, args.json, &mut std::io::stdout().lock(), &stop)?;
    Ok(ExitCode::SUCCESS)
}

fn run_state(args: StateArgs) -> anyhow::Result<ExitCode> {
    let mut cfg = ClientConfig::new(args.server, args.token);
    cfg.insecure = args.insecure;
    let summary = vizora_client::cli::state(cfg, &args.out, vizora_client::cli::STATE_TIMEOUT)?;
    eprintln!("wrote {}: {summary}", args.out.display());
    Ok(ExitCode::SUCCESS)
}

fn run_loadtest(args: LoadArgs) -> anyhow::Result<ExitCode> {
    init_cli_logging();
    let auth = auth_from_env()?;
    let (a1, a2, org1, org2) = (auth.clone(), auth.clone(), args.org.clone(), args.org.clone());
    let cfg = vizora_sim::loadtest::LoadConfig {
        server: args.server.clone(),
        wall_servers: args.wall_server.clone(),
        walls: args.walls,
        players: args.players,
        mutations_per_s: args.mutations_per_s,
        duration: Duration::from_secs(args.duration_s),
        heartbeat: Duration::from_secs_f64(args.heartbeat_s),
        wall_token: Arc::new(move |i: &str| mint(&a1, &org1, vizora_protocol::Role::Viewer, &format!("load-wall-{i}"))),
        operator_token: mint(&auth, &args.org, vizora_protocol::Role::Operator, "load-operator"),
        device_token: Arc::new(move |id: &str| mint(&a2, &org2, vizora_protocol::Role::Device, id)),
        gateway_pid: args.gateway_pid,
        connect_parallelism: args.connect_parallelism,
        working_set: args.working_set.map(|k| k as usize),
    };
    // A URL is all this command has of the gateway, so its storm cuts the
    // connections; a caller that runs the gateway can restart it instead
    // (vizora_sim::loadtest::StormKind::RestartGateway).
    let storm = args.storm_at_s.map(|s| vizora_sim::loadtest::Storm {
        at: Duration::from_secs_f64(s.max(0.0)),
        kind: vizora_sim::loadtest::StormKind::DropConnections,
    });
    let rt = tokio::runtime::Runtime::new()?;
    let report = rt.block_on(vizora_sim::loadtest::run_with(cfg, storm))?;
    println!("{}", report.table());
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?).with_context(|| format!("{}", path.display()))?;
    }
    let recovered = report.storm.as_ref().is_none_or(|s| s.recovery_s.is_some());
    Ok(if report.lost == 0 && report.duplicated == 0 && recovered { ExitCode::SUCCESS } else { ExitCode::from(3) })
}

fn run_sim(args: SimArgs) -> anyhow::Result<ExitCode> {
    init_cli_logging();
    // The scenario first: a bad file is reported before anything connects.
    let scenario = args.scenario.as_deref().map(vizora_sim::Scenario::load).transpose()?;
    let auth = auth_from_env()?;
    let admin_token = mint(&auth, &args.org, vizora_protocol::Role::Admin, "sim-scenario");
    let org = args.org.clone();
    let cfg = vizora_sim::SimConfig {
        server: args.server.clone(),
        players: args.players,
        id_prefix: "player".into(),
        heartbeat: Duration::from_secs_f64(args.heartbeat_s),
        seed: args.seed,
        faults: vizora_sim::FaultRates {
            drop: args.drop,
            overheat: args.overheat,
            disk_full: args.disk_full,
            crash_loop: args.crash_loop,
            site_dark: args.site_dark,
            site_size: args.site_size,
        },
        fault_period: Duration::from_secs_f64(args.fault_period_s.max(0.1)),
        token: Arc::new(move |id: &str| {
            let claims = vizora_protocol::Claims {
                sub: id.into(),
                org: org.clone(),
                role: vizora_protocol::Role::Device,
                exp: vizora_protocol::now_ms() / 1000 + 30 * 86_400,
                iat: Some((vizora_protocol::now_ms() / 1000) as f64),
            };
            auth.mint(&claims).unwrap_or_default()
        }),
        ramp: Duration::from_secs_f64(args.ramp_s.max(0.0)),
    };
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let fleet = match &scenario {
            Some(s) => vizora_sim::Fleet::start_scenario(cfg, s, &admin_token).await?,
            None => vizora_sim::Fleet::start(cfg),
        };
        let stop = async {
            match args.duration_s {
                Some(s) => tokio::time::sleep(Duration::from_secs(s)).await,
                None => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        };
        tokio::pin!(stop);
        let mut report = tokio::time::interval(Duration::from_secs(5));
        loop {
            tokio::select! {
                _ = &mut stop => break,
                _ = report.tick() => {
                    let s = &fleet.stats;
                    use std::sync::atomic::Ordering::Relaxed;
                    tracing::info!(connected = s.connected.load(Relaxed), heartbeats = s.heartbeats.load(Relaxed), playbacks = s.playbacks.load(Relaxed), connect_errors = s.connect_errors.load(Relaxed), restarts = s.restarts.load(Relaxed), executions = s.executions.load(Relaxed), "fleet");
                }
            }
        }
        fleet.stop().await;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
