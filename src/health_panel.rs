//! HealthPanelPlugin: open alerts by severity and age, each with a severity
//! label (not colour alone), its state and who acknowledged it.

use bevy::prelude::*;
use vizora_protocol::{Alert, AlertState, Severity, now_ms};

use crate::config::PanelKind;
use crate::devices_panel::WallSize;
use crate::fleet::{AlertsChanged, Fleet, FleetReset};
use crate::pages::WallSettings;
use crate::palette::{self, Rgb};
use crate::panel::{HatchImages, spawn_panel};

/// Most alert rows on screen.
pub const MAX_ROWS: usize = 24;

/// Root node of the panel.
#[derive(Component, Debug)]
pub struct HealthPanel;

/// One alert row; its text is refreshed every second (ages move).
#[derive(Component, Debug)]
pub struct AlertRow(pub usize);

/// A row of an open critical alert: its text pulses with the tile pulse clock.
#[derive(Component, Debug, Clone, Copy, PartialEq)]
pub struct RowPulse(pub bool);

/// Draws the health panel.
#[derive(Default)]
pub struct HealthPanelPlugin;

impl Plugin for HealthPanelPlugin {
    fn build(&self, app: &mut App) {
        crate::panel::ensure_panel_plugin(app);
        app.add_systems(Startup, spawn_health_panel).add_systems(Update, (update_alert_rows, pulse_rows).chain());
    }
}

fn rgb(c: Rgb) -> Color {
    Color::srgb_u8(c[0], c[1], c[2])
}

fn severity_style(s: Severity) -> (&'static str, Rgb) {
    match s {
        Severity::Critical => ("[CRIT]", palette::OFFLINE),
        Severity::Warning => ("[WARN]", palette::DEGRADED),
        Severity::Info => ("[INFO]", palette::ACCENT),
    }
}

/// "3m 12s" style age.
pub fn age(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, (s / 60) % 60),
    }
}

/// Unresolved alerts, most severe first, then oldest first.
pub fn open_alerts(fleet: &Fleet) -> Vec<&Alert> {
    let mut v: Vec<&Alert> = fleet.0.view().alerts.values().filter(|a| a.state != AlertState::Resolved).collect();
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
    let msg = crate::panel::ascii(&a.message, 34);
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

fn spawn_health_panel(
    mut commands: Commands,
    size: Res<WallSize>,
    settings: Option<Res<WallSettings>>,
    images: Res<HatchImages>,
) {
    let text_px = settings.map(|s| s.0.text_px(size.h)).unwrap_or(24.0).min(size.h / (MAX_ROWS as f32 + 6.0));
    let root = spawn_panel(&mut commands, PanelKind::Health, &size, text_px, &images);
    commands.entity(root).insert(HealthPanel).with_children(|p| {
        p.spawn((
            Text::new("OPEN ALERTS"),
            TextFont::from_font_size(text_px * 1.1),
            TextColor(rgb(palette::text())),
            AlertRow(usize::MAX),
        ));
        for i in 0..MAX_ROWS {
            p.spawn((
                Text::new(""),
                TextFont::from_font_size(text_px),
                TextColor(rgb(palette::text())),
                TextLayout::default().with_no_wrap(),
                AlertRow(i),
                RowPulse(false),
            ));
        }
    });
}

fn update_alert_rows(
    fleet: Res<Fleet>,
    time: Res<Time>,
    mut since: Local<f32>,
    mut changed: MessageReader<AlertsChanged>,
    mut reset: MessageReader<FleetReset>,
    mut rows: Query<(&AlertRow, &mut Text, &mut TextColor, Option<&mut RowPulse>)>,
) {
    *since += time.delta_secs();
    let dirty = changed.read().count() + reset.read().count() > 0;
    // Ages move every second; content moves with the alerts.
    if !dirty && *since < 1.0 {
        return;
    }
    *since = 0.0;
    let now = now_ms();
    let alerts = open_alerts(&fleet);
    for (row, mut text, mut color, pulse) in &mut rows {
        let escalating = alerts.get(row.0).is_some_and(|a| escalated(a, now));
        if let Some(mut p) = pulse
            && p.0 != escalating
        {
            p.0 = escalating;
        }
        let (s, c) = if row.0 == usize::MAX {
            (format!("OPEN ALERTS  {}", alerts.len()), palette::text())
        } else if let Some(a) = alerts.get(row.0) {
            (row_text(a, now), severity_style(a.severity).1)
        } else if row.0 == MAX_ROWS - 1 && alerts.len() > MAX_ROWS {
            (format!("... and {} more", alerts.len() - (MAX_ROWS - 1)), palette::text_dim())
        } else {
            (String::new(), palette::text())
        };
        if text.0 != s {
            text.0 = s;
        }
        if color.0.with_alpha(1.0) != rgb(c) {
            color.0 = rgb(c).with_alpha(color.0.alpha());
        }
    }
}

/// Open and unacknowledged for five minutes, critical or warning: the row breathes.
pub fn escalated(a: &Alert, now: u64) -> bool {
    a.state == AlertState::Open && a.severity != Severity::Info && now.saturating_sub(a.raised_ms) >= 300_000
}

/// Escalated rows breathe between 55 % and 100 % at the tile pulse rate (≤ 3 Hz).
fn pulse_rows(clock: Res<crate::tile_marks::PulseClock>, mut rows: Query<(&RowPulse, &mut TextColor)>) {
    let a = 0.775 + 0.225 * (std::f32::consts::TAU * crate::tile_marks::PULSE_HZ * clock.t).sin();
    for (p, mut c) in &mut rows {
        let want = if p.0 { a } else { 1.0 };
        if (c.0.alpha() - want).abs() > 0.01 {
            c.0.set_alpha(want);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_well() {
        assert_eq!(age(5_400), "5s");
        assert_eq!(age(192_000), "3m 12s");
        assert_eq!(age(7_260_000), "2h 01m");
    }
}
