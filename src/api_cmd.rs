//! `vizora get`, `vizora mutate` and `vizora device provision`: arguments for
//! the HTTP API commands of `vizora_client::cli::api`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use vizora_client::cli::api::{self, Api, ApiCliError, Change, Kind, NewDevice, Query, Target};

/// Where the gateway is and the token: flags, else `VIZORA_SERVER` /
/// `VIZORA_TOKEN`, else the config file.
#[derive(Args, Debug, Clone)]
pub struct Conn {
    /// Gateway URL, http[s]://host:port (ws[s]:// works too).
    #[arg(long, env = "VIZORA_SERVER")]
    server: Option<String>,
    /// JWT for the org.
    #[arg(long, env = "VIZORA_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// A RON file `(server: "...", token: "...")`; default $VIZORA_CONFIG,
    /// else $XDG_CONFIG_HOME/vizora/cli.ron or ~/.config/vizora/cli.ron when it exists.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Send the token over plain http:// to a host that is not this machine.
    #[arg(long)]
    insecure: bool,
}

impl Conn {
    fn api(&self) -> Result<Api, ApiCliError> {
        let given = Target { server: self.server.clone(), token: self.token.clone(), insecure: self.insecure };
        let complete = given.server.is_some() && given.token.is_some();
        // A config file fills in what flags and the environment leave unset
        // (a named one is always read, so its mistakes are reported).
        let file = match (&self.config, Target::default_file()) {
            (Some(p), _) => Target::from_file(p, true)?,
            (None, _) if complete => Target::default(),
            (None, Some(p)) => Target::from_file(&p, std::env::var_os("VIZORA_CONFIG").is_some())?,
            (None, None) => Target::default(),
        };
        Api::new(&given.or(file))
    }
}

/// `vizora get`.
#[derive(Args, Debug, Clone)]
pub struct GetArgs {
    /// devices, playlists, content, schedules or alerts (singular works too).
    kind: String,
    /// One entity by id (otherwise every one that matches the filters).
    id: Option<String>,
    /// Devices: online, degraded, offline or unknown.
    #[arg(long)]
    status: Option<String>,
    /// Devices: carrying this tag.
    #[arg(long)]
    tag: Option<String>,
    /// Alerts: open, acked or resolved.
    #[arg(long)]
    state: Option<String>,
    /// Alerts: info, warning or critical.
    #[arg(long)]
    severity: Option<String>,
    /// At most this many.
    #[arg(long)]
    limit: Option<usize>,
    /// JSON (the API's entities) instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    conn: Conn,
}

/// `vizora mutate`.
#[derive(Args, Debug, Clone)]
pub struct MutateArgs {
    /// Mutation kind, e.g. device.rename (PROTOCOL.md §6, docs/protocol.md).
    kind: String,
    /// The entity changed.
    #[arg(long)]
    target: Option<String>,
    /// The revision the change is based on (a stale one is rejected `conflict`).
    #[arg(long)]
    base_rev: Option<u64>,
    /// An argument: key=text, or key:=json for numbers, booleans, lists.
    #[arg(long = "arg", value_name = "K=V", value_parser = api::parse_arg)]
    args: Vec<(String, serde_json::Value)>,
    /// All arguments as one JSON object (instead of --arg).
    #[arg(long, value_name = "ARGS")]
    json: Option<String>,
    /// Idempotency key: re-run with the key a failed run printed to retry safely.
    #[arg(long)]
    key: Option<String>,
    /// Print the gateway's reply as JSON.
    #[arg(long)]
    print_json: bool,
    #[command(flatten)]
    conn: Conn,
}

/// `vizora device`.
#[derive(Subcommand, Debug, Clone)]
pub enum DeviceCommand {
    /// Pre-register a device and print its id and /device token (admin).
    Provision(ProvisionArgs),
}

/// `vizora device provision`.
#[derive(Args, Debug, Clone)]
pub struct ProvisionArgs {
    /// Its name.
    #[arg(long)]
    name: String,
    /// A tag (repeat for more).
    #[arg(long = "tag")]
    tags: Vec<String>,
    /// Its id (dev-<ulid> otherwise).
    #[arg(long)]
    id: Option<String>,
    /// Token lifetime in seconds (the gateway's default: one year).
    #[arg(long)]
    token_ttl_s: Option<u64>,
    /// Print the gateway's reply as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    conn: Conn,
}

fn finish(r: Result<(), ApiCliError>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vizora: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// Runs `vizora get`.
pub fn get(a: GetArgs) -> ExitCode {
    finish((|| {
        let kind = Kind::parse(&a.kind).map_err(ApiCliError::Usage)?;
        let q = Query { id: a.id, status: a.status, tag: a.tag, state: a.state, severity: a.severity, limit: a.limit };
        api::get(&a.conn.api()?, kind, &q, a.json, &mut std::io::stdout().lock()).map(drop)
    })())
}

/// Runs `vizora mutate`.
pub fn mutate(a: MutateArgs) -> ExitCode {
    finish((|| {
        let change =
            Change { kind: a.kind, target: a.target, base_rev: a.base_rev, args: a.args, json: a.json, key: a.key };
        api::mutate(&a.conn.api()?, &change, a.print_json, &mut std::io::stdout().lock()).map(drop)
    })())
}

/// Runs `vizora device ...`.
pub fn device(c: DeviceCommand) -> ExitCode {
    match c {
        DeviceCommand::Provision(a) => finish((|| {
            let d = NewDevice { id: a.id, name: a.name, tags: a.tags, token_ttl_s: a.token_ttl_s };
            api::provision(&a.conn.api()?, &d, a.json, &mut std::io::stdout().lock()).map(drop)
        })()),
    }
}
