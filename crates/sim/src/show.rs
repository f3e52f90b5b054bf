//! What one player shows: the playlist its winning schedule (or else its own
//! assignment) names, item by item, and the `schedule.executed` reports it
//! owes when the winner changes. Pure: time and randomness come in.

use std::sync::Arc;

use rand::RngExt;
use rand::rngs::SmallRng;
use vizora_protocol::device::Playback;
use vizora_protocol::schedule::resolve;
use vizora_protocol::{Device, ExecutionOutcome, OrgState, Playing, Playlist, PlaylistItem, ScheduleExecuted};

use crate::scenario::Provision;

/// The playlist a player without a scenario plays (the simulator's original loop).
pub const BUILTIN_PLAYLIST: &str = "default";

/// A provisioning with one built-in playlist and no schedules, for fleets started without a scenario.
pub fn builtin() -> Provision {
    let items = ["welcome-loop", "menu-board", "promo-winter", "safety-notice", "news-ticker", "weather"]
        .iter()
        .map(|c| PlaylistItem { content_id: (*c).to_owned(), duration_s: 8.0 })
        .collect();
    let pl = Playlist { id: BUILTIN_PLAYLIST.into(), org: String::new(), rev: 1, name: "Default".into(), items };
    let mut state = OrgState::default();
    state.playlists.insert(pl.id.clone(), pl);
    Provision { state, groups: Vec::new(), schedule_faults: 0.0 }
}

/// One player's playback state.
#[derive(Debug, Clone)]
pub struct Show {
    provision: Arc<Provision>,
    device: Device,
    /// The winning schedule last acted on (`None`: none applied).
    schedule: Option<String>,
    playlist: Option<String>,
    items: Vec<PlaylistItem>,
    index: usize,
    started_ms: u64,
}

impl Show {
    /// A player that believes it is `device`, knowing what `provision` says; nothing on screen yet.
    pub fn new(provision: Arc<Provision>, mut device: Device) -> Self {
        if device.playlist_id.is_none() && provision.state.playlists.contains_key(BUILTIN_PLAYLIST) {
            device.playlist_id = Some(BUILTIN_PLAYLIST.into());
        }
        Self { provision, device, schedule: None, playlist: None, items: Vec::new(), index: 0, started_ms: 0 }
    }

    /// The playlist on screen.
    pub fn playlist(&self) -> Option<&str> {
        self.playlist.as_deref()
    }

    /// What the heartbeat reports as playing.
    pub fn playing(&self) -> Option<Playing> {
        let item = self.items.get(self.index)?;
        Some(Playing {
            playlist_id: self.playlist.clone()?,
            content_id: item.content_id.clone(),
            since_ms: self.started_ms,
        })
    }

    /// When the item on screen ends.
    pub fn item_end_ms(&self) -> Option<u64> {
        let item = self.items.get(self.index)?;
        // Durations are bounded (≤ 86,400 s), so the product fits.
        Some(self.started_ms + (item.duration_s.max(1.0) * 1000.0) as u64)
    }

    /// After a reboot the player decides its schedule afresh (and reports it again).
    pub fn reboot(&mut self) {
        self.schedule = None;
        self.playlist = None;
    }

    /// A `command` `assign_playlist` (or its absence): the player's own playlist.
    pub fn assign(&mut self, playlist_id: Option<String>) {
        self.device.playlist_id = playlist_id;
    }

    fn switch(&mut self, playlist_id: Option<String>, now_ms: u64) {
        if self.playlist == playlist_id {
            return;
        }
        self.items = playlist_id
            .as_deref()
            .and_then(|id| self.provision.state.playlists.get(id))
            .map(|p| p.items.clone())
            .unwrap_or_default();
        self.playlist = playlist_id;
        self.index = 0;
        self.started_ms = now_ms;
    }

    /// Follows the schedule rule at `now_ms`: when the winning schedule
    /// changed, returns the `schedule.executed` to send. A switch fails or is
    /// skipped at the provisioned fault rate; then the old playlist stays on
    /// screen until the winner changes again. With no winner, the player's
    /// own playlist plays (nothing executed, nothing to report).
    pub fn retarget(&mut self, now_ms: u64, rng: &mut SmallRng) -> Option<ScheduleExecuted> {
        let provision = self.provision.clone();
        let winner = resolve(&provision.state, &self.device, now_ms);
        let winner_id = winner.map(|s| s.id.clone());
        if winner_id == self.schedule {
            if winner.is_none() {
                self.switch(self.device.playlist_id.clone(), now_ms);
            }
            return None;
        }
        self.schedule = winner_id;
        let Some(s) = winner else {
            self.switch(self.device.playlist_id.clone(), now_ms);
            return None;
        };
        let faults = provision.schedule_faults;
        let (outcome, error) = if faults > 0.0 && rng.random::<f64>() < faults {
            if rng.random::<bool>() {
                (ExecutionOutcome::Failed, Some("content download failed: HTTP 503 from the CDN".to_owned()))
            } else {
                (ExecutionOutcome::Skipped, Some("display in power-save".to_owned()))
            }
        } else {
            (ExecutionOutcome::Ok, None)
        };
        if outcome == ExecutionOutcome::Ok {
            self.switch(Some(s.playlist_id.clone()), now_ms);
        } else if self.playlist.is_none() {
            // Nothing on screen yet: the player falls back to its own playlist.
            self.switch(self.device.playlist_id.clone(), now_ms);
        }
        Some(ScheduleExecuted {
            schedule_id: s.id.clone(),
            device_id: self.device.id.clone(),
            playlist_id: s.playlist_id.clone(),
            at_ms: now_ms,
            outcome,
            error,
        })
    }

    /// If the item on screen has ended by `now_ms`, its playback report (and the next item starts).
    pub fn advance(&mut self, now_ms: u64, rng: &mut SmallRng) -> Option<Playback> {
        let end = self.item_end_ms()?;
        if now_ms < end {
            return None;
        }
        let item = self.items.get(self.index)?.clone();
        let ok = rng.random::<f64>() > 0.02;
        let report = Playback {
            content_id: item.content_id,
            started_ms: self.started_ms,
            duration_s: item.duration_s,
            ok,
            error: (!ok).then(|| "decoder error".to_owned()),
        };
        self.index = (self.index + 1) % self.items.len().max(1);
        // A late check does not stretch the timeline: the next item started when this one ended.
        self.started_ms = if now_ms - end < 60_000 { end } else { now_ms };
        Some(report)
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use vizora_protocol::{DeviceStatus, Schedule, ScheduleTarget};

    use super::*;

    // 2026-11-27 (a Friday) 00:00 UTC.
    const FRI: u64 = 1_795_737_600_000;
    const HOUR: u64 = 3_600_000;

    fn provision(faults: f64) -> Arc<Provision> {
        let mut p = builtin();
        let item = |c: &str, d: u32| PlaylistItem { content_id: c.into(), duration_s: f64::from(d) };
        for (id, items) in [("own", vec![item("a", 10), item("b", 20)]), ("breakfast", vec![item("menu", 30)])] {
            p.state
                .playlists
                .insert(id.into(), Playlist { id: id.into(), org: "o".into(), rev: 1, name: id.into(), items });
        }
        let s = Schedule {
            id: "s1".into(),
            org: "o".into(),
            rev: 1,
            name: "Breakfast".into(),
            playlist_id: "breakfast".into(),
            target: ScheduleTarget::Tag("cafe".into()),
            start_ms: 0,
            end_ms: None,
            days: None,
            daily_from: Some("06:00".into()),
            daily_to: Some("10:30".into()),
            priority: 10,
            enabled: true,
        };
        p.state.schedules.insert(s.id.clone(), s);
        p.schedule_faults = faults;
        Arc::new(p)
    }

    fn device(tags: &[&str]) -> Device {
        Device {
            id: "d1".into(),
            org: "o".into(),
            rev: 1,
            name: "d1".into(),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            playlist_id: Some("own".into()),
            status: DeviceStatus::Online,
            last_seen_ms: 0,
            health: None,
            playing: None,
        }
    }

    #[test]
    fn a_player_follows_its_schedule_window_and_reports_each_switch_once() {
        let mut rng = SmallRng::seed_from_u64(1);
        let mut show = Show::new(provision(0.0), device(&["cafe"]));
        assert_eq!(show.retarget(FRI + 5 * HOUR, &mut rng), None, "before the window: own playlist, nothing to report");
        assert_eq!(show.playlist(), Some("own"));
        let ev = show.retarget(FRI + 6 * HOUR, &mut rng).expect("the window opens");
        assert_eq!(
            (ev.schedule_id.as_str(), ev.playlist_id.as_str(), ev.outcome),
            ("s1", "breakfast", ExecutionOutcome::Ok)
        );
        assert_eq!((ev.device_id.as_str(), ev.at_ms), ("d1", FRI + 6 * HOUR));
        assert_eq!(show.playlist(), Some("breakfast"));
        assert_eq!(show.retarget(FRI + 7 * HOUR, &mut rng), None, "same winner: no second report");
        assert_eq!(show.retarget(FRI + 11 * HOUR, &mut rng), None, "window closed: back to its own");
        assert_eq!(show.playlist(), Some("own"));
        assert!(show.retarget(FRI + 30 * HOUR, &mut rng).is_some(), "next morning it switches again");
        let mut untagged = Show::new(provision(0.0), device(&["lobby"]));
        assert_eq!(untagged.retarget(FRI + 7 * HOUR, &mut rng), None, "a schedule for another tag does not apply");
        assert_eq!(untagged.playlist(), Some("own"));
    }

    #[test]
    fn playback_reports_walk_the_playlist_on_its_item_durations() {
        let mut rng = SmallRng::seed_from_u64(2);
        let mut show = Show::new(provision(0.0), device(&[]));
        show.retarget(FRI, &mut rng);
        assert_eq!(show.playing().map(|p| p.content_id), Some("a".into()));
        assert_eq!(show.advance(FRI + 9_999, &mut rng), None, "the 10 s item is still on");
        let first = show.advance(FRI + 10_500, &mut rng).expect("item a ended");
        assert_eq!((first.content_id.as_str(), first.started_ms, first.duration_s), ("a", FRI, 10.0));
        assert_eq!(show.item_end_ms(), Some(FRI + 30_000), "b started when a ended, for 20 s");
        assert_eq!(show.advance(FRI + 30_000, &mut rng).map(|p| p.content_id), Some("b".into()));
        assert_eq!(show.playing().map(|p| (p.playlist_id, p.content_id)), Some(("own".into(), "a".into())));
    }

    #[test]
    fn switches_fail_or_are_skipped_at_the_fault_rate_deterministically() {
        let outcomes = |seed: u64, faults: f64| -> Vec<ExecutionOutcome> {
            let mut rng = SmallRng::seed_from_u64(seed);
            let mut show = Show::new(provision(faults), device(&["cafe"]));
            (0..200u64)
                .filter_map(|day| {
                    show.retarget(FRI + day * 24 * HOUR + 5 * HOUR, &mut rng);
                    show.retarget(FRI + day * 24 * HOUR + 7 * HOUR, &mut rng).map(|e| e.outcome)
                })
                .collect()
        };
        let all_ok = outcomes(3, 0.0);
        assert_eq!(all_ok.len(), 200);
        assert!(all_ok.iter().all(|o| *o == ExecutionOutcome::Ok));
        let some = outcomes(3, 0.2);
        let failed = some.iter().filter(|o| **o == ExecutionOutcome::Failed).count();
        let skipped = some.iter().filter(|o| **o == ExecutionOutcome::Skipped).count();
        assert!(
            (10..=70).contains(&(failed + skipped)) && failed > 0 && skipped > 0,
            "{failed} failed, {skipped} skipped"
        );
        assert_eq!(some, outcomes(3, 0.2), "the same seed gives the same outcomes");
        let mut rng = SmallRng::seed_from_u64(4);
        let mut show = Show::new(provision(1.0), device(&["cafe"]));
        let ev = show.retarget(FRI + 7 * HOUR, &mut rng).expect("reported");
        assert_ne!(ev.outcome, ExecutionOutcome::Ok);
        assert!(ev.error.is_some(), "a failed or skipped switch says why");
        assert_eq!(show.playlist(), Some("own"), "a failed switch leaves the old playlist on screen");
    }
}
