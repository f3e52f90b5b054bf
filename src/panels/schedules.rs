//! SchedulesPanelPlugin: today's schedules on a 24-hour timeline per device
//! group (tag, or a single device), with a "now" line; for each device what
//! it *should* play now (the protocol's schedule resolution) against what it
//! *is* playing (telemetry), mismatches first and marked; and the latest
//! `schedule.executed` outcomes.

use std::collections::BTreeMap;

use bevy::prelude::*;
use vizora_protocol::schedule::{active_at, expected_playlist, minutes_of, weekday};
use vizora_protocol::{EntityKind, ExecutionOutcome, OrgState, Schedule, ScheduleTarget, now_ms};

use crate::base::config::PanelKind;
use crate::base::fleet_model::FleetModel;
use crate::base::format::ascii;
use crate::base::palette::{self, Rgb};
use crate::sync::fleet::{CatalogChanged, Fleet, FleetReset};
use crate::wall::WallSize;
use crate::wall::color;
use crate::wall::panel::{
    Every, HatchImages, PageKeys, PanelRow, PanelStatus, PanelStatuses, Row, paged, panel_font, report_to, spawn_panel,
    spawn_rows, write_rows,
};
use crate::wall::{Colors, WallSettings};

/// Device groups drawn on the timeline.
pub const MAX_GROUPS: usize = 6;
/// Device rows under the timeline.
pub const DEVICE_ROWS: usize = 8;
/// Execution rows at the bottom.
pub const EXEC_ROWS: usize = 5;

/// Holds the timeline rows; rebuilt when schedules change.
#[derive(Component, Debug)]
pub struct Timeline {
    font: f32,
}

/// The "now" line of one timeline row.
#[derive(Component, Debug)]
pub struct NowLine;

/// Distinct segment colours (Okabe-Ito, then greys).
const SEGMENT: [Rgb; 6] =
    [palette::ACCENT, palette::ONLINE, palette::DEGRADED, [204, 121, 167], [0, 114, 178], [240, 228, 66]];

/// Draws the schedules panel.
#[derive(Default)]
pub struct SchedulesPanelPlugin;

impl Plugin for SchedulesPanelPlugin {
    fn build(&self, app: &mut App) {
        crate::wall::panel::ensure_panel_plugin(app);
        app.add_systems(Startup, spawn_schedules)
            .add_systems(Update, (rebuild_timeline, draw_schedules.pipe(report_to(PanelKind::Schedules)), move_now));
    }
}

fn spawn_schedules(
    mut commands: Commands,
    size: Res<WallSize>,
    settings: Option<Res<WallSettings>>,
    images: Res<HatchImages>,
    colors: Res<Colors>,
) {
    let font = panel_font(&size, settings.as_deref()) * 0.72;
    let kind = PanelKind::Schedules;
    let root = spawn_panel(&mut commands, kind, &size, font, &images, &colors.0);
    commands.entity(root).with_children(|p| {
        p.spawn((
            Timeline { font },
            Node { flex_direction: FlexDirection::Column, row_gap: px(font * 0.3), ..default() },
        ));
    });
    spawn_rows(&mut commands, root, kind, 0, 2 + DEVICE_ROWS + 1 + EXEC_ROWS, font, &colors.0);
}

/// Schedules by group label, groups in name order: "tag lobby", "device d1".
pub fn groups(state: &OrgState) -> BTreeMap<String, Vec<&Schedule>> {
    let mut g: BTreeMap<String, Vec<&Schedule>> = BTreeMap::new();
    for s in state.schedules.values() {
        let label = match &s.target {
            ScheduleTarget::Tag(t) => format!("tag {t}"),
            ScheduleTarget::Device(d) => {
                format!("device {}", state.devices.get(d).map_or(d.as_str(), |d| d.name.as_str()))
            }
        };
        g.entry(label).or_default().push(s);
    }
    g
}

/// Today's window of a schedule in minutes `[from, to)`, split at midnight;
/// empty when it does not run today.
pub fn today_spans(s: &Schedule, now_ms: u64) -> Vec<(u32, u32)> {
    let day_start = now_ms - now_ms % 86_400_000;
    let on = |d: u8| s.days.as_ref().is_none_or(|days| days.contains(&d));
    if !s.enabled || s.end_ms.is_some_and(|e| e <= day_start) || s.start_ms >= day_start + 86_400_000 {
        return vec![];
    }
    let from = s.daily_from.as_deref().map_or(Some(0), minutes_of);
    let to = s.daily_to.as_deref().map_or(Some(1440), minutes_of);
    let (Some(from), Some(to)) = (from, to) else { return vec![] };
    let today = weekday(now_ms);
    let yesterday = (today + 6) % 7;
    if s.daily_from.is_none() && s.daily_to.is_none() {
        return if on(today) { vec![(0, 1440)] } else { vec![] };
    }
    if from < to {
        return if on(today) { vec![(from, to)] } else { vec![] };
    }
    let mut v = vec![];
    if on(yesterday) && to > 0 {
        v.push((0, to));
    }
    if on(today) {
        v.push((from, 1440));
    }
    v
}

fn rebuild_timeline(
    mut commands: Commands,
    fleet: Res<Fleet>,
    mut changed: MessageReader<CatalogChanged>,
    mut reset: MessageReader<FleetReset>,
    timeline: Option<Single<(Entity, &Timeline)>>,
    colors: Res<Colors>,
) {
    let dirty = changed.read().count() + reset.read().count() > 0;
    let Some(timeline) = timeline else { return };
    if !dirty {
        return;
    }
    let (root, tl) = *timeline;
    let font = tl.font;
    let theme = &colors.0;
    commands.entity(root).despawn_children();
    let now = now_ms();
    let state = fleet.0.view();
    let groups = groups(state);
    let shown = groups.len().min(MAX_GROUPS);
    commands.entity(root).with_children(|p| {
        p.spawn((
            Text::new(format!("TODAY (UTC)   {} schedules in {} groups", state.schedules.len(), groups.len())),
            TextFont::from_font_size(font),
            TextColor(color(theme.text_dim)),
        ));
        for (label, list) in groups.iter().take(shown) {
            p.spawn(Node { column_gap: px(font * 0.5), align_items: AlignItems::Center, ..default() }).with_children(
                |row| {
                    let label = ascii(label, 18);
                    row.spawn((
                        Text::new(format!("{label:<18}")),
                        TextFont::from_font_size(font),
                        TextColor(color(theme.text)),
                        Node { width: px(font * 11.0), ..default() },
                    ));
                    row.spawn((
                        Node { flex_grow: 1.0, height: px(font * 1.4), ..default() },
                        BackgroundColor(color(theme.panel)),
                    ))
                    .with_children(|bar| {
                        for s in list {
                            let c = SEGMENT[(s.priority.unsigned_abs() as usize + s.id.len()) % SEGMENT.len()];
                            let live = active_at(s, now);
                            for (from, to) in today_spans(s, now) {
                                bar.spawn((
                                    Node {
                                        position_type: PositionType::Absolute,
                                        left: percent(from as f32 / 14.4),
                                        width: percent((to - from) as f32 / 14.4),
                                        top: percent(10),
                                        height: percent(80),
                                        overflow: Overflow::clip(),
                                        ..default()
                                    },
                                    BackgroundColor(color(c).with_alpha(if live { 1.0 } else { 0.55 })),
                                    children![(
                                        Text::new(format!(
                                            " {}{} p{}",
                                            if fleet.0.is_pending(EntityKind::Schedule, &s.id) { "* " } else { "" },
                                            ascii(&s.name, 24),
                                            s.priority
                                        )),
                                        TextFont::from_font_size(font * 0.8),
                                        TextColor(color(theme.background)),
                                        TextLayout::default().with_no_wrap(),
                                    )],
                                ));
                            }
                        }
                        bar.spawn((
                            NowLine,
                            Node {
                                position_type: PositionType::Absolute,
                                left: percent(((now % 86_400_000) / 60_000) as f32 / 14.4),
                                width: px(3),
                                height: percent(100),
                                ..default()
                            },
                            BackgroundColor(color(theme.text)),
                            GlobalZIndex(2),
                        ));
                    });
                },
            );
        }
        if groups.len() > shown {
            p.spawn((
                Text::new(format!("... and {} more groups", groups.len() - shown)),
                TextFont::from_font_size(font),
                TextColor(color(theme.text_dim)),
            ));
        }
    });
}

fn move_now(time: Res<Time>, mut since: Local<f32>, mut lines: Query<&mut Node, With<NowLine>>) {
    *since += time.delta_secs();
    if *since < 10.0 {
        return;
    }
    *since = 0.0;
    let left = percent(((now_ms() % 86_400_000) / 60_000) as f32 / 14.4);
    for mut n in &mut lines {
        n.left = left;
    }
}

/// One device's schedule check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// Device name.
    pub device: String,
    /// Playlist it should play now.
    pub expected: Option<String>,
    /// Playlist it reports playing (none: no telemetry).
    pub playing: Option<String>,
}

impl Check {
    /// Whether it plays something other than it should. Not knowing what it
    /// plays, or it having nothing assigned or scheduled, is no mismatch.
    pub fn mismatch(&self) -> bool {
        self.playing.is_some() && self.expected.is_some() && self.playing != self.expected
    }
}

/// Every device's check, mismatches first, then by name.
pub fn checks(model: &FleetModel, now: u64) -> Vec<Check> {
    let state = model.view();
    let mut v: Vec<Check> = state
        .devices
        .values()
        .map(|d| Check {
            device: d.name.clone(),
            expected: expected_playlist(state, d, now).map(str::to_owned),
            playing: model.playing(d).map(|p| p.playlist_id.clone()),
        })
        .collect();
    v.sort_by(|a, b| b.mismatch().cmp(&a.mismatch()).then_with(|| a.device.cmp(&b.device)));
    v
}

fn draw_schedules(
    fleet: Res<Fleet>,
    time: Res<Time>,
    colors: Res<Colors>,
    mut every: Local<Every>,
    mut statuses: ResMut<PanelStatuses>,
    (paging, mut scroll): (PageKeys, Local<usize>),
    mut rows: Query<(&PanelRow, &mut Text, &mut TextColor)>,
) -> Result {
    // Page Down / Page Up page through the devices (mismatches first).
    let paged_now = paging.scroll(PanelKind::Schedules, &mut scroll, DEVICE_ROWS - 1);
    // O(devices x schedules): on change at most twice a second, else every 2 s.
    if !every.due(time.delta_secs(), fleet.is_changed() || paged_now, 0.5, 2.0) {
        return Ok(());
    }
    let kind = PanelKind::Schedules;
    let now = now_ms();
    let model = &fleet.0;
    let state = model.view();
    let theme = &colors.0;
    let all = checks(model, now);
    let name = |id: &Option<String>| match id {
        Some(id) => ascii(state.playlists.get(id).map_or(id.as_str(), |p| p.name.as_str()), 22),
        None => "(nothing assigned)".to_owned(),
    };
    let mismatched = all.iter().filter(|c| c.mismatch()).count();
    let unknown = all.iter().filter(|c| c.playing.is_none()).count();
    let mut out = vec![
        Row::new(
            format!(
                "{} devices   {} as scheduled   {} MISMATCHED   {} not reporting",
                all.len(),
                all.len() - mismatched - unknown,
                mismatched,
                unknown
            ),
            if mismatched > 0 { palette::DEGRADED } else { theme.text },
        ),
        Row::new(format!("{:<24} {:<24} {:<24}", "DEVICE", "SHOULD PLAY", "IS PLAYING"), theme.text_dim),
    ];
    let device_rows: Vec<Row> = all
        .iter()
        .map(|c| {
            let (mark, col) = if c.mismatch() { ("  MISMATCH", palette::OFFLINE) } else { ("", theme.text) };
            let playing = if c.playing.is_some() { name(&c.playing) } else { "(no report)".to_owned() };
            Row::new(format!("{:<24} {:<24} {:<24}{mark}", ascii(&c.device, 24), name(&c.expected), playing), col)
        })
        .collect();
    out.extend(paged(device_rows, &mut scroll, DEVICE_ROWS, theme));
    while out.len() < 2 + DEVICE_ROWS {
        out.push(Row::new("", theme.text));
    }
    out.push(Row::new("LATEST EXECUTIONS", theme.text_dim));
    for x in model.executions.iter().rev().take(EXEC_ROWS) {
        let secs = x.at_ms / 1000;
        let (word, col) = match x.outcome {
            ExecutionOutcome::Ok => ("ok".to_owned(), theme.text),
            ExecutionOutcome::Skipped => ("skipped".to_owned(), theme.text_dim),
            ExecutionOutcome::Failed => {
                (format!("FAILED {}", ascii(x.error.as_deref().unwrap_or(""), 30)), palette::OFFLINE)
            }
        };
        let device = state.devices.get(&x.device_id).map_or(x.device_id.as_str(), |d| d.name.as_str());
        let sched = state.schedules.get(&x.schedule_id).map_or(x.schedule_id.as_str(), |s| s.name.as_str());
        out.push(Row::new(
            format!(
                "{:02}:{:02}:{:02}  {:<20} {:<22} {word}",
                (secs / 3600) % 24,
                (secs / 60) % 60,
                secs % 60,
                ascii(device, 20),
                ascii(sched, 22)
            ),
            col,
        ));
    }
    write_rows(kind, &out, &mut rows, theme);
    let no_data = state.schedules.is_empty();
    PanelStatuses::set(&mut statuses, kind, PanelStatus { no_data, ..PanelStatus::default() });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sched(from: Option<&str>, to: Option<&str>, days: Option<Vec<u8>>) -> Schedule {
        Schedule {
            id: "s".into(),
            org: "o".into(),
            rev: 1,
            name: "s".into(),
            playlist_id: "p".into(),
            target: ScheduleTarget::Tag("t".into()),
            start_ms: 0,
            end_ms: None,
            days,
            daily_from: from.map(Into::into),
            daily_to: to.map(Into::into),
            priority: 0,
            enabled: true,
        }
    }

    #[test]
    fn today_spans_split_windows_past_midnight() {
        let fri = 1_795_737_600_000 + 12 * 3_600_000; // Friday noon
        assert_eq!(today_spans(&sched(Some("09:00"), Some("17:00"), None), fri), vec![(540, 1020)]);
        assert_eq!(today_spans(&sched(None, None, Some(vec![5])), fri), vec![(0, 1440)]);
        assert_eq!(today_spans(&sched(None, None, Some(vec![1])), fri), vec![]);
        assert_eq!(
            today_spans(&sched(Some("22:00"), Some("06:00"), Some(vec![4, 5])), fri),
            vec![(0, 360), (1320, 1440)],
            "Thursday's night runs into Friday; Friday's starts at 22:00"
        );
    }
}
