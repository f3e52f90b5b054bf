//! PagesPlugin: which panel the wall shows. Pages rotate on the configured
//! interval; an open critical alert holds the health page until it is
//! acknowledged, resolved or muted.

use bevy::prelude::*;
use vizora_protocol::{AlertState, Severity, now_ms};

use crate::config::{PageConfig, PanelKind, Placement, WallConfig};
use crate::devices_panel::WallSize;
use crate::fleet::Fleet;
use crate::layout::{cell_rect, tile_area};

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
    /// The page's grid (columns, rows).
    pub grid: (u8, u8),
    /// Its panels and where they go on the grid.
    pub placements: Vec<Placement>,
    timer: Timer,
}

impl ActivePage {
    /// Where `kind` shows on a surface of `size`, if this page shows it.
    pub fn rect_of(&self, kind: PanelKind, size: WallSize) -> Option<crate::layout::Rect> {
        let p = self.placements.iter().find(|p| p.panel == kind)?;
        Some(cell_rect(tile_area(size.w, size.h), self.grid, p.at, p.span))
    }

    fn show(&mut self, index: usize, page: &PageConfig) {
        self.index = index;
        self.panel = page.primary();
        self.grid = page.grid;
        self.placements = page.placements();
    }
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
        // A page chosen on the command line shows that one panel full screen.
        let page = match self.fixed {
            Some(p) => PageConfig::single(p.title(), p),
            None => cfg.pages[index].clone(),
        };
        // No rotation: a timer that never comes round (f32::MAX seconds is no Duration).
        let secs = if cfg.rotate_s > 0.0 { cfg.rotate_s } else { 365.0 * 86_400.0 };
        let mut active = ActivePage {
            index,
            panel: page.primary(),
            pinned: false,
            fixed: self.fixed.is_some(),
            grid: (1, 1),
            placements: Vec::new(),
            timer: Timer::from_seconds(secs, TimerMode::Repeating),
        };
        active.show(index, &page);
        app.insert_resource(active).add_systems(Update, choose_page.in_set(PageSystems::Choose));
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
            page.show(i, &cfg.pages[i]);
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
        let next = (page.index + 1) % cfg.pages.len();
        page.show(next, &cfg.pages[next]);
    }
}
