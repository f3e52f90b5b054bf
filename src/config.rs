//! Wallboard configuration (`config/wallboard.ron`): pages of panels, page
//! rotation, alert pinning, text sizing for viewing distance. Loaded and
//! validated once, before the app starts; errors carry file:line:col and
//! name unknown keys.

use std::path::Path;

use serde::{Deserialize, Serialize};
use vizora_gateway::config::{ConfigError, load_ron};

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

/// One page of the rotation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageConfig {
    /// Page name, shown in the bar.
    pub name: String,
    /// What it shows.
    pub panel: PanelKind,
}

/// The wallboard config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WallConfig {
    /// Pages, shown in turn.
    pub pages: Vec<PageConfig>,
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
    /// Kiosk mode settings (used with `--kiosk`).
    pub kiosk: crate::kiosk::KioskConfig,
}

impl Default for WallConfig {
    fn default() -> Self {
        Self {
            pages: PanelKind::ALL.iter().map(|&p| PageConfig { name: p.title().into(), panel: p }).collect(),
            rotate_s: 20.0,
            pin_health_on_critical: true,
            viewing_distance_m: 4.0,
            screen_height_m: 0.68,
            silent_after_s: 90.0,
            kiosk: crate::kiosk::KioskConfig::default(),
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
        if !(0.0..=86_400.0).contains(&self.rotate_s) {
            return Err(("rotate_s", "must be 0 (no rotation) to 86400 seconds".into()));
        }
        if !(self.viewing_distance_m > 0.0 && self.screen_height_m > 0.0) {
            return Err(("viewing_distance_m", "distance and screen height must be > 0".into()));
        }
        if !(self.silent_after_s > 0.0 && self.silent_after_s <= 7.0 * 86_400.0) {
            return Err(("silent_after_s", "must be > 0 seconds".into()));
        }
        self.kiosk.validate()
    }

    /// Index of the first page showing `panel`.
    pub fn page_of(&self, panel: PanelKind) -> Option<usize> {
        self.pages.iter().position(|p| p.panel == panel)
    }

    /// Body text height in pixels for a screen `height_px` tall: AVIXA's 150
    /// rule, the farthest viewer at ≤ 150× the text height.
    pub fn text_px(&self, height_px: f32) -> f32 {
        let text_m = self.viewing_distance_m / 150.0;
        (text_m / self.screen_height_m * height_px).clamp(12.0, height_px / 12.0)
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
    fn text_grows_with_distance_and_screen_resolution() {
        let cfg = WallConfig { viewing_distance_m: 6.0, screen_height_m: 0.68, ..Default::default() };
        let px_1080 = cfg.text_px(1080.0);
        assert!((px_1080 - 63.5).abs() < 1.0, "6 m / 150 = 4 cm of a 68 cm screen: {px_1080}");
        assert!((cfg.text_px(2160.0) - 2.0 * px_1080).abs() < 0.01);
    }
}
