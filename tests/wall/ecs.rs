//! ECS tests: plugins on `MinimalPlugins`, data through an injected channel.

use bevy::prelude::*;
use bevy::state::app::StatesPlugin;
use vizora::devices_panel::{DevicesPanelPlugin, Tile, TileIndex};
use vizora::fleet::{Fleet, FleetPlugin};
use vizora::net::{LinkState, NetLink, NetPlugin};
use vizora::palette;
use vizora_client::{ConnectionState, Update};
use vizora_protocol::{DeviceStatus, DeviceStatusData, Entity, Event, LogEntry, SubscribeMode};

use super::device;

struct Harness {
    app: App,
    tx: crossbeam_channel::Sender<Update>,
}

impl Harness {
    fn new() -> Self {
        let (tx, rx) = crossbeam_channel::unbounded();
        let mut app = App::new();
        app.add_plugins((MinimalPlugins, StatesPlugin))
            .add_plugins((NetPlugin::default(), FleetPlugin, DevicesPanelPlugin))
            .insert_resource(NetLink::from_channel(rx));
        app.update();
        Self { app, tx }
    }

    fn push(&mut self, u: Update) {
        self.tx.send(u).expect("send");
        self.app.update();
    }

    fn tile_colors(&mut self) -> Vec<(String, Color)> {
        let mut q = self.app.world_mut().query::<(&Tile, &Sprite)>();
        let mut v: Vec<_> = q.iter(self.app.world()).map(|(t, s)| (t.id.clone(), s.color)).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}

fn color(c: palette::Rgb) -> Color {
    Color::srgb_u8(c[0], c[1], c[2])
}

#[test]
fn a_status_entry_recolours_exactly_its_tile() {
    let mut h = Harness::new();
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
        event: Event::DeviceStatus(DeviceStatusData { id: "dev-003".into(), rev: 3, status: DeviceStatus::Offline, last_seen_ms: 1 }),
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
    let mut h = Harness::new();
    assert_eq!(*h.app.world().resource::<State<LinkState>>().get(), LinkState::Connecting);
    h.push(Update::Connection(ConnectionState::Live { server: "ws://x".into(), mode: SubscribeMode::Snapshot }));
    h.app.update();
    assert_eq!(*h.app.world().resource::<State<LinkState>>().get(), LinkState::Live);
    h.push(Update::Connection(ConnectionState::Reconnecting { reason: "gone".into(), retry_in: std::time::Duration::from_secs(2) }));
    h.app.update();
    assert_eq!(*h.app.world().resource::<State<LinkState>>().get(), LinkState::Reconnecting);
}
