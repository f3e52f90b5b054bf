//! `vizora wall` and `vizora demo`: the wall's flags, where it keeps its
//! store, and running it on a gateway, the embedded demo, a fixture or a
//! generated fleet.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use bevy::app::AppExit;
use clap::{Args, Parser};
use vizora::app::demo::DemoBackend;
use vizora::app::{StartFocus, Surface, WallOptions};
use vizora::base::config::{PanelKind, WallConfig};
use vizora::sync::fleet::{Identity, TokenExpiry};
use vizora::sync::net::NetLink;
use vizora_client::StateFile;
use vizora_client::{ClientConfig, Update};

#[derive(Args, Debug, Clone)]
pub(crate) struct DemoArgs {
    /// Simulated players.
    #[arg(long, default_value_t = 500)]
    pub(crate) players: usize,
    /// Player heartbeat period, seconds.
    #[arg(long, default_value_t = 2.0)]
    pub(crate) heartbeat_s: f64,
    /// Seed of the simulated fleet.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
}

#[derive(Args, Debug, Clone)]
pub(crate) struct WallArgs {
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

fn parse_page(s: &str) -> Result<PanelKind, String> {
    PanelKind::ALL.into_iter().find(|p| p.as_str() == s).ok_or_else(|| {
        let names: Vec<&str> = PanelKind::ALL.iter().map(|p| p.as_str()).collect();
        format!("{s}: pages are {}", names.join(", "))
    })
}

pub(crate) fn parse_role(s: &str) -> Result<vizora_protocol::Role, String> {
    serde_json::from_value(serde_json::Value::String(s.to_owned()))
        .map_err(|_| format!("{s}: roles are viewer, operator, admin"))
}

pub(crate) fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s.split_once(['x', 'X']).ok_or_else(|| format!("{s}: expected WIDTHxHEIGHT, e.g. 1920x1080"))?;
    let w: u32 = w.parse().map_err(|_| format!("{s}: bad width"))?;
    let h: u32 = h.parse().map_err(|_| format!("{s}: bad height"))?;
    if !(64..=8192).contains(&w) || !(64..=8192).contains(&h) {
        return Err(format!("{s}: each side must be 64..=8192"));
    }
    Ok((w, h))
}

/// `vizora wall` with no flags: what `vizora demo` runs (clap fills the defaults).
/// `vizora demo`: the wall with no flags but the demo's.
pub(crate) fn run_demo(demo: DemoArgs) -> anyhow::Result<ExitCode> {
    run_wall(WallArgs { demo, ..wall_defaults() })
}

fn wall_defaults() -> WallArgs {
    #[derive(Parser)]
    struct Wall {
        #[command(flatten)]
        args: WallArgs,
    }
    Wall::parse_from(["vizora"]).args
}

pub(crate) fn run_wall(args: WallArgs) -> anyhow::Result<ExitCode> {
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
