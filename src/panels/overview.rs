//! OverviewPanelPlugin: the overview: fleet totals as four large boxes (colour,
//! shape mark and word), open alerts by severity, plays per minute with a
//! 15-minute sparkline, the clock, and the age of the last event.

use bevy::prelude::*;
use vizora_protocol::now_ms;

use crate::base::config::PanelKind;
use crate::base::format::age;
use crate::base::format::short;
use crate::base::palette;
use crate::sync::fleet::Fleet;
use crate::sync::history::{AnalyticsHistory, BARS};
use crate::wall::WallSize;
use crate::wall::color;
use crate::wall::panel::{
    ChartBar, Every, HatchImages, PanelRow, PanelStatus, PanelStatuses, Row, panel_font, report_to, spawn_chart,
    spawn_panel, spawn_rows, write_chart, write_rows,
};
use crate::wall::{Colors, WallSettings};

/// A count in one of the four status boxes (0 online, 1 degraded, 2 offline, 3 unknown).
#[derive(Component, Debug, Clone, Copy)]
pub struct StatCount(pub usize);

/// Labels and marks of the status boxes: the mark repeats the tile shape in ASCII.
pub const STAT_LABELS: [(&str, palette::Rgb); 4] = [
    ("ONLINE  [#]", palette::ONLINE),
    ("DEGRADED  [/]", palette::DEGRADED),
    ("OFFLINE  [ ]", palette::OFFLINE),
    ("UNKNOWN  [.]", palette::UNKNOWN),
];

/// Draws the overview.
#[derive(Default)]
pub struct OverviewPanelPlugin;

impl Plugin for OverviewPanelPlugin {
    fn build(&self, app: &mut App) {
        crate::wall::panel::ensure_panel_plugin(app);
        app.add_systems(Startup, spawn_main).add_systems(Update, draw_main.pipe(report_to(PanelKind::Main)));
    }
}

fn spawn_main(
    mut commands: Commands,
    size: Res<WallSize>,
    settings: Option<Res<WallSettings>>,
    images: Res<HatchImages>,
    colors: Res<Colors>,
) {
    let font = panel_font(&size, settings.as_deref());
    let kind = PanelKind::Main;
    let root = spawn_panel(&mut commands, kind, &size, font, &images, &colors.0);
    let box_h = (size.h * 0.2).max(60.0);
    commands.entity(root).with_children(|p| {
        p.spawn(Node { width: percent(100), column_gap: px(font), height: px(box_h), ..default() }).with_children(
            |row| {
                for (i, (label, c)) in STAT_LABELS.iter().enumerate() {
                    row.spawn((
                        Node {
                            flex_grow: 1.0,
                            flex_basis: percent(0),
                            flex_direction: FlexDirection::Column,
                            justify_content: JustifyContent::SpaceBetween,
                            padding: UiRect::all(px(font * 0.5)),
                            ..default()
                        },
                        BackgroundColor(color(*c)),
                        children![
                            (Text::new(*label), TextFont::from_font_size(font), TextColor(color(colors.0.background))),
                            (
                                Text::new("0"),
                                TextFont::from_font_size(box_h * 0.45),
                                TextColor(color(colors.0.background)),
                                StatCount(i),
                            ),
                        ],
                    ));
                }
            },
        );
    });
    spawn_rows(&mut commands, root, kind, 0, 2, font * 1.2, &colors.0);
    spawn_chart(&mut commands, root, kind, 0, BARS, (size.h * 0.16).max(40.0), palette::ONLINE, &colors.0);
    spawn_rows(&mut commands, root, kind, 2, 3, font * 1.2, &colors.0);
}

#[expect(clippy::too_many_arguments, reason = "the overview shows a bit of everything")]
fn draw_main(
    fleet: Res<Fleet>,
    history: Res<AnalyticsHistory>,
    (time, colors): (Res<Time>, Res<Colors>),
    mut every: Local<Every>,
    mut statuses: ResMut<PanelStatuses>,
    mut counts: Query<(&StatCount, &mut Text), Without<PanelRow>>,
    mut rows: Query<(&PanelRow, &mut Text, &mut TextColor)>,
    mut bars: Query<(&ChartBar, &mut Node)>,
) -> Result {
    // Counting is O(fleet): on change, and once a second for the clock.
    if !every.due(time.delta_secs(), fleet.is_changed() || history.is_changed(), 0.0, 1.0) {
        return Ok(());
    }
    let kind = PanelKind::Main;
    let now = now_ms();
    let model = &fleet.0;
    let c = model.counts();
    for (sc, mut text) in &mut counts {
        let s = c[sc.0].to_string();
        if text.0 != s {
            text.0 = s;
        }
    }
    let [crit, warn, info] = model.alerts_by_severity();
    let plays = history.samples.back().map(|s| s.plays);
    let (scaled, max) = history.scaled(now, |s| s.plays);
    write_chart(kind, 0, &scaled, &mut bars);
    let secs = now / 1000;
    let theme = &colors.0;
    let text = [
        Row::new(
            format!("OPEN ALERTS   CRITICAL {crit}   WARNING {warn}   INFO {info}"),
            if crit > 0 { palette::OFFLINE } else { theme.text },
        ),
        Row::new(
            match plays {
                Some(p) => format!("PLAYS / MIN  {}   (15 min peak {})", short(p), short(max)),
                None => "PLAYS / MIN  no metrics yet".to_owned(),
            },
            theme.text,
        ),
        Row::new(format!("{:02}:{:02}:{:02} UTC", (secs / 3600) % 24, (secs / 60) % 60, secs % 60), theme.text),
        Row::new(
            match model.last_event_ms {
                Some(t) => format!("last event {} ago", age(now.saturating_sub(t))),
                None => "no events yet".to_owned(),
            },
            theme.text_dim,
        ),
        Row::new(
            format!("{} pending operator changes", model.engine().pending().len()),
            if model.engine().pending().is_empty() { theme.text_dim } else { palette::ACCENT },
        ),
    ];
    write_rows(kind, &text, &mut rows, theme);
    let no_data = model.position().is_none();
    PanelStatuses::set(&mut statuses, kind, PanelStatus { no_data, ..PanelStatus::default() });
    Ok(())
}
