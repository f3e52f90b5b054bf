//! Time for the sequencer, status derivation and the Engine.IO heartbeat,
//! injected so tests drive it by hand instead of sleeping through timing
//! windows.

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

/// A timer of a [`Clock`]: resolves once the clock reads at least its deadline.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Wall-clock milliseconds since the Unix epoch, and timers on them.
pub trait Clock: Send + Sync + Debug {
    /// Now, in ms since the Unix epoch.
    fn now_ms(&self) -> u64;
    /// Resolves once [`Clock::now_ms`] reads at least `at_ms` (needs a
    /// tokio runtime for the system clock).
    fn sleep_until(&self, at_ms: u64) -> Sleep;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        vizora_protocol::now_ms()
    }

    fn sleep_until(&self, at_ms: u64) -> Sleep {
        let left = at_ms.saturating_sub(self.now_ms());
        Box::pin(tokio::time::sleep(Duration::from_millis(left)))
    }
}

/// A clock that moves only when told (tests). Its timers fire when
/// [`ManualClock::advance`] moves it past their deadline.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<watch::Sender<u64>>);

impl ManualClock {
    /// Starts at `now_ms`.
    pub fn at(now_ms: u64) -> Self {
        Self(Arc::new(watch::Sender::new(now_ms)))
    }

    /// Moves time forward by `ms`, firing every timer that is then due.
    pub fn advance(&self, ms: u64) {
        self.0.send_modify(|t| *t = t.saturating_add(ms));
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        *self.0.borrow()
    }

    fn sleep_until(&self, at_ms: u64) -> Sleep {
        let mut rx = self.0.subscribe();
        Box::pin(async move {
            // The clock outlives its timers in every test; if it did not,
            // a timer that can never fire just waits.
            if rx.wait_for(|t| *t >= at_ms).await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    }
}

/// The clock the gateway reads.
pub type SharedClock = Arc<dyn Clock>;

#[cfg(test)]
mod tests {
    use super::*;

    fn ready(t: &mut Sleep) -> bool {
        t.as_mut().poll(&mut std::task::Context::from_waker(std::task::Waker::noop())).is_ready()
    }

    #[test]
    fn a_manual_timer_fires_only_once_the_clock_reaches_it() {
        let clock = ManualClock::at(1_000);
        let mut t = clock.sleep_until(1_500);
        assert!(!ready(&mut t));
        clock.advance(499);
        assert!(!ready(&mut t), "1 ms early");
        clock.advance(1);
        assert!(ready(&mut t));
        assert!(ready(&mut clock.sleep_until(0)), "a deadline already passed");
    }
}
