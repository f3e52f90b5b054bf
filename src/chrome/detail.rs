//! The detail card of the selected device (click a tile, or arrow keys on
//! the devices page; Escape closes it): who it is, its status history,
//! CPU and temperature sparklines from telemetry, its open and recent
//! alerts, what it should play against what it plays, and its changes
//! still waiting for the gateway.

use bevy::prelude::*;
use vizora_protocol::schedule::expected_playlist;
use vizora_protocol::{AlertState, Device, now_ms};

use crate::base::fleet_model::FleetModel;
use crate::base::format::{age, ascii};
use crate::base::layout::bar_height;
use crate::base::palette::{self, Rgb, Theme};
use crate::base::trail::HEALTH_KEPT;
use crate::sync::fleet::Fleet;
use crate::wall::focus::Selected;
use crate::wall::{Colors, WallSize, color};

/// Text rows on the card.
pub const CARD_ROWS: usize = 22;

/// The card (hidden without a selection).
#[derive(Component, Debug)]
pub struct DetailCard;

/// A text row of the card.
#[derive(Component, Debug, Clone, Copy)]
pub struct CardRow(pub usize);

/// A bar of a sparkline: which (0 CPU, 1 temperature) and its position.
#[derive(Component, Debug, Clone, Copy)]
pub struct SparkBar {
    /// Which sparkline.
    pub line: u8,
    /// From the left.
    pub index: usize,
}

/// The detail card.
#[derive(Default)]
pub struct DetailCardPlugin;

impl Plugin for DetailCardPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Selected>()
            .init_resource::<Colors>()
            .add_systems(Startup, spawn_card)
            .add_systems(Update, draw_card);
    }
}

fn spawn_card(mut commands: Commands, size: Res<WallSize>, colors: Res<Colors>) {
    let bar = bar_height(size.h);
    let font = (size.h / 48.0).clamp(12.0, 44.0);
    let spark_h = font * 2.2;
    commands
        .spawn((
            DetailCard,
            Node {
                position_type: PositionType::Absolute,
                right: px(bar * 0.3),
                top: px(bar * 1.2),
                width: percent(34),
                max_height: percent(86),
                padding: UiRect::all(px(font * 0.8)),
                border: UiRect::left(px(font * 0.3)),
                flex_direction: FlexDirection::Column,
                row_gap: px(font * 0.25),
                overflow: Overflow::clip(),
                // Out of the layout while nothing is selected (hidden nodes are still laid out).
                display: Display::None,
                ..default()
            },
            BorderColor::all(color(palette::ACCENT)),
            BackgroundColor(color(colors.0.panel)),
            GlobalZIndex(15),
        ))
        .with_children(|card| {
            for i in 0..CARD_ROWS {
                card.spawn((
                    Text::new(""),
                    TextFont::from_font_size(if i == 0 { font * 1.3 } else { font }),
                    TextColor(color(colors.0.text)),
                    TextLayout::default().with_no_wrap(),
                    CardRow(i),
                ));
                // The sparklines sit under the health row (row 4).
                if i == 4 {
                    for line in 0..2u8 {
                        card.spawn(Node {
                            height: px(spark_h),
                            width: percent(100),
                            align_items: AlignItems::FlexEnd,
                            column_gap: px(1),
                            border: UiRect::bottom(px(1)),
                            ..default()
                        })
                        .insert(BorderColor::all(color(colors.0.text_dim)))
                        .with_children(|s| {
                            let c = if line == 0 { palette::ACCENT } else { palette::DEGRADED };
                            for index in 0..HEALTH_KEPT {
                                s.spawn((
                                    Node { flex_grow: 1.0, height: percent(0), ..default() },
                                    BackgroundColor(color(c)),
                                    SparkBar { line, index },
                                ));
                            }
                        });
                    }
                }
            }
        });
}

/// One line of the card.
type Line = (String, Rgb);

/// Everything the card says about `d`, a line each.
pub fn card_lines(model: &FleetModel, d: &Device, now: u64, theme: &Theme) -> Vec<Line> {
    let state = model.view();
    let dim = theme.text_dim;
    let mut out: Vec<Line> = Vec::new();
    out.push((ascii(&d.name, 40), theme.text));
    out.push((format!("{}   rev {}", ascii(&d.id, 40), d.rev), dim));
    let heard = now.saturating_sub(model.last_heard_ms(d));
    out.push((
        format!("{}   heard {} ago", palette::status_label(d.status), age(heard)),
        palette::status_color(d.status),
    ));
    let tags = if d.tags.is_empty() { "no tags".to_owned() } else { d.tags.join(", ") };
    out.push((format!("TAGS  {}", ascii(&tags, 60)), theme.text));
    out.push(match model.health(d) {
        Some(h) => (
            format!(
                "CPU {:.0}%  TEMP {:.0}C  MEM {:.0}%  DISK FREE {:.0}%  UP {}",
                h.cpu_pct,
                h.temp_c,
                h.mem_pct,
                h.disk_free_pct,
                age((h.uptime_s * 1000.0) as u64)
            ),
            theme.text,
        ),
        None => ("no health reported yet".to_owned(), dim),
    });
    // What it should play (schedules, else its playlist) against what it plays.
    let name_of = |id: &str| ascii(state.playlists.get(id).map_or(id, |p| p.name.as_str()), 30);
    let expected = expected_playlist(state, d, now).map(str::to_owned);
    let playing = model.playing(d);
    out.push((format!("SHOULD PLAY  {}", expected.as_deref().map_or("nothing".to_owned(), name_of)), theme.text));
    let (plays, c) = match playing {
        Some(p) => {
            let content = state.contents.get(&p.content_id).map_or(p.content_id.as_str(), |c| c.name.as_str());
            let off = expected.as_deref().is_some_and(|e| e != p.playlist_id);
            let line = format!(
                "PLAYS  {} from {}{}",
                ascii(content, 30),
                name_of(&p.playlist_id),
                if off { "   MISMATCH" } else { "" }
            );
            (line, if off { palette::DEGRADED } else { palette::ONLINE })
        }
        None => ("PLAYS  nothing reported".to_owned(), dim),
    };
    out.push((plays, c));
    out.push(("STATUS HISTORY".to_owned(), palette::ACCENT));
    match model.trail(&d.id) {
        Some(t) if !t.statuses.is_empty() => {
            for (i, (at, s)) in t.statuses.iter().enumerate().rev().take(4) {
                // The oldest entry is when the wall first saw the device, not when it changed.
                let when = if i == 0 { "first seen" } else { "became" };
                out.push((
                    format!("  {} {when} {} ago", palette::status_label(*s), age(now.saturating_sub(*at))),
                    palette::status_color(*s),
                ));
            }
        }
        _ => out.push(("  none seen since the wall started".to_owned(), dim)),
    }
    out.push(("ALERTS".to_owned(), palette::ACCENT));
    let mut alerts: Vec<_> = state.alerts.values().filter(|a| a.device_id.as_deref() == Some(d.id.as_str())).collect();
    // Open first, then the most recent.
    alerts.sort_by(|a, b| {
        (a.state == AlertState::Resolved).cmp(&(b.state == AlertState::Resolved)).then(b.raised_ms.cmp(&a.raised_ms))
    });
    if alerts.is_empty() {
        out.push(("  none".to_owned(), dim));
    }
    for a in alerts.iter().take(5) {
        let sev = palette::severity_style(a.severity);
        let st = match a.state {
            AlertState::Open => "open",
            AlertState::Acked => "acked",
            AlertState::Resolved => "resolved",
        };
        let c = if a.state == AlertState::Resolved { dim } else { sev.1 };
        out.push((format!("  {} {}  {st} {}", sev.0, ascii(&a.message, 24), age(now.saturating_sub(a.raised_ms))), c));
    }
    let pending: Vec<&str> = model
        .engine()
        .pending()
        .iter()
        .filter(|p| p.mutation().target.as_deref() == Some(d.id.as_str()))
        .map(|p| p.mutation().op.kind_name())
        .collect();
    out.push((
        if pending.is_empty() { "PENDING  none".to_owned() } else { format!("PENDING  {}", pending.join(", ")) },
        if pending.is_empty() { dim } else { palette::ACCENT },
    ));
    out
}

fn draw_card(
    fleet: Res<Fleet>,
    selected: Res<Selected>,
    (time, colors): (Res<Time>, Res<Colors>),
    mut since: Local<f32>,
    mut card: Query<&mut Node, With<DetailCard>>,
    mut rows: Query<(&CardRow, &mut Text, &mut TextColor)>,
    mut bars: Query<(&SparkBar, &mut Node), Without<DetailCard>>,
) {
    *since += time.delta_secs();
    // At once on a new selection; at most twice a second on fleet changes; each second for ages.
    let due = selected.is_changed() || (fleet.is_changed() && *since >= 0.5) || *since >= 1.0;
    if !due {
        return;
    }
    *since = 0.0;
    let device = selected.0.as_ref().and_then(|id| fleet.0.view().devices.get(id));
    for mut node in &mut card {
        let want = if device.is_some() { Display::Flex } else { Display::None };
        if node.display != want {
            node.display = want;
        }
    }
    let Some(d) = device else { return };
    let lines = card_lines(&fleet.0, d, now_ms(), &colors.0);
    for (row, mut text, mut c) in &mut rows {
        let (s, col) = lines.get(row.0).map_or(("", colors.0.text), |(s, c)| (s.as_str(), *c));
        if text.0 != s {
            s.clone_into(&mut text.0);
        }
        if c.0 != color(col) {
            c.0 = color(col);
        }
    }
    let (cpu, temp) = fleet.0.trail(&d.id).map(|t| (t.cpu(), t.temp())).unwrap_or_default();
    for (b, mut node) in &mut bars {
        let series = if b.line == 0 { &cpu } else { &temp };
        // Right-aligned: the newest sample is the last bar.
        let offset = HEALTH_KEPT.saturating_sub(series.len());
        let v = b.index.checked_sub(offset).and_then(|i| series.get(i)).copied().unwrap_or(0.0);
        let h = percent((v / 100.0).clamp(0.0, 1.0) * 100.0);
        if node.height != h {
            node.height = h;
        }
    }
}
