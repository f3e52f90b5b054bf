//! Device status derivation (PROTOCOL.md §7–§8), pure and clock-driven.

use vizora_protocol::{DeviceStatus, Health};

use crate::config::HealthLimits;

/// What status derivation needs to remember about one device.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Liveness {
    /// Last sign of life (heartbeat or CONNECT).
    pub last_seen_ms: u64,
    /// Start of the current run of heartbeats with CPU over the limit.
    pub cpu_high_since_ms: Option<u64>,
    /// Start of the current run of heartbeats with every limit clear.
    pub clear_since_ms: Option<u64>,
}

impl Liveness {
    /// Records a heartbeat at `now_ms`.
    pub fn heartbeat(&mut self, now_ms: u64, health: &Health, limits: &HealthLimits) {
        self.last_seen_ms = now_ms;
        let cpu_high = health.cpu_pct > limits.cpu_pct_max;
        if cpu_high {
            self.cpu_high_since_ms.get_or_insert(now_ms);
        } else {
            self.cpu_high_since_ms = None;
        }
        if cpu_high || over_limit(health, limits) {
            self.clear_since_ms = None;
        } else {
            self.clear_since_ms.get_or_insert(now_ms);
        }
    }
}

fn over_limit(h: &Health, limits: &HealthLimits) -> bool {
    h.temp_c > limits.temp_c_max || h.disk_free_pct < limits.disk_free_pct_min
}

/// The status a device in `current` should have at `now_ms`. A degraded
/// device stays degraded until every limit was clear for the clear window,
/// so a value flapping around a limit holds one status (PROTOCOL.md §8).
pub fn derive(
    now_ms: u64,
    current: DeviceStatus,
    live: &Liveness,
    health: Option<&Health>,
    heartbeat_ms: u64,
    limits: &HealthLimits,
) -> DeviceStatus {
    if now_ms.saturating_sub(live.last_seen_ms) > heartbeat_ms.saturating_mul(3) {
        return DeviceStatus::Offline;
    }
    let cpu_long = live
        .cpu_high_since_ms
        .is_some_and(|since| now_ms.saturating_sub(since) >= limits.cpu_window_s.saturating_mul(1000));
    let degraded = health.is_some_and(|h| over_limit(h, limits));
    if degraded || cpu_long {
        return DeviceStatus::Degraded;
    }
    let cleared = live
        .clear_since_ms
        .is_some_and(|since| now_ms.saturating_sub(since) >= limits.clear_window_s.saturating_mul(1000));
    if current == DeviceStatus::Degraded && !cleared { DeviceStatus::Degraded } else { DeviceStatus::Online }
}

/// Alert kind raised while a device is in `status`, if any.
pub fn alert_kind(status: DeviceStatus) -> Option<&'static str> {
    match status {
        DeviceStatus::Offline => Some("device_offline"),
        DeviceStatus::Degraded => Some("device_degraded"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health(cpu: f32, temp: f32, disk: f32) -> Health {
        Health { cpu_pct: cpu, mem_pct: 40.0, temp_c: temp, disk_free_pct: disk, uptime_s: 10.0 }
    }

    #[test]
    fn silence_beyond_three_intervals_is_offline() {
        let l = HealthLimits::default();
        let live = Liveness { last_seen_ms: 1_000, ..Liveness::default() };
        let h = health(10.0, 40.0, 50.0);
        assert_eq!(derive(16_000, DeviceStatus::Online, &live, Some(&h), 5_000, &l), DeviceStatus::Online);
        assert_eq!(derive(16_001, DeviceStatus::Online, &live, Some(&h), 5_000, &l), DeviceStatus::Offline);
    }

    #[test]
    fn heat_and_full_disk_degrade_at_once() {
        let l = HealthLimits::default();
        let live = Liveness { last_seen_ms: 1_000, ..Liveness::default() };
        assert_eq!(
            derive(1_000, DeviceStatus::Online, &live, Some(&health(10.0, 80.5, 50.0)), 5_000, &l),
            DeviceStatus::Degraded
        );
        assert_eq!(
            derive(1_000, DeviceStatus::Online, &live, Some(&health(10.0, 80.0, 50.0)), 5_000, &l),
            DeviceStatus::Online
        );
        assert_eq!(
            derive(1_000, DeviceStatus::Online, &live, Some(&health(10.0, 40.0, 4.9)), 5_000, &l),
            DeviceStatus::Degraded
        );
    }

    #[test]
    fn cpu_must_stay_high_for_the_whole_window() {
        let l = HealthLimits::default();
        let mut live = Liveness::default();
        let hot = health(99.0, 40.0, 50.0);
        for t in (0..=60_000).step_by(5_000) {
            live.heartbeat(t, &hot, &l);
            let want = if t >= 60_000 { DeviceStatus::Degraded } else { DeviceStatus::Online };
            assert_eq!(derive(t, DeviceStatus::Online, &live, Some(&hot), 5_000, &l), want, "at {t}");
        }
        live.heartbeat(65_000, &health(50.0, 40.0, 50.0), &l);
        assert_eq!(
            derive(65_000, DeviceStatus::Online, &live, Some(&health(50.0, 40.0, 50.0)), 5_000, &l),
            DeviceStatus::Online
        );
    }

    #[test]
    fn a_temperature_flapping_around_the_limit_holds_one_degraded_status() {
        let l = HealthLimits::default();
        let mut live = Liveness::default();
        let mut status = DeviceStatus::Online;
        let mut changes = 0;
        // 81 °C / 79 °C alternating every 5 s heartbeat for ten minutes.
        for (i, t) in (0..=600_000).step_by(5_000).enumerate() {
            let h = health(10.0, if i % 2 == 0 { 81.0 } else { 79.0 }, 50.0);
            live.heartbeat(t, &h, &l);
            let next = derive(t, status, &live, Some(&h), 5_000, &l);
            changes += usize::from(next != status);
            status = next;
        }
        assert_eq!((status, changes), (DeviceStatus::Degraded, 1));
        // Clear on every heartbeat: online again only after the clear window.
        let cool = health(10.0, 60.0, 50.0);
        for t in (605_000..=670_000).step_by(5_000) {
            live.heartbeat(t, &cool, &l);
            status = derive(t, status, &live, Some(&cool), 5_000, &l);
            let want = if t - 605_000 >= 60_000 { DeviceStatus::Online } else { DeviceStatus::Degraded };
            assert_eq!(status, want, "at {t}");
        }
    }
}
