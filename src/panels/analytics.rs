//! AnalyticsPanelPlugin: live charts from `metrics`: plays, impressions and
//! errors per minute over the last 15 minutes, kept in a ring buffer, the
//! newest bar growing in as it arrives; and the top content.

use bevy::prelude::*;
use vizora_protocol::now_ms;

use crate::base::config::PanelKind;
use crate::base::format::{ascii, short};
use crate::base::palette::{self};
use crate::sync::fleet::Fleet;
use crate::sync::history::{AnalyticsHistory, BARS, GROW_S, Sample};
use crate::wall::WallSize;
use crate::wall::panel::{
    ChartBar, Every, HatchImages, PanelRow, PanelStatus, PanelStatuses, Row, panel_font, report_to, spawn_chart,
    spawn_panel, spawn_rows, write_chart, write_rows,
};
use crate::wall::{Colors, WallSettings};

/// Metrics older than this mean the analytics have no live data.
const FRESH_MS: u64 = 120_000;

/// Draws the analytics panel.
#[derive(Default)]
pub struct AnalyticsPanelPlugin;

impl Plugin for AnalyticsPanelPlugin {
    fn build(&self, app: &mut App) {
        crate::wall::panel::ensure_panel_plugin(app);
        app.add_systems(Startup, spawn_analytics)
            .add_systems(Update, (report_metrics, draw_analytics.pipe(report_to(PanelKind::Analytics))).chain());
    }
}

const CHARTS: [(&str, palette::Rgb); 3] =
    [("PLAYS / MIN", palette::ONLINE), ("IMPRESSIONS / MIN", palette::ACCENT), ("ERRORS / MIN", palette::OFFLINE)];

fn spawn_analytics(
    mut commands: Commands,
    size: Res<WallSize>,
    settings: Option<Res<WallSettings>>,
    images: Res<HatchImages>,
    colors: Res<Colors>,
) {
    let font = panel_font(&size, settings.as_deref());
    let kind = PanelKind::Analytics;
    let root = spawn_panel(&mut commands, kind, &size, font, &images, &colors.0);
    let chart_h = (size.h * 0.13).max(40.0);
    for (i, (_, c)) in CHARTS.iter().enumerate() {
        spawn_rows(&mut commands, root, kind, i, 1, font, &colors.0);
        spawn_chart(&mut commands, root, kind, i as u8, BARS, chart_h, *c, &colors.0);
    }
    spawn_rows(&mut commands, root, kind, CHARTS.len(), 7, font, &colors.0);
}

/// The history's verdict on the last metrics goes on this panel's error tile.
fn report_metrics(history: Res<AnalyticsHistory>, mut statuses: ResMut<PanelStatuses>) {
    if !history.is_changed() {
        return;
    }
    let mut s = statuses.0.get(&PanelKind::Analytics).cloned().unwrap_or_default();
    if s.error != history.refused {
        s.error = history.refused.clone();
        PanelStatuses::set(&mut statuses, PanelKind::Analytics, s);
    }
}

fn draw_analytics(
    history: Res<AnalyticsHistory>,
    fleet: Res<Fleet>,
    (time, colors): (Res<Time>, Res<Colors>),
    mut every: Local<Every>,
    mut statuses: ResMut<PanelStatuses>,
    mut rows: Query<(&PanelRow, &mut Text, &mut TextColor)>,
    mut bars: Query<(&ChartBar, &mut Node)>,
) -> Result {
    if !every.due(time.delta_secs(), history.is_changed(), 0.0, 1.0) {
        return Ok(());
    }
    let kind = PanelKind::Analytics;
    let now = now_ms();
    let newest = history.samples.back().map(|s| s.ts_ms);
    let no_data = newest.is_none_or(|t| now.saturating_sub(t) > FRESH_MS);
    let error = statuses.0.get(&kind).and_then(|s| s.error.clone());
    PanelStatuses::set(&mut statuses, kind, PanelStatus { no_data, silent: false, error, as_of_ms: newest });
    // The newest bar grows in over GROW_S after its sample arrives.
    let grow = (history.arrived_s / GROW_S).clamp(0.0, 1.0);
    let mut text = Vec::new();
    let picks: [fn(&Sample) -> f32; 3] = [|s| s.plays, |s| s.impressions, |s| s.errors];
    for (i, pick) in picks.iter().enumerate() {
        let (mut scaled, max) = history.scaled(now, pick);
        let current = history.samples.back().map(pick).unwrap_or(0.0);
        if let Some(newest) = scaled.last_mut() {
            *newest *= grow;
        }
        write_chart(kind, i as u8, &scaled, &mut bars);
        text.push(Row::new(format!("{}  {}   (peak {})", CHARTS[i].0, short(current), short(max)), CHARTS[i].1));
    }
    text.push(Row::new("TOP CONTENT (plays in the window)", colors.0.text));
    if let Some(m) = &history.latest {
        for (n, t) in m.top_content.iter().take(6).enumerate() {
            let name = fleet.0.view().contents.get(&t.content_id).map_or(t.content_id.as_str(), |c| c.name.as_str());
            let name = ascii(name, 40);
            text.push(Row::new(format!("{:>2}. {name:<40} {:>7}", n + 1, t.plays), colors.0.text_dim));
        }
    }
    write_rows(kind, &text, &mut rows, &colors.0);
    Ok(())
}
