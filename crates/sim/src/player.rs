//! One simulated player.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use vizora_client::transport::{Incoming, Session};
use vizora_protocol::device::{Command, CommandAck, CommandKind, Heartbeat};
use vizora_protocol::{Health, NS_DEVICE, now_ms};

use crate::show::Show;
use crate::{FleetStats, SimConfig};

/// A fault a player cycles through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Healthy all the time.
    None,
    /// Disconnects and stays silent for a while.
    Drop,
    /// Reports temperatures over 80 °C for a while.
    Overheat,
    /// Reports under 5 % free disk for a while.
    DiskFull,
    /// Crashes a few heartbeats after every start, for a while.
    CrashLoop,
}

/// What one player will do; derived from the seed and its index only.
#[derive(Debug, Clone)]
pub struct PlayerPlan {
    /// Device id.
    pub id: String,
    /// Its fault, if any.
    pub fault: Fault,
    /// Seed of its own random stream.
    pub seed: u64,
    /// Seed of its fault timing: shared by every player of a site that goes dark at once.
    pub phase_seed: u64,
}

impl PlayerPlan {
    /// The plan of player `index`.
    pub fn new(cfg: &SimConfig, index: usize) -> Self {
        let seed = cfg.seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut rng = SmallRng::seed_from_u64(seed);
        let r: f64 = rng.random();
        let f = &cfg.faults;
        let fault = if r < f.drop {
            Fault::Drop
        } else if r < f.drop + f.overheat {
            Fault::Overheat
        } else if r < f.drop + f.overheat + f.disk_full {
            Fault::DiskFull
        } else if r < f.drop + f.overheat + f.disk_full + f.crash_loop {
            Fault::CrashLoop
        } else {
            Fault::None
        };
        // A dark site: every player of it drops at the same moments.
        let site = index / f.site_size.max(1);
        let site_seed = cfg.seed ^ (site as u64).wrapping_mul(0xD1B5_4A32_D192_ED03);
        let site_dark = SmallRng::seed_from_u64(site_seed).random::<f64>() < f.site_dark;
        let (fault, phase_seed) = if site_dark { (Fault::Drop, site_seed) } else { (fault, seed) };
        Self { id: format!("{}-{index:05}", cfg.id_prefix), fault, seed, phase_seed }
    }
}

struct Body {
    health: Health,
    rng: SmallRng,
    /// Uptime at `booted`: the seconds since boot are counted from there, in real time.
    uptime_at_boot: f64,
    booted: tokio::time::Instant,
}

impl Body {
    /// Health drifts as a bounded random walk around plausible values.
    fn drift(&mut self, faulty: Option<Fault>) {
        let h = &mut self.health;
        let r = &mut self.rng;
        h.cpu_pct = (h.cpu_pct + r.random_range(-6.0..6.0)).clamp(3.0, 90.0);
        h.mem_pct = (h.mem_pct + r.random_range(-2.0..2.0)).clamp(20.0, 85.0);
        h.temp_c = (h.temp_c + r.random_range(-1.0..1.0)).clamp(38.0, 72.0);
        h.disk_free_pct = (h.disk_free_pct + r.random_range(-0.2..0.2)).clamp(12.0, 90.0);
        // Fractional, as `process.uptime()` reports it (PROTOCOL.md §8 allows it).
        h.uptime_s = self.uptime_at_boot + (self.booted.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
        match faulty {
            Some(Fault::Overheat) => h.temp_c = r.random_range(83.0..92.0),
            Some(Fault::DiskFull) => h.disk_free_pct = r.random_range(0.5..4.0),
            _ => {}
        }
    }
}

/// Runs one player until `stop`; `show` is what it plays and how it follows its schedules.
pub async fn run(cfg: SimConfig, plan: PlayerPlan, mut show: Show, stats: Arc<FleetStats>, stop: Arc<AtomicBool>) {
    let mut rng = SmallRng::seed_from_u64(plan.seed);
    // Its own streams, so schedule and playback outcomes do not shift health or fault timing.
    let mut sched_rng = SmallRng::seed_from_u64(plan.seed ^ 0x5EED_5C4E_D01E_0000);
    let mut play_rng = SmallRng::seed_from_u64(plan.seed ^ 0x91A7_BAC4_0000_0001);
    let mut body = Body {
        health: Health {
            cpu_pct: rng.random_range(10.0..50.0),
            mem_pct: rng.random_range(30.0..60.0),
            temp_c: rng.random_range(45.0..60.0),
            disk_free_pct: rng.random_range(30.0..80.0),
            uptime_s: rng.random_range(100..100_000) as f64,
        },
        rng: SmallRng::seed_from_u64(plan.seed.wrapping_add(1)),
        uptime_at_boot: 0.0,
        booted: tokio::time::Instant::now(),
    };
    body.uptime_at_boot = body.health.uptime_s;
    let token = (cfg.token)(&plan.id);
    let period = cfg.fault_period.as_secs_f64().max(0.1);
    // Healthy phase, then fault phase, alternating; a dark site's players share the timing.
    let mut phase_rng = SmallRng::seed_from_u64(plan.phase_seed);
    let mut phase_end =
        tokio::time::Instant::now() + Duration::from_secs_f64(period * phase_rng.random_range(0.5..1.5));
    let mut faulty = false;
    // Consecutive failed connects: the retry waits grow (full jitter, 0.5 s doubling, 30 s cap),
    // as real players back off, so a refusing gateway is not hammered.
    let mut failures = 0u32;
    while !stop.load(Ordering::Relaxed) {
        let session = Session::connect_lean(&cfg.server, NS_DEVICE, &token, Duration::from_secs(10)).await;
        let mut s = match session {
            Ok(s) => {
                failures = 0;
                s
            }
            Err(e) => {
                stats.connect_errors.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(device = %plan.id, cause = %e, "player connect failed");
                failures = failures.saturating_add(1);
                let cap_ms = (500u64 << failures.min(6)).min(30_000);
                tokio::time::sleep(Duration::from_millis(rng.random_range(200..=cap_ms.max(201)))).await;
                continue;
            }
        };
        stats.connected.fetch_add(1, Ordering::Relaxed);
        let mut beat = tokio::time::interval(cfg.heartbeat);
        // In a crash loop the player dies a few heartbeats after each start.
        let mut beats_to_crash: Option<u32> = None;
        let reason = loop {
            if stop.load(Ordering::Relaxed) {
                break "stop";
            }
            let now = tokio::time::Instant::now();
            if now >= phase_end {
                faulty = !faulty && plan.fault != Fault::None;
                let len = if faulty { period } else { period * phase_rng.random_range(0.5..1.5) };
                phase_end = now + Duration::from_secs_f64(len);
                if faulty && plan.fault == Fault::Drop {
                    break "fault: going dark";
                }
            }
            if faulty && plan.fault == Fault::CrashLoop {
                let left = beats_to_crash.get_or_insert_with(|| rng.random_range(1..4));
                if *left == 0 {
                    break "fault: crashed";
                }
            }
            let now_ms = now_ms();
            if let Some(ev) = show.retarget(now_ms, &mut sched_rng) {
                if s.emit("schedule.executed", &ev).await.is_err() {
                    break "send failed";
                }
                stats.executions.fetch_add(1, Ordering::Relaxed);
            }
            if let Some(pb) = show.advance(now_ms, &mut play_rng) {
                if s.emit("playback", &pb).await.is_err() {
                    break "send failed";
                }
                stats.playbacks.fetch_add(1, Ordering::Relaxed);
            }
            // Wake when the item on screen ends (or with the next beat).
            let item_end = show
                .item_end_ms()
                .map_or(Duration::from_secs(3600), |end| Duration::from_millis(end.saturating_sub(now_ms)));
            tokio::select! {
                _ = tokio::time::sleep(item_end) => {}
                _ = beat.tick() => {
                    if let Some(left) = beats_to_crash.as_mut() {
                        *left = left.saturating_sub(1);
                    }
                    body.drift(faulty.then_some(plan.fault));
                    let hb = Heartbeat { ts_ms: now_ms, health: body.health, playing: show.playing() };
                    if s.emit("heartbeat", &hb).await.is_err() { break "send failed"; }
                    stats.heartbeats.fetch_add(1, Ordering::Relaxed);
                }
                incoming = s.recv() => match incoming {
                    Ok(Incoming::Event { name, ack: Some(id), arg }) if name == "command" => {
                        let _ = s.ack(id, &CommandAck { ok: true, error: None }).await;
                        match serde_json::from_str::<Command>(&arg) {
                            // A restart drops the session and comes back with uptime 0.
                            Ok(Command { kind: CommandKind::Restart, .. }) => break "restart",
                            Ok(Command { kind: CommandKind::AssignPlaylist, args, .. }) => {
                                show.assign(args["playlist_id"].as_str().map(str::to_owned));
                            }
                            Err(_) => {}
                        }
                    }
                    Ok(Incoming::Disconnected) | Err(_) => break "connection lost",
                    Ok(_) => {}
                }
            }
        };
        stats.connected.fetch_sub(1, Ordering::Relaxed);
        if reason == "fault: crashed" {
            drop(s); // no goodbye: a crash
        } else {
            s.close().await;
        }
        if reason == "stop" {
            break;
        }
        if reason == "restart" || reason == "fault: crashed" {
            body.health.uptime_s = 0.0;
            (body.uptime_at_boot, body.booted) = (0.0, tokio::time::Instant::now());
            show.reboot();
            stats.restarts.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(rng.random_range(300..900))).await;
            continue;
        }
        if faulty && plan.fault == Fault::Drop {
            // Stay dark until the fault phase ends.
            let until = phase_end;
            while tokio::time::Instant::now() < until && !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        } else {
            tokio::time::sleep(Duration::from_millis(rng.random_range(100..1000))).await;
        }
    }
}
