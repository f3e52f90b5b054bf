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

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::ClientConfig;

/// How long one HTTP exchange may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest reply read (a page of 1,000 full playlists can pass ureq's 10 MiB default).
const MAX_BODY: u64 = 256 * 1024 * 1024;

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
        vizora_config::parse_ron(&text, &path.display().to_string(), |_: &Self| Ok::<(), (String, String)>(()))
            .map_err(|e| ApiCliError::Usage(e.to_string()))
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

mod read;
mod write;

pub use read::{Kind, Query, get};
pub use write::{Change, NewDevice, mutate, parse_arg, provision};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_map_to_http_bases() {
        assert_eq!(http_base("ws://127.0.0.1:7311"), "http://127.0.0.1:7311");
        assert_eq!(http_base("wss://gw.example/"), "https://gw.example");
        assert_eq!(http_base("HTTPS://gw.example:8443"), "https://gw.example:8443");
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
