//! PagesPlugin: which panel the wall shows. Pages rotate on the configured
//! interval; an open critical alert holds the health page until it is
//! acknowledged, resolved or muted.

use bevy::prelude::*;
use vizora_protocol::{AlertState, Severity, now_ms};

use crate::config::{PanelKind, WallConfig};
use crate::fleet::Fleet;

/// The config, as a resource.
#[derive(Resource, Debug, Clone, Default)]
pub struct WallSettings(pub WallConfig);

/// The page on screen.
#[derive(Resource, Debug, Clone, PartialEq)]
pub struct ActivePage {
    /// Index into the configured pages.
    pub index: usize,
    /// Its panel.
    pub panel: PanelKind,
    /// Held on the health page by a critical alert.
    pub pinned: bool,
    /// Rotation stopped (a page was chosen on the command line).
    pub fixed: bool,
    timer: Timer,
}

/// Systems of this plugin.
#[derive(SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
pub enum PageSystems {
    /// Decides the page for this frame.
    Choose,
}

/// Page rotation and pinning.
#[derive(Debug, Clone, Default)]
pub struct PagesPlugin {
    /// Show only this panel (no rotation), e.g. from `--page`.
    pub fixed: Option<PanelKind>,
}

impl Plugin for PagesPlugin {
    fn build(&self, app: &mut App) {
        let cfg = app.world().get_resource::<WallSettings>().cloned().unwrap_or_default().0;
        let index = self.fixed.and_then(|p| cfg.page_of(p)).unwrap_or(0);
        let panel = self.fixed.unwrap_or(cfg.pages[index].panel);
        // No rotation: a timer that never comes round (f32::MAX seconds is no Duration).
        let secs = if cfg.rotate_s > 0.0 { cfg.rotate_s } else { 365.0 * 86_400.0 };
        app.insert_resource(ActivePage {
            index,
            panel,
            pinned: false,
            fixed: self.fixed.is_some(),
            timer: Timer::from_seconds(secs, TimerMode::Repeating),
        })
        .add_systems(Update, choose_page.in_set(PageSystems::Choose));
    }
}

/// An open, unmuted critical alert exists.
pub fn critical_open(fleet: &Fleet, now: u64) -> bool {
    fleet.0.view().alerts.values().any(|a| {
        a.severity == Severity::Critical && a.state == AlertState::Open && a.muted_until_ms.is_none_or(|m| m <= now)
    })
}

fn choose_page(
    time: Res<Time>,
    settings: Res<WallSettings>,
    fleet: Res<Fleet>,
    mut page: ResMut<ActivePage>,
    mut pin_cache: Local<(bool, f32)>,
) {
    let cfg = &settings.0;
    if page.fixed {
        return;
    }
    // Alerts are scanned when they change, and once a second for mutes running out.
    pin_cache.1 += time.delta_secs();
    if fleet.is_changed() || pin_cache.1 >= 1.0 {
        *pin_cache = (critical_open(&fleet, now_ms()), 0.0);
    }
    let pin = cfg.pin_health_on_critical && pin_cache.0;
    if pin && let Some(i) = cfg.page_of(PanelKind::Health) {
        if !page.pinned || page.index != i {
            page.index = i;
            page.panel = PanelKind::Health;
            page.pinned = true;
            page.timer.reset();
        }
        return;
    }
    if page.pinned {
        page.pinned = false;
        page.timer.reset();
    }
    // The timer ticks every frame; only a page turn counts as a change.
    let turned = page.bypass_change_detection().timer.tick(time.delta()).just_finished();
    if turned && cfg.pages.len() > 1 {
        page.index = (page.index + 1) % cfg.pages.len();
        page.panel = cfg.pages[page.index].panel;
    }
}
