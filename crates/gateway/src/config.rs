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
    /// A degraded device returns to `online` only after every limit was
    /// clear on every heartbeat for this long (damps flapping).
    pub clear_window_s: u64,
}

impl Default for HealthLimits {
    fn default() -> Self {
        Self { temp_c_max: 80.0, disk_free_pct_min: 5.0, cpu_pct_max: 95.0, cpu_window_s: 60, clear_window_s: 60 }
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
    /// Per-socket outgoing queue, packets (replies, replay and snapshot
    /// pages); a consumer that fills it is disconnected.
    pub socket_buffer: usize,
    /// Bytes of live entries a `/wall` consumer may have waiting (in its
    /// outbox and not yet taken by its socket); past it, it is disconnected
    /// and resumes by replay.
    pub slow_consumer_bytes: usize,
    /// An org's committed entries are handed to its `/wall` subscribers as
    /// one shared `events` batch, a subscriber's hand-offs spaced by 10 µs
    /// per subscriber and at most this (over 250 subscribers, lanes of them
    /// take turns within the spacing); an entry committed after a quiet
    /// spacing leaves at once. While the runtime that writes the sockets is
    /// over 70 % busy the spacing stretches, up to 4× (the
    /// `vizora_fanout_stretch` gauge says by how much). 0: every commit on
    /// its own.
    pub fanout_ms: u64,
    /// Log entries kept per org for replay (at least).
    pub history_entries: u64,
    /// Seconds of log kept per org for replay (at least).
    pub history_secs: u64,
    /// How often status, telemetry and metrics are evaluated.
    pub tick_ms: u64,
    /// Sequencer threads; orgs are spread over them by a hash of their id,
    /// so an org busy with CPU work (fan-out to many walls, snapshots) holds
    /// up only the orgs on its thread. Their writes still go one at a time
    /// to the one SQLite file, so threads lose the shared group commit: on
    /// 2 cores a write flood from one org cost the others more with 2 threads
    /// than with 1 (BENCHMARKS.md). 0: one per CPU core, at most 8. With
    /// `nats`, one (0 or 1).
    pub sequencers: usize,
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
    /// An Engine.IO session that joined no namespace is closed after this.
    pub connect_timeout_ms: u64,
    /// Most concurrent sessions from one IP address (0: no cap).
    pub max_connections_per_ip: usize,
    /// Loopback clients (local tools, a reverse proxy on the same host) are
    /// not held to `max_connections_per_ip`.
    pub per_ip_exempt_loopback: bool,
    /// Most decided mutation ids kept in memory per org, newest first; the
    /// others are looked up on disk, where every one stays 24 hours.
    pub decided_per_org_max: usize,
    /// Resolved alerts leave snapshots (not the log) after this long.
    pub resolved_alert_retention_s: u64,
    /// Largest packet the gateway sends; `events`, replay and snapshot pages
    /// are split to fit (at most `max_payload`).
    pub max_packet_bytes: usize,
    /// When set, `/metrics` needs `Authorization: Bearer <token>`.
    pub metrics_token: Option<String>,
    /// When set, tokens must carry this `iss`.
    pub jwt_issuer: Option<String>,
    /// When set, tokens must carry this `aud`.
    pub jwt_audience: Option<String>,
    /// Several gateway nodes sharing each org's log on NATS JetStream;
    /// left out, the gateway is one node on its own SQLite store.
    pub nats: Option<NatsConfig>,
}

/// How a gateway node reaches NATS JetStream (several nodes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NatsConfig {
    /// Server URLs (`nats://host:4222`, `tls://…`); any one of the cluster will do.
    pub servers: Vec<String>,
    /// Copies JetStream keeps of each org's log (1, 3 or 5; 3 survives the loss of any one NATS node).
    pub replicas: usize,
    /// The JetStream stream holding every org's log.
    pub stream: String,
    /// A NATS credentials file (JWT and NKey seed).
    pub creds: Option<PathBuf>,
    /// A CA certificate (PEM) to verify the servers' TLS certificates with.
    pub tls_ca: Option<PathBuf>,
    /// Refuse to talk to NATS without TLS.
    pub tls_required: bool,
    /// How long a write waits for JetStream's acknowledgement before the
    /// change is answered `unavailable`.
    pub ack_timeout_ms: u64,
    /// How much longer than 3 heartbeats a device connected to another node
    /// may go unheard of (the nodes relay live fields once a second) before
    /// a node marks it offline: a device whose node died.
    pub offline_grace_ms: u64,
    /// A node saves a checkpoint of an org's state after this many new log
    /// entries (checked every `prune_every_ms`), and the org's older
    /// messages are purged from the stream.
    pub checkpoint_entries: u64,
}

impl Default for NatsConfig {
    fn default() -> Self {
        Self {
            servers: Vec::new(),
            replicas: 3,
            stream: "VIZORA_LOG".into(),
            creds: None,
            tls_ca: None,
            tls_required: false,
            ack_timeout_ms: 5_000,
            offline_grace_ms: 10_000,
            checkpoint_entries: 10_000,
        }
    }
}

impl GatewayConfig {
    /// How many sequencer threads to run (`sequencers`, with 0 resolved).
    pub fn sequencer_threads(&self) -> usize {
        match self.sequencers {
            _ if self.nats.is_some() => 1,
            0 => std::thread::available_parallelism().map_or(1, |n| n.get().min(8)),
            n => n,
        }
    }
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
            slow_consumer_bytes: 8 * 1024 * 1024,
            fanout_ms: 20,
            history_entries: 100_000,
            history_secs: 3600,
            tick_ms: 250,
            sequencers: 1,
            metrics_window_s: 60,
            snapshot_page: 500,
            limits: HealthLimits::default(),
            max_connections: 100_000,
            rate_per_s: 1000.0,
            rate_burst: 2000.0,
            prune_every_ms: 60_000,
            command_ack_timeout_ms: 10_000,
            connect_timeout_ms: 10_000,
            max_connections_per_ip: 1024,
            per_ip_exempt_loopback: true,
            decided_per_org_max: 1_000_000,
            resolved_alert_retention_s: 3600,
            max_packet_bytes: 512 * 1024,
            metrics_token: None,
            jwt_issuer: None,
            jwt_audience: None,
            nats: None,
        }
    }
}

pub use vizora_config::{ConfigError, load_ron, read_file};

impl GatewayConfig {
    /// Reads and validates a RON file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        load_ron(path, Self::validate)
    }

    /// Checks ranges: every number finite and small enough that the
    /// durations and products made from it cannot overflow.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        const DAY_MS: u64 = 86_400_000;
        let real = |field: &'static str, v: f64, lo: f64, hi: f64| {
            // Written so NaN and infinities fail too.
            if v.is_finite() && v > lo && v <= hi {
                Ok(())
            } else {
                Err((field, format!("must be a number in ({lo}, {hi}]")))
            }
        };
        let int = |field: &'static str, v: u64, lo: u64, hi: u64| {
            if (lo..=hi).contains(&v) { Ok(()) } else { Err((field, format!("must be in {lo}..={hi}"))) }
        };
        real("heartbeat_s", self.heartbeat_s, 0.0, 86_400.0)?;
        int("ping_interval_ms", self.ping_interval_ms, 1, DAY_MS)?;
        int("ping_timeout_ms", self.ping_timeout_ms, 1, DAY_MS)?;
        int("tick_ms", self.tick_ms, 1, 60_000)?;
        int("fanout_ms", self.fanout_ms, 0, 1_000)?;
        int("sequencers", self.sequencers as u64, 0, 64)?;
        if self.nats.is_some() && self.sequencers > 1 {
            return Err(("sequencers", "with nats a node runs one sequencer thread (0 or 1)".into()));
        }
        int("max_payload", self.max_payload, 1024, 1 << 30)?;
        int("history_secs", self.history_secs, 0, 365 * 86_400)?;
        int("metrics_window_s", u64::from(self.metrics_window_s), 1, 86_400)?;
        real("rate_per_s", self.rate_per_s, 0.0, 1e9)?;
        real("rate_burst", self.rate_burst, 0.0, 1e9)?;
        int("prune_every_ms", self.prune_every_ms, 1, DAY_MS)?;
        int("command_ack_timeout_ms", self.command_ack_timeout_ms, 1, DAY_MS)?;
        int("connect_timeout_ms", self.connect_timeout_ms, 1, DAY_MS)?;
        int("resolved_alert_retention_s", self.resolved_alert_retention_s, 0, 365 * 86_400)?;
        int("cpu_window_s", self.limits.cpu_window_s, 0, 86_400)?;
        int("clear_window_s", self.limits.clear_window_s, 0, 86_400)?;
        for (field, v) in [
            ("temp_c_max", self.limits.temp_c_max),
            ("disk_free_pct_min", self.limits.disk_free_pct_min),
            ("cpu_pct_max", self.limits.cpu_pct_max),
        ] {
            if !v.is_finite() {
                return Err((field, "must be a finite number".into()));
            }
        }
        if self.max_packet_bytes < 1024 {
            return Err(("max_packet_bytes", "must be ≥ 1024".into()));
        }
        if self.decided_per_org_max == 0 {
            return Err(("decided_per_org_max", "must be > 0".into()));
        }
        if self.metrics_token.as_deref().is_some_and(str::is_empty) {
            return Err(("metrics_token", "must not be empty (leave it out for an open /metrics)".into()));
        }
        if self.snapshot_page == 0 {
            return Err(("snapshot_page", "must be > 0".into()));
        }
        if self.slow_consumer_bytes < 2 * self.packet_bytes() {
            return Err(("slow_consumer_bytes", "must be at least twice max_packet_bytes".into()));
        }
        if self.socket_buffer < 16 {
            return Err(("socket_buffer", "must be ≥ 16".into()));
        }
        if let Some(n) = &self.nats {
            if n.servers.is_empty() {
                return Err(("nats.servers", "name at least one NATS server URL".into()));
            }
            if ![1, 3, 5].contains(&n.replicas) {
                return Err(("nats.replicas", "must be 1, 3 or 5".into()));
            }
            let token_ok = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
            if n.stream.is_empty() || !n.stream.chars().all(token_ok) {
                return Err(("nats.stream", "must be letters, digits, `_` or `-`".into()));
            }
            int("nats.ack_timeout_ms", n.ack_timeout_ms, 100, 600_000)?;
            int("nats.offline_grace_ms", n.offline_grace_ms, 1_000, DAY_MS)?;
            int("nats.checkpoint_entries", n.checkpoint_entries, 1, 1 << 40)?;
        }
        Ok(())
    }

    /// Largest packet the gateway sends: `max_packet_bytes`, never above `max_payload`.
    pub fn packet_bytes(&self) -> usize {
        self.max_packet_bytes.min(usize::try_from(self.max_payload).unwrap_or(usize::MAX))
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

    #[test]
    fn values_that_overflow_or_are_not_finite_are_refused_with_their_position() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("g.ron");
        for (text, at) in [
            ("(\n  tick_ms: 50,\n  heartbeat_s: inf,\n)", "g.ron:3:3: heartbeat_s"),
            ("(\n  heartbeat_s: NaN,\n)", "g.ron:2:3: heartbeat_s"),
            ("(rate_per_s: 1e400)", "g.ron:1:2: rate_per_s"),
            ("(\n ping_interval_ms: 18446744073709551615)", "g.ron:2:2: ping_interval_ms"),
            ("(limits: (temp_c_max: inf))", "g.ron:1:11: temp_c_max"),
        ] {
            std::fs::write(&path, text).expect("write");
            let err = GatewayConfig::load(&path).expect_err(text).to_string();
            assert!(err.contains(at), "{text}: {err}");
        }
        // Several nodes: the nats block is checked too, key by key.
        for (text, at) in [
            ("(\n  nats: (servers: []),\n)", "g.ron:2:10: nats.servers"),
            ("(nats: (servers: [\"nats://a:4222\"],\n replicas: 2))", "g.ron:2:2: nats.replicas"),
            ("(nats: (servers: [\"nats://a:4222\"], stream: \"a.b\"))", "nats.stream"),
        ] {
            std::fs::write(&path, text).expect("write");
            let err = GatewayConfig::load(&path).expect_err(text).to_string();
            assert!(err.contains(at), "{text}: {err}");
        }
        std::fs::write(&path, "(nats: (servers: [\"nats://a:4222\"]))").expect("write");
        let cfg = GatewayConfig::load(&path).expect("a nats block with defaults");
        assert_eq!(cfg.nats.map(|n| n.replicas), Some(3));
        // A number too large for its type is a parse error with its position.
        std::fs::write(&path, "(\n  tick_ms: 99999999999999999999999,\n)").expect("write");
        let err = GatewayConfig::load(&path).expect_err("overflow").to_string();
        assert!(err.contains("g.ron:2:"), "{err}");
    }
}
