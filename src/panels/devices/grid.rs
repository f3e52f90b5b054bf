//! The one mesh every tile's square and status mark are drawn by: eight
//! vertices a tile, kept on the CPU in [`TileGrid`] and copied into the
//! mesh by slot when tiles change.

use bevy::prelude::*;
use vizora_protocol::DeviceStatus;

use crate::base::palette::{Shape, Theme, status_color, status_shape};
use crate::wall::color;

/// How far a tile that does not match the search fades toward the background.
pub const DIM: f32 = 0.75;

/// Vertices per tile in the grid mesh: its square, then its status mark.
const VERTS_PER_TILE: usize = 8;

/// What the grid mesh draws, kept on the CPU: the mesh is refreshed from it
/// when it changes (and it is what tests read where nothing renders).
#[derive(Resource, Debug, Default)]
pub struct TileGrid {
    /// Vertex positions, relative to the panel (world space, y up).
    pub positions: Vec<[f32; 3]>,
    /// Vertex colours, linear RGBA.
    pub colors: Vec<[f32; 4]>,
    /// Set when the tile count changed: the mesh needs new indices.
    pub(super) relaid: bool,
    /// Slots drawn since the mesh last took them.
    pub(super) dirty: Vec<usize>,
}

impl TileGrid {
    /// The colour of the square of the tile in `slot`.
    pub fn tile_color(&self, slot: usize) -> Option<Color> {
        self.colors.get(slot * VERTS_PER_TILE).map(|c| Color::LinearRgba(LinearRgba::from_f32_array(*c)))
    }

    /// Starts again with `n` tiles, every vertex at the origin.
    pub(super) fn reset(&mut self, n: usize) {
        self.positions = vec![[0.0; 3]; n * VERTS_PER_TILE];
        self.colors = vec![[0.0; 4]; n * VERTS_PER_TILE];
        self.relaid = true;
        self.dirty.clear();
    }

    /// Writes the square and mark of the tile in `slot`, centred on `at`;
    /// `dim` tiles (not matching the search) fade toward the background.
    pub(super) fn draw(&mut self, slot: usize, at: Vec2, side: f32, status: DeviceStatus, dim: bool, theme: &Theme) {
        let base = slot * VERTS_PER_TILE;
        if base + VERTS_PER_TILE > self.positions.len() {
            return;
        }
        let h = side / 2.0;
        let square = [[-h, -h], [h, -h], [h, h], [-h, h]];
        let fade = |c: Color| if dim { c.mix(&color(theme.background), DIM) } else { c };
        let tile = LinearRgba::from(fade(color(status_color(status)))).to_f32_array();
        let (mark, mark_color) = mark_corners(status_shape(status), side, theme);
        let mark_color = if mark_color == Color::NONE { mark_color } else { fade(mark_color) };
        for (i, [x, y]) in square.into_iter().enumerate() {
            self.positions[base + i] = [at.x + x, at.y + y, 0.0];
            self.colors[base + i] = tile;
        }
        let mark_color = LinearRgba::from(mark_color).to_f32_array();
        for (i, [x, y]) in mark.into_iter().enumerate() {
            self.positions[base + 4 + i] = [at.x + x, at.y + y, 0.0];
            self.colors[base + 4 + i] = mark_color;
        }
        if !self.relaid {
            self.dirty.push(slot);
        }
    }

    /// Copies the drawn slots into `mesh`'s vertex data; `false` when the
    /// mesh does not hold it as expected (then it is built anew).
    pub(super) fn patch(&self, mesh: &mut Mesh) -> bool {
        use bevy::mesh::VertexAttributeValues::{Float32x3, Float32x4};
        let Ok(Some(Float32x3(positions))) = mesh.try_attribute_mut_option(Mesh::ATTRIBUTE_POSITION) else {
            return false;
        };
        if positions.len() != self.positions.len() {
            return false;
        }
        for &slot in &self.dirty {
            let r = slot * VERTS_PER_TILE..(slot + 1) * VERTS_PER_TILE;
            positions[r.clone()].copy_from_slice(&self.positions[r]);
        }
        let Ok(Some(Float32x4(colors))) = mesh.try_attribute_mut_option(Mesh::ATTRIBUTE_COLOR) else {
            return false;
        };
        for &slot in &self.dirty {
            let r = slot * VERTS_PER_TILE..(slot + 1) * VERTS_PER_TILE;
            colors[r.clone()].copy_from_slice(&self.colors[r]);
        }
        true
    }

    /// The mesh for what is here (one invisible triangle when empty: a
    /// vertex buffer may not be empty).
    pub(super) fn mesh(&self) -> Mesh {
        use bevy::asset::RenderAssetUsages;
        use bevy::mesh::{Indices, PrimitiveTopology};
        let (positions, colors) = if self.positions.is_empty() {
            (vec![[0.0; 3]; 3], vec![[0.0; 4]; 3])
        } else {
            (self.positions.clone(), self.colors.clone())
        };
        let tiles = self.positions.len() / VERTS_PER_TILE;
        let mut indices: Vec<u32> = Vec::with_capacity(tiles * 12);
        for t in 0..tiles as u32 {
            let b = t * VERTS_PER_TILE as u32;
            // The square first, its mark after: drawn in this order, the mark lies on top.
            indices.extend([b, b + 1, b + 2, b, b + 2, b + 3]);
            indices.extend([b + 4, b + 5, b + 6, b + 4, b + 6, b + 7]);
        }
        if indices.is_empty() {
            indices.extend([0, 1, 2]);
        }
        Mesh::new(PrimitiveTopology::TriangleList, RenderAssetUsages::default())
            .with_inserted_attribute(Mesh::ATTRIBUTE_POSITION, positions)
            .with_inserted_attribute(Mesh::ATTRIBUTE_COLOR, colors)
            .with_inserted_indices(Indices::U32(indices))
    }
}

/// The entity that draws [`TileGrid`].
#[derive(Component, Debug)]
pub struct TileGridMesh;

/// The four corners of the status mark inside a tile of `side` pixels
/// (relative to its centre, counter-clockwise) and its colour; every mark
/// stays inside its tile.
pub(super) fn mark_corners(shape: Shape, side: f32, theme: &Theme) -> ([[f32; 2]; 4], Color) {
    let bg = color(theme.background);
    let square = |half: f32, dx: f32, dy: f32| {
        [[dx - half, dy - half], [dx + half, dy - half], [dx + half, dy + half], [dx - half, dy + half]]
    };
    match shape {
        // Nothing: the corners meet at the centre.
        Shape::Solid => ([[0.0; 2]; 4], Color::NONE),
        // Offline: hollow, a thick outline of the status colour.
        Shape::Hollow => (square(side * 0.23, 0.0, 0.0), bg),
        // Degraded: a notch cut from the top-right corner.
        Shape::Notched => {
            let s = side * 0.3;
            (square(s / 2.0, (side - s) / 2.0, (side - s) / 2.0), bg)
        }
        // Unknown: a diamond dot (a square of side 0.2 turned 45°).
        Shape::Dot => {
            let r = side * 0.2 * std::f32::consts::FRAC_1_SQRT_2;
            ([[0.0, -r], [r, 0.0], [0.0, r], [-r, 0.0]], bg)
        }
    }
}

/// Hands what changed in [`TileGrid`] to its mesh.
pub(super) fn sync_grid_mesh(
    mut grid: ResMut<TileGrid>,
    meshes: Option<ResMut<Assets<Mesh>>>,
    mesh: Option<Single<&Mesh2d, With<TileGridMesh>>>,
) {
    let (Some(mut meshes), Some(mesh)) = (meshes, mesh) else { return };
    if !grid.is_changed() {
        return;
    }
    let Some(mut m) = meshes.get_mut(&mesh.0) else { return };
    // Only the tiles that changed are copied (a full copy is 2 MiB at 10,000 tiles).
    let grid = grid.bypass_change_detection();
    if std::mem::take(&mut grid.relaid) || grid.positions.is_empty() || !grid.patch(&mut m) {
        *m = grid.mesh();
    }
    grid.dirty.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(m: &Mesh) -> (Vec<[f32; 3]>, Vec<[f32; 4]>) {
        use bevy::mesh::VertexAttributeValues::{Float32x3, Float32x4};
        let Some(Float32x3(p)) = m.attribute(Mesh::ATTRIBUTE_POSITION) else { panic!("positions") };
        let Some(Float32x4(c)) = m.attribute(Mesh::ATTRIBUTE_COLOR) else { panic!("colours") };
        (p.clone(), c.clone())
    }

    /// A mesh patched with the tiles drawn since it was built holds what a
    /// mesh built anew from the grid holds.
    #[test]
    fn a_patched_mesh_equals_one_built_anew() {
        let mut grid = TileGrid::default();
        grid.reset(4);
        for slot in 0..4 {
            grid.draw(slot, Vec2::new(slot as f32 * 10.0, 0.0), 8.0, DeviceStatus::Online, false, &Theme::default());
        }
        let mut mesh = grid.mesh();
        grid.relaid = false;
        grid.dirty.clear();
        grid.draw(2, Vec2::new(20.0, 0.0), 8.0, DeviceStatus::Offline, false, &Theme::default());
        grid.draw(3, Vec2::new(30.0, 0.0), 8.0, DeviceStatus::Unknown, true, &Theme::default());
        assert_eq!(grid.dirty, vec![2, 3]);
        assert!(grid.patch(&mut mesh));
        assert_eq!(attrs(&mesh), attrs(&grid.mesh()));
        assert_ne!(grid.tile_color(2), grid.tile_color(0), "the patched tile changed colour");
    }
}
