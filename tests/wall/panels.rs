//! ECS tests of the whole wall minus rendering, on the shared harness
//! (`WallPlugins` on `MinimalPlugins`, data through an injected channel).

use std::time::Duration;

use bevy::prelude::*;
use vizora::app::sample::sample_fleet;
use vizora::base::config::PanelKind;
use vizora::panels::devices::TileIndex;
use vizora::panels::devices::marks::{PulseRing, SilentHatch};
use vizora::wall::panel::{Hatch, HatchLabel, PanelErrorTile};
use vizora_client::{ConnectionState, Control, Update};
use vizora_protocol::{
    AlertState, DeviceStatus, Event, LogEntry, Metrics, MutationAck, MutationApplied, MutationOp, RejectCode, Role,
    SubscribeMode, now_ms,
};

use super::harness::Wall;

impl Wall {
    fn hatch(&mut self, kind: PanelKind) -> Option<String> {
        let mut q = self.app.world_mut().query::<(&Hatch, &Visibility)>();
        let shown = q.iter(self.app.world()).any(|(h, v)| h.0 == kind && *v != Visibility::Hidden);
        let mut l = self.app.world_mut().query::<(&HatchLabel, &Text)>();
        let label = l.iter(self.app.world()).find(|(h, _)| h.0 == kind).map(|(_, t)| t.0.clone());
        shown.then(|| label.unwrap_or_default())
    }
}

#[test]
fn an_operator_rename_shows_at_once_and_rolls_back_with_a_toast_when_refused() {
    let mut w = Wall::live(Role::Operator, 24);
    let rev = w.fleet().view().devices["dev-00003"].rev;
    w.act("dev-00003", Some(rev), MutationOp::DeviceRename { name: "Atrium".into() });
    assert_eq!(w.fleet().view().devices["dev-00003"].name, "Atrium", "optimistic: shown in the next frame");
    assert_eq!(w.fleet().engine().pending().len(), 1);
    // It went to the IO thread with this wall's client id.
    let sent = w.sent();
    let [Control::Mutate { mutation, ctx }] = sent.as_slice() else { panic!("one mutate sent: {sent:?}") };
    assert_eq!((mutation.client_id.as_str(), ctx.role), ("wall-olga", Role::Operator));
    assert_eq!(mutation.target.as_deref(), Some("dev-00003"));

    w.send(Update::Acked {
        mutation_id: mutation.mutation_id.clone(),
        ack: MutationAck::rejected(RejectCode::Conflict, "rev 3 is current"),
    });
    w.frames(2);
    assert_ne!(w.fleet().view().devices["dev-00003"].name, "Atrium", "rolled back");
    assert!(w.fleet().engine().pending().is_empty());
    let toasts = w.toasts();
    assert!(toasts.iter().any(|t| t.contains("rolled back") && t.contains("conflict")), "{toasts:?}");
}

#[test]
fn a_change_the_view_refuses_is_not_sent_and_says_which_field() {
    let mut w = Wall::live(Role::Operator, 12);
    w.act("dev-00001", None, MutationOp::DeviceRename { name: String::new() });
    assert!(w.sent().is_empty(), "nothing queued");
    w.frames(1);
    let toasts = w.toasts();
    assert!(toasts.iter().any(|t| t.contains("refused") && t.contains("name")), "{toasts:?}");
}

#[test]
fn a_playlist_reorder_is_marked_pending_until_the_log_confirms_it() {
    let mut w = Wall::live(Role::Operator, 12);
    let p = w.fleet().view().playlists["p-office"].clone();
    w.act(&p.id, Some(p.rev), MutationOp::PlaylistMoveItem { from: 0, to: 2 });
    w.frames(1);
    let rows = w.rows(PanelKind::Playlists);
    assert!(rows.iter().any(|r| r.starts_with("Office loop") && r.contains("PENDING EDIT")), "{rows:?}");
    let Some(Control::Mutate { mutation, .. }) = w.sent().pop() else { panic!("sent") };
    // The gateway applies it: the entity and mutation.applied come through the log.
    let mut moved = w.fleet().view().playlists["p-office"].clone();
    moved.rev += 1;
    let (seq, applied) = (w.fleet().position().map_or(0, |p| p.1), mutation.clone());
    w.send(Update::Acked {
        mutation_id: applied.mutation_id.clone(),
        ack: MutationAck::Applied { seq: seq + 1, rev: moved.rev },
    });
    w.send(Update::Entries {
        epoch: "fixture".into(),
        items: vec![
            LogEntry {
                seq: seq + 1,
                ts_ms: now_ms(),
                event: Event::upserted(vizora_protocol::Entity::Playlist(moved)),
            },
            LogEntry {
                seq: seq + 2,
                ts_ms: now_ms(),
                event: Event::MutationApplied(MutationApplied {
                    mutation_id: applied.mutation_id.clone(),
                    client_id: applied.client_id.clone(),
                    kind: applied.op.kind_name().into(),
                }),
            },
        ],
    });
    w.frames(2);
    assert!(w.fleet().engine().pending().is_empty(), "confirmed");
    let rows = w.rows(PanelKind::Playlists);
    assert!(rows.iter().any(|r| r.starts_with("Office loop") && !r.contains("PENDING")), "{rows:?}");
}

#[test]
fn hatches_tell_disconnected_no_data_and_silent_apart() {
    let mut w = Wall::live(Role::Viewer, 26);
    w.frames(25); // the silent check runs every 2 s
    assert_eq!(w.hatch(PanelKind::Main), None, "live and fresh: no hatch");
    // The sample's offline and unknown devices last reported 10 minutes ago: their tiles are hatched.
    let silent = w.app.world_mut().query::<&SilentHatch>().iter(w.app.world()).count();
    let expected = (0..26)
        .filter(|&i| matches!(vizora::app::sample::sample_status(i), DeviceStatus::Offline | DeviceStatus::Unknown))
        .count();
    assert_eq!(silent, expected, "one silent hatch per quiet device");

    w.send(Update::Connection(ConnectionState::Reconnecting {
        reason: "eof".into(),
        retry_in: Duration::from_secs(4),
    }));
    w.frames(2);
    for kind in PanelKind::ALL {
        let label = w.hatch(kind).unwrap_or_else(|| panic!("{kind:?} hatched when disconnected"));
        assert!(label.starts_with("DISCONNECTED"), "{kind:?}: {label}");
    }
    let toasts = w.toasts();
    assert!(toasts.iter().any(|t| t.contains("connection lost")), "{toasts:?}");

    // Back live, but the analytics never had metrics (a fresh wall): no data.
    let mut w = Wall::new(Role::Viewer);
    w.send(Update::Connection(ConnectionState::Live { server: "ws://x".into(), mode: SubscribeMode::Snapshot }));
    let mut f = sample_fleet(6, now_ms());
    f.metrics.clear();
    for u in f.into_updates() {
        w.send(u);
    }
    w.frames(4);
    assert_eq!(w.hatch(PanelKind::Analytics).as_deref(), Some("NO DATA yet"));
    assert_eq!(w.hatch(PanelKind::Content), None);
}

#[test]
fn malformed_metrics_show_the_error_tile_with_the_reason() {
    let mut w = Wall::live(Role::Viewer, 6);
    let bad = Metrics { window_s: 0, ..sample_fleet(6, now_ms()).metrics.pop().expect("metrics") };
    w.send(Update::Metrics(bad));
    w.frames(2);
    let mut q = w.app.world_mut().query::<(&PanelErrorTile, &Visibility, &Children)>();
    let (_, vis, children) = q.iter(w.app.world()).find(|(t, _, _)| t.0 == PanelKind::Analytics).expect("tile");
    assert_ne!(*vis, Visibility::Hidden);
    let text = w.app.world().get::<Text>(children[0]).expect("text").0.clone();
    assert!(text.contains("0 s window"), "{text}");
    // The other panels are unaffected.
    let mut q = w.app.world_mut().query::<(&PanelErrorTile, &Visibility)>();
    assert!(q.iter(w.app.world()).filter(|(t, _)| t.0 != PanelKind::Analytics).all(|(_, v)| *v == Visibility::Hidden));
}

#[test]
fn an_open_alert_pulses_its_tile_until_acknowledged() {
    let mut w = Wall::live(Role::Operator, 12);
    w.frames(2);
    let open: Vec<String> = w
        .fleet()
        .view()
        .alerts
        .values()
        .filter(|a| a.state == AlertState::Open)
        .filter_map(|a| a.device_id.clone())
        .collect();
    let mut rings = w.app.world_mut().query::<(&PulseRing, &ChildOf, &Sprite)>();
    let tiles = w.app.world().resource::<TileIndex>().0.clone();
    let pulsing: Vec<Entity> = rings.iter(w.app.world()).map(|(_, c, _)| c.parent()).collect();
    assert_eq!(pulsing.len(), open.len(), "one ring per device with an open alert");
    for d in &open {
        assert!(pulsing.contains(&tiles[d]), "{d} pulses");
    }
    let alpha = |w: &mut Wall| -> Vec<f32> {
        let mut q = w.app.world_mut().query::<(&PulseRing, &Sprite)>();
        q.iter(w.app.world()).map(|(_, s)| s.color.alpha()).collect()
    };
    let a0 = alpha(&mut w);
    w.frames(3); // 0.3 s at 1 Hz
    let a1 = alpha(&mut w);
    assert!(a0.iter().zip(&a1).all(|(x, y)| (x - y).abs() > 0.05), "the rings animate: {a0:?} -> {a1:?}");

    // Acknowledge the first one: its ring goes at once (optimistic).
    let alert =
        w.fleet().view().alerts.values().find(|a| a.state == AlertState::Open && a.device_id.is_some()).cloned();
    let alert = alert.expect("an open device alert");
    w.act(&alert.id, Some(alert.rev), MutationOp::AlertAck);
    w.frames(1);
    let n = w.app.world_mut().query::<&PulseRing>().iter(w.app.world()).count();
    assert_eq!(n, open.len() - 1, "the acknowledged device stops pulsing");
}

#[test]
fn the_schedules_panel_puts_mismatches_first() {
    let mut w = Wall::live(Role::Viewer, 48);
    w.frames(6); // the panel redraws at most twice a second
    let rows = w.rows(PanelKind::Schedules);
    assert!(rows[0].contains("MISMATCHED"), "{rows:?}");
    assert!(rows[2].contains("MISMATCH"), "the first device row is a mismatch: {rows:?}");
    // The sample's every-11th device plays the night playlist by mistake.
    assert!(rows[2].contains("Night ambient"), "{rows:?}");
    // 48 devices do not fit: the last device row says so, and Page Down shows the next ones.
    let footer = rows.iter().find(|r| r.starts_with("rows 1-")).expect("a footer").clone();
    assert!(footer.contains("of 48"), "{footer}");
    w.press(KeyCode::Digit5);
    w.press(KeyCode::PageDown);
    w.frames(6);
    let next = w.rows(PanelKind::Schedules);
    assert_ne!(next[2], rows[2], "the next page");
    assert!(next.iter().any(|r| r.starts_with("rows 8-")), "{next:?}");
}

#[test]
fn a_change_the_full_outbox_refuses_rolls_back_and_says_so() {
    let mut w = Wall::live(Role::Operator, 12);
    let rev = w.fleet().view().devices["dev-00002"].rev;
    w.act("dev-00002", Some(rev), MutationOp::DeviceRename { name: "Kiosk B".into() });
    let Some(Control::Mutate { mutation, .. }) = w.sent().pop() else { panic!("sent") };
    assert_eq!(w.fleet().view().devices["dev-00002"].name, "Kiosk B");
    w.send(Update::OutboxFull { mutation_id: mutation.mutation_id.clone(), capacity: 5 });
    w.frames(2);
    assert_ne!(w.fleet().view().devices["dev-00002"].name, "Kiosk B", "rolled back");
    assert!(w.fleet().engine().pending().is_empty());
    let toasts = w.toasts();
    assert!(toasts.iter().any(|t| t.contains("outbox full") && t.contains("none lost")), "{toasts:?}");
}
