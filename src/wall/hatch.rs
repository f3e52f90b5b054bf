//! The staleness hatch over a panel or a tile, which tells three kinds of
//! stale apart by pattern, colour and words:
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

use crate::base::config::PanelKind;
use crate::base::format::age;
use crate::base::palette::{self, Rgb};
use crate::sync::net::{LinkInfo, LinkState};
use crate::wall::Colors;
use crate::wall::status::{PanelStatus, PanelStatuses};

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

/// The staleness hatch of a panel (hidden while its data is fresh).
#[derive(Component, Debug, Clone, Copy)]
pub struct Hatch(pub PanelKind);

/// The words on a hatch.
#[derive(Component, Debug, Clone, Copy)]
pub struct HatchLabel(pub PanelKind);

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

pub(crate) fn make_hatches(mut commands: Commands, images: Option<ResMut<Assets<Image>>>, colors: Res<Colors>) {
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
        no_data: hatch_image(&mut images, colors.0.text_dim, 90, true, true),
    });
}

#[expect(clippy::too_many_arguments, reason = "the hatch reads the link, the panels and the clock")]
pub(crate) fn update_hatches(
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
