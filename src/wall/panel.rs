//! What every panel shares: a root node under the top bar (in its grid
//! cell of the active page), a title with the age of the panel's data, text
//! rows, bar charts, the error tile (the error boundary: a panel whose data
//! it cannot show says why instead) and the staleness hatch ([`crate::wall::hatch`]).

use bevy::prelude::*;
use vizora_protocol::now_ms;

pub use crate::wall::hatch::{Hatch, HatchImages, HatchLabel, Stale, stale_of};
use crate::wall::hatch::{make_hatches, update_hatches};

use crate::base::config::PanelKind;
use crate::base::format::age;
use crate::base::layout::bar_height;
use crate::base::palette::{self, Rgb, Theme};
use crate::sync::fleet::Fleet;
use crate::sync::net::LinkState;
use crate::wall::color;
use crate::wall::pages::ActivePage;
pub use crate::wall::status::{PanelFaults, PanelStatus, PanelStatuses, report_to, report_to_each};
use crate::wall::{Colors, WallSettings, WallSize};

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

/// Shared panel machinery.
#[derive(Default)]
pub struct PanelPlugin;

impl Plugin for PanelPlugin {
    fn build(&self, app: &mut App) {
        // The colours come from the settings' theme unless given.
        if !app.world().contains_resource::<Colors>() {
            let theme = app.world().get_resource::<WallSettings>().map(|s| s.0.theme).unwrap_or_default();
            app.insert_resource(Colors(theme));
        }
        app.init_resource::<PanelStatuses>()
            .init_resource::<PanelFaults>()
            .init_resource::<crate::wall::PulseClock>()
            .init_resource::<crate::wall::focus::DeviceFilter>()
            .init_resource::<crate::wall::focus::Selected>()
            .init_resource::<crate::wall::focus::InputCapture>()
            .add_systems(First, crate::wall::tick_pulse_clock)
            .add_systems(PreStartup, make_hatches)
            .add_systems(Update, (show_panels, update_hatches, update_error_tiles, update_ages));
    }
}

/// A node covering its parent (or the screen) whole, out of the flow.
pub fn cover() -> Node {
    Node {
        position_type: PositionType::Absolute,
        left: px(0),
        top: px(0),
        width: percent(100),
        height: percent(100),
        ..default()
    }
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
    theme: &Theme,
) -> Entity {
    spawn_panel_with(commands, kind, size, font, images, true, theme)
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
    theme: &Theme,
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
                    TextColor(color(theme.text)),
                ));
                t.spawn((
                    Text::new(""),
                    TextFont::from_font_size(font * 0.8),
                    TextColor(color(theme.text_dim)),
                    PanelAge(kind),
                ));
            });
        } else {
            p.spawn((
                Node { position_type: PositionType::Absolute, right: px(font * 0.3), bottom: px(0), ..default() },
                BackgroundColor(color(theme.background)),
                GlobalZIndex(4),
                children![(
                    Text::new(""),
                    TextFont::from_font_size(font * 0.6),
                    TextColor(color(theme.text_dim)),
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
            BackgroundColor(color(theme.panel)),
            GlobalZIndex(6),
            Visibility::Hidden,
            children![(Text::new(""), TextFont::from_font_size(font), TextColor(color(theme.text)))],
        ));
        p.spawn((
            Hatch(kind),
            Node {
                justify_content: JustifyContent::Center,
                align_items: AlignItems::FlexStart,
                padding: UiRect::top(px(font * 2.5)),
                ..cover()
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
                BackgroundColor(color(theme.background)),
                children![(
                    Text::new(""),
                    TextFont::from_font_size(font * 1.2),
                    TextColor(color(theme.text)),
                    HatchLabel(kind),
                )],
            )],
        ));
    });
    root
}

/// Spawns `n` text rows (indices `first..first + n`) under `parent`.
pub fn spawn_rows(
    commands: &mut Commands,
    parent: Entity,
    kind: PanelKind,
    first: usize,
    n: usize,
    font: f32,
    theme: &Theme,
) {
    commands.entity(parent).with_children(|p| {
        for index in first..first + n {
            p.spawn((
                Text::new(""),
                TextFont::from_font_size(font),
                TextColor(color(theme.text)),
                TextLayout::default().with_no_wrap(),
                PanelRow { panel: kind, index },
            ));
        }
    });
}

/// Spawns a bar chart of `bars` bars, `height` pixels tall, under `parent`.
#[expect(clippy::too_many_arguments, reason = "a chart's place, size and colours")]
pub fn spawn_chart(
    commands: &mut Commands,
    parent: Entity,
    kind: PanelKind,
    chart: u8,
    bars: usize,
    height: f32,
    c: Rgb,
    theme: &Theme,
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
        .insert(BorderColor::all(color(theme.text_dim)))
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
pub fn write_rows(kind: PanelKind, rows: &[Row], q: &mut Query<(&PanelRow, &mut Text, &mut TextColor)>, theme: &Theme) {
    for (row, mut text, mut c) in q.iter_mut() {
        if row.panel != kind {
            continue;
        }
        let (s, col) = rows.get(row.index).map_or(("", theme.text), |r| (r.text.as_str(), r.color));
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
    let full = crate::base::layout::tile_area(size.w, size.h);
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

fn update_error_tiles(
    statuses: Res<PanelStatuses>,
    faults: Res<PanelFaults>,
    mut tiles: Query<(&PanelErrorTile, &mut Visibility, &Children)>,
    mut texts: Query<&mut Text>,
) {
    if !statuses.is_changed() && !faults.is_changed() {
        return;
    }
    for (tile, mut vis, children) in &mut tiles {
        let error = statuses.0.get(&tile.0).and_then(|s| s.error.clone()).or_else(|| faults.of(tile.0).cloned());
        let want = if error.is_some() { Visibility::Inherited } else { Visibility::Hidden };
        if *vis != want {
            *vis = want;
        }
        if let Some(e) = error
            && let Some(mut t) = children.first().and_then(|c| texts.get_mut(*c).ok())
        {
            let s = format!("PANEL ERROR\n{e}");
            if t.0 != s {
                t.0 = s;
            }
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

/// One page of a list that has `capacity` rows on screen: the rows from
/// `*scroll`, and when the list is longer than a screen, a last row saying
/// which rows show and how to see the others. `*scroll` is kept on a row
/// that exists.
pub fn paged(rows: Vec<Row>, scroll: &mut usize, capacity: usize, theme: &Theme) -> Vec<Row> {
    paged_with(rows, Paging { header: 0, unit: 1 }, scroll, capacity, theme)
}

/// How a list pages: header rows that stay on every page, and entries of
/// `unit` rows each that are never split across pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    /// Rows at the top that every page shows.
    pub header: usize,
    /// Rows per entry.
    pub unit: usize,
}

impl Paging {
    /// Body rows a page of a list with `capacity` rows shows (whole entries,
    /// a footer row left free): what one Page Down moves.
    pub fn step(self, capacity: usize) -> usize {
        let unit = self.unit.max(1);
        (capacity.saturating_sub(self.header + 1) / unit * unit).max(unit)
    }
}

/// [`paged`] for a list with header rows and entries of several rows.
pub fn paged_with(rows: Vec<Row>, how: Paging, scroll: &mut usize, capacity: usize, theme: &Theme) -> Vec<Row> {
    if rows.len() <= capacity || capacity < how.header + 2 {
        *scroll = 0;
        return rows;
    }
    let step = how.step(capacity);
    let mut rows = rows.into_iter();
    let mut page: Vec<Row> = rows.by_ref().take(how.header).collect();
    let body: Vec<Row> = rows.collect();
    let total = body.len();
    // On a page boundary (so never inside an entry), and on one that exists.
    *scroll = (*scroll).min(total.saturating_sub(1)) / step * step;
    let last = (*scroll + step).min(total);
    page.extend(body.into_iter().skip(*scroll).take(step));
    page.push(Row::new(format!("rows {}-{last} of {total}   PgDn / PgUp for more", *scroll + 1), theme.text_dim));
    page
}

/// The keys that page a list, and the page on screen.
#[derive(bevy::ecs::system::SystemParam)]
pub struct PageKeys<'w> {
    keys: crate::wall::focus::WallKeys<'w>,
    page: Option<Res<'w, ActivePage>>,
}

impl PageKeys<'_> {
    /// Page Down / Page Up move `*scroll` by `per_page` while the active
    /// page shows `kind`; whether it moved.
    pub fn scroll(&self, kind: PanelKind, scroll: &mut usize, per_page: usize) -> bool {
        match (self.keys.get(), &self.page) {
            (Some(keys), Some(page)) => page_keys(keys, page, kind, scroll, per_page),
            _ => false,
        }
    }
}

/// [`PageKeys::scroll`] on plain values.
pub fn page_keys(
    keys: &ButtonInput<KeyCode>,
    page: &ActivePage,
    kind: PanelKind,
    scroll: &mut usize,
    per_page: usize,
) -> bool {
    if !page.shows(kind) {
        return false;
    }
    if keys.just_pressed(KeyCode::PageDown) {
        *scroll += per_page;
        return true;
    }
    if keys.just_pressed(KeyCode::PageUp) && *scroll > 0 {
        *scroll = scroll.saturating_sub(per_page);
        return true;
    }
    false
}

/// Adds [`PanelPlugin`] unless it is there: every panel plugin needs it.
pub fn ensure_panel_plugin(app: &mut App) {
    if !app.is_plugin_added::<PanelPlugin>() {
        app.add_plugins(PanelPlugin);
    }
}

#[cfg(test)]
mod paging_tests {
    use super::*;

    #[test]
    fn a_long_list_shows_a_page_and_says_where_it_is() {
        let rows: Vec<Row> = (0..25).map(|i| Row::new(format!("r{i}"), [0; 3])).collect();
        let mut scroll = 0;
        let page = paged(rows.clone(), &mut scroll, 10, &Theme::default());
        assert_eq!(page.len(), 10);
        assert_eq!((page[0].text.as_str(), page[9].text.as_str()), ("r0", "rows 1-9 of 25   PgDn / PgUp for more"));
        scroll = 18;
        let page = paged(rows.clone(), &mut scroll, 10, &Theme::default());
        assert_eq!((page[0].text.as_str(), page.len()), ("r18", 8), "the last page");
        scroll = 1000;
        paged(rows.clone(), &mut scroll, 10, &Theme::default());
        assert_eq!(scroll, 18, "kept on a row that exists");
        // A header stays on every page; two-row entries are never split.
        let mut scroll = 2;
        let how = Paging { header: 1, unit: 2 };
        assert_eq!(how.step(10), 8);
        let page = paged_with(rows.clone(), how, &mut scroll, 10, &Theme::default());
        assert_eq!(scroll, 0, "kept on an entry's first row");
        scroll = 8;
        let page2 = paged_with(rows.clone(), how, &mut scroll, 10, &Theme::default());
        assert_eq!((page[0].text.as_str(), page2[0].text.as_str(), page2[1].text.as_str()), ("r0", "r0", "r9"));
        assert_eq!(page2.last().map(|r| r.text.as_str()), Some("rows 9-16 of 24   PgDn / PgUp for more"));
        let short: Vec<Row> = rows.into_iter().take(10).collect();
        assert_eq!(paged(short, &mut scroll, 10, &Theme::default()).len(), 10);
        assert_eq!(scroll, 0);
    }
}
