//! What every panel shares: a root node under the top bar that shows only on
//! its page, a title with the age of the panel's data, text rows, bar
//! charts, the error tile (the error boundary: a panel whose data it cannot
//! show says why instead) and the staleness hatch, which tells three kinds
//! of stale apart by pattern, colour and words:
//!
//! - **wallboard disconnected**: amber `/` stripes, "DISCONNECTED: as of T";
//! - **device silent**: grey `\` stripes, "SILENT" (device tiles, and panels
//!   whose data comes only from devices that all went quiet);
//! - **no data**: a dim cross-hatch, "NO DATA" (nothing to show yet).

use std::collections::HashMap;

use bevy::asset::RenderAssetUsages;
use bevy::prelude::*;
use bevy::render::render_resource::{Extent3d, TextureDimension, TextureFormat};
use vizora_protocol::now_ms;

use crate::config::PanelKind;
use crate::devices_panel::WallSize;
use crate::fleet::Fleet;
use crate::health_panel::age;
use crate::layout::bar_height;
use crate::net::{LinkInfo, LinkState};
use crate::pages::{ActivePage, WallSettings};
use crate::palette::{self, Rgb, color};

/// One line of text in a panel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The text (ASCII: the built-in font has nothing else).
    pub text: String,
    /// Its colour.
    pub color: Rgb,
}

impl Row {
    /// A row.
    pub fn new(text: impl Into<String>, color: Rgb) -> Self {
        Self { text: text.into(), color }
    }
}

/// Why a panel's data is stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stale {
    /// The wall lost the gateway: everything shown is as of the last sync.
    Disconnected,
    /// The devices behind the data went quiet.
    DeviceSilent,
    /// Nothing has arrived to show.
    NoData,
}

impl Stale {
    /// The words on the hatch.
    pub fn label(self) -> &'static str {
        match self {
            Self::Disconnected => "DISCONNECTED",
            Self::DeviceSilent => "SILENT",
            Self::NoData => "NO DATA",
        }
    }
}

/// What a panel reported about its data, for the hatch, the age and the error tile.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PanelStatus {
    /// It has nothing to show.
    pub no_data: bool,
    /// Its devices are all silent.
    pub silent: bool,
    /// Its data could not be shown, and why.
    pub error: Option<String>,
    /// When its data was current (ms); none: it follows the fleet's sync.
    pub as_of_ms: Option<u64>,
}

/// Per-panel status, written by the panels.
#[derive(Resource, Debug, Default)]
pub struct PanelStatuses(pub HashMap<PanelKind, PanelStatus>);

impl PanelStatuses {
    /// Sets a panel's status, touching the resource only when it moved.
    pub fn set(this: &mut ResMut<Self>, kind: PanelKind, status: PanelStatus) {
        if this.0.get(&kind) != Some(&status) {
            this.0.insert(kind, status);
        }
    }
}

/// The stale kind a panel shows now.
pub fn stale_of(link: LinkState, restored: bool, status: Option<&PanelStatus>) -> Option<Stale> {
    let disconnected =
        matches!(link, LinkState::Reconnecting | LinkState::Refused) || (link == LinkState::Connecting && restored);
    if disconnected {
        return Some(Stale::Disconnected);
    }
    let status = status?;
    if status.no_data {
        Some(Stale::NoData)
    } else if status.silent {
        Some(Stale::DeviceSilent)
    } else {
        None
    }
}

/// Root node of a panel.
#[derive(Component, Debug, Clone, Copy)]
pub struct PanelRoot(pub PanelKind);

/// A text row of a panel.
#[derive(Component, Debug, Clone, Copy)]
pub struct PanelRow {
    /// Its panel.
    pub panel: PanelKind,
    /// Row number in the list.
    pub index: usize,
}

/// The age line under a panel's title.
#[derive(Component, Debug, Clone, Copy)]
pub struct PanelAge(pub PanelKind);

/// The error tile of a panel (hidden while its data is fine).
#[derive(Component, Debug, Clone, Copy)]
pub struct PanelErrorTile(pub PanelKind);

/// The staleness hatch of a panel (hidden while its data is fresh).
#[derive(Component, Debug, Clone, Copy)]
pub struct Hatch(pub PanelKind);

/// The words on a hatch.
#[derive(Component, Debug, Clone, Copy)]
pub struct HatchLabel(pub PanelKind);

/// One bar of a chart; `chart` tells charts of a panel apart.
#[derive(Component, Debug, Clone, Copy)]
pub struct ChartBar {
    /// Its panel.
    pub panel: PanelKind,
    /// Which chart.
    pub chart: u8,
    /// Position from the left.
    pub index: usize,
}

/// The tiled hatch patterns.
#[derive(Resource, Debug, Clone)]
pub struct HatchImages {
    /// Amber `/`.
    pub disconnected: Handle<Image>,
    /// Grey `\`.
    pub silent: Handle<Image>,
    /// Dim cross-hatch.
    pub no_data: Handle<Image>,
}

impl HatchImages {
    /// The pattern of a kind.
    pub fn of(&self, s: Stale) -> Handle<Image> {
        match s {
            Stale::Disconnected => self.disconnected.clone(),
            Stale::DeviceSilent => self.silent.clone(),
            Stale::NoData => self.no_data.clone(),
        }
    }
}

/// Side of a hatch tile, pixels.
pub const HATCH_PX: u32 = 24;

/// A `HATCH_PX`² RGBA pattern: `forward` `/` stripes, `back` `\` stripes.
pub fn hatch_pixels(c: Rgb, alpha: u8, forward: bool, back: bool) -> Vec<u8> {
    let n = HATCH_PX as i32;
    let mut data = vec![0u8; (n * n * 4) as usize];
    for y in 0..n {
        for x in 0..n {
            let on = (forward && (x + y).rem_euclid(n / 2) < 3) || (back && (x - y).rem_euclid(n / 2) < 3);
            if on {
                let i = ((y * n + x) * 4) as usize;
                data[i..i + 4].copy_from_slice(&[c[0], c[1], c[2], alpha]);
            }
        }
    }
    data
}

fn hatch_image(images: &mut Assets<Image>, c: Rgb, alpha: u8, forward: bool, back: bool) -> Handle<Image> {
    images.add(Image::new(
        Extent3d { width: HATCH_PX, height: HATCH_PX, depth_or_array_layers: 1 },
        TextureDimension::D2,
        hatch_pixels(c, alpha, forward, back),
        TextureFormat::Rgba8UnormSrgb,
        RenderAssetUsages::RENDER_WORLD,
    ))
}

/// Shared panel machinery.
#[derive(Default)]
pub struct PanelPlugin;

impl Plugin for PanelPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<PanelStatuses>()
            .add_systems(PreStartup, make_hatches)
            .add_systems(Update, (show_panels, update_hatches, update_error_tiles, update_ages));
    }
}

fn make_hatches(mut commands: Commands, images: Option<ResMut<Assets<Image>>>) {
    // Without a renderer (ECS tests) the handles stay default; nothing draws them.
    let Some(mut images) = images else {
        commands.insert_resource(HatchImages {
            disconnected: Handle::default(),
            silent: Handle::default(),
            no_data: Handle::default(),
        });
        return;
    };
    commands.insert_resource(HatchImages {
        disconnected: hatch_image(&mut images, palette::DEGRADED, 150, true, false),
        silent: hatch_image(&mut images, palette::UNKNOWN, 170, false, true),
        no_data: hatch_image(&mut images, palette::text_dim(), 90, true, true),
    });
}

/// Text sizes of a panel on this screen.
pub fn panel_font(size: &WallSize, settings: Option<&WallSettings>) -> f32 {
    settings.map(|s| s.0.text_px(size.h)).unwrap_or(24.0).min(size.h / 28.0)
}

/// Spawns a panel root with its title, age line, error tile and hatch; the
/// panel adds its own children to the returned root.
pub fn spawn_panel(
    commands: &mut Commands,
    kind: PanelKind,
    size: &WallSize,
    font: f32,
    images: &HatchImages,
) -> Entity {
    spawn_panel_with(commands, kind, size, font, images, true)
}

/// [`spawn_panel`], optionally without the title row: the device grid draws
/// its tiles in the world and keeps only the age (bottom right), the error
/// tile and the hatch over them.
pub fn spawn_panel_with(
    commands: &mut Commands,
    kind: PanelKind,
    size: &WallSize,
    font: f32,
    images: &HatchImages,
    titled: bool,
) -> Entity {
    let bar = bar_height(size.h);
    let pad = if titled { bar * 0.5 } else { 0.0 };
    let top = if titled { bar * 1.3 } else { bar };
    let root = commands
        .spawn((
            PanelRoot(kind),
            Node {
                position_type: PositionType::Absolute,
                left: px(pad),
                top: px(top),
                width: px(size.w - 2.0 * pad),
                height: px(size.h - top - pad),
                flex_direction: FlexDirection::Column,
                row_gap: px(font * 0.35),
                overflow: Overflow::clip(),
                ..default()
            },
            Visibility::Hidden,
        ))
        .id();
    commands.entity(root).with_children(|p| {
        if titled {
            p.spawn(Node { column_gap: px(font), align_items: AlignItems::Baseline, ..default() }).with_children(|t| {
                t.spawn((
                    Text::new(kind.title().to_uppercase()),
                    TextFont::from_font_size(font * 1.3),
                    TextColor(color(palette::text())),
                ));
                t.spawn((
                    Text::new(""),
                    TextFont::from_font_size(font * 0.8),
                    TextColor(color(palette::text_dim())),
                    PanelAge(kind),
                ));
            });
        } else {
            p.spawn((
                Node { position_type: PositionType::Absolute, right: px(font * 0.3), bottom: px(0), ..default() },
                BackgroundColor(color(palette::background())),
                GlobalZIndex(4),
                children![(
                    Text::new(""),
                    TextFont::from_font_size(font * 0.6),
                    TextColor(color(palette::text_dim())),
                    PanelAge(kind),
                )],
            ));
        }
        p.spawn((
            PanelErrorTile(kind),
            Node {
                position_type: PositionType::Absolute,
                left: percent(10),
                top: percent(30),
                width: percent(80),
                padding: UiRect::all(px(font)),
                border: UiRect::all(px(font * 0.2)),
                ..default()
            },
            BorderColor::all(color(palette::OFFLINE)),
            BackgroundColor(color(palette::panel())),
            GlobalZIndex(6),
            Visibility::Hidden,
            children![(Text::new(""), TextFont::from_font_size(font), TextColor(color(palette::text())))],
        ));
        p.spawn((
            Hatch(kind),
            Node {
                position_type: PositionType::Absolute,
                left: px(0),
                top: px(0),
                width: percent(100),
                height: percent(100),
                justify_content: JustifyContent::Center,
                align_items: AlignItems::FlexStart,
                padding: UiRect::top(px(font * 2.5)),
                ..default()
            },
            ImageNode {
                image: images.disconnected.clone(),
                image_mode: NodeImageMode::Tiled { tile_x: true, tile_y: true, stretch_value: 1.0 },
                ..default()
            },
            GlobalZIndex(5),
            Visibility::Hidden,
            children![(
                Node { padding: UiRect::axes(px(font * 0.8), px(font * 0.3)), ..default() },
                BackgroundColor(color(palette::background())),
                children![(
                    Text::new(""),
                    TextFont::from_font_size(font * 1.2),
                    TextColor(color(palette::text())),
                    HatchLabel(kind),
                )],
            )],
        ));
    });
    root
}

/// Spawns `n` text rows (indices `first..first + n`) under `parent`.
pub fn spawn_rows(commands: &mut Commands, parent: Entity, kind: PanelKind, first: usize, n: usize, font: f32) {
    commands.entity(parent).with_children(|p| {
        for index in first..first + n {
            p.spawn((
                Text::new(""),
                TextFont::from_font_size(font),
                TextColor(color(palette::text())),
                TextLayout::default().with_no_wrap(),
                PanelRow { panel: kind, index },
            ));
        }
    });
}

/// Spawns a bar chart of `bars` bars, `height` pixels tall, under `parent`.
pub fn spawn_chart(
    commands: &mut Commands,
    parent: Entity,
    kind: PanelKind,
    chart: u8,
    bars: usize,
    height: f32,
    c: Rgb,
) {
    commands.entity(parent).with_children(|p| {
        p.spawn(Node {
            height: px(height),
            width: percent(100),
            align_items: AlignItems::FlexEnd,
            column_gap: px(2),
            border: UiRect::bottom(px(1)),
            ..default()
        })
        .insert(BorderColor::all(color(palette::text_dim())))
        .with_children(|c2| {
            for index in 0..bars {
                c2.spawn((
                    Node { flex_grow: 1.0, height: percent(0), ..default() },
                    BackgroundColor(color(c)),
                    ChartBar { panel: kind, chart, index },
                ));
            }
        });
    });
}

/// Writes rows into a panel's text rows; rows past the end are blanked.
pub fn write_rows(kind: PanelKind, rows: &[Row], q: &mut Query<(&PanelRow, &mut Text, &mut TextColor)>) {
    for (row, mut text, mut c) in q.iter_mut() {
        if row.panel != kind {
            continue;
        }
        let (s, col) = rows.get(row.index).map_or(("", palette::text()), |r| (r.text.as_str(), r.color));
        if text.0 != s {
            s.clone_into(&mut text.0);
        }
        if c.0 != color(col) {
            c.0 = color(col);
        }
    }
}

/// Sets the heights of a chart's bars from `values` (0..=1, oldest first, right-aligned).
pub fn write_chart(kind: PanelKind, chart: u8, values: &[f32], q: &mut Query<(&ChartBar, &mut Node)>) {
    let bars = q.iter().filter(|(b, _)| b.panel == kind && b.chart == chart).count();
    let offset = bars.saturating_sub(values.len());
    for (b, mut node) in q.iter_mut() {
        if b.panel != kind || b.chart != chart {
            continue;
        }
        let v = b.index.checked_sub(offset).and_then(|i| values.get(i)).copied().unwrap_or(0.0);
        let h = percent((v.clamp(0.0, 1.0) * 100.0).max(if v > 0.0 { 1.0 } else { 0.0 }));
        if node.height != h {
            node.height = h;
        }
    }
}

/// Shows the active page's panels in their grid cells; hides the rest.
///
/// Panels are laid out for the whole screen (text sized for the viewing
/// distance); in a smaller cell the panel is laid out larger and scaled down
/// to fit, so it keeps its proportions instead of clipping. Device tiles
/// are the exception: they are placed for their cell directly.
fn show_panels(
    page: Res<ActivePage>,
    size: Res<WallSize>,
    mut q: Query<(&PanelRoot, &mut Visibility, &mut Node, &mut UiTransform)>,
) {
    if !page.is_changed() && !size.is_changed() {
        return;
    }
    let full = crate::layout::tile_area(size.w, size.h);
    for (root, mut v, mut node, mut tf) in &mut q {
        let rect = page.rect_of(root.0, *size);
        let want = if rect.is_some() { Visibility::Inherited } else { Visibility::Hidden };
        if *v != want {
            *v = want;
        }
        let Some(r) = rect else { continue };
        let s = if root.0 == PanelKind::Devices { 1.0 } else { (r.w / full.w).min(r.h / full.h).clamp(0.1, 1.0) };
        // Laid out at (w, h) / s and scaled by s about its centre: it covers exactly the cell.
        let (w, h) = (r.w / s, r.h / s);
        let (cx, cy) = (r.x + r.w / 2.0, r.y + r.h / 2.0);
        let (left, top, width, height) = (px(cx - w / 2.0), px(cy - h / 2.0), px(w), px(h));
        if node.left != left || node.top != top || node.width != width || node.height != height {
            (node.left, node.top, node.width, node.height) = (left, top, width, height);
        }
        if tf.scale != Vec2::splat(s) {
            tf.scale = Vec2::splat(s);
        }
    }
}

#[expect(clippy::too_many_arguments, reason = "the hatch reads the link, the panels and the clock")]
fn update_hatches(
    link: Res<State<LinkState>>,
    info: Res<LinkInfo>,
    statuses: Res<PanelStatuses>,
    images: Res<HatchImages>,
    time: Res<Time>,
    mut since: Local<f32>,
    mut hatches: Query<(&Hatch, &mut Visibility, &mut ImageNode)>,
    mut labels: Query<(&HatchLabel, &mut Text)>,
) {
    *since += time.delta_secs();
    if !(link.is_changed() || statuses.is_changed() || *since >= 1.0) {
        return;
    }
    *since = 0.0;
    let restored = info.restored_as_of_ms.is_some();
    let mut stale_by_kind = HashMap::new();
    for (h, mut vis, mut img) in &mut hatches {
        let stale = stale_of(*link.get(), restored, statuses.0.get(&h.0));
        stale_by_kind.insert(h.0, stale);
        let want = if stale.is_some() { Visibility::Inherited } else { Visibility::Hidden };
        if *vis != want {
            *vis = want;
        }
        if let Some(s) = stale {
            let handle = images.of(s);
            if img.image != handle {
                img.image = handle;
            }
        }
    }
    let now = now_ms();
    for (l, mut text) in &mut labels {
        let s = match stale_by_kind.get(&l.0).copied().flatten() {
            Some(Stale::Disconnected) => match (info.restored_as_of_ms, *link.get()) {
                (Some(t), _) => format!("DISCONNECTED: showing saved state, {} old", age(now.saturating_sub(t))),
                (None, LinkState::Refused) => "DISCONNECTED: the gateway refused this wall".to_owned(),
                (None, _) => {
                    let next = info.retry_in.map(|d| format!(", next try in {} s", d.as_secs())).unwrap_or_default();
                    format!("DISCONNECTED: data may be out of date{next}")
                }
            },
            Some(Stale::DeviceSilent) => "SILENT: no device has reported lately".to_owned(),
            Some(Stale::NoData) => "NO DATA yet".to_owned(),
            None => String::new(),
        };
        if text.0 != s {
            text.0 = s;
        }
    }
}

fn update_error_tiles(
    statuses: Res<PanelStatuses>,
    mut tiles: Query<(&PanelErrorTile, &mut Visibility, &Children)>,
    mut texts: Query<&mut Text>,
) {
    if !statuses.is_changed() {
        return;
    }
    for (tile, mut vis, children) in &mut tiles {
        let error = statuses.0.get(&tile.0).and_then(|s| s.error.clone());
        let want = if error.is_some() { Visibility::Inherited } else { Visibility::Hidden };
        if *vis != want {
            *vis = want;
        }
        if let Some(e) = error
            && let Some(mut t) = children.first().and_then(|c| texts.get_mut(*c).ok())
        {
            t.0 = format!("PANEL ERROR\n{e}");
        }
    }
}

fn update_ages(
    fleet: Res<Fleet>,
    link: Res<State<LinkState>>,
    statuses: Res<PanelStatuses>,
    time: Res<Time>,
    mut since: Local<f32>,
    mut q: Query<(&PanelAge, &mut Text)>,
) {
    *since += time.delta_secs();
    if *since < 1.0 && !link.is_changed() {
        return;
    }
    *since = 0.0;
    let now = now_ms();
    for (a, mut text) in &mut q {
        let as_of = statuses.0.get(&a.0).and_then(|s| s.as_of_ms).or(fleet.0.synced_ms);
        let s = match (as_of, *link.get()) {
            (None, _) => "no data yet".to_owned(),
            // Fleet panels are current while the link is live, however quiet the log is.
            (Some(_), LinkState::Live) if statuses.0.get(&a.0).and_then(|s| s.as_of_ms).is_none() => {
                let last = fleet.0.last_event_ms.map(|e| format!(", last change {} ago", age(now.saturating_sub(e))));
                format!("live{}", last.unwrap_or_default())
            }
            (Some(t), _) => format!("data {} old", age(now.saturating_sub(t))),
        };
        if text.0 != s {
            text.0 = s;
        }
    }
}

/// A redraw throttle: due at once the first time, then when something
/// changed (now or since the last redraw) and `min_s` passed, or every
/// `max_s` regardless.
#[derive(Debug, Default)]
pub struct Every {
    since: Option<f32>,
    dirty: bool,
}

impl Every {
    /// Whether to redraw this frame.
    pub fn due(&mut self, dt: f32, dirty: bool, min_s: f32, max_s: f32) -> bool {
        let since = self.since.get_or_insert(f32::INFINITY);
        *since += dt;
        self.dirty |= dirty;
        if *since >= max_s || (self.dirty && *since >= min_s) {
            *since = 0.0;
            self.dirty = false;
            return true;
        }
        false
    }
}

/// Adds [`PanelPlugin`] unless it is there: every panel plugin needs it.
pub fn ensure_panel_plugin(app: &mut App) {
    if !app.is_plugin_added::<PanelPlugin>() {
        app.add_plugins(PanelPlugin);
    }
}
