//! Status colours (Okabe-Ito, safe for colour-blind viewers), with a label
//! and a shape for each so colour is never the only cue.

use vizora_protocol::DeviceStatus;

/// An sRGB colour as bytes.
pub type Rgb = [u8; 3];

/// Background of the wall.
pub const BACKGROUND: Rgb = [14, 17, 22];
/// Panel background.
pub const PANEL: Rgb = [26, 31, 40];
/// Primary text.
pub const TEXT: Rgb = [230, 233, 238];
/// Secondary text.
pub const TEXT_DIM: Rgb = [150, 158, 170];

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

/// As a Bevy colour.
pub fn color(c: Rgb) -> bevy::color::Color {
    bevy::color::Color::srgb_u8(c[0], c[1], c[2])
}
