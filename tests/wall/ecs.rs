//! ECS tests of tiles, pages and the link, on the shared harness.

use bevy::prelude::*;
use vizora::base::config::{PageConfig, PanelKind, WallConfig};
use vizora::base::palette;
use vizora::panels::devices::TileIndex;
use vizora::sync::fleet::Fleet;
use vizora::sync::net::LinkState;
use vizora::wall::pages::ActivePage;
use vizora_client::{ConnectionState, Update};
use vizora_protocol::{
    Alert, AlertState, DeviceStatus, DeviceStatusData, Entity, Event, LogEntry, Role, Severity, SubscribeMode,
};

use super::device;
use super::harness::Wall;

impl Wall {
    fn page(&self) -> (PanelKind, bool) {
        let p = self.app.world().resource::<ActivePage>();
        (p.panel, p.pinned)
    }

    fn push(&mut self, u: Update) {
        self.tx.send(u).expect("send");
        self.app.update();
    }
}

fn color(c: palette::Rgb) -> [u8; 4] {
    Color::srgb_u8(c[0], c[1], c[2]).to_srgba().to_u8_array()
}

#[test]
fn a_status_entry_recolours_exactly_its_tile() {
    let mut h = Wall::with(Role::Viewer, WallConfig::default());
    let entities = (0..5).map(|i| Entity::Device(device(i, DeviceStatus::Online))).collect();
    h.push(Update::Snapshot { epoch: "e".into(), seq: 10, entities });
    h.app.update();
    let before = h.tile_colors();
    assert_eq!(before.len(), 5);
    assert!(before.iter().all(|(_, c)| *c == color(palette::ONLINE)));
    let entity_before = h.app.world().resource::<TileIndex>().0.clone();

    let entry = LogEntry {
        seq: 11,
        ts_ms: 1,
        event: Event::DeviceStatus(DeviceStatusData {
            id: "dev-003".into(),
            rev: 3,
            status: DeviceStatus::Offline,
            last_seen_ms: 1,
        }),
    };
    h.push(Update::Entries { epoch: "e".into(), items: vec![entry] });
    let after = h.tile_colors();
    for ((id, b), (_, a)) in before.iter().zip(&after) {
        if id == "dev-003" {
            assert_eq!(*a, color(palette::OFFLINE), "the changed device turns offline-coloured");
        } else {
            assert_eq!(a, b, "{id} must not change");
        }
    }
    // A status change recolours in place; it does not rebuild the grid.
    assert_eq!(h.app.world().resource::<TileIndex>().0, entity_before);
    assert_eq!(h.app.world().resource::<Fleet>().0.counts(), [4, 0, 1, 0]);
}

#[test]
fn link_state_follows_the_io_thread() {
    let mut h = Wall::with(Role::Viewer, WallConfig::default());
    assert_eq!(*h.app.world().resource::<State<LinkState>>().get(), LinkState::Connecting);
    h.push(Update::Connection(ConnectionState::Live { server: "ws://x".into(), mode: SubscribeMode::Snapshot }));
    h.app.update();
    assert_eq!(*h.app.world().resource::<State<LinkState>>().get(), LinkState::Live);
    h.push(Update::Connection(ConnectionState::Reconnecting {
        reason: "gone".into(),
        retry_in: std::time::Duration::from_secs(2),
    }));
    h.app.update();
    assert_eq!(*h.app.world().resource::<State<LinkState>>().get(), LinkState::Reconnecting);
}

fn alert(id: &str, severity: Severity, state: AlertState) -> Alert {
    Alert {
        id: id.into(),
        org: "acme".into(),
        rev: 1,
        device_id: Some("dev-001".into()),
        severity,
        kind: "device_offline".into(),
        message: "dev-001 is offline".into(),
        raised_ms: 1,
        state,
        acked_by: None,
        muted_until_ms: None,
    }
}

fn pages(rotate_s: f32) -> WallConfig {
    WallConfig {
        pages: vec![PageConfig::single("Devices", PanelKind::Devices), PageConfig::single("Health", PanelKind::Health)],
        rotate_s,
        ..WallConfig::default()
    }
}

#[test]
fn pages_rotate_on_the_configured_interval() {
    let mut h = Wall::with(Role::Viewer, pages(1.0));
    assert_eq!(h.page().0, PanelKind::Devices);
    for _ in 0..9 {
        h.app.update();
    }
    assert_eq!(h.page().0, PanelKind::Devices, "0.9 s in: still the first page");
    h.app.update();
    h.app.update();
    assert_eq!(h.page().0, PanelKind::Health, "after 1 s the next page");
    for _ in 0..10 {
        h.app.update();
    }
    assert_eq!(h.page().0, PanelKind::Devices, "and round again");
}

#[test]
fn an_open_critical_alert_pins_health_until_acknowledged() {
    let mut h = Wall::with(Role::Viewer, pages(1.0));
    let snapshot = vec![
        Entity::Device(device(1, DeviceStatus::Online)),
        Entity::Alert(alert("a1", Severity::Warning, AlertState::Open)),
    ];
    h.push(Update::Snapshot { epoch: "e".into(), seq: 5, entities: snapshot });
    assert_eq!(h.page(), (PanelKind::Devices, false), "a warning does not pin");

    let raise =
        LogEntry { seq: 6, ts_ms: 1, event: Event::AlertUpserted(alert("a2", Severity::Critical, AlertState::Open)) };
    h.push(Update::Entries { epoch: "e".into(), items: vec![raise] });
    assert_eq!(h.page(), (PanelKind::Health, true));
    for _ in 0..30 {
        h.app.update();
    }
    assert_eq!(h.page(), (PanelKind::Health, true), "rotation holds while it is open");

    let mut acked = alert("a2", Severity::Critical, AlertState::Acked);
    acked.rev = 2;
    acked.acked_by = Some("alice".into());
    h.push(Update::Entries {
        epoch: "e".into(),
        items: vec![LogEntry { seq: 7, ts_ms: 2, event: Event::AlertUpserted(acked) }],
    });
    assert!(!h.page().1, "acknowledged: no longer pinned");
    for _ in 0..12 {
        h.app.update();
    }
    assert_eq!(h.page().0, PanelKind::Devices, "rotation resumes");
}

#[test]
fn the_config_theme_colours_this_wall_only() {
    use vizora::base::palette::Theme;
    use vizora::chrome::hud::HudRoot;
    let light =
        Theme { background: [250, 250, 250], panel: [235, 237, 240], text: [20, 22, 26], text_dim: [90, 96, 104] };
    let bar = |w: &mut Wall| {
        let mut q = w.app.world_mut().query_filtered::<&BackgroundColor, With<HudRoot>>();
        q.single(w.app.world()).expect("one top bar").0.to_srgba().to_u8_array()
    };
    let mut lit = Wall::with(Role::Viewer, WallConfig { theme: light, ..WallConfig::default() });
    let mut dark = Wall::with(Role::Viewer, WallConfig::default());
    // Two walls in one process, each with its own theme (no process-wide state).
    assert_eq!(bar(&mut lit)[..3], light.panel);
    assert_eq!(bar(&mut dark)[..3], Theme::default().panel);
}
