//! Finding and looking closer, and saying what happens: the device search,
//! the detail card, page keys, server errors as toasts, a panel's error
//! boundary and changes that are never delivered. On the shared harness.

use bevy::prelude::*;
use vizora::app::sample::sample_fleet;
use vizora::base::config::{PanelKind, WallConfig};
use vizora::base::palette;
use vizora::chrome::detail::{CardRow, DetailCard, SparkBar};
use vizora::sync::fleet::{GiveUp, OperatorAction};
use vizora::wall::focus::{DeviceFilter, Selected};
use vizora::wall::pages::ActivePage;
use vizora::wall::panel::{PanelErrorTile, report_to};
use vizora_client::{Control, Update};
use vizora_protocol::{
    DeviceStatus, ErrorCode, ErrorMsg, Health, MutationOp, Role, Telemetry, TelemetryDevice, now_ms,
};

use super::harness::Wall;

impl Wall {
    fn card(&mut self) -> (bool, Vec<String>) {
        let shown = self
            .app
            .world_mut()
            .query_filtered::<&Node, With<DetailCard>>()
            .iter(self.app.world())
            .any(|n| n.display != Display::None);
        let mut q = self.app.world_mut().query::<(&CardRow, &Text)>();
        let mut rows: Vec<(usize, String)> = q.iter(self.app.world()).map(|(r, t)| (r.0, t.0.clone())).collect();
        rows.sort();
        (shown, rows.into_iter().map(|(_, t)| t).filter(|t| !t.is_empty()).collect())
    }

    fn error_tile(&mut self, kind: PanelKind) -> Option<String> {
        let mut q = self.app.world_mut().query::<(&PanelErrorTile, &Visibility, &Children)>();
        let (_, vis, children) = q.iter(self.app.world()).find(|(t, _, _)| t.0 == kind)?;
        if *vis == Visibility::Hidden {
            return None;
        }
        let child = children[0];
        self.app.world().get::<Text>(child).map(|t| t.0.clone())
    }
}

fn srgb(c: palette::Rgb) -> [u8; 4] {
    [c[0], c[1], c[2], 255]
}

#[test]
fn a_search_dims_the_tiles_that_do_not_match_and_narrows_the_alerts() {
    let mut w = Wall::live(Role::Viewer, 40);
    let before = w.tile_colors();
    assert!(before.iter().all(|(id, c)| *c == srgb(palette::status_color(w.fleet().view().devices[id].status))));
    let all_alerts = w.rows(PanelKind::Health).len();
    let _ = all_alerts;

    w.app.world_mut().resource_mut::<DeviceFilter>().set("status:offline");
    w.frames(2);
    let view = w.fleet().view().clone();
    let offline = view.devices.values().filter(|d| d.status == DeviceStatus::Offline).count();
    assert!(offline > 0 && offline < view.devices.len(), "the sample has some offline devices");
    for (id, c) in w.tile_colors() {
        let d = &view.devices[&id];
        if d.status == DeviceStatus::Offline {
            assert_eq!(c, srgb(palette::status_color(d.status)), "{id} matches: full colour");
        } else {
            assert_ne!(c, srgb(palette::status_color(d.status)), "{id} does not match: dimmed");
        }
    }
    // The alert list keeps only alerts of matching devices, and says so.
    let mut q = w.app.world_mut().query::<(&vizora::panels::alerts::AlertRow, &Text)>();
    let header = q.iter(w.app.world()).find(|(r, _)| r.0 == usize::MAX).map(|(_, t)| t.0.clone()).expect("header");
    let open_of_offline = view
        .alerts
        .values()
        .filter(|a| a.state != vizora_protocol::AlertState::Resolved)
        .filter(|a| a.device_id.as_ref().is_some_and(|id| view.devices[id].status == DeviceStatus::Offline))
        .count();
    assert!(header.contains(&format!("OPEN ALERTS  {open_of_offline}")), "{header}");
    assert!(header.contains("matching"), "{header}");

    // A query that does not parse keeps the last one and says why.
    w.app.world_mut().resource_mut::<DeviceFilter>().set("status:sleepy");
    w.frames(1);
    let f = w.app.world().resource::<DeviceFilter>().clone();
    assert!(f.error.as_deref().is_some_and(|e| e.contains("sleepy")) && f.active());

    // Cleared: every tile in full colour again.
    w.app.world_mut().resource_mut::<DeviceFilter>().set("");
    w.frames(1);
    assert_eq!(
        w.tile_colors()
            .into_iter()
            .filter(|(id, c)| *c != srgb(palette::status_color(view.devices[id].status)))
            .count(),
        0
    );
}

#[test]
fn the_detail_card_shows_the_selected_device() {
    let mut w = Wall::live(Role::Viewer, 24);
    let (shown, _) = w.card();
    assert!(!shown, "no card without a selection");
    let id = "dev-00004".to_owned();
    // Five telemetry samples: the sparklines have five bars.
    for i in 0..5u64 {
        w.send(Update::Telemetry(Telemetry {
            ts_ms: now_ms(),
            devices: vec![TelemetryDevice {
                id: id.clone(),
                health: Health {
                    cpu_pct: 20.0 + 10.0 * i as f32,
                    mem_pct: 30.0,
                    temp_c: 55.0,
                    disk_free_pct: 70.0,
                    uptime_s: 3600.0,
                },
                playing: None,
            }],
        }));
        w.frames(1);
    }
    w.app.world_mut().resource_mut::<Selected>().0 = Some(id.clone());
    w.frames(1);
    let (shown, rows) = w.card();
    assert!(shown, "the card shows");
    let d = w.fleet().view().devices[&id].clone();
    assert!(rows[0].contains(&d.name[d.name.len().saturating_sub(10)..]), "{rows:?}");
    assert!(rows.iter().any(|r| r.contains(&id)), "{rows:?}");
    assert!(rows.iter().any(|r| r.starts_with("CPU 60%")), "the latest health: {rows:?}");
    assert!(rows.iter().any(|r| r.starts_with("SHOULD PLAY")), "{rows:?}");
    assert!(rows.iter().any(|r| r.starts_with("STATUS HISTORY")), "{rows:?}");
    assert!(rows.iter().any(|r| r.starts_with("PENDING  none")), "{rows:?}");
    let alerts = w.fleet().view().alerts.values().filter(|a| a.device_id.as_deref() == Some(id.as_str())).count();
    if alerts == 0 {
        assert!(rows.iter().any(|r| r == "  none"), "{rows:?}");
    }
    let mut q = w.app.world_mut().query::<(&SparkBar, &Node)>();
    let cpu_bars = q.iter(w.app.world()).filter(|(b, n)| b.line == 0 && n.height != Val::Percent(0.0)).count();
    assert_eq!(cpu_bars, 5, "one CPU bar per sample");

    // On the devices page, arrow keys move the selection along the tiles.
    w.press(KeyCode::ArrowRight);
    assert_eq!(w.app.world().resource::<Selected>().0.as_deref(), Some(id.as_str()), "not on this page");
    w.press(KeyCode::Digit2);
    w.press(KeyCode::ArrowRight);
    let next = w.app.world().resource::<Selected>().0.clone();
    assert!(next.is_some() && next.as_deref() != Some(id.as_str()), "{next:?}");
    // One Escape closes the card and leaves a kept search; the next clears the search.
    w.app.world_mut().resource_mut::<DeviceFilter>().set("lobby");
    w.press(KeyCode::Escape);
    assert_eq!(w.app.world().resource::<Selected>().0, None);
    assert!(w.app.world().resource::<DeviceFilter>().active(), "the search stays");
    w.frames(1);
    assert!(!w.card().0, "closed");
    w.press(KeyCode::Escape);
    assert!(!w.app.world().resource::<DeviceFilter>().active(), "then the search clears");
    // While a console text field has the keyboard, the wall's keys are not the wall's.
    w.app.world_mut().resource_mut::<vizora::wall::focus::InputCapture>().keyboard = true;
    w.press(KeyCode::Digit3);
    assert_eq!(w.app.world().resource::<ActivePage>().index, 1, "still the devices page");
}

#[test]
fn number_keys_switch_pages_and_p_pauses_the_rotation() {
    let mut w = Wall::live_with(Role::Viewer, 24, WallConfig { rotate_s: 1.0, ..WallConfig::default() });
    // The sample has an open critical alert: the health page (3) is pinned.
    w.frames(2);
    assert!(w.app.world().resource::<ActivePage>().pinned);
    // An operator's choice wins over the pin, and holds.
    w.press(KeyCode::Digit4);
    let page = w.app.world().resource::<ActivePage>().clone();
    assert_eq!((page.index, page.panel, page.paused), (3, PanelKind::Analytics, true), "page 4, held");
    w.frames(25);
    assert_eq!(w.app.world().resource::<ActivePage>().index, 3, "paused: no rotation, no pin");
    // P resumes: the pin (still due) takes the health page again.
    w.press(KeyCode::KeyP);
    w.frames(3);
    let page = w.app.world().resource::<ActivePage>().clone();
    assert_eq!((page.index, page.pinned), (2, true));
}

#[test]
fn a_server_error_event_becomes_a_toast() {
    let mut w = Wall::live(Role::Operator, 6);
    w.send(Update::ServerError(ErrorMsg { code: ErrorCode::RateLimited, message: "slow down".into() }));
    w.frames(2);
    let toasts = w.toasts();
    assert!(toasts.iter().any(|t| t.contains("slow down") && t.contains("rate_limited")), "{toasts:?}");
}

fn broken_schedules() -> Result {
    Err("schedule sch-7 has no playlist".into())
}

#[test]
fn a_panel_error_shows_on_its_own_tile_while_the_others_draw() {
    let mut w = Wall::live(Role::Viewer, 12);
    w.app.add_systems(Update, broken_schedules.pipe(report_to(PanelKind::Schedules)));
    w.frames(2);
    let tile = w.error_tile(PanelKind::Schedules).expect("the schedules panel shows its error");
    assert!(tile.contains("sch-7 has no playlist"), "{tile}");
    for kind in PanelKind::ALL.into_iter().filter(|k| *k != PanelKind::Schedules) {
        assert_eq!(w.error_tile(kind), None, "{kind:?} is unaffected");
    }
    // The other panels keep drawing: a new device shows in the overview.
    let before = w.rows(PanelKind::Main);
    let mut more = sample_fleet(20, now_ms());
    more.seq += 100;
    for u in more.into_updates() {
        w.send(u);
    }
    w.frames(12);
    assert_ne!(w.rows(PanelKind::Main), before, "the overview redrew with the new fleet");
    assert!(w.error_tile(PanelKind::Schedules).is_some(), "still failing, still said");
}

#[test]
fn a_change_never_delivered_turns_failed_and_leaves_the_outbox() {
    let mut w = Wall::live(Role::Operator, 12);
    w.app.insert_resource(GiveUp::after(2.0));
    let rev = w.fleet().view().devices["dev-00005"].rev;
    w.app.world_mut().write_message(OperatorAction {
        target: Some("dev-00005".into()),
        base_rev: Some(rev),
        op: MutationOp::DeviceRename { name: "Back office".into() },
    });
    w.frames(1);
    assert_eq!(w.fleet().view().devices["dev-00005"].name, "Back office", "shown at once");
    let Some(Control::Mutate { mutation, .. }) = w.controls.try_iter().next() else { panic!("sent") };
    // The gateway never answers: after 2 s it is failed, not pending.
    w.frames(15);
    assert_eq!(w.fleet().engine().pending().len(), 1, "still pending at 1.5 s");
    w.frames(10);
    assert!(w.fleet().engine().pending().is_empty(), "given up");
    assert_ne!(w.fleet().view().devices["dev-00005"].name, "Back office", "rolled back");
    let toasts = w.toasts();
    assert!(toasts.iter().any(|t| t.contains("failed") && t.contains("not delivered")), "{toasts:?}");
    let withdrawn: Vec<Control> = w.controls.try_iter().collect();
    assert!(
        withdrawn
            .iter()
            .any(|c| matches!(c, Control::Withdraw { mutation_id } if *mutation_id == mutation.mutation_id)),
        "withdrawn from the outbox: {withdrawn:?}"
    );
}
