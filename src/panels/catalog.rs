//! PlaylistsPanelPlugin and ContentPanelPlugin: the catalog. Playlists with
//! their items and durations, how many devices run each, and the operator's
//! unconfirmed edits marked; the content library with kind, size, duration
//! and where each item is used.

use std::collections::HashMap;

use bevy::prelude::*;
use vizora_protocol::{ContentKind, EntityKind};

use crate::base::config::PanelKind;
use crate::base::fleet_model::FleetModel;
use crate::base::format::{ascii, bytes, duration};
use crate::base::palette::{self, Theme};
use crate::sync::fleet::{CatalogChanged, Fleet, FleetReset};
use crate::wall::WallSize;
use crate::wall::panel::{
    Every, HatchImages, PageKeys, Paging, PanelRow, PanelStatus, PanelStatuses, Row, paged_with, panel_font,
    report_to_each, spawn_panel, spawn_rows, write_rows,
};
use crate::wall::{Colors, WallSettings};

/// Text rows of each catalog panel.
pub const ROWS: usize = 26;

/// Draws the playlists and content panels.
#[derive(Default)]
pub struct CatalogPanelsPlugin;

impl Plugin for CatalogPanelsPlugin {
    fn build(&self, app: &mut App) {
        crate::wall::panel::ensure_panel_plugin(app);
        app.add_systems(Startup, spawn_catalog)
            .add_systems(Update, draw_catalog.pipe(report_to_each([PanelKind::Playlists, PanelKind::Content])));
    }
}

fn spawn_catalog(
    mut commands: Commands,
    size: Res<WallSize>,
    settings: Option<Res<WallSettings>>,
    images: Res<HatchImages>,
    colors: Res<Colors>,
) {
    let font = panel_font(&size, settings.as_deref()).min(size.h / (ROWS as f32 + 8.0));
    for kind in [PanelKind::Playlists, PanelKind::Content] {
        let root = spawn_panel(&mut commands, kind, &size, font, &images, &colors.0);
        spawn_rows(&mut commands, root, kind, 0, ROWS, font, &colors.0);
    }
}

/// The playlists panel's rows: two lines a playlist (summary, then items).
pub fn playlist_rows(model: &FleetModel, theme: &Theme) -> Vec<Row> {
    let state = model.view();
    let mut running: HashMap<&str, usize> = HashMap::new();
    let mut assigned: HashMap<&str, usize> = HashMap::new();
    for d in state.devices.values() {
        if let Some(p) = model.playing(d) {
            *running.entry(p.playlist_id.as_str()).or_default() += 1;
        }
        if let Some(p) = &d.playlist_id {
            *assigned.entry(p.as_str()).or_default() += 1;
        }
    }
    let mut lists: Vec<_> = state.playlists.values().collect();
    lists.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    let mut rows = vec![Row::new(
        format!("{:<28} {:>5} {:>9} {:>8} {:>9}", "PLAYLIST", "ITEMS", "LENGTH", "RUNNING", "ASSIGNED"),
        theme.text_dim,
    )];
    for p in lists {
        // Durations are bounded (≤ 86,400 s each, ≤ 1,000 items): the sum fits.
        let total = p.items.iter().map(|i| i.duration_s).sum::<f64>().round() as u64;
        let pending = model.is_pending(EntityKind::Playlist, &p.id);
        let mark = if pending { "  * PENDING EDIT" } else { "" };
        rows.push(Row::new(
            format!(
                "{:<28} {:>5} {:>9} {:>8} {:>9}{mark}",
                ascii(&p.name, 28),
                p.items.len(),
                duration(total),
                running.get(p.id.as_str()).copied().unwrap_or(0),
                assigned.get(p.id.as_str()).copied().unwrap_or(0),
            ),
            if pending { palette::ACCENT } else { theme.text },
        ));
        let mut items = String::from("    ");
        let mut missing = false;
        for (n, it) in p.items.iter().enumerate() {
            let name = match state.contents.get(&it.content_id) {
                Some(c) => ascii(&c.name, 18),
                None => {
                    missing = true;
                    format!("MISSING {}", ascii(&it.content_id, 12))
                }
            };
            let piece = format!("{}. {name} ({}s)  ", n + 1, it.duration_s);
            if items.len() + piece.len() > 110 {
                items.push_str("...");
                break;
            }
            items.push_str(&piece);
        }
        if p.items.is_empty() {
            items.push_str("(empty)");
        }
        rows.push(Row::new(items, if missing { palette::OFFLINE } else { theme.text_dim }));
    }
    rows
}

/// The content panel's rows.
pub fn content_rows(model: &FleetModel, theme: &Theme) -> Vec<Row> {
    let state = model.view();
    let mut used: HashMap<&str, Vec<&str>> = HashMap::new();
    for p in state.playlists.values() {
        for it in &p.items {
            let v = used.entry(it.content_id.as_str()).or_default();
            if !v.contains(&p.name.as_str()) {
                v.push(p.name.as_str());
            }
        }
    }
    let mut items: Vec<_> = state.contents.values().collect();
    items.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    let total: u64 = items.iter().map(|c| c.size_bytes).sum();
    let mut rows = vec![
        Row::new(format!("{} items, {} in all", items.len(), bytes(total)), theme.text),
        Row::new(
            format!("{:<28} {:<6} {:>9} {:>8}  {}", "CONTENT", "KIND", "SIZE", "LENGTH", "USED IN"),
            theme.text_dim,
        ),
    ];
    for c in items {
        let kind = match c.kind {
            ContentKind::Image => "image",
            ContentKind::Video => "video",
            ContentKind::Web => "web",
        };
        let (uses, col) = match used.get(c.id.as_str()) {
            Some(v) => {
                let mut v = v.clone();
                v.sort_unstable();
                let names: Vec<String> = v.iter().take(3).map(|n| ascii(n, 16)).collect();
                let more = if v.len() > 3 { format!(" +{}", v.len() - 3) } else { String::new() };
                (format!("{}{more}", names.join(", ")), theme.text)
            }
            None => ("unused".to_owned(), theme.text_dim),
        };
        let pending = model.is_pending(EntityKind::Content, &c.id);
        let mark = if pending { "  * PENDING EDIT" } else { "" };
        rows.push(Row::new(
            format!(
                "{:<28} {:<6} {:>9} {:>8}  {uses}{mark}",
                ascii(&c.name, 28),
                kind,
                bytes(c.size_bytes),
                duration(c.duration_s.round() as u64)
            ),
            if pending { palette::ACCENT } else { col },
        ));
    }
    rows
}

/// How the two lists page: the playlists' column header stays and each
/// playlist is two lines; the content's summary and column header stay.
const LISTS: [Paging; 2] = [Paging { header: 1, unit: 2 }, Paging { header: 2, unit: 1 }];

fn draw_catalog(
    (fleet, colors): (Res<Fleet>, Res<Colors>),
    mut changed: MessageReader<CatalogChanged>,
    mut reset: MessageReader<FleetReset>,
    (time, mut every): (Res<Time>, Local<Every>),
    mut statuses: ResMut<PanelStatuses>,
    (paging, mut scroll): (PageKeys, Local<[usize; 2]>),
    mut rows: Query<(&PanelRow, &mut Text, &mut TextColor)>,
) -> Result {
    // Page Down / Page Up page through the list on screen.
    let mut paged_now = false;
    for (i, kind) in [PanelKind::Playlists, PanelKind::Content].into_iter().enumerate() {
        paged_now |= paging.scroll(kind, &mut scroll[i], LISTS[i].step(ROWS));
    }
    // Running counts follow telemetry: refresh every 2 s; edits show at once.
    let dirty = changed.read().count() + reset.read().count() > 0 || paged_now;
    if !every.due(time.delta_secs(), dirty, 0.0, 2.0) {
        return Ok(());
    }
    let model = &fleet.0;
    let theme = &colors.0;
    let playlists = paged_with(playlist_rows(model, theme), LISTS[0], &mut scroll[0], ROWS, theme);
    write_rows(PanelKind::Playlists, &playlists, &mut rows, theme);
    let contents = paged_with(content_rows(model, theme), LISTS[1], &mut scroll[1], ROWS, theme);
    write_rows(PanelKind::Content, &contents, &mut rows, theme);
    let synced = model.position().is_some();
    for (kind, empty) in [
        (PanelKind::Playlists, model.view().playlists.is_empty()),
        (PanelKind::Content, model.view().contents.is_empty()),
    ] {
        PanelStatuses::set(&mut statuses, kind, PanelStatus { no_data: !synced || empty, ..PanelStatus::default() });
    }
    Ok(())
}
