//! Exponential backoff with full jitter, and a counter of events in a
//! sliding window that says when to fall back on it.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Delays for successive reconnect attempts.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    attempt: u32,
}

impl Backoff {
    /// First retry within `base` (≤ 1 s), never longer than `cap`.
    pub fn new(base: Duration, cap: Duration) -> Self {
        Self { base, cap, attempt: 0 }
    }

    /// Attempts since the last reset.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Back to the first delay (after a successful subscribe).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// The next delay: uniform in `[0, min(cap, base·2^n)]`.
    pub fn next_delay(&mut self) -> Duration {
        let exp = self.base.saturating_mul(1u32 << self.attempt.min(16));
        self.attempt = self.attempt.saturating_add(1);
        let ceiling = exp.min(self.cap);
        ceiling.mul_f64(rand::random::<f64>())
    }
}

/// Events in a sliding window: too many too close together (re-subscribes
/// from a server that keeps contradicting itself) mean backing off.
#[derive(Debug, Clone)]
pub(crate) struct Burst {
    limit: usize,
    window: Duration,
    times: VecDeque<Instant>,
}

impl Burst {
    /// More than `limit` events within `window` is a burst.
    pub(crate) fn new(limit: usize, window: Duration) -> Self {
        Self { limit, window, times: VecDeque::with_capacity(limit + 1) }
    }

    /// Records an event at `now`; true when it makes a burst.
    pub(crate) fn note(&mut self, now: Instant) -> bool {
        while self.times.front().is_some_and(|t| now.saturating_duration_since(*t) > self.window) {
            self.times.pop_front();
        }
        self.times.push_back(now);
        if self.times.len() > self.limit {
            // Keeps the memory bounded; the burst is reported, not stored.
            self.times.pop_front();
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_more_than_the_limit_within_the_window() {
        let start = Instant::now();
        let at = |s: u64| start + Duration::from_secs(s);
        let mut b = Burst::new(3, Duration::from_secs(10));
        assert!(!b.note(at(0)) && !b.note(at(1)) && !b.note(at(2)), "up to the limit is fine");
        assert!(b.note(at(3)), "the fourth within 10 s is a burst");
        let mut spread = Burst::new(3, Duration::from_secs(10));
        assert!((0..10).all(|i| !spread.note(at(i * 6))), "spread out, never");
    }

    #[test]
    fn delays_grow_then_cap_and_reset() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(10));
        assert!(b.next_delay() <= Duration::from_secs(1), "first retry within a second");
        for _ in 0..20 {
            assert!(b.next_delay() <= Duration::from_secs(10));
        }
        b.reset();
        assert_eq!(b.attempt(), 0);
        assert!(b.next_delay() <= Duration::from_secs(1));
    }
}
