//! Exponential backoff with full jitter.

use std::time::Duration;

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

#[cfg(test)]
mod tests {
    use super::*;

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
