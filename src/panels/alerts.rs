//! AlertsPanelPlugin: open alerts by severity and age, each with a severity
//! label (not colour alone), its state and who acknowledged it.

use bevy::prelude::*;
use vizora_protocol::{Alert, AlertState, EntityKind, Severity, now_ms};

use crate::base::config::PanelKind;
use crate::base::format::age;
use crate::base::palette::severity_style;
use crate::sync::fleet::{AlertsChanged, Fleet, FleetReset};
use crate::wall::focus::DeviceFilter;
use crate::wall::panel::{HatchImages, PageKeys, report_to, spawn_panel};
use crate::wall::{Colors, WallSettings};
use crate::wall::{WallSize, color};

/// Most alert rows on screen.
pub const MAX_ROWS: usize = 24;

/// Root node of the panel.
#[derive(Component, Debug)]
pub struct AlertsPanel;

/// One alert row; its text is refreshed every second (ages move).
#[derive(Component, Debug)]
pub struct AlertRow(pub usize);

/// A row of an open critical alert: its text pulses with the tile pulse clock.
#[derive(Component, Debug, Clone, Copy, PartialEq)]
pub struct RowPulse(pub bool);

/// Draws the health panel.
#[derive(Default)]
pub struct AlertsPanelPlugin;

impl Plugin for AlertsPanelPlugin {
    fn build(&self, app: &mut App) {
        crate::wall::panel::ensure_panel_plugin(app);
        app.add_systems(Startup, spawn_alerts_panel)
            .add_systems(Update, (update_alert_rows.pipe(report_to(PanelKind::Health)), pulse_rows).chain());
    }
}

/// Unresolved alerts, most severe first, then oldest first; while a device
/// search is on, only those of matching devices (and none without a device).
pub fn open_alerts<'a>(fleet: &'a Fleet, filter: &DeviceFilter) -> Vec<&'a Alert> {
    let view = fleet.0.view();
    let shown = |a: &Alert| {
        !filter.active() || a.device_id.as_ref().and_then(|id| view.devices.get(id)).is_some_and(|d| filter.matches(d))
    };
    let mut v: Vec<&Alert> = view.alerts.values().filter(|a| a.state != AlertState::Resolved && shown(a)).collect();
    v.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.raised_ms.cmp(&b.raised_ms)).then(a.id.cmp(&b.id)));
    v
}

fn row_text(a: &Alert, now: u64) -> String {
    let (label, _) = severity_style(a.severity);
    let state = match (a.state, a.muted_until_ms) {
        (_, Some(m)) if m > now => "muted".to_owned(),
        (AlertState::Acked, _) => format!("acked by {}", a.acked_by.as_deref().unwrap_or("?")),
        (AlertState::Open, _) => "OPEN".to_owned(),
        (AlertState::Resolved, _) => "resolved".to_owned(),
    };
    let msg = crate::base::format::ascii(&a.message, 34);
    let state: String = state.chars().take(16).collect();
    let open_ms = now.saturating_sub(a.raised_ms);
    // Escalation: open and unacknowledged for 5 minutes, then 15.
    let escalated = match (a.state, a.severity, open_ms) {
        (_, Severity::Info, _) => "",
        (AlertState::Open, _, 900_000..) => "  ESCALATED x2",
        (AlertState::Open, _, 300_000..) => "  ESCALATED",
        _ => "",
    };
    format!("{label}  {msg:<34}  {state:<16}  {}{escalated}", age(open_ms))
}

fn spawn_alerts_panel(
    mut commands: Commands,
    size: Res<WallSize>,
    settings: Option<Res<WallSettings>>,
    images: Res<HatchImages>,
    colors: Res<Colors>,
) {
    let text_px = settings.map(|s| s.0.text_px(size.h)).unwrap_or(24.0).min(size.h / (MAX_ROWS as f32 + 6.0));
    let root = spawn_panel(&mut commands, PanelKind::Health, &size, text_px, &images, &colors.0);
    commands.entity(root).insert(AlertsPanel).with_children(|p| {
        p.spawn((
            Text::new("OPEN ALERTS"),
            TextFont::from_font_size(text_px * 1.1),
            TextColor(color(colors.0.text)),
            AlertRow(usize::MAX),
        ));
        for i in 0..MAX_ROWS {
            p.spawn((
                Text::new(""),
                TextFont::from_font_size(text_px),
                TextColor(color(colors.0.text)),
                TextLayout::default().with_no_wrap(),
                AlertRow(i),
                RowPulse(false),
            ));
        }
    });
}

fn update_alert_rows(
    fleet: Res<Fleet>,
    (time, colors): (Res<Time>, Res<Colors>),
    mut since: Local<f32>,
    mut changed: MessageReader<AlertsChanged>,
    mut reset: MessageReader<FleetReset>,
    (filter, paging, mut scroll): (Res<DeviceFilter>, PageKeys, Local<usize>),
    mut rows: Query<(&AlertRow, &mut Text, &mut TextColor, Option<&mut RowPulse>)>,
) -> Result {
    *since += time.delta_secs();
    // Page Down / Page Up page through the list while the panel shows.
    let per_page = MAX_ROWS - 1;
    let paged = paging.scroll(PanelKind::Health, &mut scroll, per_page);
    let dirty = changed.read().count() + reset.read().count() > 0 || filter.is_changed() || paged;
    // Ages move every second; content moves with the alerts.
    if !dirty && *since < 1.0 {
        return Ok(());
    }
    *since = 0.0;
    let now = now_ms();
    let all = open_alerts(&fleet, &filter);
    // The last page starts where a whole page still fits.
    *scroll = (*scroll).min(all.len().saturating_sub(1) / per_page * per_page);
    let alerts = &all[*scroll..];
    for (row, mut text, mut tc, pulse) in &mut rows {
        let listed = row.0 < per_page;
        let escalating = listed && alerts.get(row.0).is_some_and(|a| escalated(a, now));
        if let Some(mut p) = pulse
            && p.0 != escalating
        {
            p.0 = escalating;
        }
        let (s, c) = if row.0 == usize::MAX {
            let narrowed = if filter.active() { "  (matching the search)" } else { "" };
            (format!("OPEN ALERTS  {}{narrowed}", all.len()), colors.0.text)
        } else if let Some(a) = alerts.get(row.0).filter(|_| listed) {
            // A change of this wall's still waiting for the gateway is marked.
            let mark = if fleet.0.is_pending(EntityKind::Alert, &a.id) { "* " } else { "" };
            (format!("{mark}{}", row_text(a, now)), severity_style(a.severity).1)
        } else if row.0 == per_page && all.len() > per_page {
            let last = (*scroll + per_page).min(all.len());
            (format!("{}-{last} of {}   PgDn / PgUp for more", *scroll + 1, all.len()), colors.0.text_dim)
        } else {
            (String::new(), colors.0.text)
        };
        if text.0 != s {
            text.0 = s;
        }
        if tc.0.with_alpha(1.0) != color(c) {
            tc.0 = color(c).with_alpha(tc.0.alpha());
        }
    }
    Ok(())
}

/// Open and unacknowledged for five minutes, critical or warning: the row breathes.
pub fn escalated(a: &Alert, now: u64) -> bool {
    a.state == AlertState::Open && a.severity != Severity::Info && now.saturating_sub(a.raised_ms) >= 300_000
}

/// Escalated rows breathe between 55 % and 100 % at the tile pulse rate (≤ 3 Hz).
fn pulse_rows(clock: Res<crate::wall::PulseClock>, mut rows: Query<(&RowPulse, &mut TextColor)>) {
    let a = 0.775 + 0.225 * (std::f32::consts::TAU * crate::wall::PULSE_HZ * clock.t).sin();
    for (p, mut c) in &mut rows {
        let want = if p.0 { a } else { 1.0 };
        if (c.0.alpha() - want).abs() > 0.01 {
            c.0.set_alpha(want);
        }
    }
}
