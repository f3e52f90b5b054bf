//! `vizora-gateway`: run the realtime gateway, or mint a token.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use vizora_gateway::{Auth, GatewayConfig};
use vizora_protocol::{Claims, Role};

#[derive(Parser, Debug)]
#[command(name = "vizora-gateway", version, about = "Vizora realtime gateway (Socket.IO v4, PROTOCOL.md v1)")]
struct Cli {
    /// Address to listen on (overrides the config file).
    #[arg(long)]
    listen: Option<String>,
    /// Store directory (overrides the config file).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// RON config file, e.g. config/gateway.ron.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Generate a throw-away JWT secret and print it (development only).
    #[arg(long)]
    dev: bool,
    /// Several nodes: NATS server URLs (comma-separated) whose JetStream
    /// holds every org's log; any number of gateways may share it.
    #[arg(long, value_delimiter = ',')]
    nats: Vec<String>,
    /// Several nodes: copies JetStream keeps of the log (1, 3 or 5).
    #[arg(long)]
    nats_replicas: Option<usize>,
    /// RS256 public key (PEM) instead of VIZORA_JWT_SECRET.
    #[arg(long)]
    jwt_public_key: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print a signed token (HS256, secret from VIZORA_JWT_SECRET).
    Token {
        /// Organisation.
        #[arg(long)]
        org: String,
        /// viewer, operator, admin or device.
        #[arg(long)]
        role: String,
        /// User or device id.
        #[arg(long)]
        sub: String,
        /// Lifetime: 90s, 30m, 1h, 7d.
        #[arg(long, default_value = "1h")]
        ttl: String,
    },
}

fn parse_ttl(s: &str) -> anyhow::Result<Duration> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().with_context(|| format!("--ttl {s}: expected a number with s, m, h or d"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => bail!("--ttl {s}: unit must be s, m, h or d"),
    };
    Ok(Duration::from_secs(secs))
}

fn parse_role(s: &str) -> anyhow::Result<Role> {
    serde_json::from_value(serde_json::Value::String(s.into()))
        .map_err(|_| anyhow::anyhow!("--role {s}: must be viewer, operator, admin or device"))
}

fn secret_from_env() -> Option<Vec<u8>> {
    std::env::var("VIZORA_JWT_SECRET").ok().filter(|s| !s.is_empty()).map(String::into_bytes)
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::Token { org, role, sub, ttl }) = &cli.command {
        let secret =
            secret_from_env().context("VIZORA_JWT_SECRET is not set: it is the HS256 key tokens are signed with")?;
        let exp = vizora_protocol::now_ms() / 1000 + parse_ttl(ttl)?.as_secs();
        let claims = Claims {
            sub: sub.clone(),
            org: org.clone(),
            role: parse_role(role)?,
            exp,
            iat: Some((vizora_protocol::now_ms() / 1000) as f64),
        };
        let token = Auth::hs256(&secret).mint(&claims).context("signing failed")?;
        println!("{token}");
        return Ok(());
    }
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let mut cfg = match &cli.config {
        Some(path) => GatewayConfig::load(path)?,
        None => GatewayConfig::default(),
    };
    if let Some(l) = cli.listen {
        cfg.listen = l;
    }
    if let Some(d) = cli.data_dir {
        cfg.data_dir = d;
    }
    if !cli.nats.is_empty() {
        cfg.nats.get_or_insert_with(Default::default).servers = cli.nats.clone();
    }
    if let Some(r) = cli.nats_replicas {
        let Some(n) = cfg.nats.as_mut() else { bail!("--nats-replicas needs --nats (or `nats` in the config)") };
        n.replicas = r;
    }
    cfg.validate().map_err(|(field, why)| anyhow::anyhow!("{field}: {why}"))?;
    let auth = if let Some(pem) = &cli.jwt_public_key {
        let bytes = std::fs::read(pem).with_context(|| format!("{}", pem.display()))?;
        Auth::rs256_public_pem(&bytes).with_context(|| format!("{}: not an RSA public key in PEM", pem.display()))?
    } else if let Some(secret) = secret_from_env() {
        Auth::hs256(&secret)
    } else if cli.dev {
        let secret: String = (0..32).map(|_| format!("{:02x}", rand::random::<u8>())).collect();
        eprintln!("--dev: generated JWT secret (export VIZORA_JWT_SECRET={secret} to mint tokens)");
        Auth::hs256(secret.as_bytes())
    } else {
        bail!("no JWT key: set VIZORA_JWT_SECRET, pass --jwt-public-key FILE, or use --dev for a throw-away secret");
    };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&cfg.listen)
            .await
            .with_context(|| format!("cannot listen on {}", cfg.listen))?;
        vizora_gateway::serve(listener, cfg, auth, shutdown_signal()).await
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
