//! The one ECS harness of the wall tests: `WallPlugins` (and the console's
//! core) on `MinimalPlugins`, data through an injected channel pair
//! (updates in, controls out), keys through an inserted `ButtonInput`,
//! time stepping 100 ms a frame. Test modules add their own helpers in
//! `impl Wall` blocks of their own.

use std::time::Duration;

use bevy::prelude::*;
use bevy::state::app::StatesPlugin;
use bevy::time::TimeUpdateStrategy;
use vizora::app::WallPlugins;
use vizora::app::sample::sample_fleet;
use vizora::base::config::{PanelKind, WallConfig};
use vizora::chrome::console::ConsoleCorePlugin;
use vizora::chrome::toast::ToastNode;
use vizora::panels::devices::{Tile, TileGrid};
use vizora::sync::fleet::{Fleet, Identity, OperatorAction};
use vizora::sync::net::NetLink;
use vizora::wall::WallSettings;
use vizora::wall::panel::PanelRow;
use vizora_client::{ConnectionState, Control, Update};
use vizora_protocol::{MutationOp, Role, SubscribeMode, now_ms};

/// A wall under test.
pub struct Wall {
    /// The app.
    pub app: App,
    /// Updates into the wall, as the IO thread sends them.
    pub tx: crossbeam_channel::Sender<Update>,
    /// Controls out of the wall, as the IO thread receives them.
    pub controls: crossbeam_channel::Receiver<Control>,
}

impl Wall {
    /// A wall with no data yet, acting as `role`, page rotation off.
    pub fn new(role: Role) -> Self {
        Self::with(role, WallConfig { rotate_s: 0.0, ..WallConfig::default() })
    }

    /// A wall with no data yet, acting as `role`, with `cfg`.
    pub fn with(role: Role, cfg: WallConfig) -> Self {
        let (tx, rx) = crossbeam_channel::unbounded();
        let (ctx, crx) = crossbeam_channel::unbounded();
        let mut app = App::new();
        app.add_plugins((MinimalPlugins, StatesPlugin))
            .insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_millis(100)))
            .insert_resource(WallSettings(cfg))
            .insert_resource(Identity { org: "acme".into(), role, sub: "olga".into(), client_id: "wall-olga".into() })
            .init_resource::<ButtonInput<KeyCode>>()
            .add_plugins(WallPlugins::default())
            .add_plugins(ConsoleCorePlugin)
            .insert_resource(NetLink::from_channels(rx, ctx));
        app.update();
        Self { app, tx, controls: crx }
    }

    /// A live wall on the sample fleet of `n` devices, rotation off.
    pub fn live(role: Role, n: usize) -> Self {
        Self::live_with(role, n, WallConfig { rotate_s: 0.0, ..WallConfig::default() })
    }

    /// A live wall on the sample fleet of `n` devices, with `cfg`.
    pub fn live_with(role: Role, n: usize, cfg: WallConfig) -> Self {
        let mut w = Self::with(role, cfg);
        w.send(Update::Connection(ConnectionState::Live { server: "ws://x".into(), mode: SubscribeMode::Snapshot }));
        for u in sample_fleet(n, now_ms()).into_updates() {
            w.send(u);
        }
        w.frames(3);
        w.sent();
        w
    }

    /// Sends an update as the IO thread would.
    pub fn send(&mut self, u: Update) {
        self.tx.send(u).expect("send");
    }

    /// Runs `n` frames.
    pub fn frames(&mut self, n: usize) {
        for _ in 0..n {
            self.app.update();
        }
    }

    /// Presses `key` for one frame.
    pub fn press(&mut self, key: KeyCode) {
        self.app.world_mut().resource_mut::<ButtonInput<KeyCode>>().press(key);
        self.app.update();
        let mut keys = self.app.world_mut().resource_mut::<ButtonInput<KeyCode>>();
        keys.release(key);
        keys.clear();
    }

    /// An operator change, as the console sends it; one frame.
    pub fn act(&mut self, target: &str, base_rev: Option<u64>, op: MutationOp) {
        self.app.world_mut().write_message(OperatorAction { target: Some(target.into()), base_rev, op });
        self.app.update();
    }

    /// The fleet as the wall shows it.
    pub fn fleet(&self) -> &vizora::base::fleet_model::FleetModel {
        &self.app.world().resource::<Fleet>().0
    }

    /// The toasts on screen.
    pub fn toasts(&mut self) -> Vec<String> {
        let mut q = self.app.world_mut().query::<&ToastNode>();
        q.iter(self.app.world()).map(|t| t.toast.text.clone()).collect()
    }

    /// A panel's text rows, in order.
    pub fn rows(&mut self, kind: PanelKind) -> Vec<String> {
        let mut q = self.app.world_mut().query::<(&PanelRow, &Text)>();
        let mut v: Vec<(usize, String)> =
            q.iter(self.app.world()).filter(|(r, _)| r.panel == kind).map(|(r, t)| (r.index, t.0.clone())).collect();
        v.sort();
        v.into_iter().map(|(_, t)| t).collect()
    }

    /// Each tile's device and the colour the grid mesh draws its square
    /// in (sRGB bytes), by device id.
    pub fn tile_colors(&mut self) -> Vec<(String, [u8; 4])> {
        let mut q = self.app.world_mut().query::<&Tile>();
        let grid = self.app.world().resource::<TileGrid>();
        let mut v: Vec<_> = q
            .iter(self.app.world())
            .map(|t| (t.id.clone(), grid.tile_color(t.slot).expect("a drawn tile").to_srgba().to_u8_array()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// The controls sent to the IO thread since the last call.
    pub fn sent(&self) -> Vec<Control> {
        self.controls.try_iter().collect()
    }
}
