//! Fleet analytics (`metrics` event) and the gateway's own counters.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the delivery latency histogram, seconds.
const LATENCY_BUCKETS_S: [f64; 12] = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

use vizora_protocol::{AlertState, DeviceStatus, Metrics, Severity, TopContent};

/// Process-wide counters, exported on `/metrics`.
#[derive(Debug, Default)]
pub struct Counters {
    /// Open Engine.IO sessions.
    pub sessions: AtomicU64,
    /// Log entries committed.
    pub entries: AtomicU64,
    /// Device status changes.
    pub status_changes: AtomicU64,
    /// Subscriptions served by replay.
    pub replays: AtomicU64,
    /// Subscriptions served by snapshot.
    pub snapshots: AtomicU64,
    /// Open `/wall` sessions.
    pub wall_sessions: AtomicU64,
    /// Open `/device` sessions.
    pub device_sessions: AtomicU64,
    /// Refused CONNECTs.
    pub auth_failures: AtomicU64,
    /// `bad_request` errors sent.
    pub bad_requests: AtomicU64,
    /// Mutations applied.
    pub mutations_applied: AtomicU64,
    /// Mutations rejected.
    pub mutations_rejected: AtomicU64,
    /// Duplicate mutations answered.
    pub mutations_duplicate: AtomicU64,
    /// Mutations refused by the rate limit.
    pub mutations_rate_limited: AtomicU64,
    /// Commands acknowledged by players.
    pub commands_acked: AtomicU64,
    /// Commands players refused.
    pub commands_failed: AtomicU64,
    /// Commands not acknowledged in time.
    pub commands_timed_out: AtomicU64,
    /// Requests refused because the sequencer's queue was full.
    pub engine_busy: AtomicU64,
    /// Changes refused (or player reports not logged) while the store failed.
    pub refused_while_failing: AtomicU64,
    /// Store commits that failed.
    pub store_failures: AtomicU64,
    /// Several nodes: writes refused because another node wrote the org's
    /// log first (its changes were decided again).
    pub shared_conflicts: AtomicU64,
    /// Sessions closed for joining no namespace in time.
    pub connect_timeouts: AtomicU64,
    /// Sessions refused by the per-IP cap.
    pub per_ip_refused: AtomicU64,
    /// `events` frames sent live to `/wall` consumers, and the entries in them.
    pub wall_event_frames: AtomicU64,
    /// See `wall_event_frames`.
    pub wall_event_entries: AtomicU64,
    /// `/wall` consumers disconnected for falling too far behind.
    pub slow_consumers: AtomicU64,
    /// How much the fan-out's spacing is stretched, in 1/1024ths (`pace.rs`;
    /// 0 or 1024: not at all).
    pub fanout_stretch: std::sync::atomic::AtomicU32,
    /// Fleet state per org, for Prometheus.
    fleets: Mutex<BTreeMap<String, FleetGauges>>,
    /// Delivery latency histogram: cumulative-free bucket counts, +Inf last.
    latency_buckets: [AtomicU64; LATENCY_BUCKETS_S.len() + 1],
    latency_sum_us: AtomicU64,
    latency_count: AtomicU64,
}

/// The fan-out stretch's unit (it counts 1/1024ths): not stretched. The
/// stretch itself is kept by `pace.rs`.
pub(crate) const STRETCH_NONE: u32 = 1024;

impl Counters {
    /// The fan-out's stretch, in 1/1024ths, at least 1024 (none).
    pub fn fanout_stretch(&self) -> u32 {
        self.fanout_stretch.load(Ordering::Relaxed).max(STRETCH_NONE)
    }

    /// Records an org's log head, committed at `at_ms`.
    pub fn set_head(&self, org: &str, head: u64, at_ms: u64) {
        self.with_fleet(org, |f| {
            f.head = Some(head);
            f.newest_entry_ms = Some(at_ms);
        });
    }

    /// Records an org's devices by status and its unresolved alerts.
    pub fn set_fleet(&self, org: &str, devices: DevicesByStatus, alerts: AlertsBySeverity) {
        self.with_fleet(org, |f| {
            f.devices = devices;
            f.alerts = alerts;
        });
    }

    fn with_fleet(&self, org: &str, change: impl FnOnce(&mut FleetGauges)) {
        let mut fleets = self.fleets.lock().unwrap_or_else(|p| p.into_inner());
        match fleets.get_mut(org) {
            Some(f) => change(f),
            None => change(fleets.entry(org.to_owned()).or_default()),
        }
    }

    /// Records `n` entries that took `d` from append to being handed to every subscriber.
    pub fn observe_delivery(&self, d: Duration, n: u64) {
        let s = d.as_secs_f64();
        let i = LATENCY_BUCKETS_S.iter().position(|b| s <= *b).unwrap_or(LATENCY_BUCKETS_S.len());
        self.latency_buckets[i].fetch_add(n, Ordering::Relaxed);
        self.latency_sum_us.fetch_add(d.as_micros() as u64 * n, Ordering::Relaxed);
        self.latency_count.fetch_add(n, Ordering::Relaxed);
    }

    /// Prometheus text exposition; ages are taken at `now_ms`.
    pub fn render(&self, now_ms: u64) -> String {
        let mut out = self.render_counters();
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        out.push_str(&format!(
            "# TYPE vizora_commands_total counter\nvizora_commands_total{{outcome=\"acked\"}} {}\nvizora_commands_total{{outcome=\"failed\"}} {}\nvizora_commands_total{{outcome=\"timed_out\"}} {}\n",
            g(&self.commands_acked),
            g(&self.commands_failed),
            g(&self.commands_timed_out)
        ));
        out.push_str(&format!(
            "# TYPE vizora_refusals_total counter\nvizora_refusals_total{{reason=\"engine_busy\"}} {}\nvizora_refusals_total{{reason=\"store_failing\"}} {}\nvizora_refusals_total{{reason=\"connect_timeout\"}} {}\nvizora_refusals_total{{reason=\"per_ip_cap\"}} {}\n# TYPE vizora_store_failures_total counter\nvizora_store_failures_total {}\n",
            g(&self.engine_busy),
            g(&self.refused_while_failing),
            g(&self.connect_timeouts),
            g(&self.per_ip_refused),
            g(&self.store_failures)
        ));
        out.push_str(&format!(
            "# HELP vizora_wall_event_frames_total Live `events` frames sent to /wall consumers (several commits share one when the consumer is behind).\n# TYPE vizora_wall_event_frames_total counter\nvizora_wall_event_frames_total {}\n# TYPE vizora_wall_event_entries_total counter\nvizora_wall_event_entries_total {}\n# TYPE vizora_slow_consumers_total counter\nvizora_slow_consumers_total {}\n",
            g(&self.wall_event_frames),
            g(&self.wall_event_entries),
            g(&self.slow_consumers)
        ));
        out.push_str(&format!(
            "# HELP vizora_shared_conflicts_total Writes to the shared log refused because another node wrote first.\n# TYPE vizora_shared_conflicts_total counter\nvizora_shared_conflicts_total {}\n",
            g(&self.shared_conflicts)
        ));
        self.render_fleets(&mut out, now_ms);
        out.push_str("# HELP vizora_delivery_seconds Log entry append to hand-off to every subscriber socket (includes the durable commit).\n");
        out.push_str("# TYPE vizora_delivery_seconds histogram\n");
        let mut cumulative = 0;
        for (i, b) in LATENCY_BUCKETS_S.iter().enumerate() {
            cumulative += self.latency_buckets[i].load(Ordering::Relaxed);
            out.push_str(&format!("vizora_delivery_seconds_bucket{{le=\"{b}\"}} {cumulative}\n"));
        }
        cumulative += self.latency_buckets[LATENCY_BUCKETS_S.len()].load(Ordering::Relaxed);
        out.push_str(&format!("vizora_delivery_seconds_bucket{{le=\"+Inf\"}} {cumulative}\n"));
        out.push_str(&format!(
            "vizora_delivery_seconds_sum {}\n",
            self.latency_sum_us.load(Ordering::Relaxed) as f64 / 1e6
        ));
        out.push_str(&format!("vizora_delivery_seconds_count {}\n", self.latency_count.load(Ordering::Relaxed)));
        out
    }

    /// Per-org gauges: what a Grafana board or an Alertmanager rule watches
    /// without a wall.
    fn render_fleets(&self, out: &mut String, now_ms: u64) {
        let fleets = self.fleets.lock().unwrap_or_else(|p| p.into_inner());
        let orgs: Vec<(String, &FleetGauges)> = fleets
            .iter()
            .map(|(org, f)| (org.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n"), f))
            .collect();
        out.push_str(
            "# HELP vizora_log_head Sequence number of the org's newest log entry.\n# TYPE vizora_log_head gauge\n",
        );
        for (org, f) in &orgs {
            if let Some(head) = f.head {
                out.push_str(&format!("vizora_log_head{{org=\"{org}\"}} {head}\n"));
            }
        }
        out.push_str("# HELP vizora_log_newest_entry_age_seconds Time since the org's newest log entry was committed (by this gateway).\n# TYPE vizora_log_newest_entry_age_seconds gauge\n");
        for (org, f) in &orgs {
            if let Some(at) = f.newest_entry_ms {
                let age = now_ms.saturating_sub(at) as f64 / 1000.0;
                out.push_str(&format!("vizora_log_newest_entry_age_seconds{{org=\"{org}\"}} {age}\n"));
            }
        }
        out.push_str("# HELP vizora_devices Devices of the org by status.\n# TYPE vizora_devices gauge\n");
        for (org, f) in &orgs {
            for (status, n) in f.devices.labelled() {
                out.push_str(&format!("vizora_devices{{org=\"{org}\",status=\"{status}\"}} {n}\n"));
            }
        }
        out.push_str("# HELP vizora_alerts_unresolved Open or acknowledged alerts of the org by severity and state.\n# TYPE vizora_alerts_unresolved gauge\n");
        for (org, f) in &orgs {
            for (severity, state, n) in f.alerts.labelled() {
                out.push_str(&format!(
                    "vizora_alerts_unresolved{{org=\"{org}\",severity=\"{severity}\",state=\"{state}\"}} {n}\n"
                ));
            }
        }
    }

    fn render_counters(&self) -> String {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        format!(
            "# TYPE vizora_log_entries_total counter\nvizora_log_entries_total {}\n\
             # TYPE vizora_device_status_changes_total counter\nvizora_device_status_changes_total {}\n\
             # TYPE vizora_subscriptions_total counter\nvizora_subscriptions_total{{mode=\"replay\"}} {}\nvizora_subscriptions_total{{mode=\"snapshot\"}} {}\n\
             # TYPE vizora_connections gauge\nvizora_connections{{namespace=\"/wall\"}} {}\nvizora_connections{{namespace=\"/device\"}} {}\n\
             # TYPE vizora_auth_failures_total counter\nvizora_auth_failures_total {}\n\
             # TYPE vizora_bad_requests_total counter\nvizora_bad_requests_total {}\n\
             # TYPE vizora_mutations_total counter\nvizora_mutations_total{{outcome=\"applied\"}} {}\nvizora_mutations_total{{outcome=\"rejected\"}} {}\nvizora_mutations_total{{outcome=\"duplicate\"}} {}\nvizora_mutations_total{{outcome=\"rate_limited\"}} {}\n\
             # HELP vizora_fanout_stretch How many times the configured spacing /wall hand-offs are spaced by now (1: as configured; more while the socket writers are saturated).\n\
             # TYPE vizora_fanout_stretch gauge\nvizora_fanout_stretch {}\n",
            g(&self.entries),
            g(&self.status_changes),
            g(&self.replays),
            g(&self.snapshots),
            g(&self.wall_sessions),
            g(&self.device_sessions),
            g(&self.auth_failures),
            g(&self.bad_requests),
            g(&self.mutations_applied),
            g(&self.mutations_rejected),
            g(&self.mutations_duplicate),
            g(&self.mutations_rate_limited),
            f64::from(self.fanout_stretch()) / f64::from(STRETCH_NONE),
        )
    }
}

/// One org's fleet, as `/metrics` shows it.
#[derive(Debug, Default, Clone)]
struct FleetGauges {
    /// None until this process committed for the org (no fake 0 after a restart).
    head: Option<u64>,
    newest_entry_ms: Option<u64>,
    devices: DevicesByStatus,
    alerts: AlertsBySeverity,
}

/// Devices counted by status.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DevicesByStatus {
    /// Online.
    pub online: u64,
    /// Degraded.
    pub degraded: u64,
    /// Offline.
    pub offline: u64,
    /// Never heard from.
    pub unknown: u64,
}

impl DevicesByStatus {
    /// Counts one device.
    pub fn count(&mut self, status: DeviceStatus) {
        match status {
            DeviceStatus::Online => self.online += 1,
            DeviceStatus::Degraded => self.degraded += 1,
            DeviceStatus::Offline => self.offline += 1,
            DeviceStatus::Unknown => self.unknown += 1,
        }
    }

    fn labelled(&self) -> [(&'static str, u64); 4] {
        [("online", self.online), ("degraded", self.degraded), ("offline", self.offline), ("unknown", self.unknown)]
    }
}

/// Unresolved alerts counted by severity (rows) and state (open, acked).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AlertsBySeverity([[u64; 2]; 3]);

impl AlertsBySeverity {
    /// Counts one alert; resolved ones are not counted.
    pub fn count(&mut self, severity: Severity, state: AlertState) {
        let row = match severity {
            Severity::Info => 0,
            Severity::Warning => 1,
            Severity::Critical => 2,
        };
        let col = match state {
            AlertState::Open => 0,
            AlertState::Acked => 1,
            AlertState::Resolved => return,
        };
        self.0[row][col] += 1;
    }

    fn labelled(&self) -> impl Iterator<Item = (&'static str, &'static str, u64)> + '_ {
        ["info", "warning", "critical"].into_iter().zip(self.0).flat_map(|(severity, row)| {
            ["open", "acked"].into_iter().zip(row).map(move |(state, n)| (severity, state, n))
        })
    }
}

/// Distinct content ids counted per second of the window; further ids
/// still count as plays, not in `top_content` (memory stays bounded
/// whatever players report).
const CONTENT_IDS_PER_SECOND: usize = 1024;

/// Playback reports over a sliding window, in one-second buckets: memory is
/// bounded by the window length, not by the report rate.
#[derive(Debug)]
pub struct MetricsWindow {
    window_s: u32,
    /// (second, plays by content, errors), oldest first.
    buckets: VecDeque<(u64, HashMap<String, u64>, u64)>,
}

impl MetricsWindow {
    /// An empty window of `window_s` seconds.
    pub fn new(window_s: u32) -> Self {
        Self { window_s, buckets: VecDeque::new() }
    }

    /// Counts one playback report.
    pub fn record(&mut self, now_ms: u64, content_id: &str, ok: bool) {
        self.record_n(now_ms, content_id, ok, 1);
    }

    /// Counts `n` playback reports of one content (another node's, relayed).
    pub fn record_n(&mut self, now_ms: u64, content_id: &str, ok: bool, n: u64) {
        let second = now_ms / 1000;
        if self.buckets.back().is_none_or(|b| b.0 < second) {
            self.buckets.push_back((second, HashMap::new(), 0));
            while self.buckets.len() > self.window_s as usize + 1 {
                self.buckets.pop_front();
            }
        }
        // A report from an earlier second (clock skew) counts in the newest.
        let Some(b) = self.buckets.back_mut() else { return };
        if !ok {
            b.2 += n;
        } else if let Some(c) = b.1.get_mut(content_id) {
            *c += n;
        } else if b.1.len() < CONTENT_IDS_PER_SECOND {
            b.1.insert(content_id.to_owned(), n);
        } else {
            *b.1.entry(String::new()).or_default() += n;
        }
    }

    /// The `metrics` message at `now_ms`, dropping reports older than the window.
    pub fn metrics(&mut self, now_ms: u64, online: u64, degraded: u64, offline: u64) -> Metrics {
        let cutoff_ms = now_ms.saturating_sub(u64::from(self.window_s) * 1000);
        while self.buckets.front().is_some_and(|b| b.0.saturating_mul(1000) < cutoff_ms) {
            self.buckets.pop_front();
        }
        let mut by_content: HashMap<&str, u64> = HashMap::new();
        let (mut plays, mut errors) = (0, 0);
        for (_, counts, errs) in &self.buckets {
            errors += errs;
            for (content, n) in counts {
                plays += n;
                if !content.is_empty() {
                    *by_content.entry(content).or_default() += n;
                }
            }
        }
        let mut top: Vec<TopContent> =
            by_content.into_iter().map(|(c, p)| TopContent { content_id: c.to_owned(), plays: p }).collect();
        top.sort_by(|a, b| b.plays.cmp(&a.plays).then_with(|| a.content_id.cmp(&b.content_id)));
        top.truncate(10);
        Metrics {
            ts_ms: now_ms,
            window_s: self.window_s,
            online,
            degraded,
            offline,
            plays,
            errors,
            impressions: plays + errors,
            top_content: top,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text_has_heads_and_a_cumulative_latency_histogram() {
        let c = Counters::default();
        c.set_head("acme", 42, 10_000);
        let mut devices = DevicesByStatus::default();
        for s in [DeviceStatus::Online, DeviceStatus::Online, DeviceStatus::Offline] {
            devices.count(s);
        }
        let mut alerts = AlertsBySeverity::default();
        alerts.count(Severity::Critical, AlertState::Open);
        alerts.count(Severity::Critical, AlertState::Acked);
        alerts.count(Severity::Critical, AlertState::Resolved);
        alerts.count(Severity::Warning, AlertState::Open);
        c.set_fleet("acme", devices, alerts);
        c.set_fleet("we\"ird", DevicesByStatus::default(), AlertsBySeverity::default());
        c.observe_delivery(Duration::from_millis(3), 3);
        c.observe_delivery(Duration::from_secs(9), 1);
        let text = c.render(12_500);
        assert!(text.contains("vizora_log_head{org=\"acme\"} 42\n"), "{text}");
        assert!(text.contains("vizora_log_newest_entry_age_seconds{org=\"acme\"} 2.5\n"), "{text}");
        assert!(text.contains("vizora_devices{org=\"acme\",status=\"online\"} 2\n"), "{text}");
        assert!(text.contains("vizora_devices{org=\"acme\",status=\"offline\"} 1\n"), "{text}");
        assert!(text.contains("vizora_devices{org=\"acme\",status=\"degraded\"} 0\n"), "{text}");
        assert!(
            text.contains("vizora_alerts_unresolved{org=\"acme\",severity=\"critical\",state=\"open\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("vizora_alerts_unresolved{org=\"acme\",severity=\"critical\",state=\"acked\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("vizora_alerts_unresolved{org=\"acme\",severity=\"warning\",state=\"open\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("vizora_devices{org=\"we\\\"ird\",status=\"online\"} 0\n"),
            "label values are escaped: {text}"
        );
        assert!(text.contains("vizora_delivery_seconds_bucket{le=\"0.002\"} 0\n"), "{text}");
        assert!(text.contains("vizora_delivery_seconds_bucket{le=\"0.005\"} 3\n"), "{text}");
        assert!(text.contains("vizora_delivery_seconds_bucket{le=\"2.5\"} 3\n"), "{text}");
        assert!(text.contains("vizora_delivery_seconds_bucket{le=\"+Inf\"} 4\n"), "{text}");
        assert!(text.contains("vizora_delivery_seconds_count 4\n"), "{text}");
    }

    #[test]
    fn window_counts_plays_errors_and_top_content() {
        let mut w = MetricsWindow::new(60);
        w.record(1_000, "a", true);
        w.record(2_000, "b", true);
        w.record(3_000, "b", true);
        w.record(4_000, "c", false);
        let m = w.metrics(10_000, 3, 1, 2);
        assert_eq!((m.plays, m.errors, m.impressions), (3, 1, 4));
        assert_eq!(m.top_content[0], TopContent { content_id: "b".into(), plays: 2 });
        let later = w.metrics(62_500, 3, 1, 2);
        assert_eq!((later.plays, later.errors), (1, 1), "reports older than 60 s drop out");
    }

    #[test]
    fn a_flood_of_distinct_content_ids_stays_bounded() {
        let mut w = MetricsWindow::new(60);
        for i in 0..100_000u64 {
            w.record(1_000 + i / 100, &format!("c{i}"), true);
        }
        let stored: usize = w.buckets.iter().map(|b| b.1.len()).sum();
        assert!(stored <= 2 * CONTENT_IDS_PER_SECOND, "{stored} ids kept");
        let m = w.metrics(2_000, 0, 0, 0);
        assert_eq!(m.plays, 100_000, "every report still counts");
        assert_eq!(m.top_content.len(), 10);
    }
}
