//! PagesPlugin: which panel the wall shows. Pages rotate on the configured
//! interval; an open critical alert holds the health page until it is
//! acknowledged, resolved or muted. An operator's keys come first: 1 to 9
//! show and hold a page, P holds or resumes.

use bevy::prelude::*;
use vizora_protocol::{AlertState, Severity, now_ms};

use crate::base::config::{PageConfig, PanelKind, Placement};
use crate::base::layout::{cell_rect, tile_area};
use crate::sync::fleet::Fleet;
use crate::wall::{WallSettings, WallSize};

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
    /// Rotation paused by the operator (P); number keys still switch pages.
    pub paused: bool,
    /// The page's grid (columns, rows).
    pub grid: (u8, u8),
    /// Its panels and where they go on the grid.
    pub placements: Vec<Placement>,
    timer: Timer,
}

impl ActivePage {
    /// Whether this page shows `kind`.
    pub fn shows(&self, kind: PanelKind) -> bool {
        self.placements.iter().any(|p| p.panel == kind)
    }

    /// Where `kind` shows on a surface of `size`, if this page shows it.
    pub fn rect_of(&self, kind: PanelKind, size: WallSize) -> Option<crate::base::layout::Rect> {
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
            paused: false,
            grid: (1, 1),
            placements: Vec::new(),
            timer: Timer::from_seconds(secs, TimerMode::Repeating),
        };
        active.show(index, &page);
        app.insert_resource(active)
            .init_resource::<crate::wall::focus::DeviceFilter>()
            .init_resource::<crate::wall::focus::InputCapture>()
            .add_systems(Update, (keys_to_pages, choose_page).chain().in_set(PageSystems::Choose));
    }
}

/// An open, unmuted critical alert exists.
pub fn critical_open(fleet: &Fleet, now: u64) -> bool {
    fleet.0.view().alerts.values().any(|a| {
        a.severity == Severity::Critical && a.state == AlertState::Open && a.muted_until_ms.is_none_or(|m| m <= now)
    })
}

/// The page keys: 1 to 9 show that page (and pause the rotation on it),
/// P pauses or resumes the rotation. Ignored while the search box has the
/// keyboard.
fn keys_to_pages(keys: crate::wall::focus::WallKeys, settings: Res<WallSettings>, mut page: ResMut<ActivePage>) {
    let Some(keys) = keys.get() else { return };
    if page.fixed {
        return;
    }
    const DIGITS: [KeyCode; 9] = [
        KeyCode::Digit1,
        KeyCode::Digit2,
        KeyCode::Digit3,
        KeyCode::Digit4,
        KeyCode::Digit5,
        KeyCode::Digit6,
        KeyCode::Digit7,
        KeyCode::Digit8,
        KeyCode::Digit9,
    ];
    if let Some(i) = DIGITS.iter().position(|k| keys.just_pressed(*k))
        && let Some(p) = settings.0.pages.get(i)
    {
        page.show(i, p);
        page.paused = true;
        page.pinned = false;
        page.timer.reset();
    }
    if keys.just_pressed(KeyCode::KeyP) {
        page.paused = !page.paused;
        page.timer.reset();
    }
}

fn choose_page(
    time: Res<Time>,
    settings: Res<WallSettings>,
    fleet: Res<Fleet>,
    mut page: ResMut<ActivePage>,
    mut pin_cache: Local<(bool, f32)>,
) {
    let cfg = &settings.0;
    // A page chosen on the command line, or held by the operator, stays
    // (over the rotation and over a critical alert's pin).
    if page.fixed || page.paused {
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
