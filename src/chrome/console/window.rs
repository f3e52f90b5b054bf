//! The console's egui window: tabs, entity lists, the form of the chosen
//! kind, and what the last submit said.

use bevy::prelude::*;
use bevy_egui::{EguiContexts, egui};
use serde_json::json;
use vizora_protocol::{ContentKind, MutationOp, OrgState, Role};

use crate::base::fleet_model::FleetModel;
use crate::base::format;
use crate::sync::fleet::{Fleet, Identity};
use crate::wall::WallSize;
use crate::wall::focus::InputCapture;

use super::{Console, ConsoleForm, ConsoleTab, DAYS, MAX_ROWS, ScheduleDraft, SubmitForm, TabState, TargetKind};

/// Admin-only kinds, for greying out their buttons. Every admin kind parses
/// with a name alone; the submit check (`needs_admin`) is the real one.
fn admin_only(kind: &str) -> bool {
    MutationOp::parse(kind, &json!({ "name": "x" })).is_ok_and(|op| op.needs_admin())
}

fn entity_rows(tab: ConsoleTab, state: &OrgState, filter: &str) -> Vec<(String, String)> {
    let rows: Box<dyn Iterator<Item = (&String, String)> + '_> = match tab {
        ConsoleTab::Devices => Box::new(state.devices.values().map(|d| (&d.id, format!("{} ({})", d.name, d.id)))),
        ConsoleTab::Playlists => Box::new(state.playlists.values().map(|p| (&p.id, format!("{} ({})", p.name, p.id)))),
        ConsoleTab::Content => Box::new(state.contents.values().map(|c| (&c.id, format!("{} ({})", c.name, c.id)))),
        ConsoleTab::Schedules => Box::new(state.schedules.values().map(|s| (&s.id, format!("{} ({})", s.name, s.id)))),
        ConsoleTab::Alerts => {
            Box::new(state.alerts.values().map(|a| (&a.id, format!("{:?} {} [{:?}]", a.severity, a.message, a.state))))
        }
    };
    let f = filter.trim().to_lowercase();
    rows.filter(|(_, l)| f.is_empty() || l.to_lowercase().contains(&f))
        .take(MAX_ROWS)
        .map(|(id, l)| (id.clone(), l))
        .collect()
}

fn describe(tab: ConsoleTab, id: &str, state: &OrgState) -> Option<String> {
    Some(match tab {
        ConsoleTab::Devices => {
            let d = state.devices.get(id)?;
            let pl = d.playlist_id.as_deref().unwrap_or("no playlist");
            format!("{} · tags {} · {pl} · rev {}", d.status.as_str(), d.tags.join(", "), d.rev)
        }
        ConsoleTab::Playlists => {
            let p = state.playlists.get(id)?;
            format!("{} items · rev {}", p.items.len(), p.rev)
        }
        ConsoleTab::Content => {
            let c = state.contents.get(id)?;
            let size = format::bytes(c.size_bytes);
            format!("{:?} · {} · {} s · {size} · rev {}", c.kind, c.uri, c.duration_s, c.rev)
        }
        ConsoleTab::Schedules => {
            let s = state.schedules.get(id)?;
            let on = if s.enabled { "on" } else { "off" };
            format!("{} on {:?} · priority {} · {on} · rev {}", s.playlist_id, s.target, s.priority, s.rev)
        }
        ConsoleTab::Alerts => {
            let a = state.alerts.get(id)?;
            format!("{:?} · {:?} · {}", a.severity, a.state, a.message)
        }
    })
}

fn text(ui: &mut egui::Ui, label: &str, value: &mut String) {
    ui.horizontal(|ui| {
        ui.label(label);
        ui.text_edit_singleline(value);
    });
}

fn combo(ui: &mut egui::Ui, label: &str, selected: &mut Option<String>, rows: &[(String, String)], none: Option<&str>) {
    let shown = match selected.as_deref() {
        None => none.unwrap_or("choose...").to_owned(),
        Some(id) => rows.iter().find(|(r, _)| r == id).map_or_else(|| id.to_owned(), |(_, n)| n.clone()),
    };
    ui.horizontal(|ui| {
        ui.label(label);
        egui::ComboBox::from_id_salt(label).selected_text(shown).width(280.0).show_ui(ui, |ui| {
            if let Some(n) = none {
                ui.selectable_value(selected, None, n);
            }
            for (id, name) in rows.iter().take(MAX_ROWS) {
                ui.selectable_value(selected, Some(id.clone()), name.as_str());
            }
        });
    });
}

fn position(ui: &mut egui::Ui, label: &str, index: &mut usize, items: &[String]) {
    let shown = items.get(*index).cloned().unwrap_or_else(|| index.to_string());
    ui.horizontal(|ui| {
        ui.label(label);
        egui::ComboBox::from_id_salt(label).selected_text(shown).width(280.0).show_ui(ui, |ui| {
            for (i, item) in items.iter().enumerate().take(MAX_ROWS) {
                ui.selectable_value(index, i, item.as_str());
            }
        });
    });
}

fn short(ui: &mut egui::Ui, value: &mut String, hint: &'static str) {
    ui.add(egui::TextEdit::singleline(value).desired_width(70.0).hint_text(hint));
}

fn edit_draft(ui: &mut egui::Ui, d: &mut ScheduleDraft, playlists: &[(String, String)]) {
    text(ui, "name", &mut d.name);
    combo(ui, "playlist", &mut d.playlist, playlists, None);
    ui.horizontal(|ui| {
        ui.label("target");
        ui.radio_value(&mut d.target_kind, TargetKind::Tag, "tag");
        ui.radio_value(&mut d.target_kind, TargetKind::Device, "device");
        ui.text_edit_singleline(&mut d.target);
    });
    text(ui, "start (UTC YYYY-MM-DD HH:MM)", &mut d.start);
    text(ui, "end (empty: none)", &mut d.end);
    ui.horizontal(|ui| {
        ui.label("days");
        for (on, name) in d.days.iter_mut().zip(DAYS) {
            ui.checkbox(on, name);
        }
    });
    ui.horizontal(|ui| {
        ui.label("daily");
        short(ui, &mut d.daily_from, "HH:MM");
        ui.label("to");
        short(ui, &mut d.daily_to, "HH:MM");
        ui.label("priority");
        short(ui, &mut d.priority, "0");
        ui.checkbox(&mut d.enabled, "enabled");
    });
}

/// `(id, "name (id)")` rows for a picker.
fn name_rows<'a>(it: impl Iterator<Item = (&'a String, &'a String)>) -> Vec<(String, String)> {
    it.take(MAX_ROWS).map(|(id, n)| (id.clone(), format!("{n} ({id})"))).collect()
}

/// The inputs of a form.
fn edit_form(ui: &mut egui::Ui, form: &mut ConsoleForm, state: &OrgState) {
    let playlists = name_rows(state.playlists.values().map(|p| (&p.id, &p.name)));
    let items = |id: &str| -> Vec<String> {
        let Some(p) = state.playlists.get(id) else { return Vec::new() };
        p.items
            .iter()
            .enumerate()
            .map(|(i, it)| {
                let name = state.contents.get(&it.content_id).map_or(it.content_id.as_str(), |c| c.name.as_str());
                format!("{i}. {name} ({} s)", it.duration_s)
            })
            .collect()
    };
    match form {
        ConsoleForm::DeviceRename { name, .. }
        | ConsoleForm::PlaylistRename { name, .. }
        | ConsoleForm::PlaylistCreate { name } => text(ui, "name", name),
        ConsoleForm::DeviceSetTags { tags, .. } => text(ui, "tags (comma separated)", tags),
        ConsoleForm::DeviceAssignPlaylist { playlist, .. } => {
            combo(ui, "playlist", playlist, &playlists, Some("none (clear)"));
        }
        ConsoleForm::DeviceCreate { id, name, tags, playlist } => {
            text(ui, "id (empty: server-made)", id);
            text(ui, "name", name);
            text(ui, "tags (comma separated)", tags);
            combo(ui, "playlist", playlist, &playlists, Some("none"));
        }
        ConsoleForm::PlaylistAddItem { content, duration_s, index, .. } => {
            let contents = name_rows(state.contents.values().map(|c| (&c.id, &c.name)));
            let mut pick = (!content.is_empty()).then(|| content.clone());
            combo(ui, "content", &mut pick, &contents, None);
            *content = pick.unwrap_or_default();
            text(ui, "seconds (empty: the content's)", duration_s);
            text(ui, "position (empty: at the end)", index);
        }
        ConsoleForm::PlaylistRemoveItem { playlist, index } => position(ui, "item", index, &items(playlist.as_str())),
        ConsoleForm::PlaylistMoveItem { playlist, from, to } => {
            let list = items(playlist.as_str());
            position(ui, "move", from, &list);
            position(ui, "to position", to, &list);
        }
        ConsoleForm::ContentCreate { name, kind, uri, duration_s, size_bytes } => {
            text(ui, "name", name);
            ui.horizontal(|ui| {
                ui.label("kind");
                ui.radio_value(kind, ContentKind::Image, "image");
                ui.radio_value(kind, ContentKind::Video, "video");
                ui.radio_value(kind, ContentKind::Web, "web");
            });
            text(ui, "uri", uri);
            text(ui, "seconds", duration_s);
            text(ui, "size in bytes", size_bytes);
        }
        ConsoleForm::ContentUpdate { name, uri, duration_s, .. } => {
            ui.weak("empty fields stay as they are");
            text(ui, "name", name);
            text(ui, "uri", uri);
            text(ui, "seconds", duration_s);
        }
        ConsoleForm::ScheduleCreate(draft) | ConsoleForm::ScheduleUpdate { draft, .. } => {
            edit_draft(ui, draft, &playlists);
        }
        ConsoleForm::ScheduleSetEnabled { enabled, .. } => {
            ui.checkbox(enabled, "enabled");
        }
        ConsoleForm::AlertMute { minutes, .. } => {
            ui.horizontal(|ui| {
                for (label, m) in [("15 min", "15"), ("1 h", "60"), ("4 h", "240"), ("24 h", "1440")] {
                    if ui.selectable_label(minutes.trim() == m, label).clicked() {
                        *minutes = m.to_owned();
                    }
                }
            });
            text(ui, "minutes", minutes);
        }
        ConsoleForm::DeviceRestart { .. }
        | ConsoleForm::DeviceRemove { .. }
        | ConsoleForm::PlaylistDelete { .. }
        | ConsoleForm::ContentDelete { .. }
        | ConsoleForm::ScheduleDelete { .. }
        | ConsoleForm::AlertAck { .. }
        | ConsoleForm::AlertResolve { .. } => {
            ui.weak("no arguments");
        }
    }
}

/// One tab: the entity list, its state, the kinds, the form. Returns a form to send.
fn draw_tab(
    ui: &mut egui::Ui,
    tab: ConsoleTab,
    ts: &mut TabState,
    fleet: &FleetModel,
    admin: bool,
) -> Option<ConsoleForm> {
    let state = fleet.view();
    let noun = tab.entity_kind().as_str();
    ui.horizontal(|ui| {
        ui.label("filter");
        ui.add(egui::TextEdit::singleline(&mut ts.filter).desired_width(200.0));
    });
    let rows = entity_rows(tab, state, &ts.filter);
    combo(ui, noun, &mut ts.selected, &rows, None);
    let chosen = ts.selected.clone().unwrap_or_default();
    // A form on another entity than the chosen one starts again from the chosen one.
    if ts.form.target().is_some_and(|(_, id)| id != chosen)
        && let Some(f) = ConsoleForm::new(ts.form.kind(), Some(&chosen), state)
    {
        ts.form = f;
    }
    if let Some(line) = describe(tab, &chosen, state) {
        ui.weak(line);
    }
    let pending: Vec<&str> = fleet
        .engine()
        .pending()
        .iter()
        .map(|p| p.mutation())
        .filter(|m| m.target.as_deref() == Some(chosen.as_str()) && m.op.entity_kind() == tab.entity_kind())
        .map(|m| m.op.kind_name())
        .collect();
    if !pending.is_empty() {
        ui.colored_label(egui::Color32::from_rgb(240, 180, 60), format!("pending: {}", pending.join(", ")));
    }
    ui.separator();
    ui.horizontal_wrapped(|ui| {
        for kind in tab.kinds() {
            let name = kind.split_once('.').map_or(kind, |(_, k)| k);
            let chip = egui::Button::selectable(ts.form.kind() == kind, name);
            let allowed = admin || !admin_only(kind);
            let clicked = ui.add_enabled(allowed, chip).on_disabled_hover_text("admin only").clicked();
            if clicked && let Some(f) = ConsoleForm::new(kind, ts.selected.as_deref(), state) {
                ts.form = f;
            }
        }
    });
    edit_form(ui, &mut ts.form, state);
    ui.button(format!("Send {}", ts.form.kind())).clicked().then(|| ts.form.clone())
}

pub(super) fn draw_console(
    mut contexts: EguiContexts,
    mut console: ResMut<Console>,
    who: Res<Identity>,
    fleet: Res<Fleet>,
    size: Res<WallSize>,
    mut capture: ResMut<InputCapture>,
    mut submit: MessageWriter<SubmitForm>,
) -> Result {
    let ctx = contexts.ctx_mut()?;
    // The wall's keys and clicks leave what egui takes alone (next frame).
    let took = InputCapture { keyboard: ctx.egui_wants_keyboard_input(), pointer: ctx.is_pointer_over_egui() };
    if *capture != took {
        *capture = took;
    }
    if !console.open || !who.can_operate() {
        return Ok(());
    }
    // Sized for the wall: a 4K screen draws the console twice as large as a 1080p one.
    let zoom = (size.h / 1080.0).clamp(1.0, 4.0);
    if (ctx.zoom_factor() - zoom).abs() > 0.01 {
        ctx.set_zoom_factor(zoom);
    }
    // Under the top bar, on the left: the detail card is on the right.
    let top = crate::base::layout::bar_height(size.h) / zoom + 12.0;
    let admin = who.role == Role::Admin;
    let c = &mut *console;
    let mut open = c.open;
    let mut window = egui::Window::new(format!("Operator console: {} ({})  F2", who.sub, who.role.as_str()))
        .open(&mut open)
        .default_pos(egui::pos2(12.0, top))
        .default_width(460.0);
    // Placed under the top bar for its first frames (egui may first see an
    // empty screen and clamp it); after that the operator may move it.
    if c.placed < 3 {
        c.placed += 1;
        window = window.current_pos(egui::pos2(12.0, top));
    }
    window.show(ctx, |ui| {
        ui.weak(format!("{} changes waiting for the gateway", fleet.0.engine().pending().len()));
        ui.horizontal(|ui| {
            for t in ConsoleTab::ALL {
                ui.selectable_value(&mut c.tab, t, format!("{t:?}"));
            }
        });
        ui.separator();
        let tab = c.tab;
        if let Some(form) = draw_tab(ui, tab, &mut c.tabs[tab as usize], &fleet.0, admin) {
            submit.write(SubmitForm(form));
        }
        ui.separator();
        if let Some(e) = &c.last_error {
            ui.colored_label(egui::Color32::from_rgb(235, 87, 87), e.as_str());
        }
        if let Some(s) = &c.last_sent {
            ui.weak(s.as_str());
        }
    });
    c.open = open;
    Ok(())
}
