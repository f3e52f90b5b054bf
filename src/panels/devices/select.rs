//! Selecting a device on the grid: a click on its tile or the arrow keys,
//! and the ring drawn behind the selected tile.

use bevy::prelude::*;

use crate::base::config::PanelKind;
use crate::wall::focus::{InputCapture, Selected, WallKeys};
use crate::wall::pages::ActivePage;

use super::{Tile, TileIndex, TileLayout};

/// The ring around the selected tile.
#[derive(Component, Debug)]
pub struct SelectionRing;

/// A click on a tile selects its device; a click beside the tiles clears the selection.
pub(super) fn select_by_pointer(
    mouse: Option<Res<ButtonInput<MouseButton>>>,
    window: Option<Single<&Window>>,
    page: Option<Res<ActivePage>>,
    layout: Res<TileLayout>,
    capture: Res<InputCapture>,
    mut selected: ResMut<Selected>,
) {
    let (Some(mouse), Some(window)) = (mouse, window) else { return };
    // A click on the console is the console's.
    if capture.pointer {
        return;
    }
    if !mouse.just_pressed(MouseButton::Left) || !page.is_some_and(|p| p.shows(PanelKind::Devices)) {
        return;
    }
    let (Some(at), Some(grid)) = (window.cursor_position(), layout.grid) else { return };
    let hit = grid.at(at.x, at.y, layout.ids.len()).map(|i| layout.ids[i].clone());
    if selected.0 != hit {
        selected.0 = hit;
    }
}

/// Arrow keys move the selection over the tiles (while the devices page
/// shows; Escape is the search box's, which closes the card first).
pub(super) fn select_by_keys(
    keys: WallKeys,
    page: Option<Res<ActivePage>>,
    layout: Res<TileLayout>,
    mut selected: ResMut<Selected>,
) {
    let (Some(keys), Some(grid)) = (keys.get(), layout.grid) else { return };
    if !page.is_some_and(|p| p.shows(PanelKind::Devices)) {
        return;
    }
    let (dx, dy) = match () {
        _ if keys.just_pressed(KeyCode::ArrowLeft) => (-1, 0),
        _ if keys.just_pressed(KeyCode::ArrowRight) => (1, 0),
        _ if keys.just_pressed(KeyCode::ArrowUp) => (0, -1),
        _ if keys.just_pressed(KeyCode::ArrowDown) => (0, 1),
        _ => return,
    };
    let n = layout.ids.len();
    let next = match selected.0.as_ref().and_then(|id| layout.ids.iter().position(|x| x == id)) {
        Some(i) => grid.step(i, dx, dy, n),
        None => 0,
    };
    if let Some(id) = layout.ids.get(next) {
        selected.0 = Some(id.clone());
    }
}

/// Puts the ring behind the selected tile (hidden without one).
pub(super) fn place_selection_ring(
    selected: Res<Selected>,
    index: Res<TileIndex>,
    layout: Res<TileLayout>,
    tiles: Query<(&Tile, &Transform), Without<SelectionRing>>,
    mut ring: Query<(&mut Transform, &mut Sprite, &mut Visibility), With<SelectionRing>>,
) {
    if !selected.is_changed() && !index.is_changed() {
        return;
    }
    let Ok((mut tf, mut sprite, mut vis)) = ring.single_mut() else { return };
    let tile = selected.0.as_ref().and_then(|id| index.0.get(id)).and_then(|e| tiles.get(*e).ok());
    match (tile, layout.grid) {
        (Some((t, at)), Some(grid)) => {
            tf.translation = Vec3::new(at.translation.x, at.translation.y, -0.5);
            sprite.custom_size = Some(Vec2::splat(t.side + grid.gap.max(2.0)));
            *vis = Visibility::Inherited;
        }
        _ => *vis = Visibility::Hidden,
    }
}
