//! `vizora`: the wallboard, the demo, and the fleet simulator.

mod api_cmd;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use bevy::app::AppExit;
use clap::{Args, Parser, Subcommand};
use vizora::app::demo::DemoBackend;
use vizora::app::{StartFocus, Surface, WallOptions};
use vizora::base::config::{PanelKind, WallConfig};
use vizora::sync::fleet::{Identity, TokenExpiry};
use vizora::sync::net::NetLink;
use vizora_client::StateFile;
use vizora_client::{ClientConfig, Update};

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
struct DemoArgs {
    /// Simulated players.
    #[arg(long, default_value_t = 500)]
    players: usize,
    /// Player heartbeat period, seconds.
    #[arg(long, default_value_t = 2.0)]
    heartbeat_s: f64,
    /// Seed of the simulated fleet.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(Args, Debug, Clone)]
struct WallArgs {
    /// Gateway URL (ws://host:port); repeat to list fallbacks.
    #[arg(long)]
    server: Vec<String>,
    /// JWT for /wall (or VIZORA_TOKEN).
    #[arg(long, env = "VIZORA_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Read the JWT from this file (re-read when it expires).
    #[arg(long, conflicts_with = "token")]
    token_file: Option<PathBuf>,
    /// Extra CA (PEM) to trust for wss:// besides the public roots.
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// Send the token over plain ws:// or http:// to a host that is not
    /// this machine (refused otherwise: anyone on the path could read it).
    #[arg(long)]
    insecure: bool,
    /// Keep the outbox and the last state here instead of the default
    /// (`$XDG_STATE_HOME/vizora/walls/`, one file per gateway and org), so a
    /// restart keeps queued changes and shows the last known fleet.
    #[arg(long)]
    store: Option<PathBuf>,
    /// Keep nothing on disk: queued changes die with the process.
    #[arg(long, conflicts_with = "store")]
    no_store: bool,
    /// Render to a PNG without a window or X server.
    #[arg(long, conflicts_with = "kiosk")]
    headless: bool,
    /// Borderless full screen, hidden cursor, exit only by the configured key chord.
    #[arg(long)]
    kiosk: bool,
    /// PNG path for --headless.
    #[arg(long, default_value = "vizora-wall.png")]
    screenshot: PathBuf,
    /// Surface size, WIDTHxHEIGHT.
    #[arg(long, default_value = "1920x1080", value_parser = parse_size)]
    size: (u32, u32),
    /// Frames to render once data is in, before the capture (--headless).
    #[arg(long, default_value_t = 8)]
    frames: u32,
    /// A second PNG, captured --then-frames frames after the first (animations; --headless).
    #[arg(long, requires = "headless")]
    then: Option<PathBuf>,
    /// Wait until the fleet holds this many devices before counting frames (--headless).
    #[arg(long, default_value_t = 0)]
    min_devices: usize,
    /// From a gateway, capture as soon as the link is live (subscribed and
    /// caught up), without waiting for the gateway's metrics (--headless).
    #[arg(long, requires = "headless")]
    no_wait: bool,
    /// Frames between the two captures (headless frames step animations by 0.1 s).
    #[arg(long, default_value_t = 2)]
    then_frames: u32,
    /// With --fixture: act as this role (viewer, operator, admin) for the operator controls.
    #[arg(long, value_parser = parse_role)]
    role: Option<vizora_protocol::Role>,
    /// Show this fleet (JSON as `vizora state` writes it) instead of a gateway's.
    #[arg(long, conflicts_with = "server")]
    fixture: Option<PathBuf>,
    /// Show a generated sample fleet of this many devices (no gateway): for screenshots and benchmarks.
    #[arg(long, conflicts_with_all = ["server", "fixture"])]
    sample: Option<usize>,
    /// With --sample: feed this many device changes (status and telemetry) per second.
    #[arg(long, default_value_t = 0, requires = "sample")]
    sample_events_per_s: u32,
    /// Wallboard config (RON); default: config/wallboard.ron when present.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Which of the config's screens this process drives (default: the first).
    #[arg(long)]
    screen: Option<String>,
    /// Open with this device search (as typed after `/`: words, `tag:x`, `status:offline`, `id:x`).
    #[arg(long)]
    find: Option<String>,
    /// Open with this device's detail card.
    #[arg(long)]
    select: Option<String>,
    /// Open with the operator console (operators and admins; F2 toggles it).
    #[arg(long)]
    console: bool,
    /// Show only this page, no rotation: main, devices, health, analytics, schedules, playlists or content.
    #[arg(long, value_parser = parse_page)]
    page: Option<PanelKind>,
    #[command(flatten)]
    demo: DemoArgs,
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

fn parse_page(s: &str) -> Result<PanelKind, String> {
    PanelKind::ALL.into_iter().find(|p| p.as_str() == s).ok_or_else(|| {
        let names: Vec<&str> = PanelKind::ALL.iter().map(|p| p.as_str()).collect();
        format!("{s}: pages are {}", names.join(", "))
    })
}

fn parse_role(s: &str) -> Result<vizora_protocol::Role, String> {
    serde_json::from_value(serde_json::Value::String(s.to_owned()))
        .map_err(|_| format!("{s}: roles are viewer, operator, admin"))
}

fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s.split_once(['x', 'X']).ok_or_else(|| format!("{s}: expected WIDTHxHEIGHT, e.g. 1920x1080"))?;
    let w: u32 = w.parse().map_err(|_| format!("{s}: bad width"))?;
    let h: u32 = h.parse().map_err(|_| format!("{s}: bad height"))?;
    if !(64..=8192).contains(&w) || !(64..=8192).contains(&h) {
        return Err(format!("{s}: each side must be 64..=8192"));
    }
    Ok((w, h))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Command::Demo(DemoArgs { players: 500, heartbeat_s: 2.0, seed: 1 })) {
        Command::Demo(d) => run_wall(WallArgs { demo: d, ..wall_defaults() }),
        Command::Wall(w) => run_wall(w),
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

/// `vizora wall` with no flags: what `vizora demo` runs (clap fills the defaults).
fn wall_defaults() -> WallArgs {
    #[derive(Parser)]
    struct Wall {
        #[command(flatten)]
        args: WallArgs,
    }
    Wall::parse_from(["vizora"]).args
}

fn run_wall(args: WallArgs) -> anyhow::Result<ExitCode> {
    let demo = args.server.is_empty() && args.fixture.is_none() && args.sample.is_none();
    // Config first: a bad file is reported before any window opens.
    let config = match &args.config {
        Some(path) => WallConfig::load(path)?,
        None => {
            let shipped = std::path::Path::new("config/wallboard.ron");
            if shipped.exists() { WallConfig::load(shipped)? } else { WallConfig::default() }
        }
    };
    let config = config.for_screen(args.screen.as_deref()).map_err(anyhow::Error::msg)?;
    let opts = WallOptions {
        surface: if args.headless {
            Surface::Headless {
                out: args.screenshot.clone(),
                frames: args.frames,
                then: args.then.clone().map(|p| (p, args.then_frames)),
                min_devices: args.min_devices,
                wait_complete: !args.no_wait,
            }
        } else if args.kiosk {
            Surface::Kiosk
        } else {
            Surface::Window
        },
        size: args.size,
        demo,
        offline: args.fixture.is_some() || args.sample.is_some(),
        config,
        page: args.page,
        identity: Identity {
            role: args.role.unwrap_or(vizora_protocol::Role::Viewer),
            sub: "fixture".into(),
            ..Identity::default()
        },
        focus: StartFocus { find: args.find.clone(), select: args.select.clone(), console: args.console },
    };
    // Fixture first: a bad file is reported before any window opens.
    let fixture = match args.sample {
        Some(n) => Some(vizora::app::sample::sample_fleet(n, vizora_protocol::now_ms())),
        None => args.fixture.as_deref().map(StateFile::load).transpose()?,
    };
    // Building the app installs the log subscriber (Bevy's LogPlugin owns it).
    let mut app = vizora::app::build(&opts);
    let mut backend = None;
    let link = if let Some(state) = fixture {
        let (tx, rx) = crossbeam_channel::unbounded();
        let feed = vizora::app::sample::SampleFeed::new(&state);
        for u in state.into_updates() {
            let _ = tx.send(u);
        }
        if args.sample_events_per_s > 0 {
            spawn_sample_feed(feed, args.sample_events_per_s, tx);
        }
        NetLink::from_channel(rx)
    } else if demo {
        let b = DemoBackend::start(args.demo.players, Duration::from_secs_f64(args.demo.heartbeat_s), args.demo.seed)?;
        let mut cfg = ClientConfig::new(b.url.clone(), b.viewer.clone());
        cfg.store_path = wall_store(&args, "demo");
        let client = vizora_client::spawn(cfg)?;
        app.insert_resource(Identity::from_token(&b.viewer).unwrap_or_default());
        app.insert_resource(TokenExpiry::from_token(&b.viewer));
        backend = Some(b);
        NetLink::from_client(client)
    } else {
        let token = match (&args.token, &args.token_file) {
            (Some(t), _) => t.clone(),
            (None, Some(_)) => String::new(),
            (None, None) => bail!("--token, --token-file or VIZORA_TOKEN is required with --server"),
        };
        let mut cfg = ClientConfig::new(args.server[0].clone(), token);
        cfg.servers = args.server.clone();
        cfg.token_file = args.token_file.clone();
        cfg.ca_file = args.ca_file.clone();
        cfg.insecure = args.insecure;
        // A URL the client can never use is an error now, not a retry loop later.
        cfg.check_servers().map_err(|e| anyhow::anyhow!("--server {}: {}", e.server, e.reason))?;
        let token_text = match &args.token_file {
            Some(f) if args.token.is_none() => std::fs::read_to_string(f).unwrap_or_default(),
            _ => cfg.token.clone(),
        };
        let who = Identity::from_token(token_text.trim()).unwrap_or_default();
        cfg.store_path = wall_store(&args, &format!("{} {}", args.server[0], who.org));
        app.insert_resource(who);
        app.insert_resource(TokenExpiry::from_token(token_text.trim()));
        NetLink::from_client(vizora_client::spawn(cfg)?)
    };
    app.insert_resource(link);
    let exit = app.run();
    drop(backend);
    if args.headless && !args.screenshot.exists() {
        bail!("rendering finished but {} was not written (see the log above)", args.screenshot.display());
    }
    Ok(match exit {
        AppExit::Success => ExitCode::SUCCESS,
        AppExit::Error(code) => ExitCode::from(code.get()),
    })
}

/// Where the wall keeps its outbox and last state: `--store`, else a file
/// per `key` (gateway and org) under the platform's state directory
/// (`$XDG_STATE_HOME/vizora/walls`, else `~/.local/state/vizora/walls`);
/// nothing with `--no-store`, or when there is no home to keep it in.
fn wall_store(args: &WallArgs, key: &str) -> Option<PathBuf> {
    if args.no_store {
        return None;
    }
    if let Some(p) = &args.store {
        return Some(p.clone());
    }
    let base = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local").join("state")));
    let Some(base) = base else {
        tracing::warn!("no XDG_STATE_HOME or HOME: queued changes are kept in memory only (pass --store PATH)");
        return None;
    };
    let dir = base.join("vizora").join("walls");
    if let Err(e) = std::fs::create_dir_all(&dir) {
        tracing::warn!("cannot create {}: {e}; queued changes are kept in memory only", dir.display());
        return None;
    }
    let key = match &args.screen {
        Some(screen) => format!("{key} {screen}"),
        None => key.to_owned(),
    };
    let name = store_file_name(&key);
    Some(dir.join(format!("{name}.sqlite")))
}

/// A file name for a store key (gateway, org, screen): letters and digits
/// as they are, every other byte as `_XX`, so two keys never share a file;
/// a key too long for a file name keeps its start and adds a hash of the whole.
fn store_file_name(key: &str) -> String {
    let mut name = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() {
            name.push(char::from(b));
        } else {
            name.push_str(&format!("_{b:02x}"));
        }
    }
    if name.len() > 180 {
        // FNV-1a: stable across builds, unlike std's hasher.
        let hash =
            key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
        name.truncate(160);
        name.push_str(&format!("_{hash:016x}"));
    }
    name
}

/// Feeds a sample fleet's changes at `per_s`, in 10 ms batches, until the wall goes.
fn spawn_sample_feed(mut feed: vizora::app::sample::SampleFeed, per_s: u32, tx: crossbeam_channel::Sender<Update>) {
    std::thread::spawn(move || {
        let start = std::time::Instant::now();
        let mut sent = 0u64;
        loop {
            std::thread::sleep(Duration::from_millis(10));
            let due = (start.elapsed().as_secs_f64() * f64::from(per_s)) as u64;
            let n = (due - sent) as usize;
            if n == 0 {
                continue;
            }
            sent = due;
            let (items, telemetry) = feed.next(n, vizora_protocol::now_ms());
            let ok = tx.send(Update::Entries { epoch: "fixture".into(), items }).is_ok()
                && tx.send(Update::Telemetry(telemetry)).is_ok();
            if !ok {
                return;
            }
        }
    });
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
        iat: Some(vizora_protocol::now_ms() / 1000),
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
                iat: Some(vizora_protocol::now_ms() / 1000),
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

#[cfg(test)]
mod tests {
    use super::store_file_name;

    #[test]
    fn store_names_are_distinct_per_key_and_fit_a_file_name() {
        assert_eq!(store_file_name("demo"), "demo");
        assert_ne!(store_file_name("https://a-b c"), store_file_name("https://a b-c"), "separators never collide");
        assert_ne!(store_file_name("ws://gw:1 acme"), store_file_name("ws://gw:1 acme lobby"), "per screen");
        let long = format!("wss://{}.example.com acme", "x".repeat(300));
        let name = store_file_name(&long);
        assert!(name.len() <= 180, "{}", name.len());
        assert_ne!(name, store_file_name(&long.replace("acme", "acne")), "the hash tells long keys apart");
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    }
}
