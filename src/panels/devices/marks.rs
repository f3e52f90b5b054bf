//! TileMarksPlugin: what is drawn over device tiles besides status.
//!
//! - **Alert pulse**: a tile whose device has an open, unacknowledged,
//!   unmuted alert gets a ring that pulses at [`PULSE_HZ`] (under the 3 Hz
//!   of WCAG 2.3.1), stronger the longer the alert stays unacknowledged.
//!   Per frame only the pulsing rings are touched.
//! - **Silent hatch**: a tile whose device has not been heard from for the
//!   configured `silent_after_s` is hatched (grey `\` stripes). Checked
//!   every two seconds, not every frame.

use std::collections::{HashMap, HashSet};

use bevy::prelude::*;
use vizora_protocol::{AlertState, now_ms};

use crate::panels::devices::{DevicesPanelSystems, Tile, TileIndex, TilesRebuilt};
use crate::sync::fleet::{AlertsChanged, Fleet};
use crate::wall::panel::HatchImages;
use crate::wall::{PULSE_HZ, PulseClock, WallSettings};

/// Unacknowledged this long, a pulse is at full strength.
pub const FULL_STRENGTH_MS: u64 = 10 * 60 * 1000;

/// The pulsing ring behind a tile.
#[derive(Component, Debug, Clone, Copy)]
pub struct PulseRing {
    /// When the oldest open unacknowledged alert of the device was raised.
    pub raised_ms: u64,
}

/// The silent hatch over a tile.
#[derive(Component, Debug, Clone, Copy)]
pub struct SilentHatch;

/// Marks on tiles: device id → the mark's entity.
#[derive(Resource, Debug, Default)]
pub struct TileMarks {
    /// Pulsing rings.
    pub pulses: HashMap<String, Entity>,
    /// Silent hatches.
    pub silent: HashMap<String, Entity>,
}

/// Draws pulses and silent hatches.
#[derive(Default)]
pub struct TileMarksPlugin;

impl Plugin for TileMarksPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<TileMarks>()
            // After the tiles are (re)spawned, so the marks find them.
            .add_systems(
                Update,
                (update_pulse_set, update_silent, animate_pulses).chain().after(DevicesPanelSystems::Draw),
            );
    }
}

/// Strength of a pulse (0.4..=1) for an alert open this long.
pub fn strength(open_ms: u64) -> f32 {
    0.4 + 0.6 * (open_ms as f32 / FULL_STRENGTH_MS as f32).min(1.0)
}

/// Alpha of a ring at clock `t` for an alert open `open_ms`.
pub fn pulse_alpha(t: f32, open_ms: u64) -> f32 {
    strength(open_ms) * (0.55 + 0.45 * (std::f32::consts::TAU * PULSE_HZ * t).sin())
}

fn side_of(tiles: &Query<&Tile>, e: Entity) -> Option<f32> {
    tiles.get(e).ok().map(|t| t.side)
}

#[expect(clippy::too_many_arguments, reason = "reads alerts, tiles and the clock; writes rings")]
fn update_pulse_set(
    mut commands: Commands,
    fleet: Res<Fleet>,
    index: Res<TileIndex>,
    mut marks: ResMut<TileMarks>,
    mut alerts: MessageReader<AlertsChanged>,
    mut rebuilt: MessageReader<TilesRebuilt>,
    time: Res<Time>,
    mut since: Local<f32>,
    tiles: Query<&Tile>,
) {
    let rebuilt = rebuilt.read().count() > 0;
    if rebuilt {
        // The old tiles (and their marks) are gone.
        marks.pulses.clear();
        marks.silent.clear();
    }
    // Mutes run out without an event: look again every few seconds.
    *since += time.delta_secs();
    if alerts.read().count() == 0 && !rebuilt && *since < 5.0 {
        return;
    }
    *since = 0.0;
    let now = now_ms();
    let mut want: HashMap<&str, u64> = HashMap::new();
    for a in fleet.0.view().alerts.values() {
        let muted = a.muted_until_ms.is_some_and(|m| m > now);
        if a.state != AlertState::Open || muted {
            continue;
        }
        if let Some(d) = &a.device_id {
            let e = want.entry(d.as_str()).or_insert(a.raised_ms);
            *e = (*e).min(a.raised_ms);
        }
    }
    marks.pulses.retain(|id, e| {
        let keep = want.contains_key(id.as_str()) && index.0.contains_key(id);
        if !keep && let Ok(mut ec) = commands.get_entity(*e) {
            ec.despawn();
        }
        keep
    });
    for (id, raised_ms) in want {
        let Some(&tile) = index.0.get(id) else { continue };
        let Some(side) = side_of(&tiles, tile) else { continue };
        if let Some(&ring) = marks.pulses.get(id) {
            commands.entity(ring).insert(PulseRing { raised_ms });
            continue;
        }
        // Behind the tile, a little larger: the ring shows in the gap around it.
        let ring = commands
            .spawn((
                PulseRing { raised_ms },
                Sprite::from_color(Color::WHITE.with_alpha(0.0), Vec2::splat(side * 1.12)),
                Transform::from_xyz(0.0, 0.0, -0.05),
                ChildOf(tile),
            ))
            .id();
        marks.pulses.insert(id.to_owned(), ring);
    }
}

fn animate_pulses(clock: Res<PulseClock>, mut rings: Query<(&PulseRing, &mut Sprite)>) {
    let now = now_ms();
    for (ring, mut sprite) in &mut rings {
        let a = pulse_alpha(clock.t, now.saturating_sub(ring.raised_ms));
        sprite.color = Color::WHITE.with_alpha(a);
    }
}

#[expect(clippy::too_many_arguments, reason = "reads the fleet, the config and the tiles")]
fn update_silent(
    mut commands: Commands,
    fleet: Res<Fleet>,
    settings: Option<Res<WallSettings>>,
    index: Res<TileIndex>,
    images: Res<HatchImages>,
    mut marks: ResMut<TileMarks>,
    time: Res<Time>,
    mut since: Local<Option<f32>>,
    tiles: Query<&Tile>,
) {
    let t = since.get_or_insert(f32::MAX);
    *t += time.delta_secs();
    if *t < 2.0 && !marks.is_changed() {
        return;
    }
    *t = 0.0;
    let after_ms = settings.map_or(90_000, |s| (s.0.silent_after_s * 1000.0) as u64);
    let now = now_ms();
    let silent: HashSet<&str> = fleet
        .0
        .view()
        .devices
        .values()
        .filter(|d| now.saturating_sub(fleet.0.last_heard_ms(d)) > after_ms)
        .map(|d| d.id.as_str())
        .collect();
    let m = marks.bypass_change_detection();
    m.silent.retain(|id, e| {
        let keep = silent.contains(id.as_str()) && index.0.contains_key(id);
        if !keep && let Ok(mut ec) = commands.get_entity(*e) {
            ec.despawn();
        }
        keep
    });
    for id in silent {
        if m.silent.contains_key(id) {
            continue;
        }
        let Some(&tile) = index.0.get(id) else { continue };
        let Some(side) = side_of(&tiles, tile) else { continue };
        let hatch = commands
            .spawn((
                SilentHatch,
                Sprite {
                    image: images.silent.clone(),
                    // Inside the rim: the status colour still frames the tile.
                    custom_size: Some(Vec2::splat(side * 0.84)),
                    image_mode: SpriteImageMode::Tiled { tile_x: true, tile_y: true, stretch_value: 1.0 },
                    ..default()
                },
                Transform::from_xyz(0.0, 0.0, 0.15),
                ChildOf(tile),
            ))
            .id();
        m.silent.insert(id.to_owned(), hatch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pulses_stay_under_three_hertz_and_grow_with_age() {
        const { assert!(PULSE_HZ <= 3.0, "WCAG 2.3.1: at most three flashes a second") };
        assert!(strength(0) < strength(5 * 60 * 1000));
        assert_eq!(strength(FULL_STRENGTH_MS), strength(10 * FULL_STRENGTH_MS));
        let lo = pulse_alpha(0.75 / PULSE_HZ, FULL_STRENGTH_MS);
        let hi = pulse_alpha(0.25 / PULSE_HZ, FULL_STRENGTH_MS);
        assert!(hi - lo > 0.8, "a full-strength pulse swings: {lo} .. {hi}");
    }
}
