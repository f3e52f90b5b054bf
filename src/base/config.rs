//! Wallboard configuration (`config/wallboard.ron`): pages of panels, page
//! rotation, alert pinning, text sizing for viewing distance. Loaded and
//! validated once, before the app starts; errors carry file:line:col and
//! name unknown keys.

use std::path::Path;

use serde::{Deserialize, Serialize};
use vizora_config::{ConfigError, load_ron};

/// A panel a page can show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PanelKind {
    /// Fleet totals, alerts by severity, plays per minute, clock.
    Main,
    /// One tile per device.
    Devices,
    /// Open alerts by severity and age.
    Health,
    /// Plays, impressions and errors over 15 minutes; top content.
    Analytics,
    /// Schedules per device group; what should play against what plays.
    Schedules,
    /// Playlists, their items and who runs them.
    Playlists,
    /// The content library and where it is used.
    Content,
}

impl PanelKind {
    /// Every panel, in the order of the default rotation.
    pub const ALL: [PanelKind; 7] =
        [Self::Main, Self::Devices, Self::Health, Self::Analytics, Self::Schedules, Self::Playlists, Self::Content];

    /// The name used on the command line and in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Main => "main",
            Self::Devices => "devices",
            Self::Health => "health",
            Self::Analytics => "analytics",
            Self::Schedules => "schedules",
            Self::Playlists => "playlists",
            Self::Content => "content",
        }
    }

    /// The page title.
    pub fn title(self) -> &'static str {
        match self {
            Self::Main => "Overview",
            Self::Devices => "Devices",
            Self::Health => "Health",
            Self::Analytics => "Analytics",
            Self::Schedules => "Schedules",
            Self::Playlists => "Playlists",
            Self::Content => "Content",
        }
    }
}

/// One page of the rotation: one panel over the whole screen (`panel`), or
/// several panels placed on a grid (`grid` + `panels`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageConfig {
    /// Page name, shown in the bar.
    pub name: String,
    /// The one panel it shows, full screen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub panel: Option<PanelKind>,
    /// Columns and rows of the grid `panels` are placed on.
    #[serde(default = "one_by_one")]
    pub grid: (u8, u8),
    /// Panels placed on the grid.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub panels: Vec<Placement>,
}

/// A panel on a page's grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Placement {
    /// The panel.
    pub panel: PanelKind,
    /// Its top-left cell, (column, row) from 0.
    #[serde(default)]
    pub at: (u8, u8),
    /// Cells it covers, (columns, rows).
    #[serde(default = "one_by_one")]
    pub span: (u8, u8),
}

fn one_by_one() -> (u8, u8) {
    (1, 1)
}

impl PageConfig {
    /// A page of one panel over the whole screen.
    pub fn single(name: impl Into<String>, panel: PanelKind) -> Self {
        Self { name: name.into(), panel: Some(panel), grid: (1, 1), panels: Vec::new() }
    }

    /// Where its panels go: `panel` covers the grid; else `panels`.
    pub fn placements(&self) -> Vec<Placement> {
        match self.panel {
            Some(panel) => vec![Placement { panel, at: (0, 0), span: self.grid }],
            None => self.panels.clone(),
        }
    }

    /// The first panel it shows (what the page is "about", e.g. for pinning).
    pub fn primary(&self) -> PanelKind {
        self.placements().first().map_or(PanelKind::Main, |p| p.panel)
    }

    /// Whether it shows `kind`.
    pub fn shows(&self, kind: PanelKind) -> bool {
        self.placements().iter().any(|p| p.panel == kind)
    }

    fn check(&self, i: usize) -> Result<(), String> {
        let name = format!("page {i} ({:?})", self.name);
        let (cols, rows) = self.grid;
        if cols == 0 || rows == 0 || cols > 12 || rows > 12 {
            return Err(format!("{name}: grid must be 1 to 12 columns and rows, got {cols}x{rows}"));
        }
        match (self.panel, self.panels.is_empty()) {
            (Some(_), false) => return Err(format!("{name}: give either `panel` or `panels`, not both")),
            (None, true) => return Err(format!("{name}: needs a `panel` or some `panels`")),
            _ => {}
        }
        let mut taken = vec![None::<PanelKind>; cols as usize * rows as usize];
        for p in self.placements() {
            let ((c, r), (w, h)) = (p.at, p.span);
            if w == 0 || h == 0 || c as u16 + w as u16 > cols as u16 || r as u16 + h as u16 > rows as u16 {
                return Err(format!(
                    "{name}: {} at ({c}, {r}) spanning {w}x{h} does not fit the {cols}x{rows} grid",
                    p.panel.as_str()
                ));
            }
            if self.placements().iter().filter(|q| q.panel == p.panel).count() > 1 {
                return Err(format!("{name}: {} is placed twice", p.panel.as_str()));
            }
            for y in r..r + h {
                for x in c..c + w {
                    let cell = &mut taken[y as usize * cols as usize + x as usize];
                    if let Some(other) = cell {
                        return Err(format!(
                            "{name}: {} overlaps {} at cell ({x}, {y})",
                            p.panel.as_str(),
                            other.as_str()
                        ));
                    }
                    *cell = Some(p.panel);
                }
            }
        }
        Ok(())
    }
}

/// One physical screen of a wall: its pages and the monitor it is on. A
/// wall process drives one screen (`vizora wall --screen NAME`); a room
/// with several screens runs one process per screen from the same file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScreenConfig {
    /// Name, chosen with `--screen`.
    pub name: String,
    /// Monitor index for kiosk mode.
    #[serde(default)]
    pub monitor: usize,
    /// Its pages, shown in turn.
    pub pages: Vec<PageConfig>,
}

/// The wallboard config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WallConfig {
    /// Pages, shown in turn (when no `screens` are given, or after one is chosen).
    pub pages: Vec<PageConfig>,
    /// Screens, each with its own pages; empty: one screen showing `pages`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub screens: Vec<ScreenConfig>,
    /// Seconds each page shows; 0 disables rotation.
    pub rotate_s: f32,
    /// A new critical alert pins the health page until it is acknowledged or resolved.
    pub pin_health_on_critical: bool,
    /// Typical viewing distance, metres: sets the text size (AVIXA 150 rule).
    pub viewing_distance_m: f32,
    /// Physical height of the screen, metres.
    pub screen_height_m: f32,
    /// A device not heard from for this long is hatched as silent.
    pub silent_after_s: f32,
    /// An operator change the gateway has not taken after this many seconds
    /// is shown as failed and withdrawn (not left pending forever).
    pub give_up_after_s: f32,
    /// Seconds a confirmation that an operator change was applied stays on
    /// screen; 0: no confirmations (refusals always show).
    pub confirm_s: f32,
    /// Background and text colours (status colours are fixed).
    pub theme: crate::base::palette::Theme,
    /// Kiosk mode settings (used with `--kiosk`).
    pub kiosk: KioskConfig,
}

impl Default for WallConfig {
    fn default() -> Self {
        Self {
            pages: PanelKind::ALL.iter().map(|&p| PageConfig::single(p.title(), p)).collect(),
            screens: Vec::new(),
            rotate_s: 20.0,
            pin_health_on_critical: true,
            viewing_distance_m: 4.0,
            screen_height_m: 0.68,
            silent_after_s: 90.0,
            give_up_after_s: 300.0,
            confirm_s: 3.0,
            theme: crate::base::palette::Theme::default(),
            kiosk: KioskConfig::default(),
        }
    }
}

impl WallConfig {
    /// Reads and validates a RON file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        load_ron(path, Self::validate)
    }

    /// Checks ranges.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.pages.is_empty() {
            return Err(("pages", "at least one page".into()));
        }
        for (i, p) in self.pages.iter().enumerate() {
            p.check(i).map_err(|m| ("pages", m))?;
        }
        for (n, s) in self.screens.iter().enumerate() {
            if self.screens.iter().filter(|o| o.name == s.name).count() > 1 {
                return Err(("screens", format!("screen {n}: the name {:?} is used twice", s.name)));
            }
            if s.pages.is_empty() {
                return Err(("screens", format!("screen {n} ({:?}): at least one page", s.name)));
            }
            for (i, p) in s.pages.iter().enumerate() {
                p.check(i).map_err(|m| ("screens", format!("screen {n} ({:?}): {m}", s.name)))?;
            }
        }
        if !(0.0..=86_400.0).contains(&self.rotate_s) {
            return Err(("rotate_s", "must be 0 (no rotation) to 86400 seconds".into()));
        }
        if !(self.viewing_distance_m > 0.0 && self.screen_height_m > 0.0) {
            return Err(("viewing_distance_m", "distance and screen height must be > 0".into()));
        }
        if !(self.silent_after_s > 0.0 && self.silent_after_s <= 7.0 * 86_400.0) {
            return Err(("silent_after_s", "must be > 0 seconds".into()));
        }
        if !(self.give_up_after_s >= 1.0 && self.give_up_after_s <= 7.0 * 86_400.0) {
            return Err(("give_up_after_s", "must be 1 to 604800 seconds".into()));
        }
        if !(0.0..=60.0).contains(&self.confirm_s) {
            return Err(("confirm_s", "must be 0 (off) to 60 seconds".into()));
        }
        self.theme.validate()?;
        self.kiosk.validate()
    }

    /// The config for one screen: its pages and monitor in place of the
    /// top-level ones. `None` picks the first screen (or the top level
    /// when there are no screens); an unknown name lists the known ones.
    pub fn for_screen(mut self, name: Option<&str>) -> Result<Self, String> {
        if self.screens.is_empty() {
            return match name {
                None => Ok(self),
                Some(n) => Err(format!("--screen {n}: the config defines no screens")),
            };
        }
        let i = match name {
            None => 0,
            Some(n) => self.screens.iter().position(|s| s.name == n).ok_or_else(|| {
                let known: Vec<&str> = self.screens.iter().map(|s| s.name.as_str()).collect();
                format!("--screen {n}: no such screen (screens: {})", known.join(", "))
            })?,
        };
        let screen = self.screens.swap_remove(i);
        self.pages = screen.pages;
        self.kiosk.monitor = screen.monitor;
        self.screens.clear();
        Ok(self)
    }

    /// Index of the first page showing `panel`.
    pub fn page_of(&self, panel: PanelKind) -> Option<usize> {
        self.pages.iter().position(|p| p.shows(panel))
    }

    /// Body text height in pixels for a screen `height_px` tall: AVIXA's 150
    /// rule, the farthest viewer at ≤ 150× the text height.
    pub fn text_px(&self, height_px: f32) -> f32 {
        let text_m = self.viewing_distance_m / 150.0;
        (text_m / self.screen_height_m * height_px).clamp(12.0, height_px / 12.0)
    }
}

/// Kiosk settings (`kiosk` in `config/wallboard.ron`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KioskConfig {
    /// Monitor index for full screen.
    pub monitor: usize,
    /// Keys held together to quit, e.g. ["ControlLeft", "AltLeft", "KeyQ"].
    pub exit_chord: Vec<String>,
    /// Largest burn-in shift, pixels.
    pub shift_px: f32,
    /// Seconds between shifts.
    pub shift_every_s: f32,
    /// Dim from this local hour (0–23)…
    pub dim_from_hour: u8,
    /// …until this hour.
    pub dim_to_hour: u8,
    /// How dark when dimmed, 0 (none) to 1 (black).
    pub dim_level: f32,
}

impl Default for KioskConfig {
    fn default() -> Self {
        Self {
            monitor: 0,
            exit_chord: vec!["ControlLeft".into(), "AltLeft".into(), "KeyQ".into()],
            shift_px: 4.0,
            shift_every_s: 60.0,
            dim_from_hour: 22,
            dim_to_hour: 6,
            dim_level: 0.5,
        }
    }
}

/// Key names accepted in `exit_chord` (the kiosk maps each to its key).
pub const KEY_NAMES: [&str; 15] = [
    "ControlLeft",
    "ControlRight",
    "AltLeft",
    "AltRight",
    "ShiftLeft",
    "ShiftRight",
    "SuperLeft",
    "Escape",
    "F1",
    "F4",
    "F10",
    "F12",
    "KeyQ",
    "KeyX",
    "KeyK",
];

impl KioskConfig {
    /// Checks the chord names and ranges.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.exit_chord.is_empty() {
            return Err(("kiosk.exit_chord", "needs at least one key, or the kiosk can never be left".into()));
        }
        if let Some(bad) = self.exit_chord.iter().find(|k| !KEY_NAMES.contains(&k.as_str())) {
            return Err(("kiosk.exit_chord", format!("unknown key `{bad}`")));
        }
        if !(0.0..=1.0).contains(&self.dim_level) || self.dim_from_hour > 23 || self.dim_to_hour > 23 {
            return Err(("kiosk.dim_level", "dim_level in 0..1, hours in 0..23".into()));
        }
        if self.shift_every_s.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater)
            || !(0.0..=64.0).contains(&self.shift_px)
        {
            return Err(("kiosk.shift_every_s", "shift every > 0 s, by 0..64 px".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_config_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/wallboard.ron");
        let cfg = WallConfig::load(&path).expect("config/wallboard.ron loads");
        assert!(cfg.page_of(PanelKind::Health).is_some());
    }

    #[test]
    fn unknown_keys_are_named_with_their_position() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("w.ron");
        std::fs::write(&path, "(\n  rotate_s: 10.0,\n  rotate_secs: 5.0,\n)\n").expect("write");
        let err = WallConfig::load(&path).expect_err("unknown key").to_string();
        assert!(err.contains("w.ron:3:") && err.contains("rotate_secs"), "{err}");
        std::fs::write(&path, "(pages: [])").expect("write");
        let err = WallConfig::load(&path).expect_err("no pages").to_string();
        assert!(err.contains("pages"), "{err}");
    }

    #[test]
    fn pages_place_panels_on_a_grid_and_bad_placements_are_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("w.ron");
        let ok = "(pages: [(name: \"Ops\", grid: (2, 2), panels: [\n  (panel: devices, at: (0, 0), span: (1, 2)),\n  (panel: health, at: (1, 0)),\n  (panel: main, at: (1, 1)),\n])])";
        std::fs::write(&path, ok).expect("write");
        let cfg = WallConfig::load(&path).expect("a 2x2 page loads");
        assert_eq!(cfg.pages[0].placements().len(), 3);
        assert!(cfg.pages[0].shows(PanelKind::Health));
        for (bad, says) in [
            (
                "(pages: [(name: \"X\", grid: (2, 1), panels: [(panel: devices, at: (1, 0), span: (2, 1))])])",
                "does not fit",
            ),
            ("(pages: [(name: \"X\", grid: (2, 1), panels: [(panel: devices), (panel: health)])])", "overlaps"),
            (
                "(pages: [(name: \"X\", grid: (2, 1), panels: [(panel: devices), (panel: devices, at: (1, 0))])])",
                "twice",
            ),
            ("(pages: [(name: \"X\", panel: devices, panels: [(panel: health)])])", "not both"),
            ("(pages: [(name: \"X\")])", "needs a `panel`"),
        ] {
            std::fs::write(&path, bad).expect("write");
            let err = WallConfig::load(&path).expect_err(bad).to_string();
            assert!(err.contains("pages") && err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn screens_each_have_their_pages_and_monitor() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("w.ron");
        let text = "(screens: [\n (name: \"left\", monitor: 0, pages: [(name: \"D\", panel: devices)]),\n (name: \"right\", monitor: 1, pages: [(name: \"H\", panel: health), (name: \"A\", panel: analytics)]),\n])";
        std::fs::write(&path, text).expect("write");
        let cfg = WallConfig::load(&path).expect("screens load");
        let right = cfg.clone().for_screen(Some("right")).expect("right");
        assert_eq!((right.pages.len(), right.kiosk.monitor), (2, 1));
        assert_eq!(cfg.clone().for_screen(None).expect("first").pages[0].primary(), PanelKind::Devices);
        let err = cfg.for_screen(Some("middle")).expect_err("unknown screen");
        assert!(err.contains("left, right"), "{err}");
        std::fs::write(&path, "(screens: [(name: \"a\", pages: [(name: \"x\", panel: main)]), (name: \"a\", pages: [(name: \"y\", panel: main)])])").expect("write");
        let err = WallConfig::load(&path).expect_err("duplicate").to_string();
        assert!(err.contains("screens") && err.contains("twice"), "{err}");
    }

    #[test]
    fn a_theme_without_contrast_is_refused_naming_the_colour() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("w.ron");
        std::fs::write(&path, "(theme: (background: (240, 240, 240), panel: (250, 250, 250), text: (200, 200, 200)))")
            .expect("write");
        let err = WallConfig::load(&path).expect_err("grey on white").to_string();
        assert!(err.contains("theme.text") && err.contains("contrast"), "{err}");
        let light = "(theme: (background: (250, 250, 250), panel: (235, 237, 240), text: (20, 22, 26), text_dim: (90, 96, 104)))";
        std::fs::write(&path, light).expect("write");
        assert!(WallConfig::load(&path).is_ok(), "a light theme with contrast loads");
    }

    #[test]
    fn text_grows_with_distance_and_screen_resolution() {
        let cfg = WallConfig { viewing_distance_m: 6.0, screen_height_m: 0.68, ..Default::default() };
        let px_1080 = cfg.text_px(1080.0);
        assert!((px_1080 - 63.5).abs() < 1.0, "6 m / 150 = 4 cm of a 68 cm screen: {px_1080}");
        assert!((cfg.text_px(2160.0) - 2.0 * px_1080).abs() < 0.01);
    }
}
