//! The fan-out's pace. An org's hand-offs are spaced by what sending a
//! frame to each of its walls is expected to cost (`sequencer/commit.rs`:
//! 10 µs per wall, at most `fanout_ms`). Where a frame costs more than that
//! (a slower machine, a busier one), the runtime that writes the sockets
//! saturates, every frame queues behind the others, and latency grows with
//! the queue. So the spacing is stretched while that runtime's workers are
//! busy most of the time: fewer, larger frames instead of a growing queue
//! (Node's event loop batches the same way by itself when it falls behind),
//! and it eases back once they are not.
//!
//! Measured (BENCHMARKS.md, issue #11, session 11): on a machine where the
//! busy row (2,000 walls, 200 mutations/s) saturated the gateway's core,
//! the stretch took frames from 10 to 15–21 entries, CPU per entry down by
//! a quarter to a third, and p99 from 94 ms to 61–80 ms.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::metrics::{Counters, STRETCH_NONE};

/// The most stretch: 4×, in 1/1024ths.
pub(crate) const STRETCH_MAX: u32 = 4 * STRETCH_NONE;

/// Busy above this share of the time: stretch by a quarter. Below `EASE`:
/// ease back by a tenth. Between: hold.
const SATURATED: f64 = 0.70;
const EASE: f64 = 0.45;

/// How often the workers' busy time is sampled.
const SAMPLE: Duration = Duration::from_millis(250);

/// The stretch after a sample in which the workers were busy `busy` (0 to
/// 1) of the time.
pub(crate) fn next_stretch(stretch: u32, busy: f64) -> u32 {
    let stretch = stretch.clamp(STRETCH_NONE, STRETCH_MAX);
    if busy > SATURATED {
        (stretch + stretch / 4).min(STRETCH_MAX)
    } else if busy < EASE {
        (stretch - stretch / 10).max(STRETCH_NONE)
    } else {
        stretch
    }
}

/// Samples the current runtime's busy share every 250 ms and keeps
/// `counters`' fan-out stretch from it, until `stop`.
pub(crate) async fn run(counters: Arc<Counters>, stop: CancellationToken) {
    let metrics = tokio::runtime::Handle::current().metrics();
    let workers = metrics.num_workers().max(1);
    let busy_total = || (0..workers).map(|w| metrics.worker_total_busy_duration(w)).sum::<Duration>();
    let (mut at, mut busy) = (Instant::now(), busy_total());
    let mut tick = tokio::time::interval(SAMPLE);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let (now, total) = (Instant::now(), busy_total());
        let span = now.duration_since(at).as_secs_f64() * workers as f64;
        if span > 0.0 {
            let share = total.saturating_sub(busy).as_secs_f64() / span;
            let old = counters.fanout_stretch();
            let new = next_stretch(old, share);
            if new != old {
                tracing::debug!(busy = share, stretch = f64::from(new) / f64::from(STRETCH_NONE), "fan-out pace");
                counters.fanout_stretch.store(new, Relaxed);
            }
        }
        (at, busy) = (now, total);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saturated_runtime_stretches_up_to_four_times_and_an_idle_one_eases_back() {
        let mut s = STRETCH_NONE;
        let mut seen = vec![s];
        for _ in 0..10 {
            s = next_stretch(s, 0.95);
            seen.push(s);
        }
        assert_eq!(&seen[..4], &[1024, 1280, 1600, 2000]);
        assert_eq!(s, STRETCH_MAX, "at most 4×");
        // Between the thresholds it holds.
        assert_eq!(next_stretch(2000, 0.65), 2000);
        assert_eq!(next_stretch(2000, SATURATED), 2000);
        assert_eq!(next_stretch(2000, EASE), 2000);
        // Below, it eases back a tenth a sample, never under none.
        assert_eq!(next_stretch(2000, 0.2), 1800);
        let mut s = STRETCH_MAX;
        for _ in 0..40 {
            s = next_stretch(s, 0.0);
        }
        assert_eq!(s, STRETCH_NONE);
        // An unset stretch (0) counts as none.
        assert_eq!(next_stretch(0, 0.9), 1280);
    }
}
