//! Gateway configuration: RON file (`config/gateway.ron`), flags override it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Health limits that make a device `degraded` (PROTOCOL.md §8).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthLimits {
    /// Degraded above this temperature.
    pub temp_c_max: f32,
    /// Degraded below this free disk percentage.
    pub disk_free_pct_min: f32,
    /// Degraded when CPU stays above this…
    pub cpu_pct_max: f32,
    /// …on every heartbeat for this long.
    pub cpu_window_s: u64,
}

impl Default for HealthLimits {
    fn default() -> Self {
        Self { temp_c_max: 80.0, disk_free_pct_min: 5.0, cpu_pct_max: 95.0, cpu_window_s: 60 }
    }
}

/// Everything the gateway can be told.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// Address to listen on.
    pub listen: String,
    /// Where the store lives.
    pub data_dir: PathBuf,
    /// Expected player heartbeat period; offline after 3 of them.
    pub heartbeat_s: f64,
    /// Engine.IO ping period.
    pub ping_interval_ms: u64,
    /// Engine.IO pong deadline.
    pub ping_timeout_ms: u64,
    /// Largest accepted frame.
    pub max_payload: u64,
    /// Per-socket outgoing queue, packets; a `/wall` consumer that fills it is disconnected.
    pub socket_buffer: usize,
    /// Log entries kept per org for replay (at least).
    pub history_entries: u64,
    /// Seconds of log kept per org for replay (at least).
    pub history_secs: u64,
    /// How often status, telemetry and metrics are evaluated.
    pub tick_ms: u64,
    /// Metrics sliding window.
    pub metrics_window_s: u32,
    /// Entities per snapshot page.
    pub snapshot_page: usize,
    /// Health limits.
    pub limits: HealthLimits,
    /// Most concurrent Engine.IO sessions.
    pub max_connections: usize,
    /// Token bucket refill, events per second per connection.
    pub rate_per_s: f64,
    /// Token bucket size.
    pub rate_burst: f64,
    /// How often old log entries and decided ids are pruned.
    pub prune_every_ms: u64,
    /// How long a player has to acknowledge a `command`.
    pub command_ack_timeout_ms: u64,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:7700".into(),
            data_dir: PathBuf::from("vizora-data"),
            heartbeat_s: 5.0,
            ping_interval_ms: 10_000,
            ping_timeout_ms: 5_000,
            max_payload: 1 << 20,
            socket_buffer: 4096,
            history_entries: 100_000,
            history_secs: 3600,
            tick_ms: 250,
            metrics_window_s: 60,
            snapshot_page: 500,
            limits: HealthLimits::default(),
            max_connections: 100_000,
            rate_per_s: 1000.0,
            rate_burst: 2000.0,
            prune_every_ms: 60_000,
            command_ack_timeout_ms: 10_000,
        }
    }
}

/// A config (or fixture) file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Unreadable file.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// RON syntax or schema error, with position.
    #[error("{path}:{line}:{col}: {message}")]
    Parse {
        /// File.
        path: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        col: usize,
        /// What is wrong (unknown keys are named).
        message: String,
    },
    /// A value out of range.
    #[error("{path}: {field}: {message}")]
    Invalid {
        /// File.
        path: String,
        /// Field.
        field: &'static str,
        /// Why.
        message: String,
    },
}

/// Reads a file, reporting an unreadable one with its path.
pub fn read_file(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Io { path: path.display().to_string(), source })
}

/// Reads a RON file into `T` (unknown keys are refused where `T` denies
/// them) and checks it with `validate`; every error carries file:line:col or
/// the field. Shared by every RON config of the project.
pub fn load_ron<T: serde::de::DeserializeOwned>(
    path: &Path,
    validate: impl FnOnce(&T) -> Result<(), (&'static str, String)>,
) -> Result<T, ConfigError> {
    let p = path.display().to_string();
    let text = read_file(path)?;
    // `Some(x)` may be written as plain `x`.
    let options = ron::Options::default().with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME);
    let value: T = options.from_str(&text).map_err(|e| ConfigError::Parse {
        path: p.clone(),
        line: e.span.start.line,
        col: e.span.start.col,
        message: e.code.to_string(),
    })?;
    validate(&value).map_err(|(field, message)| ConfigError::Invalid { path: p, field, message })?;
    Ok(value)
}

impl GatewayConfig {
    /// Reads and validates a RON file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        load_ron(path, Self::validate)
    }

    /// Checks ranges.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        // Written so NaN fails too.
        if self.heartbeat_s.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
            return Err(("heartbeat_s", "must be > 0".into()));
        }
        if self.ping_interval_ms == 0 || self.ping_timeout_ms == 0 {
            return Err(("ping_interval_ms", "ping interval and timeout must be > 0".into()));
        }
        if self.tick_ms == 0 {
            return Err(("tick_ms", "must be > 0".into()));
        }
        if self.snapshot_page == 0 {
            return Err(("snapshot_page", "must be > 0".into()));
        }
        if self.socket_buffer < 16 {
            return Err(("socket_buffer", "must be ≥ 16".into()));
        }
        Ok(())
    }

    /// Heartbeat period.
    pub fn heartbeat(&self) -> Duration {
        Duration::from_secs_f64(self.heartbeat_s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_config_loads_and_equals_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/gateway.ron");
        let cfg = GatewayConfig::load(&path).expect("config/gateway.ron loads");
        assert_eq!(cfg, GatewayConfig::default());
    }

    #[test]
    fn unknown_keys_and_bad_values_are_reported_with_position() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("g.ron");
        std::fs::write(&path, "(\n  listen: \"127.0.0.1:1\",\n  heartbeat_sec: 5.0,\n)\n").expect("write");
        let err = GatewayConfig::load(&path).expect_err("unknown key").to_string();
        assert!(err.contains("g.ron:3:"), "{err}");
        assert!(err.contains("heartbeat_sec"), "names the key: {err}");
        std::fs::write(&path, "(heartbeat_s: 0.0)").expect("write");
        let err = GatewayConfig::load(&path).expect_err("zero heartbeat").to_string();
        assert!(err.contains("heartbeat_s"), "{err}");
    }
}
