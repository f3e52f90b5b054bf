//! Status colours (Okabe-Ito, safe for colour-blind viewers), with a label
//! and a shape for each so colour is never the only cue.

use vizora_protocol::DeviceStatus;

/// An sRGB colour as bytes.
pub type Rgb = [u8; 3];

/// The themeable colours: backgrounds and text. Status colours and the
/// accent are not themeable: they carry meaning and were chosen to stay
/// distinguishable for colour-blind viewers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Theme {
    /// Background of the wall.
    pub background: Rgb,
    /// Panel and bar background.
    pub panel: Rgb,
    /// Primary text.
    pub text: Rgb,
    /// Secondary text.
    pub text_dim: Rgb,
}

impl Default for Theme {
    fn default() -> Self {
        Self { background: [14, 17, 22], panel: [26, 31, 40], text: [230, 233, 238], text_dim: [150, 158, 170] }
    }
}

impl Theme {
    /// WCAG 2 contrast ratio of two colours (1 to 21).
    pub fn contrast(a: Rgb, b: Rgb) -> f32 {
        fn lum(c: Rgb) -> f32 {
            let ch = |v: u8| {
                let v = f32::from(v) / 255.0;
                if v <= 0.039_28 { v / 12.92 } else { ((v + 0.055) / 1.055).powf(2.4) }
            };
            0.2126 * ch(c[0]) + 0.7152 * ch(c[1]) + 0.0722 * ch(c[2])
        }
        let (x, y) = (lum(a), lum(b));
        (x.max(y) + 0.05) / (x.min(y) + 0.05)
    }

    /// Text must read across a room: at least 4.5:1 (WCAG AA) on both backgrounds, 3:1 for dim text.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        for (field, fg, min) in [("theme.text", self.text, 4.5), ("theme.text_dim", self.text_dim, 3.0)] {
            for bg in [self.background, self.panel] {
                let c = Self::contrast(fg, bg);
                if c < min {
                    return Err((field, format!("contrast {c:.1}:1 against {bg:?} is below {min}:1")));
                }
            }
        }
        Ok(())
    }
}

/// Okabe-Ito bluish green.
pub const ONLINE: Rgb = [0, 158, 115];
/// Okabe-Ito orange.
pub const DEGRADED: Rgb = [230, 159, 0];
/// Okabe-Ito vermillion.
pub const OFFLINE: Rgb = [213, 94, 0];
/// Neutral grey for never-seen devices.
pub const UNKNOWN: Rgb = [120, 126, 136];
/// Okabe-Ito sky blue, for the DEMO badge and links.
pub const ACCENT: Rgb = [86, 180, 233];

/// Fill colour of a status.
pub fn status_color(s: DeviceStatus) -> Rgb {
    match s {
        DeviceStatus::Online => ONLINE,
        DeviceStatus::Degraded => DEGRADED,
        DeviceStatus::Offline => OFFLINE,
        DeviceStatus::Unknown => UNKNOWN,
    }
}

/// Short label of a status (ASCII: the built-in font has nothing else).
pub fn status_label(s: DeviceStatus) -> &'static str {
    match s {
        DeviceStatus::Online => "OK",
        DeviceStatus::Degraded => "DEG",
        DeviceStatus::Offline => "OFF",
        DeviceStatus::Unknown => "?",
    }
}

/// Shape drawn on a tile: how a status reads without colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Solid tile.
    Solid,
    /// Tile with a notch (a triangle in the corner).
    Notched,
    /// Hollow tile (outline only).
    Hollow,
    /// Dotted: a small centre dot.
    Dot,
}

/// Shape of a status.
pub fn status_shape(s: DeviceStatus) -> Shape {
    match s {
        DeviceStatus::Online => Shape::Solid,
        DeviceStatus::Degraded => Shape::Notched,
        DeviceStatus::Offline => Shape::Hollow,
        DeviceStatus::Unknown => Shape::Dot,
    }
}

/// An alert severity's label (`[CRIT]`, `[WARN]`, `[INFO]`) and colour: the
/// word is always shown with the colour.
pub fn severity_style(s: vizora_protocol::Severity) -> (&'static str, Rgb) {
    match s {
        vizora_protocol::Severity::Critical => ("[CRIT]", OFFLINE),
        vizora_protocol::Severity::Warning => ("[WARN]", DEGRADED),
        vizora_protocol::Severity::Info => ("[INFO]", ACCENT),
    }
}
