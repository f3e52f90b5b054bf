//! What the wall remembers of each device beyond its current state: its
//! last status changes and its last health samples, for the detail card's
//! history and sparklines. Small and bounded: at 10,000 devices it is about
//! two megabytes.

use std::collections::VecDeque;

use vizora_protocol::{DeviceStatus, Health};

/// Status changes kept per device.
pub const STATUSES_KEPT: usize = 12;
/// Health samples kept per device (one per telemetry message).
pub const HEALTH_KEPT: usize = 60;

/// One device's recent history.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Trail {
    /// Status changes as seen by the wall, oldest first: (when, new status).
    pub statuses: VecDeque<(u64, DeviceStatus)>,
    /// CPU and temperature samples (whole percent and degrees, 0..=255), oldest first.
    pub health: VecDeque<[u8; 2]>,
}

impl Trail {
    /// Notes the status at `at_ms` if it differs from the last one noted.
    pub fn note_status(&mut self, at_ms: u64, s: DeviceStatus) {
        if self.statuses.back().is_some_and(|(_, last)| *last == s) {
            return;
        }
        if self.statuses.len() == STATUSES_KEPT {
            self.statuses.pop_front();
        }
        self.statuses.push_back((at_ms, s));
    }

    /// Notes a health sample.
    pub fn note_health(&mut self, h: &Health) {
        if self.health.len() == HEALTH_KEPT {
            self.health.pop_front();
        }
        let byte = |v: f32| v.round().clamp(0.0, 255.0) as u8;
        self.health.push_back([byte(h.cpu_pct), byte(h.temp_c)]);
    }

    /// CPU samples (percent), oldest first.
    pub fn cpu(&self) -> Vec<f32> {
        self.health.iter().map(|s| f32::from(s[0])).collect()
    }

    /// Temperature samples (°C), oldest first.
    pub fn temp(&self) -> Vec<f32> {
        self.health.iter().map(|s| f32::from(s[1])).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health(cpu: f32, temp: f32) -> Health {
        Health { cpu_pct: cpu, mem_pct: 0.0, temp_c: temp, disk_free_pct: 50.0, uptime_s: 1.0 }
    }

    #[test]
    fn a_trail_keeps_changes_only_and_stays_bounded() {
        let mut t = Trail::default();
        for i in 0..100u64 {
            t.note_status(i, if i % 10 < 5 { DeviceStatus::Online } else { DeviceStatus::Offline });
            t.note_health(&health(i as f32, 40.0 + (i % 3) as f32));
        }
        assert_eq!(t.statuses.len(), STATUSES_KEPT);
        assert_eq!(t.statuses.back(), Some(&(95, DeviceStatus::Offline)));
        assert!(t.statuses.iter().zip(t.statuses.iter().skip(1)).all(|(a, b)| a.1 != b.1), "changes only");
        assert_eq!(t.health.len(), HEALTH_KEPT);
        assert_eq!(t.cpu().last(), Some(&99.0));
        t.note_health(&health(f32::MAX, -5.0));
        assert_eq!(t.health.back(), Some(&[255, 0]));
    }
}
