//! The wall's shared machinery, under the panels: the surface size, the
//! settings, the theme's colours, the animation clock, colours as Bevy
//! colours, the pages and their rotation and keys ([`pages`]), what every
//! panel draws (title, age, error tile, list paging: [`panel`]), what
//! panels report and the error boundary of their systems ([`status`]), the
//! staleness hatch ([`hatch`]), and the search, the selection and which
//! input the wall may use ([`focus`]). Panels build on this layer and never
//! on each other.

pub mod focus;
pub mod hatch;
pub mod pages;
pub mod panel;
pub mod status;

use bevy::prelude::*;

use crate::base::config::WallConfig;
use crate::base::palette::{Rgb, Theme};

/// Size of the surface the wall draws on, in pixels.
#[derive(Resource, Debug, Clone, Copy, PartialEq)]
pub struct WallSize {
    /// Width.
    pub w: f32,
    /// Height.
    pub h: f32,
}

impl Default for WallSize {
    fn default() -> Self {
        Self { w: 1920.0, h: 1080.0 }
    }
}

/// The config, as a resource.
#[derive(Resource, Debug, Clone, Default)]
pub struct WallSettings(pub WallConfig);

/// The wall's themeable colours, from the config's `theme`.
#[derive(Resource, Debug, Clone, Copy, Default, PartialEq)]
pub struct Colors(pub Theme);

/// The wall runs on the embedded demo backend.
#[derive(Resource, Debug, Clone, Copy, Default)]
pub struct DemoMode(pub bool);

/// Pulses per second.
pub const PULSE_HZ: f32 = 1.0;
/// Animation clock of the pulse. Windows follow real time; headless renders
/// step it by a fixed amount per frame, so captures are repeatable.
#[derive(Resource, Debug, Clone, Default)]
pub struct PulseClock {
    /// Seconds.
    pub t: f32,
    /// Seconds added each frame instead of the frame time.
    pub fixed_step: Option<f32>,
}

/// Advances the pulse clock (every frame, in `First`).
pub fn tick_pulse_clock(time: Res<Time>, mut clock: ResMut<PulseClock>) {
    let step = clock.fixed_step.unwrap_or(time.delta_secs());
    clock.t += step;
}

/// Something moved with the whole scene by the kiosk's burn-in shift (the
/// top bar's root: UI nodes do not follow the camera).
#[derive(Component, Debug, Clone, Copy, Default)]
pub struct SceneShift;

/// A palette colour as a Bevy colour.
pub fn color(c: Rgb) -> Color {
    Color::srgb_u8(c[0], c[1], c[2])
}
