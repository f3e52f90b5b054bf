//! KioskPlugin: for unattended mini PCs: no exit except a configured key
//! chord, burn-in protection (the whole scene moves a few pixels every
//! interval) and dimming during configured hours. The window itself
//! (borderless full screen on a chosen monitor, hidden cursor) is set up
//! in `app/mod.rs` from the same config.

use bevy::prelude::*;

pub use crate::base::config::{KEY_NAMES, KioskConfig};
use crate::wall::SceneShift;

/// Key names accepted in `exit_chord`.
pub fn key_code(name: &str) -> Option<KeyCode> {
    use KeyCode::*;
    let k = match name {
        "ControlLeft" => ControlLeft,
        "ControlRight" => ControlRight,
        "AltLeft" => AltLeft,
        "AltRight" => AltRight,
        "ShiftLeft" => ShiftLeft,
        "ShiftRight" => ShiftRight,
        "SuperLeft" => SuperLeft,
        "Escape" => Escape,
        "F1" => F1,
        "F4" => F4,
        "F10" => F10,
        "F12" => F12,
        "KeyQ" => KeyQ,
        "KeyX" => KeyX,
        "KeyK" => KeyK,
        _ => return None,
    };
    Some(k)
}

/// The scene offset for shift number `step`: a slow walk around a small
/// square, so no pixel stays lit the same way for long.
pub fn burn_in_offset(step: u64, px: f32) -> Vec2 {
    const PATH: [(f32, f32); 8] =
        [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0), (-1.0, 1.0), (-1.0, 0.0), (-1.0, -1.0), (0.0, -1.0)];
    let (x, y) = PATH[(step % PATH.len() as u64) as usize];
    Vec2::new(x * px, y * px)
}

/// Whether `hour` (0–23) is inside the dimming window, which may wrap midnight.
pub fn dimmed(hour: u8, from: u8, to: u8) -> bool {
    match from.cmp(&to) {
        std::cmp::Ordering::Less => (from..to).contains(&hour),
        std::cmp::Ordering::Greater => hour >= from || hour < to,
        std::cmp::Ordering::Equal => false,
    }
}

/// Kiosk behaviour.
#[derive(Debug, Clone, Default)]
pub struct KioskPlugin {
    /// Settings.
    pub config: KioskConfig,
}

#[derive(Resource, Debug, Clone)]
struct Kiosk {
    cfg: KioskConfig,
    chord: Vec<KeyCode>,
    elapsed: f32,
    step: u64,
}

/// The full-screen dimming layer.
#[derive(Component, Debug)]
pub struct DimLayer;

impl Plugin for KioskPlugin {
    fn build(&self, app: &mut App) {
        let chord = self.config.exit_chord.iter().filter_map(|k| key_code(k)).collect();
        app.insert_resource(Kiosk { cfg: self.config.clone(), chord, elapsed: 0.0, step: 0 })
            .add_systems(Startup, spawn_dim_layer)
            .add_systems(Update, (exit_on_chord, shift_scene, dim_by_hour));
    }
}

fn exit_on_chord(keys: Res<ButtonInput<KeyCode>>, kiosk: Res<Kiosk>, mut exit: MessageWriter<AppExit>) {
    if !kiosk.chord.is_empty() && kiosk.chord.iter().all(|k| keys.pressed(*k)) {
        info!("kiosk exit chord pressed");
        exit.write(AppExit::Success);
    }
}

fn shift_scene(
    time: Res<Time>,
    mut kiosk: ResMut<Kiosk>,
    mut cams: Query<&mut Transform, With<Camera2d>>,
    mut hud: Query<&mut Node, With<SceneShift>>,
) {
    kiosk.elapsed += time.delta_secs();
    if kiosk.elapsed < kiosk.cfg.shift_every_s {
        return;
    }
    kiosk.elapsed = 0.0;
    kiosk.step += 1;
    let off = burn_in_offset(kiosk.step, kiosk.cfg.shift_px);
    // Moving the camera moves every sprite; the UI moves with its root node.
    for mut t in &mut cams {
        t.translation.x = -off.x;
        t.translation.y = off.y;
    }
    for mut n in &mut hud {
        n.left = px(off.x);
        n.top = px(off.y);
    }
}

fn spawn_dim_layer(mut commands: Commands) {
    commands.spawn((DimLayer, crate::wall::panel::cover(), BackgroundColor(Color::NONE), GlobalZIndex(1000)));
}

fn dim_by_hour(kiosk: Res<Kiosk>, mut q: Query<&mut BackgroundColor, With<DimLayer>>, mut last: Local<Option<u8>>) {
    // Local time is not known without a time-zone database; the hours are UTC.
    let hour = ((vizora_protocol::now_ms() / 3_600_000) % 24) as u8;
    if *last == Some(hour) {
        return;
    }
    *last = Some(hour);
    let c = &kiosk.cfg;
    let alpha = if dimmed(hour, c.dim_from_hour, c.dim_to_hour) { c.dim_level } else { 0.0 };
    for mut bg in &mut q {
        bg.0 = Color::srgba(0.0, 0.0, 0.0, alpha);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burn_in_walks_a_small_square_and_comes_back() {
        let offsets: Vec<Vec2> = (0..8).map(|s| burn_in_offset(s, 4.0)).collect();
        assert!(offsets.iter().all(|o| o.x.abs() <= 4.0 && o.y.abs() <= 4.0));
        let distinct: std::collections::HashSet<(i32, i32)> =
            offsets.iter().map(|o| (o.x as i32, o.y as i32)).collect();
        assert_eq!(distinct.len(), 8, "eight distinct positions");
        assert_eq!(burn_in_offset(8, 4.0), burn_in_offset(0, 4.0));
    }

    #[test]
    fn dimming_windows_may_wrap_midnight() {
        assert!(dimmed(23, 22, 6) && dimmed(3, 22, 6) && !dimmed(12, 22, 6) && !dimmed(6, 22, 6));
        assert!(dimmed(13, 12, 14) && !dimmed(14, 12, 14));
        assert!(!dimmed(5, 5, 5));
    }

    #[test]
    fn every_key_name_the_config_accepts_has_a_key() {
        for name in KEY_NAMES {
            assert!(key_code(name).is_some(), "{name}");
        }
    }

    #[test]
    fn a_chord_with_an_unknown_key_is_refused() {
        let bad = KioskConfig { exit_chord: vec!["ControlLeft".into(), "Hyper".into()], ..Default::default() };
        assert!(bad.validate().unwrap_err().1.contains("Hyper"));
        let none = KioskConfig { exit_chord: vec![], ..Default::default() };
        assert!(none.validate().is_err());
        assert!(KioskConfig::default().validate().is_ok());
    }
}
