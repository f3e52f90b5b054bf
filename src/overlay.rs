//! OverlayPlugin: the egui debug overlay, toggled with F12: connection,
//! counters, frame time.

use bevy::prelude::*;
use bevy_egui::{EguiContexts, EguiPlugin, EguiPrimaryContextPass, egui};

use crate::fleet::Fleet;
use crate::net::{LinkInfo, LinkState};

/// Whether the overlay shows, and frame-time history.
#[derive(Resource, Debug, Default)]
pub struct OverlayState {
    /// Shown.
    pub visible: bool,
    frame_ms: std::collections::VecDeque<f32>,
}

/// The F12 overlay.
#[derive(Default)]
pub struct OverlayPlugin;

impl Plugin for OverlayPlugin {
    fn build(&self, app: &mut App) {
        app.add_plugins(EguiPlugin::default())
            .init_resource::<OverlayState>()
            .add_systems(Update, (toggle_overlay, record_frame_time))
            .add_systems(EguiPrimaryContextPass, draw_overlay);
    }
}

fn toggle_overlay(keys: Res<ButtonInput<KeyCode>>, mut st: ResMut<OverlayState>) {
    if keys.just_pressed(KeyCode::F12) {
        st.visible = !st.visible;
    }
}

fn record_frame_time(time: Res<Time>, mut st: ResMut<OverlayState>) {
    st.frame_ms.push_back(time.delta_secs() * 1000.0);
    if st.frame_ms.len() > 240 {
        st.frame_ms.pop_front();
    }
}

fn draw_overlay(
    mut contexts: EguiContexts,
    st: Res<OverlayState>,
    info: Res<LinkInfo>,
    link: Res<State<LinkState>>,
    fleet: Res<Fleet>,
    entities: Query<Entity>,
) -> Result {
    if !st.visible {
        return Ok(());
    }
    let ctx = contexts.ctx_mut()?;
    egui::Window::new("Vizora debug (F12)").default_width(320.0).show(ctx, |ui| {
        ui.heading("Connection");
        ui.label(format!("state: {:?}", link.get()));
        ui.label(format!("server: {}", info.server.as_deref().unwrap_or("-")));
        ui.label(format!("last subscribe: {:?}", info.mode));
        ui.label(format!("reconnects: {}", info.reconnects));
        if let Some(r) = &info.reason {
            ui.label(format!("reason: {r}"));
        }
        ui.separator();
        ui.heading("Stream");
        ui.label(format!("entries: {}   snapshots: {}   telemetry: {}", info.entries, info.snapshots, info.telemetry));
        if let Some((epoch, seq)) = &fleet.0.position {
            ui.label(format!("position: {epoch}:{seq}"));
        }
        ui.separator();
        ui.heading("Frame");
        let mut sorted: Vec<f32> = st.frame_ms.iter().copied().collect();
        sorted.sort_by(f32::total_cmp);
        let pct = |p: f32| sorted.get(((sorted.len() as f32 - 1.0) * p) as usize).copied().unwrap_or(0.0);
        ui.label(format!("frame ms p50 {:.1}  p99 {:.1}  max {:.1}", pct(0.5), pct(0.99), pct(1.0)));
        ui.label(format!("entities: {}   devices: {}", entities.iter().count(), fleet.0.state.devices.len()));
    });
    Ok(())
}
