//! OperatorPlugin: egui dialogs for operators and admins (F2): acknowledge,
//! resolve or mute an alert; rename a device or assign it a playlist;
//! reorder a playlist's items; enable or disable a schedule. Each button
//! sends an [`OperatorAction`]: the change shows in the next frame and rolls
//! back with a toast if the gateway refuses it. Viewers see no controls.

use bevy::prelude::*;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};
use vizora_protocol::{AlertState, MutationOp, now_ms};

use crate::fleet::{Fleet, Identity, OperatorAction};

/// What the dialog has selected and typed.
#[derive(Resource, Debug, Default)]
pub struct OperatorDialog {
    /// Shown.
    pub open: bool,
    alert: Option<String>,
    device: Option<String>,
    rename: String,
    playlist: Option<String>,
    schedule: Option<String>,
}

/// The operator dialogs (needs the egui plugin, added by the overlay).
#[derive(Default)]
pub struct OperatorPlugin;

impl Plugin for OperatorPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<OperatorDialog>()
            .add_systems(Update, toggle_dialog)
            .add_systems(EguiPrimaryContextPass, draw_dialog);
    }
}

fn toggle_dialog(keys: Res<ButtonInput<KeyCode>>, who: Res<Identity>, mut d: ResMut<OperatorDialog>) {
    if keys.just_pressed(KeyCode::F2) && who.can_operate() {
        d.open = !d.open;
    }
}

fn combo(ui: &mut egui::Ui, label: &str, selected: &mut Option<String>, items: &[(String, String)]) {
    let text = selected.as_ref().and_then(|s| items.iter().find(|(id, _)| id == s)).map_or("choose...", |(_, n)| n);
    egui::ComboBox::from_label(label).selected_text(text).width(260.0).show_ui(ui, |ui| {
        for (id, name) in items.iter().take(500) {
            ui.selectable_value(selected, Some(id.clone()), name);
        }
    });
}

fn draw_dialog(
    mut contexts: EguiContexts,
    mut d: ResMut<OperatorDialog>,
    who: Res<Identity>,
    fleet: Res<Fleet>,
    mut actions: MessageWriter<OperatorAction>,
) -> Result {
    if !d.open || !who.can_operate() {
        return Ok(());
    }
    let ctx = contexts.ctx_mut()?;
    let state = fleet.0.view();
    let mut act = |target: &str, base_rev: Option<u64>, op: MutationOp| {
        actions.write(OperatorAction { target: Some(target.to_owned()), base_rev, op });
    };
    let mut open = d.open;
    egui::Window::new(format!("Operator: {} ({:?})  F2", who.sub, who.role)).open(&mut open).default_width(380.0).show(
        ctx,
        |ui| {
            ui.label(format!("{} changes waiting for the gateway", fleet.0.engine().pending().len()));
            ui.separator();
            ui.heading("Alert");
            let alerts: Vec<(String, String)> = state
                .alerts
                .values()
                .filter(|a| a.state != AlertState::Resolved)
                .map(|a| (a.id.clone(), format!("{:?} {} [{:?}]", a.severity, a.message, a.state)))
                .collect();
            combo(ui, "alert", &mut d.alert, &alerts);
            if let Some(a) = d.alert.as_ref().and_then(|id| state.alerts.get(id)) {
                ui.horizontal(|ui| {
                    if ui.add_enabled(a.state == AlertState::Open, egui::Button::new("Acknowledge")).clicked() {
                        act(&a.id, Some(a.rev), MutationOp::AlertAck);
                    }
                    if ui.button("Resolve").clicked() {
                        act(&a.id, Some(a.rev), MutationOp::AlertResolve);
                    }
                    if ui.button("Mute 1 h").clicked() {
                        act(&a.id, None, MutationOp::AlertMute { until_ms: now_ms() + 3_600_000 });
                    }
                });
            }
            ui.separator();
            ui.heading("Device");
            let mut devices: Vec<(String, String)> =
                state.devices.values().map(|x| (x.id.clone(), x.name.clone())).collect();
            devices.sort_by(|a, b| a.1.cmp(&b.1));
            let before = d.device.clone();
            combo(ui, "device", &mut d.device, &devices);
            if d.device != before {
                d.rename =
                    d.device.as_ref().and_then(|id| state.devices.get(id)).map(|x| x.name.clone()).unwrap_or_default();
            }
            if let Some(dev) = d.device.as_ref().and_then(|id| state.devices.get(id)) {
                ui.horizontal(|ui| {
                    ui.text_edit_singleline(&mut d.rename);
                    if ui.button("Rename").clicked() {
                        act(&dev.id, Some(dev.rev), MutationOp::DeviceRename { name: d.rename.clone() });
                    }
                });
                let playlists: Vec<(String, String)> =
                    state.playlists.values().map(|p| (p.id.clone(), p.name.clone())).collect();
                ui.horizontal(|ui| {
                    combo(ui, "playlist", &mut d.playlist, &playlists);
                    if ui.add_enabled(d.playlist.is_some(), egui::Button::new("Assign")).clicked() {
                        act(
                            &dev.id,
                            Some(dev.rev),
                            MutationOp::DeviceAssignPlaylist { playlist_id: d.playlist.clone() },
                        );
                    }
                });
            }
            ui.separator();
            ui.heading("Playlist order");
            if let Some(p) = d.playlist.as_ref().and_then(|id| state.playlists.get(id)) {
                for (i, item) in p.items.iter().enumerate() {
                    let name =
                        state.contents.get(&item.content_id).map_or(item.content_id.as_str(), |c| c.name.as_str());
                    ui.horizontal(|ui| {
                        ui.label(format!("{}. {name} ({} s)", i + 1, item.duration_s));
                        if ui.add_enabled(i > 0, egui::Button::new("up")).clicked() {
                            act(&p.id, Some(p.rev), MutationOp::PlaylistMoveItem { from: i, to: i - 1 });
                        }
                        if ui.add_enabled(i + 1 < p.items.len(), egui::Button::new("down")).clicked() {
                            act(&p.id, Some(p.rev), MutationOp::PlaylistMoveItem { from: i, to: i + 1 });
                        }
                    });
                }
            } else {
                ui.label("choose a playlist above");
            }
            ui.separator();
            ui.heading("Schedule");
            let schedules: Vec<(String, String)> = state
                .schedules
                .values()
                .map(|s| (s.id.clone(), format!("{} ({})", s.name, if s.enabled { "on" } else { "off" })))
                .collect();
            combo(ui, "schedule", &mut d.schedule, &schedules);
            if let Some(s) = d.schedule.as_ref().and_then(|id| state.schedules.get(id)) {
                let label = if s.enabled { "Disable" } else { "Enable" };
                if ui.button(label).clicked() {
                    act(&s.id, Some(s.rev), MutationOp::ScheduleSetEnabled { enabled: !s.enabled });
                }
            }
        },
    );
    d.open = open;
    Ok(())
}
