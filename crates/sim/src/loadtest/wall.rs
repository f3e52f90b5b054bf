//! One load-generator subscriber: subscribes, counts every entry it gets
//! (lost, duplicated, publish → deliver latency), and when its connection
//! dies comes back with `since` = its last position (PROTOCOL.md §5). It
//! does not re-subscribe on a gap: a gap is what it is there to count.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use serde_json::json;
use tokio::sync::Semaphore;
use vizora_client::transport::{Incoming, Session};
use vizora_protocol::{SubscribeAck, SubscribeMode};

use super::Shared;
use crate::accounting::SeqTracker;
use crate::events_scan::scan_events;

/// Counts one `events` payload: every seq, and the publish → deliver
/// latency of the load generator's own mutations. Read in one pass that
/// skips entity data ([`scan_events`]).
fn count_events(payload: &str, shared: &Shared, tracker: &mut SeqTracker, samples: &mut Vec<u64>, frames: &mut u64) {
    *frames += 1;
    let now_us = shared.start.elapsed().as_micros() as u64;
    let read = scan_events(payload, |e| {
        tracker.observe(e.seq);
        if e.ty == "mutation.applied"
            && let Some(n) = e.mutation_id.and_then(|m| m.strip_prefix("lt-")?.parse::<usize>().ok())
            && let Some(sent) = shared.sent_us.get(n).map(|a| a.load(Ordering::Relaxed))
            && sent > 0
        {
            samples.push(now_us.saturating_sub(sent).max(1));
        }
    });
    if let Err(e) = read {
        // The entries before the fault were counted; those after it will show as lost.
        tracing::warn!(cause = %e, payload = %payload.chars().take(120).collect::<String>(), "unreadable events payload");
    }
}

/// How one subscriber's run went.
#[derive(Debug, Clone, Default)]
pub(super) struct WallOutcome {
    pub tracker: SeqTracker,
    /// Its connection died at least once.
    pub disconnected: bool,
    /// Subscribes after the first.
    pub resubscribes: u64,
    /// Of those, answered `replay` / `snapshot`.
    pub replays: u64,
    pub snapshots: u64,
    /// `events` frames read.
    pub frames: u64,
}

async fn subscribe(
    url: &str,
    token: &str,
    since: serde_json::Value,
    timeout: Duration,
) -> Result<(Session, SubscribeAck), String> {
    // Lean buffers: thousands of these share the load generator.
    let mut s = Session::connect_lean(url, "/wall", token, timeout).await.map_err(|e| e.to_string())?;
    let id = s.emit_with_ack("subscribe", &json!({ "since": since })).await.map_err(|e| e.to_string())?;
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(deadline, s.recv()).await {
            Ok(Ok(Incoming::Ack { id: got, arg })) if got == id => {
                let ack = serde_json::from_str(&arg).map_err(|e| format!("subscribe ack: {e}"))?;
                return Ok((s, ack));
            }
            Ok(Ok(Incoming::Disconnected)) => return Err("closed by the gateway".into()),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => return Err("no subscribe ack in time".into()),
        }
    }
}

/// Runs subscriber `i` until the run stops and it has read up to the final head.
pub(super) async fn run(
    i: usize,
    url: String,
    token: String,
    sem: Arc<Semaphore>,
    shared: Arc<Shared>,
) -> Option<WallOutcome> {
    let mut out = WallOutcome::default();
    let mut rng = SmallRng::seed_from_u64(i as u64);
    let mut cut = shared.cut.subscribe();
    let mut epoch: Option<String> = None;
    let mut recovered_storm = 0u64;
    let mut samples: Vec<u64> = Vec::new();
    // After the stop, keep reading until the head is reached: a wall that is
    // behind is slow, not lossy. Give up after a bounded drain.
    let mut drain_deadline: Option<Instant> = None;
    'session: loop {
        let since = match (&epoch, out.tracker.last()) {
            (Some(e), Some(seq)) => json!({ "epoch": e, "seq": seq }),
            _ => serde_json::Value::Null,
        };
        let first = epoch.is_none();
        let attempt = {
            // Only the first connects queue for a slot; a storm comes back all at once, as it would.
            let _permit = if first { Some(sem.acquire().await.ok()?) } else { None };
            subscribe(&url, &token, since, Duration::from_secs(30)).await
        };
        let (mut s, ack) = match attempt {
            Ok(x) => x,
            Err(e) if first => {
                tracing::warn!(wall = i, cause = %e, "connect failed");
                return None;
            }
            Err(e) => {
                if shared.stop.load(Ordering::Relaxed)
                    && Instant::now() >= *drain_deadline.get_or_insert_with(|| Instant::now() + Duration::from_secs(30))
                {
                    break;
                }
                tracing::debug!(wall = i, cause = %e, "reconnect failed");
                tokio::time::sleep(Duration::from_millis(rng.random_range(50..300))).await;
                continue;
            }
        };
        if first {
            out.tracker = SeqTracker::starting_at(ack.head_seq);
            shared.subscribed.fetch_add(1, Ordering::Relaxed);
            // notify_one stores a permit, so a wake-up between the check and the wait is not lost.
            shared.subscribed_note.notify_one();
        } else {
            out.resubscribes += 1;
            match ack.mode {
                SubscribeMode::Replay => out.replays += 1,
                SubscribeMode::Snapshot => {
                    out.snapshots += 1;
                    out.tracker.resync(ack.head_seq);
                }
            }
        }
        epoch = Some(ack.epoch.clone());
        // A storm this wall has not yet recovered from: caught up once it holds the head its subscribe saw.
        let storm = shared.storm_gen.load(Ordering::SeqCst);
        let mut recover_at = (storm > recovered_storm && !first).then_some(ack.head_seq);
        // One timer for the session, not one per message: at hundreds of
        // thousands of entries a second a timeout around every read costs
        // the load generator more than the reads.
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Made once a session: a new `changed()` each frame registers and
        // unregisters a waiter every time.
        let mut cut_now = std::pin::pin!(cut.changed());
        loop {
            if let Some(target) = recover_at
                && out.tracker.last().is_some_and(|l| l >= target)
            {
                recover_at = None;
                recovered_storm = storm;
                shared.recovered_us.fetch_max(shared.start.elapsed().as_micros() as u64, Ordering::SeqCst);
                shared.recovered.fetch_add(1, Ordering::SeqCst);
                shared.recovered_note.notify_one();
            }
            if shared.stop.load(Ordering::Relaxed) {
                let head = shared.final_head.load(Ordering::Relaxed);
                let deadline = *drain_deadline.get_or_insert_with(|| Instant::now() + Duration::from_secs(30));
                if out.tracker.last().is_some_and(|l| l >= head) || Instant::now() >= deadline {
                    s.close().await;
                    break 'session;
                }
            }
            let mut on_events = |p: &str| count_events(p, &shared, &mut out.tracker, &mut samples, &mut out.frames);
            let msg = tokio::select! {
                // The load generator cuts every subscriber at once: drop the socket, no goodbye.
                _ = &mut cut_now => {
                    drop(s);
                    out.disconnected = true;
                    continue 'session;
                }
                _ = tick.tick() => continue,
                m = s.recv_or_events(&mut on_events) => m,
            };
            match msg {
                Ok(Some(Incoming::Disconnected)) | Err(_) => {
                    tracing::debug!(wall = i, "wall connection ended; resuming");
                    out.disconnected = true;
                    tokio::time::sleep(Duration::from_millis(rng.random_range(50..300))).await;
                    continue 'session;
                }
                Ok(_) => {}
            }
            if samples.len() >= 256 {
                let mut h = shared.hist.lock().await;
                samples.drain(..).for_each(|v| h.saturating_record(v));
            }
        }
    }
    let mut h = shared.hist.lock().await;
    samples.drain(..).for_each(|v| h.saturating_record(v));
    Some(out)
}
