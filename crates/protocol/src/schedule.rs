//! Which schedule a device should be playing at a moment: the rule the
//! simulated players follow and the wallboard checks telemetry against.
//!
//! PROTOCOL.md §3 names the fields but not their calendar; the reading here:
//! times are UTC, `days` counts from 0 = Sunday (as the schedule type says),
//! a daily window `[daily_from, daily_to)` whose end is not after its start
//! runs past midnight (its after-midnight part belongs to the day it
//! started on), and of the schedules that apply the highest `priority` wins,
//! then a device target over a tag target, then the later `start_ms`, then
//! the smaller id, so every reader resolves alike.

use crate::entity::{Device, Schedule, ScheduleTarget};
use crate::org_state::OrgState;

const DAY_MS: u64 = 86_400_000;

/// Minutes after midnight of an "HH:MM" string (00:00..=24:00, the last
/// one the end of the day), if well formed: the one reading the gateway
/// checks `daily_*` with and every schedule is evaluated by.
pub fn minutes_of(hhmm: &str) -> Option<u32> {
    let (h, m) = hhmm.split_once(':')?;
    if h.len() != 2 || m.len() != 2 || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60 || h == 24 && m == 0).then_some(h * 60 + m)
}

/// Weekday of a Unix-ms time, 0 = Sunday (1970-01-01 was a Thursday).
pub fn weekday(ms: u64) -> u8 {
    ((ms / DAY_MS + 4) % 7) as u8
}

/// Whether the schedule targets the device.
pub fn targets(s: &Schedule, d: &Device) -> bool {
    match &s.target {
        ScheduleTarget::Device(id) => *id == d.id,
        ScheduleTarget::Tag(tag) => d.tags.iter().any(|t| t == tag),
    }
}

/// Whether the schedule is in force at `now_ms` (ignoring its target).
pub fn active_at(s: &Schedule, now_ms: u64) -> bool {
    if !s.enabled || now_ms < s.start_ms || s.end_ms.is_some_and(|end| now_ms >= end) {
        return false;
    }
    let minute = ((now_ms % DAY_MS) / 60_000) as u32;
    let today = weekday(now_ms);
    let yesterday = (today + 6) % 7;
    let on = |day: u8| s.days.as_ref().is_none_or(|days| days.contains(&day));
    let window = match (&s.daily_from, &s.daily_to) {
        (None, None) => None,
        (from, to) => {
            let from = from.as_deref().map_or(Some(0), minutes_of);
            let to = to.as_deref().map_or(Some(24 * 60), minutes_of);
            match (from, to) {
                (Some(f), Some(t)) => Some((f, t)),
                // A malformed window never applies (the gateway refuses them; old data might not).
                _ => return false,
            }
        }
    };
    match window {
        None => on(today),
        Some((from, to)) if from < to => on(today) && (from..to).contains(&minute),
        // Past midnight: the evening part today, the early part on behalf of yesterday.
        Some((from, to)) => (on(today) && minute >= from) || (on(yesterday) && minute < to),
    }
}

fn rank(s: &Schedule) -> (i32, bool, u64, std::cmp::Reverse<&str>) {
    (s.priority, matches!(s.target, ScheduleTarget::Device(_)), s.start_ms, std::cmp::Reverse(s.id.as_str()))
}

/// The schedule that decides what `device` should play at `now_ms`, if any.
pub fn resolve<'a>(state: &'a OrgState, device: &Device, now_ms: u64) -> Option<&'a Schedule> {
    state.schedules.values().filter(|s| targets(s, device) && active_at(s, now_ms)).max_by(|a, b| rank(a).cmp(&rank(b)))
}

/// The playlist `device` should play at `now_ms`: its winning schedule's, else its own assignment.
pub fn expected_playlist<'a>(state: &'a OrgState, device: &'a Device, now_ms: u64) -> Option<&'a str> {
    resolve(state, device, now_ms).map(|s| s.playlist_id.as_str()).or(device.playlist_id.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entity::{DeviceStatus, Entity};

    // 2026-11-27 (a Friday) 00:00 UTC.
    const FRI: u64 = 1_795_737_600_000;
    const MIN: u64 = 60_000;

    fn device(id: &str, tags: &[&str]) -> Device {
        Device {
            id: id.into(),
            org: "o".into(),
            rev: 1,
            name: id.into(),
            tags: tags.iter().map(|t| (*t).into()).collect(),
            playlist_id: Some("own".into()),
            status: DeviceStatus::Online,
            last_seen_ms: 0,
            health: None,
            playing: None,
        }
    }

    fn sched(id: &str, target: ScheduleTarget, priority: i32) -> Schedule {
        Schedule {
            id: id.into(),
            org: "o".into(),
            rev: 1,
            name: id.into(),
            playlist_id: format!("pl-{id}"),
            target,
            start_ms: 0,
            end_ms: None,
            days: None,
            daily_from: None,
            daily_to: None,
            priority,
            enabled: true,
        }
    }

    #[test]
    fn weekdays_count_from_sunday() {
        assert_eq!(weekday(0), 4, "1970-01-01 was a Thursday");
        assert_eq!(weekday(FRI), 5);
        assert_eq!(weekday(FRI + 2 * DAY_MS), 0);
    }

    #[test]
    fn hh_mm_is_strict() {
        assert_eq!(minutes_of("08:30"), Some(510));
        assert_eq!(minutes_of("23:59"), Some(1439));
        assert_eq!(minutes_of("24:00"), Some(1440), "the end of the day");
        for bad in ["24:01", "25:00", "8:30", "08:60", "0830", "ab:cd", "+1:30", ""] {
            assert_eq!(minutes_of(bad), None, "{bad}");
        }
    }

    #[test]
    fn windows_days_and_bounds_decide_whether_a_schedule_applies() {
        let mut s = sched("a", ScheduleTarget::Tag("t".into()), 0);
        s.daily_from = Some("09:00".into());
        s.daily_to = Some("17:00".into());
        assert!(!active_at(&s, FRI + 8 * 60 * MIN + 59 * MIN));
        assert!(active_at(&s, FRI + 9 * 60 * MIN));
        assert!(!active_at(&s, FRI + 17 * 60 * MIN), "the end is exclusive");
        s.days = Some(vec![1, 2, 3, 4]);
        assert!(!active_at(&s, FRI + 10 * 60 * MIN), "not on Fridays");
        s.days = None;
        s.start_ms = FRI + DAY_MS;
        assert!(!active_at(&s, FRI + 10 * 60 * MIN), "not started");
        s.start_ms = 0;
        s.end_ms = Some(FRI + 10 * 60 * MIN);
        assert!(!active_at(&s, FRI + 10 * 60 * MIN), "ended");
        s.end_ms = None;
        s.enabled = false;
        assert!(!active_at(&s, FRI + 10 * 60 * MIN), "disabled");
        s.enabled = true;
        s.daily_from = Some("9am".into());
        assert!(!active_at(&s, FRI + 10 * 60 * MIN), "a malformed window never applies");
    }

    #[test]
    fn a_window_past_midnight_belongs_to_the_day_it_starts() {
        let mut s = sched("night", ScheduleTarget::Tag("t".into()), 0);
        s.daily_from = Some("22:00".into());
        s.daily_to = Some("06:00".into());
        s.days = Some(vec![5]); // Friday night
        assert!(active_at(&s, FRI + 23 * 60 * MIN));
        assert!(active_at(&s, FRI + DAY_MS + 5 * 60 * MIN), "Saturday 05:00 is still Friday's night");
        assert!(!active_at(&s, FRI + 5 * 60 * MIN), "Friday 05:00 is Thursday's night");
        assert!(!active_at(&s, FRI + 12 * 60 * MIN));
    }

    #[test]
    fn a_window_to_24_00_runs_to_midnight() {
        // The gateway accepts "24:00"; the schedule applies to the day's end.
        let mut s = sched("evening", ScheduleTarget::Tag("t".into()), 0);
        s.daily_from = Some("18:00".into());
        s.daily_to = Some("24:00".into());
        assert!(active_at(&s, FRI + 23 * 60 * MIN + 59 * MIN));
        assert!(!active_at(&s, FRI + DAY_MS), "midnight is the next day");
        assert!(!active_at(&s, FRI + 17 * 60 * MIN));
    }

    #[test]
    fn priority_then_device_target_then_latest_start_wins() {
        let d = device("d1", &["lobby"]);
        let mut low = sched("low", ScheduleTarget::Tag("lobby".into()), 1);
        let high = sched("high", ScheduleTarget::Tag("lobby".into()), 5);
        let other = sched("other", ScheduleTarget::Tag("kitchen".into()), 9);
        let mut state = OrgState::from_entities(
            [&low, &high, &other].iter().map(|s| Entity::Schedule((*s).clone())).collect::<Vec<_>>(),
        );
        assert_eq!(resolve(&state, &d, FRI).map(|s| s.id.as_str()), Some("high"));
        let mine = sched("mine", ScheduleTarget::Device("d1".into()), 5);
        state.schedules.insert(mine.id.clone(), mine);
        assert_eq!(resolve(&state, &d, FRI).map(|s| s.id.as_str()), Some("mine"), "a device target beats a tag");
        state.schedules.remove("mine");
        state.schedules.remove("high");
        low.start_ms = 10;
        let mut later = sched("later", ScheduleTarget::Tag("lobby".into()), 1);
        later.start_ms = 20;
        state.schedules.insert(low.id.clone(), low);
        state.schedules.insert(later.id.clone(), later);
        assert_eq!(expected_playlist(&state, &d, FRI), Some("pl-later"));
        state.schedules.clear();
        assert_eq!(expected_playlist(&state, &d, FRI), Some("own"), "no schedule: the device's own playlist");
    }
}
