//! `vizora get`, `vizora mutate` and `vizora device provision`: the HTTP API
//! (`/api/v1`, docs/http-api.md) from a shell, as library functions that
//! write to any `Write`. The binary parses arguments and calls these.
//!
//! Exit codes (see [`ApiCliError::exit_code`]): 0 when the change was applied
//! (or had been, `duplicate`), 1 when the gateway decided against it
//! (`conflict`, `invalid`, `forbidden`, `not_found`), 2 for unusable input or
//! configuration, 3 for everything else: the gateway could not be asked,
//! refused the token, or asked to retry later (`rate_limited`, `unavailable`;
//! the message names the idempotency key to retry with).

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::ClientConfig;

/// How long one HTTP exchange may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest reply read (a page of 1,000 full playlists can pass ureq's 10 MiB default).
const MAX_BODY: u64 = 256 * 1024 * 1024;

/// Items asked for per page while following cursors.
const PAGE: usize = 1000;

/// Why an API command failed, worded for the user.
#[derive(Debug, thiserror::Error)]
pub enum ApiCliError {
    /// Bad flags, arguments or configuration.
    #[error("{0}")]
    Usage(String),
    /// The gateway could not be reached, or answered something that is not the API.
    #[error("{server}: {reason}")]
    Unreachable {
        /// The base URL.
        server: String,
        /// What went wrong.
        reason: String,
    },
    /// The gateway answered with a problem (RFC 9457) that is not a decision
    /// on a change: bad token, forbidden read, unknown id, bad query.
    #[error("{status} {title}: {detail}")]
    Problem {
        /// HTTP status.
        status: u16,
        /// The problem's title.
        title: String,
        /// The problem's detail.
        detail: String,
        /// The protocol code (`token_invalid`, `not_found`, ...).
        code: String,
    },
    /// The gateway decided against the change (conflict, invalid, forbidden, ...).
    #[error("rejected {code}: {detail}")]
    Rejected {
        /// The reject code.
        code: String,
        /// The gateway's explanation.
        detail: String,
    },
    /// Writing the output failed.
    #[error("output: {0}")]
    Io(#[from] io::Error),
}

impl ApiCliError {
    /// The process exit code for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Rejected { .. } => 1,
            Self::Usage(_) => 2,
            Self::Unreachable { .. } | Self::Problem { .. } | Self::Io(_) => 3,
        }
    }
}

/// Where the gateway is and who is asking: from flags, else the
/// environment (`VIZORA_SERVER`, `VIZORA_TOKEN`), else the config file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// Gateway URL: `http[s]://host:port` (`ws[s]://` works too).
    #[serde(default)]
    pub server: Option<String>,
    /// A JWT for the org.
    #[serde(default)]
    pub token: Option<String>,
    /// Allow the token over plain HTTP to a host that is not this machine.
    #[serde(default)]
    pub insecure: bool,
}

impl Target {
    /// The default config file: `$VIZORA_CONFIG`, else
    /// `$XDG_CONFIG_HOME/vizora/cli.ron`, else `~/.config/vizora/cli.ron`.
    pub fn default_file() -> Option<PathBuf> {
        if let Some(p) = std::env::var_os("VIZORA_CONFIG") {
            return Some(PathBuf::from(p));
        }
        let base = std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
        Some(base.join("vizora").join("cli.ron"))
    }

    /// Reads a config file such as `(server: "https://gw:7311", token: "eyJ...")`.
    /// A missing default file is no error; a missing named one is.
    /// Syntax errors name `file:line:col`.
    pub fn from_file(path: &Path, must_exist: bool) -> Result<Self, ApiCliError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound && !must_exist => return Ok(Self::default()),
            Err(e) => return Err(ApiCliError::Usage(format!("{}: {e}", path.display()))),
        };
        let ron = ron::Options::default().with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME);
        ron.from_str(&text).map_err(|e| {
            let p = e.span.start;
            ApiCliError::Usage(format!("{}:{}:{}: {}", path.display(), p.line, p.col, e.code))
        })
    }

    /// `self`, with what it lacks taken from `fallback`.
    pub fn or(self, fallback: Target) -> Target {
        Target {
            server: self.server.or(fallback.server),
            token: self.token.or(fallback.token),
            insecure: self.insecure || fallback.insecure,
        }
    }
}

/// A blocking client of the gateway's HTTP API.
pub struct Api {
    base: String,
    auth: String,
    agent: ureq::Agent,
}

impl Api {
    /// Checks the target (a URL the client speaks, a token, no token in the
    /// clear to a remote host without `insecure`) and builds the client.
    pub fn new(target: &Target) -> Result<Self, ApiCliError> {
        let server = target.server.clone().ok_or_else(|| {
            ApiCliError::Usage(
                "no gateway: pass --server, set VIZORA_SERVER, or put `server` in the config file".into(),
            )
        })?;
        let token = target.token.clone().ok_or_else(|| {
            ApiCliError::Usage("no token: pass --token, set VIZORA_TOKEN, or put `token` in the config file".into())
        })?;
        let mut cfg = ClientConfig::new(&server, &token);
        cfg.insecure = target.insecure;
        cfg.check_servers().map_err(|e| ApiCliError::Usage(e.to_string()))?;
        let agent =
            ureq::Agent::config_builder().timeout_global(Some(HTTP_TIMEOUT)).http_status_as_error(false).build().into();
        Ok(Self { base: http_base(&server), auth: format!("Bearer {token}"), agent })
    }

    /// `GET path` (with its query): the JSON body of a 2xx, else the problem.
    pub fn get(&self, path: &str) -> Result<Value, ApiCliError> {
        let url = format!("{}{path}", self.base);
        let reply = self.agent.get(&url).header("Authorization", &self.auth).call();
        let (status, body) = self.read(reply)?;
        if (200..300).contains(&status) { Ok(body) } else { Err(problem(status, &body)) }
    }

    /// `POST path` with a JSON body and extra headers: (status, body).
    pub fn post(&self, path: &str, headers: &[(&str, &str)], body: &Value) -> Result<(u16, Value), ApiCliError> {
        let url = format!("{}{path}", self.base);
        let mut req =
            self.agent.post(&url).header("Authorization", &self.auth).header("Content-Type", "application/json");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.read(req.send(body.to_string()))
    }

    fn read(&self, reply: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Result<(u16, Value), ApiCliError> {
        let unreachable = |reason: String| ApiCliError::Unreachable { server: self.base.clone(), reason };
        let mut reply = reply.map_err(|e| unreachable(e.to_string()))?;
        let status = reply.status().as_u16();
        let text =
            reply.body_mut().with_config().limit(MAX_BODY).read_to_string().map_err(|e| unreachable(e.to_string()))?;
        if text.is_empty() {
            return Ok((status, Value::Null));
        }
        let body = serde_json::from_str(&text)
            .map_err(|e| unreachable(format!("HTTP {status}, not JSON ({e}): {}", clip(&text))))?;
        Ok((status, body))
    }
}

/// `http[s]://host:port[/prefix]` for a server URL given as `http[s]://` or `ws[s]://`.
fn http_base(server: &str) -> String {
    let (scheme, rest) = server.split_once("://").unwrap_or(("http", server));
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "wss" | "https" => "https",
        _ => "http",
    };
    format!("{scheme}://{}", rest.trim_end_matches('/'))
}

fn clip(s: &str) -> String {
    let mut end = s.len().min(200);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

fn problem(status: u16, body: &Value) -> ApiCliError {
    let text = |k: &str| body[k].as_str().unwrap_or_default().to_owned();
    ApiCliError::Problem { status, title: text("title"), detail: text("detail"), code: text("code") }
}

/// An entity kind as the CLI names it (singular or plural).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Devices.
    Devices,
    /// Playlists.
    Playlists,
    /// Content.
    Content,
    /// Schedules.
    Schedules,
    /// Alerts.
    Alerts,
}

impl Kind {
    /// Parses `device`, `devices`, `alert`, ... (what `vizora get` takes).
    pub fn parse(s: &str) -> Result<Self, String> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "device" | "devices" => Self::Devices,
            "playlist" | "playlists" => Self::Playlists,
            "content" | "contents" => Self::Content,
            "schedule" | "schedules" => Self::Schedules,
            "alert" | "alerts" => Self::Alerts,
            _ => return Err(format!("unknown kind `{s}`: devices, playlists, content, schedules or alerts")),
        })
    }

    fn path(self) -> &'static str {
        match self {
            Self::Devices => "devices",
            Self::Playlists => "playlists",
            Self::Content => "content",
            Self::Schedules => "schedules",
            Self::Alerts => "alerts",
        }
    }

    /// Table columns: header and how to show the entity's field.
    fn columns(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Self::Devices => &[
                ("ID", "id"),
                ("NAME", "name"),
                ("STATUS", "status"),
                ("TAGS", "tags"),
                ("PLAYLIST", "playlist_id"),
                ("LAST SEEN", "last_seen_ms"),
            ],
            Self::Playlists => &[("ID", "id"), ("NAME", "name"), ("ITEMS", "items"), ("REV", "rev")],
            Self::Content => {
                &[("ID", "id"), ("NAME", "name"), ("KIND", "kind"), ("DURATION S", "duration_s"), ("URI", "uri")]
            }
            Self::Schedules => &[
                ("ID", "id"),
                ("NAME", "name"),
                ("PLAYLIST", "playlist_id"),
                ("PRIORITY", "priority"),
                ("ENABLED", "enabled"),
            ],
            Self::Alerts => &[
                ("ID", "id"),
                ("SEVERITY", "severity"),
                ("STATE", "state"),
                ("KIND", "kind"),
                ("DEVICE", "device_id"),
                ("MESSAGE", "message"),
            ],
        }
    }
}

/// What `vizora get` asks for.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// One entity by id instead of a list.
    pub id: Option<String>,
    /// Devices: only this status.
    pub status: Option<String>,
    /// Devices: only this tag.
    pub tag: Option<String>,
    /// Alerts: only this state.
    pub state: Option<String>,
    /// Alerts: only this severity.
    pub severity: Option<String>,
    /// At most this many (all when `None`).
    pub limit: Option<usize>,
}

/// `vizora get KIND`: one entity, or every one matching the filters
/// (following cursors), as a table or (`json`) a JSON array. Returns how many.
pub fn get(api: &Api, kind: Kind, q: &Query, json: bool, out: &mut impl Write) -> Result<usize, ApiCliError> {
    let items = match &q.id {
        Some(id) => vec![api.get(&format!("/api/v1/{}/{}", kind.path(), encode(id)))?],
        None => list(api, kind, q)?,
    };
    if json {
        let text = if q.id.is_some() { items[0].to_string() } else { Value::Array(items.clone()).to_string() };
        writeln!(out, "{text}")?;
    } else {
        write_table(kind, &items, out)?;
    }
    Ok(items.len())
}

fn list(api: &Api, kind: Kind, q: &Query) -> Result<Vec<Value>, ApiCliError> {
    let mut filters = Vec::new();
    let mut filter = |name: &str, v: &Option<String>, applies: bool| -> Result<(), ApiCliError> {
        match v {
            Some(_) if !applies => Err(ApiCliError::Usage(format!("--{name} does not apply to {}", kind.path()))),
            Some(v) => {
                filters.push(format!("{name}={}", encode(v)));
                Ok(())
            }
            None => Ok(()),
        }
    };
    filter("status", &q.status, kind == Kind::Devices)?;
    filter("tag", &q.tag, kind == Kind::Devices)?;
    filter("state", &q.state, kind == Kind::Alerts)?;
    filter("severity", &q.severity, kind == Kind::Alerts)?;
    let want = q.limit.unwrap_or(usize::MAX);
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    while items.len() < want {
        let mut query = filters.clone();
        query.push(format!("limit={}", PAGE.min(want - items.len())));
        if let Some(c) = &cursor {
            query.push(format!("cursor={}", encode(c)));
        }
        let page = api.get(&format!("/api/v1/{}?{}", kind.path(), query.join("&")))?;
        items.extend(page["items"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    Ok(items)
}

/// Percent-encodes a query or path value.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn cell(v: &Value, field: &str) -> String {
    match (&v[field], field) {
        (Value::Null, _) => "-".into(),
        (Value::Number(n), "last_seen_ms") => match n.as_u64() {
            Some(0) => "never".into(),
            Some(ms) => crate::cli::iso_utc(ms),
            None => n.to_string(),
        },
        (Value::Array(a), "items") => a.len().to_string(),
        (Value::Array(a), _) => {
            a.iter().map(|t| t.as_str().map(str::to_owned).unwrap_or(t.to_string())).collect::<Vec<_>>().join(",")
        }
        (Value::String(s), _) => s.replace(['\n', '\t'], " "),
        (other, _) => other.to_string(),
    }
}

fn write_table(kind: Kind, items: &[Value], out: &mut impl Write) -> io::Result<()> {
    let cols = kind.columns();
    let rows: Vec<Vec<String>> = items.iter().map(|v| cols.iter().map(|(_, f)| cell(v, f)).collect()).collect();
    let widths: Vec<usize> = cols
        .iter()
        .enumerate()
        .map(|(i, (h, _))| rows.iter().map(|r| r[i].chars().count()).chain([h.len()]).max().unwrap_or(0))
        .collect();
    let line = |cells: Vec<&str>| {
        let last = cells.len() - 1;
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| if i == last { (*c).to_owned() } else { format!("{c:<w$}", w = widths[i]) })
            .collect::<Vec<_>>()
            .join("  ")
    };
    writeln!(out, "{}", line(cols.iter().map(|(h, _)| *h).collect()))?;
    for r in &rows {
        writeln!(out, "{}", line(r.iter().map(String::as_str).collect()))?;
    }
    Ok(())
}

/// One `--arg`: `key=text` sets a string, `key:=json` any JSON value
/// (numbers, booleans, arrays, objects, null), as HTTPie does.
pub fn parse_arg(s: &str) -> Result<(String, Value), String> {
    if let Some((k, v)) = s.split_once(":=")
        && !k.contains('=')
    {
        let v = serde_json::from_str(v).map_err(|e| format!("--arg {s}: `{v}` is not JSON ({e})"))?;
        return Ok((non_empty(k, s)?, v));
    }
    let (k, v) = s.split_once('=').ok_or_else(|| format!("--arg {s}: expected key=text or key:=json"))?;
    Ok((non_empty(k, s)?, Value::String(v.to_owned())))
}

fn non_empty(k: &str, s: &str) -> Result<String, String> {
    if k.is_empty() { Err(format!("--arg {s}: the key is empty")) } else { Ok(k.to_owned()) }
}

/// A change for `vizora mutate`.
#[derive(Debug, Clone, Default)]
pub struct Change {
    /// The mutation kind, e.g. `device.rename`.
    pub kind: String,
    /// The target entity.
    pub target: Option<String>,
    /// The revision the change is based on (sent as `If-Match`).
    pub base_rev: Option<u64>,
    /// `--arg` pairs.
    pub args: Vec<(String, Value)>,
    /// `--json`: the whole args object.
    pub json: Option<String>,
    /// The `Idempotency-Key`; a fresh one when `None`. Re-run a command
    /// with the key it printed to retry it safely.
    pub key: Option<String>,
}

/// `vizora mutate`: sends one change, prints the outcome, and returns the
/// ack when the change was applied or had been (`duplicate`).
pub fn mutate(api: &Api, change: &Change, json: bool, out: &mut impl Write) -> Result<Value, ApiCliError> {
    let args = match (&change.json, change.args.is_empty()) {
        (Some(_), false) => return Err(ApiCliError::Usage("give --arg or --json, not both".into())),
        (Some(text), true) => {
            let v: Value = serde_json::from_str(text).map_err(|e| ApiCliError::Usage(format!("--json: {e}")))?;
            if !v.is_object() {
                return Err(ApiCliError::Usage("--json: the args must be a JSON object".into()));
            }
            v
        }
        (None, _) => Value::Object(change.args.iter().cloned().collect::<Map<String, Value>>()),
    };
    let mut body = json!({ "kind": change.kind, "args": &args });
    if let Some(t) = &change.target {
        body["target"] = Value::String(t.clone());
    }
    let key = change.key.clone().unwrap_or_else(|| format!("cli-{}", ulid::Ulid::generate()));
    let rev = change.base_rev.map(|r| format!("\"{r}\""));
    let mut headers = vec![("Idempotency-Key", key.as_str())];
    if let Some(r) = &rev {
        headers.push(("If-Match", r.as_str()));
    }
    // Whatever happens from here, the key is what makes a retry safe: say it.
    let with_key = |e: ApiCliError| match e {
        ApiCliError::Unreachable { server, reason } => {
            ApiCliError::Unreachable { server, reason: format!("{reason} (retry safely with --key {key})") }
        }
        ApiCliError::Problem { status, title, detail, code } => {
            ApiCliError::Problem { status, title, detail: format!("{detail} (retry safely with --key {key})"), code }
        }
        other => other,
    };
    let (status, reply) = api.post("/api/v1/mutations", &headers, &body).map_err(with_key)?;
    if json {
        writeln!(out, "{reply}")?;
    }
    if status == 200 {
        if !json {
            let outcome = reply["status"].as_str().unwrap_or("applied");
            let target = change.target.as_deref().or(args["id"].as_str());
            let what = match (target, reply["rev"].as_u64(), reply["seq"].as_u64()) {
                (Some(id), Some(rev), Some(seq)) => format!(" {id} rev {rev} at seq {seq}"),
                (None, Some(rev), Some(seq)) => format!(" rev {rev} at seq {seq}"),
                _ => String::new(),
            };
            writeln!(out, "{outcome}{what} (key {key})")?;
        }
        return Ok(reply);
    }
    let Some(code) = reply["code"].as_str().filter(|_| reply["type"].as_str().is_some()) else {
        return Err(ApiCliError::Unreachable { server: api.base.clone(), reason: format!("HTTP {status}: {reply}") });
    };
    let detail = reply["detail"].as_str().unwrap_or_default().to_owned();
    let decided = ["conflict", "not_found", "forbidden", "invalid"];
    if !decided.contains(&code) {
        // rate_limited, unavailable (not decided: retry), or not a decision at all.
        return Err(with_key(problem(status, &reply)));
    }
    if !json {
        match reply.get("current").filter(|c| !c.is_null()) {
            Some(current) => writeln!(out, "rejected {code}: {detail} (current: {current}) (key {key})")?,
            None => writeln!(out, "rejected {code}: {detail} (key {key})")?,
        }
    }
    Err(ApiCliError::Rejected { code: code.to_owned(), detail })
}

/// A device for `vizora device provision`.
#[derive(Debug, Clone, Default)]
pub struct NewDevice {
    /// Its id (`dev-<ulid>` when `None`).
    pub id: Option<String>,
    /// Its name.
    pub name: String,
    /// Its tags.
    pub tags: Vec<String>,
    /// How long its token lives, seconds (the gateway's default when `None`).
    pub token_ttl_s: Option<u64>,
}

/// `vizora device provision`: pre-registers a device and prints its id and
/// `/device` token (`device_id …` and `token …` lines, or the JSON reply).
pub fn provision(api: &Api, device: &NewDevice, json: bool, out: &mut impl Write) -> Result<Value, ApiCliError> {
    // The id is chosen here, so a run that fails midway can say which one to look for.
    let id = device.id.clone().unwrap_or_else(|| format!("dev-{}", ulid::Ulid::generate().to_string().to_lowercase()));
    let mut body = json!({ "id": id, "name": device.name, "tags": device.tags });
    if let Some(ttl) = device.token_ttl_s {
        body["token_ttl_s"] = Value::from(ttl);
    }
    let hint = format!("(device {id}: if `vizora get device {id}` finds nothing, retry with --id {id})");
    let (status, reply) = api.post("/api/v1/devices/provision", &[], &body).map_err(|e| match e {
        ApiCliError::Unreachable { server, reason } => {
            ApiCliError::Unreachable { server, reason: format!("{reason} {hint}") }
        }
        other => other,
    })?;
    if status != 200 {
        let code = reply["code"].as_str().unwrap_or_default();
        return Err(if ["conflict", "invalid", "forbidden"].contains(&code) {
            ApiCliError::Rejected { code: code.to_owned(), detail: reply["detail"].as_str().unwrap_or_default().into() }
        } else {
            problem(status, &reply)
        });
    }
    if json {
        writeln!(out, "{reply}")?;
    } else {
        writeln!(out, "device_id {}", reply["device_id"].as_str().unwrap_or_default())?;
        writeln!(out, "token {}", reply["token"].as_str().unwrap_or_default())?;
        writeln!(
            out,
            "expires {}",
            reply["expires"].as_u64().map(|s| crate::cli::iso_utc(s * 1000)).unwrap_or_default()
        )?;
    }
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_are_strings_unless_given_as_json() {
        assert_eq!(parse_arg("name=Door 1"), Ok(("name".into(), json!("Door 1"))));
        assert_eq!(parse_arg("name=a=b"), Ok(("name".into(), json!("a=b"))));
        assert_eq!(parse_arg("duration_s:=7.5"), Ok(("duration_s".into(), json!(7.5))));
        assert_eq!(parse_arg("tags:=[\"a\",\"b\"]"), Ok(("tags".into(), json!(["a", "b"]))));
        assert_eq!(parse_arg("url=http://x:=y"), Ok(("url".into(), json!("http://x:=y"))));
        assert!(parse_arg("n:=seven").unwrap_err().contains("not JSON"));
        assert!(parse_arg("novalue").unwrap_err().contains("key=text"));
        assert!(parse_arg("=x").unwrap_err().contains("empty"));
    }

    #[test]
    fn server_urls_map_to_http_bases() {
        assert_eq!(http_base("ws://127.0.0.1:7311"), "http://127.0.0.1:7311");
        assert_eq!(http_base("wss://gw.example/"), "https://gw.example");
        assert_eq!(http_base("HTTPS://gw.example:8443"), "https://gw.example:8443");
    }

    #[test]
    fn kinds_parse_singular_or_plural() {
        assert_eq!(Kind::parse("Device"), Ok(Kind::Devices));
        assert_eq!(Kind::parse("alerts"), Ok(Kind::Alerts));
        assert!(Kind::parse("gadgets").unwrap_err().contains("unknown kind"));
    }

    #[test]
    fn a_config_file_error_names_file_line_and_column() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("cli.ron");
        std::fs::write(&p, "(\n  server: \"http://x\",\n  tokn: \"t\",\n)").expect("write");
        let e = Target::from_file(&p, true).unwrap_err().to_string();
        assert!(e.starts_with(&format!("{}:3:", p.display())), "{e}");
        std::fs::write(&p, "(server: \"http://x\", token: \"t\")").expect("write");
        let t = Target::from_file(&p, true).expect("reads");
        assert_eq!((t.server.as_deref(), t.token.as_deref()), (Some("http://x"), Some("t")));
        assert_eq!(Target::from_file(&dir.path().join("none.ron"), false).expect("absent is fine"), Target::default());
        assert!(Target::from_file(&dir.path().join("none.ron"), true).is_err());
    }
}
