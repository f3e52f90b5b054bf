//! HudPlugin: the always-visible top bar: product, DEMO badge, fleet totals,
//! open alerts, connection badge, clock. Text is sized for distance from
//! the screen height.

use bevy::prelude::*;
use vizora_protocol::now_ms;

use crate::base::layout::bar_height;
use crate::base::palette::{self, Rgb, Theme};
use crate::sync::fleet::Fleet;
use crate::sync::net::{LinkInfo, LinkState};
use crate::wall::WallSize;
use crate::wall::pages::ActivePage;
use crate::wall::{Colors, DemoMode, SceneShift, WallSettings, color};

/// Root node of the top bar (moved by the kiosk's burn-in shift).
#[derive(Component, Debug)]
pub struct HudRoot;

/// Which HUD text a node shows.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq)]
pub enum HudText {
    /// Fleet totals.
    Totals,
    /// Connection badge.
    Link,
    /// UTC clock.
    Clock,
    /// Operator changes not yet confirmed by the gateway.
    Pending,
    /// Page name, and whether an alert holds it.
    Page,
}

/// Draws the top bar.
#[derive(Default)]
pub struct HudPlugin;

impl Plugin for HudPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<DemoMode>()
            .init_resource::<Colors>()
            .add_systems(Startup, spawn_hud)
            .add_systems(Update, update_hud);
    }
}

fn spawn_hud(mut commands: Commands, size: Res<WallSize>, demo: Res<DemoMode>, colors: Res<Colors>) {
    let theme = &colors.0;
    let bar = bar_height(size.h);
    let font = bar * 0.36;
    let pad = bar * 0.25;
    let text = |s: &str, c: Rgb| {
        (Text::new(s), TextFont::from_font_size(font), TextColor(color(c)), TextLayout::default().with_no_wrap())
    };
    commands
        .spawn((
            HudRoot,
            SceneShift,
            Node {
                position_type: PositionType::Absolute,
                left: px(0),
                top: px(0),
                width: percent(100),
                height: px(bar),
                padding: UiRect::horizontal(px(pad)),
                align_items: AlignItems::Center,
                column_gap: px(pad * 2.0),
                ..default()
            },
            BackgroundColor(color(theme.panel)),
        ))
        .with_children(|bar_node| {
            bar_node.spawn(text("VIZORA", theme.text));
            if demo.0 {
                bar_node.spawn((
                    Node { padding: UiRect::axes(px(pad * 0.6), px(pad * 0.15)), ..default() },
                    BackgroundColor(color(palette::ACCENT)),
                    children![(Text::new("DEMO"), TextFont::from_font_size(font), TextColor(color(theme.background)))],
                ));
            }
            bar_node.spawn((text("", palette::ACCENT), HudText::Page));
            bar_node.spawn((text("", theme.text), HudText::Totals));
            bar_node.spawn(Node { flex_grow: 1.0, ..default() });
            bar_node.spawn((text("", theme.text_dim), HudText::Pending));
            bar_node.spawn((text("", theme.text), HudText::Link));
            bar_node.spawn((text("", theme.text_dim), HudText::Clock));
        });
}

fn link_badge(state: LinkState, info: &LinkInfo, theme: &Theme) -> (String, Rgb) {
    let (badge, color) = live_badge(state, info, theme);
    match info.restored_as_of_ms {
        Some(t) if state != LinkState::Live => {
            let s = t / 1000;
            (format!("{badge} | DATA AS OF {:02}:{:02}", (s / 3600) % 24, (s / 60) % 60), color)
        }
        _ => (badge, color),
    }
}

fn live_badge(state: LinkState, info: &LinkInfo, theme: &Theme) -> (String, Rgb) {
    let since = |t: u64| format!("{:02}:{:02}", (t / 3_600_000) % 24, (t / 60_000) % 60);
    let (badge, color) = plain_badge(state, info, theme);
    match (state, info.down_since_ms) {
        (LinkState::Reconnecting | LinkState::Refused, Some(t)) => {
            (format!("{badge} | DOWN SINCE {}", since(t)), color)
        }
        _ => (badge, color),
    }
}

fn plain_badge(state: LinkState, info: &LinkInfo, theme: &Theme) -> (String, Rgb) {
    match state {
        LinkState::Live => ("LIVE".into(), palette::ONLINE),
        LinkState::Connecting => ("CONNECTING".into(), palette::DEGRADED),
        LinkState::Reconnecting => {
            let secs = info.retry_in.map(|d| d.as_secs_f32().ceil() as u64).unwrap_or(0);
            (format!("RECONNECTING in {secs} s"), palette::DEGRADED)
        }
        LinkState::Refused => ("REFUSED: check token".into(), palette::OFFLINE),
        LinkState::Offline => ("FIXTURE".into(), theme.text_dim),
    }
}

#[expect(clippy::too_many_arguments, reason = "each argument is one thing the bar shows")]
fn update_hud(
    fleet: Res<Fleet>,
    state: Res<State<LinkState>>,
    info: Res<LinkInfo>,
    page: Option<Res<ActivePage>>,
    settings: Option<Res<WallSettings>>,
    (time, colors): (Res<Time>, Res<Colors>),
    mut since: Local<f32>,
    mut q: Query<(&HudText, &mut Text, &mut TextColor)>,
) {
    // Redraw when something shown moved, and once a second for the clock:
    // counting the fleet every frame would make frames cost O(fleet).
    *since += time.delta_secs();
    let moved =
        fleet.is_changed() || state.is_changed() || info.is_changed() || page.as_ref().is_some_and(|p| p.is_changed());
    if !moved && *since < 1.0 {
        return;
    }
    *since = 0.0;
    let now = now_ms();
    let theme = &colors.0;
    for (which, mut text, mut tc) in &mut q {
        let (s, c) = match which {
            HudText::Totals => {
                let [on, deg, off, unk] = fleet.0.counts();
                (format!("OK {on}  DEG {deg}  OFF {off}  ? {unk}  ALERTS {}", fleet.0.open_alerts()), theme.text)
            }
            HudText::Pending => {
                let n = fleet.0.engine().pending().len();
                (format!("PENDING {n}"), if n > 0 { palette::ACCENT } else { theme.text_dim })
            }
            HudText::Link => link_badge(*state.get(), &info, theme),
            HudText::Page => match (&page, &settings) {
                (Some(p), Some(s)) => {
                    let name = s.0.pages.get(p.index).map(|pg| pg.name.to_uppercase()).unwrap_or_default();
                    match (p.pinned, p.paused) {
                        (true, _) => (format!("{name} (PINNED)"), palette::OFFLINE),
                        (false, true) => (format!("{name} (PAUSED)"), palette::ACCENT),
                        (false, false) => (name, palette::ACCENT),
                    }
                }
                _ => (String::new(), palette::ACCENT),
            },
            HudText::Clock => {
                let secs = now / 1000;
                (format!("{:02}:{:02}:{:02} UTC", (secs / 3600) % 24, (secs / 60) % 60, secs % 60), theme.text_dim)
            }
        };
        if text.0 != s {
            text.0 = s;
        }
        let c = color(c);
        if tc.0 != c {
            tc.0 = c;
        }
    }
}
