//! DevicesPanelPlugin: one tile per device, coloured, shaped and labelled by
//! status. Rebuilt when the fleet is replaced or devices come and go;
//! otherwise only the tiles of changed devices are touched.
//!
//! Every tile's square and status mark are drawn by one mesh ([`TileGrid`]:
//! eight vertices per tile), not by two sprites per tile: at 10,000 devices
//! that is one entity to extract and draw instead of 20,000. A tile keeps an
//! entity (position, labels, and the marks of [`marks`] as children)
//! that draws nothing itself.

mod grid;
pub mod marks;
mod select;

use grid::sync_grid_mesh;
pub use grid::{DIM, TileGrid, TileGridMesh};
pub use select::SelectionRing;
use select::{place_selection_ring, select_by_keys, select_by_pointer};

use std::collections::HashMap;

use bevy::prelude::*;
use vizora_protocol::{Device, DeviceStatus};

use crate::base::config::PanelKind;
use crate::base::format::fitted_name;
use crate::base::layout::{Grid, Rect, tile_area};
use crate::base::palette::{self, status_color, status_label};
use crate::sync::fleet::{DeviceChanged, Fleet, FleetMembershipChanged, FleetReset};
use crate::wall::focus::{DeviceFilter, Selected};
use crate::wall::pages::ActivePage;
use crate::wall::{Colors, WallSize, color};

/// A device tile and the parts that change with status.
#[derive(Component, Debug)]
pub struct Tile {
    /// Device id.
    pub id: String,
    /// Its place in the grid mesh.
    pub slot: usize,
    /// Side of its square, pixels.
    pub side: f32,
    status_text: Option<Entity>,
    name_text: Option<Entity>,
    max_chars: usize,
    extras: Option<TileExtras>,
}

/// The parts of a large tile that show telemetry.
#[derive(Debug, Clone, Copy)]
struct TileExtras {
    playing: Entity,
    cpu: Entity,
    temp: Entity,
    side: f32,
}

/// The "now playing" line of a tile.
#[derive(Component, Debug)]
pub struct TilePlaying;

/// A mini bar of a tile.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq)]
pub enum TileBar {
    /// CPU load, 0..100 %.
    Cpu,
    /// SoC temperature, 0..100 °C.
    Temp,
}

/// A tile's telemetry: the "now playing" line and the CPU and temperature bar widths.
fn telemetry_of(
    model: &crate::base::fleet_model::FleetModel,
    d: &Device,
    side: f32,
    max_chars: usize,
) -> (String, f32, f32) {
    let playing = model.playing(d).map(|p| {
        let name = model.view().contents.get(&p.content_id).map_or(p.content_id.as_str(), |c| c.name.as_str());
        // Content names read from their start (device names from their end).
        let name: String = fitted_name(name, usize::MAX).chars().take(max_chars.saturating_sub(2)).collect();
        format!("> {name}")
    });
    let health = model.health(d);
    let width = |v: Option<f32>| side * 0.8 * (v.unwrap_or(0.0) / 100.0).clamp(0.0, 1.0);
    (playing.unwrap_or_default(), width(health.map(|h| h.cpu_pct)), width(health.map(|h| h.temp_c)))
}

/// Devices in tile order: grouped by their first tag (untagged last), then by name.
pub fn tile_order(state: &vizora_protocol::OrgState) -> Vec<&Device> {
    let mut v: Vec<&Device> = state.devices.values().collect();
    v.sort_by(|a, b| {
        let tag = |d: &Device| d.tags.first().map_or((1, String::new()), |t| (0, t.clone()));
        tag(a).cmp(&tag(b)).then_with(|| a.name.cmp(&b.name)).then_with(|| a.id.cmp(&b.id))
    });
    v
}

/// Parent of every tile: hidden when another page shows.
#[derive(Component, Debug)]
pub struct DevicesPanel;

/// The tiles were spawned anew (marks on them must be redone).
#[derive(Message, Debug, Clone, Default)]
pub struct TilesRebuilt;

/// Device id → tile entity.
#[derive(Resource, Debug, Default)]
pub struct TileIndex(pub HashMap<String, Entity>);

/// Where the tiles are: the grid, and the device of each slot (for
/// clicks and arrow keys).
#[derive(Resource, Debug, Default)]
pub struct TileLayout {
    /// The grid the tiles fill; none before the first device.
    pub grid: Option<Grid>,
    /// Device ids by slot.
    pub ids: Vec<String>,
}

/// Systems of this plugin.
#[derive(SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
pub enum DevicesPanelSystems {
    /// Spawns, moves and recolours tiles.
    Draw,
}

/// Draws the device grid.
#[derive(Default)]
pub struct DevicesPanelPlugin;

impl Plugin for DevicesPanelPlugin {
    fn build(&self, app: &mut App) {
        crate::wall::panel::ensure_panel_plugin(app);
        app.init_resource::<WallSize>()
            .init_resource::<TileIndex>()
            .init_resource::<TileGrid>()
            .init_resource::<TileLayout>()
            .init_resource::<DeviceFilter>()
            .init_resource::<Selected>()
            .configure_sets(Update, DevicesPanelSystems::Draw)
            .add_systems(Startup, spawn_devices_panel)
            .add_message::<TilesRebuilt>()
            .add_systems(
                Update,
                (
                    rebuild_tiles,
                    refilter_tiles,
                    update_changed_tiles,
                    select_by_pointer,
                    select_by_keys,
                    place_selection_ring,
                    sync_grid_mesh,
                    show_devices_panel,
                )
                    .chain()
                    .in_set(DevicesPanelSystems::Draw),
            );
    }
}

fn spawn_devices_panel(
    mut commands: Commands,
    size: Res<WallSize>,
    settings: Option<Res<crate::wall::WallSettings>>,
    images: Res<crate::wall::panel::HatchImages>,
    meshes: Option<ResMut<Assets<Mesh>>>,
    materials: Option<ResMut<Assets<ColorMaterial>>>,
    (grid, colors): (Res<TileGrid>, Res<Colors>),
) {
    let root = commands.spawn((DevicesPanel, Transform::default(), Visibility::default())).id();
    // Behind the grid: a square a little larger than its tile shows as a ring.
    commands.spawn((
        SelectionRing,
        Sprite::from_color(color(palette::ACCENT), Vec2::ONE),
        Transform::from_xyz(0.0, 0.0, -0.5),
        Visibility::Hidden,
        ChildOf(root),
    ));
    // Where something renders: the one mesh every tile is drawn by.
    if let (Some(mut meshes), Some(mut materials)) = (meshes, materials) {
        commands.spawn((
            TileGridMesh,
            Mesh2d(meshes.add(grid.mesh())),
            MeshMaterial2d(materials.add(ColorMaterial::default())),
            Transform::default(),
            Visibility::default(),
            // Its vertices move on every rebuild: never culled by stale bounds.
            bevy::camera::visibility::NoFrustumCulling,
            ChildOf(root),
        ));
    }
    // The UI layer over the tiles: age, error tile and staleness hatch.
    let font = crate::wall::panel::panel_font(&size, settings.as_deref());
    crate::wall::panel::spawn_panel_with(&mut commands, PanelKind::Devices, &size, font, &images, false, &colors.0);
}

/// The name line of a tile: `* ` first while a change of this wall to the
/// device waits for the gateway.
fn tile_name(model: &crate::base::fleet_model::FleetModel, d: &Device, max_chars: usize) -> String {
    if model.is_pending(vizora_protocol::EntityKind::Device, &d.id) {
        format!("* {}", fitted_name(&d.name, max_chars.saturating_sub(2)))
    } else {
        fitted_name(&d.name, max_chars)
    }
}

/// Pixel rect (top-left origin) → sprite centre in world space (centre origin, y up).
pub fn to_world(r: &Rect, size: WallSize) -> Vec2 {
    let (cx, cy) = r.center();
    Vec2::new(cx - size.w / 2.0, size.h / 2.0 - cy)
}

fn show_devices_panel(page: Option<Res<ActivePage>>, mut q: Query<&mut Visibility, With<DevicesPanel>>) {
    let Some(page) = page else { return };
    if !page.is_changed() {
        return;
    }
    for mut v in &mut q {
        *v = if page.placements.iter().any(|p| p.panel == PanelKind::Devices) {
            Visibility::Inherited
        } else {
            Visibility::Hidden
        };
    }
}

#[expect(clippy::too_many_arguments, reason = "one system rebuilds the whole grid from the fleet")]
fn rebuild_tiles(
    mut commands: Commands,
    mut grid: ResMut<TileGrid>,
    root: Option<Single<Entity, With<DevicesPanel>>>,
    (fleet, colors): (Res<Fleet>, Res<Colors>),
    size: Res<WallSize>,
    mut index: ResMut<TileIndex>,
    mut reset: MessageReader<FleetReset>,
    mut membership: MessageReader<FleetMembershipChanged>,
    mut rebuilt: MessageWriter<TilesRebuilt>,
    (page, filter, mut layout): (Option<Res<ActivePage>>, Res<DeviceFilter>, ResMut<TileLayout>),
    mut placed: Local<Option<Rect>>,
) {
    // The grid fills the devices panel's cell on the page; while another page
    // shows, it stays where it was (no rebuild on every page turn).
    let area = page
        .and_then(|p| p.rect_of(PanelKind::Devices, *size))
        .or(*placed)
        .unwrap_or_else(|| tile_area(size.w, size.h));
    let moved = *placed != Some(area);
    let resized = size.is_changed() || moved;
    if reset.read().count() == 0 && membership.read().count() == 0 && !resized {
        return;
    }
    *placed = Some(area);
    rebuilt.write(TilesRebuilt);
    for (_, e) in index.0.drain() {
        commands.entity(e).despawn();
    }
    let devices = tile_order(fleet.0.view());
    grid.reset(devices.len());
    layout.ids = devices.iter().map(|d| d.id.clone()).collect();
    layout.grid = None;
    if devices.is_empty() {
        return;
    }
    let tiles = Grid::fit(devices.len(), area);
    layout.grid = Some(tiles);
    let layout = tiles;
    let side = (layout.cell - layout.gap).max(1.0);
    let labelled = side >= 40.0;
    let font = (side * 0.2).clamp(8.0, 48.0);
    let name_font = (side * 0.13).clamp(8.0, 32.0);
    // The built-in monospace font advances about 0.6 em per glyph.
    let max_chars = ((side * 0.92) / (name_font * 0.6)).floor() as usize;
    for (i, d) in devices.iter().enumerate() {
        let pos = to_world(&layout.tile(i), *size);
        grid.draw(i, pos, side, d.status, filter.active() && !filter.matches(d), &colors.0);
        // Draws nothing itself: it places labels and marks.
        let mut tile = commands.spawn((Transform::from_xyz(pos.x, pos.y, 0.0), Visibility::default()));
        if let Some(root) = &root {
            tile.insert(ChildOf(**root));
        }
        let mut status_text = None;
        let mut name_text = None;
        let mut extras = None;
        if labelled {
            let name = tile
                .commands()
                .spawn((
                    Text2d::new(tile_name(&fleet.0, d, max_chars)),
                    TextFont::from_font_size(name_font),
                    TextColor(color(colors.0.text)),
                    Transform::from_xyz(0.0, side * 0.36, 0.2),
                ))
                .id();
            let st = tile
                .commands()
                .spawn((
                    Text2d::new(status_label(d.status)),
                    TextFont::from_font_size(font),
                    TextColor(color(colors.0.text)),
                    Transform::from_xyz(0.0, -side * 0.34, 0.2),
                ))
                .id();
            // What it plays, and CPU / temperature mini bars (left-anchored, drawn on a dark track).
            let (now_playing, cpu_w, temp_w) = telemetry_of(&fleet.0, d, side, max_chars);
            let playing = tile
                .commands()
                .spawn((
                    Text2d::new(now_playing),
                    TextFont::from_font_size(name_font * 0.9),
                    TextColor(color(colors.0.text)),
                    Transform::from_xyz(0.0, side * 0.2, 0.2),
                    TilePlaying,
                ))
                .id();
            let bar = |y: f32, w: f32| {
                (
                    Sprite::from_color(color(colors.0.text), Vec2::new(w, side * 0.06)),
                    Transform::from_xyz(-side * 0.4, y, 0.25),
                    bevy::sprite::Anchor::CENTER_LEFT,
                )
            };
            let track = |y: f32| {
                (
                    Sprite::from_color(color(colors.0.background).with_alpha(0.45), Vec2::new(side * 0.8, side * 0.06)),
                    Transform::from_xyz(0.0, y, 0.22),
                )
            };
            // Upper half only: the lower half shows the status shape and label.
            let cpu = tile.commands().spawn((bar(side * 0.06, cpu_w), TileBar::Cpu)).id();
            let temp = tile.commands().spawn((bar(-side * 0.02, temp_w), TileBar::Temp)).id();
            let t1 = tile.commands().spawn(track(side * 0.06)).id();
            let t2 = tile.commands().spawn(track(-side * 0.02)).id();
            tile.add_children(&[name, st, playing, t1, t2, cpu, temp]);
            status_text = Some(st);
            name_text = Some(name);
            extras = Some(TileExtras { playing, cpu, temp, side });
        }
        let id = tile.insert(Tile { id: d.id.clone(), slot: i, side, status_text, name_text, max_chars, extras }).id();
        index.0.insert(d.id.clone(), id);
    }
}

#[expect(clippy::too_many_arguments, reason = "one system redraws a changed tile: mesh, labels and bars")]
fn update_changed_tiles(
    fleet: Res<Fleet>,
    index: Res<TileIndex>,
    mut changed: MessageReader<DeviceChanged>,
    mut grid: ResMut<TileGrid>,
    (filter, colors): (Res<DeviceFilter>, Res<Colors>),
    tiles: Query<(&Tile, &Transform)>,
    mut texts: Query<&mut Text2d>,
    mut bars: Query<(&TileBar, &mut Sprite)>,
) {
    for c in changed.read() {
        let (Some(&e), Some(d)) = (index.0.get(&c.id), fleet.0.view().devices.get(&c.id)) else { continue };
        let Ok((tile, tf)) = tiles.get(e) else { continue };
        let dim = filter.active() && !filter.matches(d);
        grid.draw(tile.slot, tf.translation.truncate(), tile.side, d.status, dim, &colors.0);
        if let Some(Ok(mut t)) = tile.status_text.map(|e| texts.get_mut(e)) {
            let label = status_label(d.status);
            if t.0 != label {
                t.0 = label.to_owned();
            }
        }
        if let Some(x) = tile.extras {
            let (playing, cpu_w, temp_w) = telemetry_of(&fleet.0, d, x.side, tile.max_chars);
            if let Ok(mut t) = texts.get_mut(x.playing)
                && t.0 != playing
            {
                t.0 = playing;
            }
            for (e, w) in [(x.cpu, cpu_w), (x.temp, temp_w)] {
                if let Ok((_, mut s)) = bars.get_mut(e) {
                    s.custom_size = Some(Vec2::new(w, x.side * 0.06));
                }
            }
        }
        // A rename (an operator's, shown before the gateway confirms it).
        if let Some(Ok(mut t)) = tile.name_text.map(|e| texts.get_mut(e)) {
            let name = tile_name(&fleet.0, d, tile.max_chars);
            if t.0 != name {
                t.0 = name;
            }
        }
    }
}

/// Redraws every tile when the search changes: matches keep their colour,
/// the rest fade.
fn refilter_tiles(
    filter: Res<DeviceFilter>,
    fleet: Res<Fleet>,
    mut grid: ResMut<TileGrid>,
    tiles: Query<(&Tile, &Transform)>,
    colors: Res<Colors>,
) {
    if !filter.is_changed() || filter.is_added() {
        return;
    }
    for (tile, tf) in &tiles {
        let Some(d) = fleet.0.view().devices.get(&tile.id) else { continue };
        let dim = filter.active() && !filter.matches(d);
        grid.draw(tile.slot, tf.translation.truncate(), tile.side, d.status, dim, &colors.0);
    }
}

/// Colour a tile of this status has at its rim (where the marker never draws).
pub fn rim_color(s: DeviceStatus) -> palette::Rgb {
    status_color(s)
}
