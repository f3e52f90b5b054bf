//! The wall's memory of the gateway's `metrics`: the last 15 minutes as
//! rates per minute, and the latest top-content list. Fed by the sync layer
//! from every `metrics` message; the overview and analytics panels draw it.

use std::collections::VecDeque;

use bevy::prelude::*;
use vizora_protocol::Metrics;

use crate::sync::net::MetricsReceived;

/// How far back the charts look.
pub const HISTORY_MS: u64 = 15 * 60 * 1000;
/// Bars per chart: one per 20 s.
pub const BARS: usize = 45;
/// How long a new bar takes to grow in (the history counts `arrived_s` up to it).
pub const GROW_S: f32 = 0.4;

/// How far ahead of the wall's clock a metrics sample may be dated.
pub const FUTURE_SKEW_MS: u64 = 60_000;

/// One metrics sample, as rates per minute.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// When the gateway computed it.
    pub ts_ms: u64,
    /// Ok plays per minute.
    pub plays: f32,
    /// All playback reports per minute.
    pub impressions: f32,
    /// Failed plays per minute.
    pub errors: f32,
}

/// The last 15 minutes of metrics, and the latest top-content list.
#[derive(Resource, Debug, Default)]
pub struct AnalyticsHistory {
    /// Samples, oldest first.
    pub samples: VecDeque<Sample>,
    /// The newest metrics message.
    pub latest: Option<Metrics>,
    /// Seconds since the newest sample arrived (drives the grow-in).
    pub arrived_s: f32,
    /// Why the last metrics were refused (cleared by good ones).
    pub refused: Option<String>,
}

impl AnalyticsHistory {
    /// Takes a metrics message. Bad windows (0 s) and samples dated more
    /// than [`FUTURE_SKEW_MS`] after `now_ms` (they would freeze the chart:
    /// every real sample after them looks older) are refused with the reason.
    pub fn push(&mut self, m: &Metrics, now_ms: u64) -> Result<(), String> {
        if m.window_s == 0 {
            return Err(format!("metrics at {} have a 0 s window", m.ts_ms));
        }
        if m.ts_ms > now_ms.saturating_add(FUTURE_SKEW_MS) {
            let ahead_s = (m.ts_ms - now_ms) / 1000;
            return Err(format!("metrics dated {ahead_s} s in the future were ignored (gateway clock?)"));
        }
        let per_min = 60.0 / m.window_s as f32;
        let s = Sample {
            ts_ms: m.ts_ms,
            plays: m.plays as f32 * per_min,
            impressions: m.impressions as f32 * per_min,
            errors: m.errors as f32 * per_min,
        };
        if self.samples.back().is_some_and(|b| b.ts_ms > s.ts_ms) {
            return Ok(()); // out of order: older than what is shown
        }
        self.samples.push_back(s);
        while self.samples.front().is_some_and(|f| f.ts_ms + HISTORY_MS < s.ts_ms) {
            self.samples.pop_front();
        }
        self.latest = Some(m.clone());
        self.arrived_s = 0.0;
        Ok(())
    }

    /// [`Self::series`] as fractions of its peak (0..=1), and the peak (at least 1).
    pub fn scaled(&self, now_ms: u64, pick: impl Fn(&Sample) -> f32) -> (Vec<f32>, f32) {
        let series = self.series(now_ms, pick);
        let max = series.iter().copied().fold(0.0f32, f32::max).max(1.0);
        (series.into_iter().map(|v| v / max).collect(), max)
    }

    /// One value per 20 s bucket over the last 15 minutes up to `now_ms` (the
    /// bucket's latest sample; gaps stay 0), oldest first.
    pub fn series(&self, now_ms: u64, pick: impl Fn(&Sample) -> f32) -> Vec<f32> {
        let bucket = HISTORY_MS / BARS as u64;
        let start = now_ms.saturating_sub(HISTORY_MS);
        let mut out = vec![0.0; BARS];
        for s in &self.samples {
            if s.ts_ms < start || s.ts_ms > now_ms {
                continue;
            }
            let i = (((s.ts_ms - start) / bucket) as usize).min(BARS - 1);
            out[i] = pick(s);
        }
        out
    }
}

/// Takes every `metrics` message into the history.
pub fn take_metrics(mut history: ResMut<AnalyticsHistory>, mut msgs: MessageReader<MetricsReceived>, time: Res<Time>) {
    let (mut error, mut good) = (None, false);
    let now = vizora_protocol::now_ms();
    for m in msgs.read() {
        match history.push(&m.0, now) {
            Ok(()) => good = true,
            Err(e) => error = Some(e),
        }
    }
    if error.is_some() || (good && history.refused.is_some()) {
        history.refused = error;
    }
    if history.arrived_s < GROW_S {
        history.arrived_s += time.delta_secs();
    } else {
        history.bypass_change_detection().arrived_s += time.delta_secs();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(ts_ms: u64, plays: u64) -> Metrics {
        Metrics {
            ts_ms,
            window_s: 60,
            online: 1,
            degraded: 0,
            offline: 0,
            plays,
            errors: 0,
            impressions: plays,
            top_content: vec![],
        }
    }

    #[test]
    fn the_ring_keeps_fifteen_minutes_and_buckets_by_twenty_seconds() {
        let mut h = AnalyticsHistory::default();
        let t0 = 1_000_000_000;
        for i in 0..1000u64 {
            h.push(&metrics(t0 + i * 1000, i), t0 + i * 1000).expect("valid");
        }
        let newest = t0 + 999_000;
        assert!(h.samples.front().expect("kept").ts_ms + HISTORY_MS >= newest);
        assert!(h.samples.len() <= 901, "{}", h.samples.len());
        let s = h.series(newest, |s| s.plays);
        assert_eq!(s.len(), BARS);
        assert_eq!(*s.last().expect("bars"), 999.0, "the newest bucket holds the newest sample");
        assert!(h.push(&Metrics { window_s: 0, ..metrics(newest + 1, 1) }, newest).is_err(), "a 0 s window is refused");
        // A sample from next year is refused and does not freeze the chart.
        let err = h.push(&metrics(newest + 365 * 86_400_000, 5), newest + 1).expect_err("future");
        assert!(err.contains("future"), "{err}");
        h.push(&metrics(newest + 2_000, 7), newest + 2_000).expect("a real sample still lands");
        assert_eq!(h.samples.back().map(|s| s.ts_ms), Some(newest + 2_000));
    }
}
