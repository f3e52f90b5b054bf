//! What each panel reports about its data: nothing to show, silent
//! devices, an error (shown on the panel's own error tile) and how old it
//! is. Panels write it; the hatch, the age line and the error tile read it.

use std::collections::HashMap;

use bevy::prelude::*;

use crate::base::config::PanelKind;

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

/// Errors panel systems returned, per panel and per system: the error
/// boundary of [`report_to`]. A panel's error tile shows them until the
/// failing system next succeeds.
#[derive(Resource, Debug, Default)]
pub struct PanelFaults(pub HashMap<PanelKind, HashMap<u32, String>>);

impl PanelFaults {
    /// The first fault of a panel, if any.
    pub fn of(&self, kind: PanelKind) -> Option<&String> {
        self.0.get(&kind).and_then(|m| m.values().next())
    }
}

/// The error boundary of a panel system: pipe a system returning `Result`
/// into it (`draw.pipe(report_to(PanelKind::Health))`) and an error shows
/// on that panel's error tile instead of stopping the wall; the other
/// panels keep drawing.
pub fn report_to(kind: PanelKind) -> impl FnMut(In<Result>, ResMut<PanelFaults>) {
    report_to_each([kind])
}

/// [`report_to`] for a system that draws several panels.
pub fn report_to_each<const N: usize>(kinds: [PanelKind; N]) -> impl FnMut(In<Result>, ResMut<PanelFaults>) {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    move |In(result), mut faults| match result {
        Ok(()) => {
            if kinds.iter().any(|k| faults.0.get(k).is_some_and(|m| m.contains_key(&id))) {
                for k in kinds {
                    if let Some(m) = faults.0.get_mut(&k) {
                        m.remove(&id);
                    }
                }
            }
        }
        Err(e) => {
            let text = e.to_string();
            let line = text.lines().next().unwrap_or("").to_owned();
            for k in kinds {
                let m = faults.0.entry(k).or_default();
                if m.get(&id) != Some(&line) {
                    warn!("panel {} failed: {line}", k.as_str());
                    m.insert(id, line.clone());
                }
            }
        }
    }
}
