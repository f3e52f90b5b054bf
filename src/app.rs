//! Builds the wallboard `App` for a window or for headless rendering.

use std::path::PathBuf;
use std::time::Duration;

use bevy::app::ScheduleRunnerPlugin;
use bevy::prelude::*;
use bevy::render::RenderPlugin;
use bevy::window::{CursorOptions, ExitCondition, MonitorSelection, PresentMode, WindowMode, WindowResolution};
use bevy::winit::WinitPlugin;

use crate::analytics_panel::AnalyticsPanelPlugin;
use crate::catalog_panels::CatalogPanelsPlugin;
use crate::config::{PanelKind, WallConfig};
use crate::devices_panel::{DevicesPanelPlugin, WallSize};
use crate::fleet::{FleetPlugin, Identity};
use crate::headless::HeadlessPlugin;
use crate::health_panel::HealthPanelPlugin;
use crate::hud::{DemoMode, HudPlugin};
use crate::kiosk::KioskPlugin;
use crate::main_panel::MainPanelPlugin;
use crate::net::NetPlugin;
use crate::operator::OperatorPlugin;
use crate::overlay::OverlayPlugin;
use crate::pages::{PagesPlugin, WallSettings};
use crate::palette;
use crate::panel::PanelPlugin;
use crate::schedules_panel::SchedulesPanelPlugin;
use crate::tile_marks::{PulseClock, TileMarksPlugin};
use crate::toast::ToastPlugin;

/// Where the wall is drawn.
#[derive(Debug, Clone)]
pub enum Surface {
    /// A window.
    Window,
    /// Borderless full screen for unattended screens (`--kiosk`).
    Kiosk,
    /// An image saved as PNG.
    Headless {
        /// PNG path.
        out: PathBuf,
        /// Frames to render with data before capturing.
        frames: u32,
        /// A second capture this many frames after the first (animations).
        then: Option<(PathBuf, u32)>,
        /// Wait for this many devices before counting frames.
        min_devices: usize,
    },
}

/// How to build the wall.
#[derive(Debug, Clone)]
pub struct WallOptions {
    /// Window or image.
    pub surface: Surface,
    /// Pixels.
    pub size: (u32, u32),
    /// Show the DEMO badge.
    pub demo: bool,
    /// Data comes from a fixture, not a gateway.
    pub offline: bool,
    /// Pages, rotation, text sizing.
    pub config: WallConfig,
    /// Show only this panel (no rotation).
    pub page: Option<PanelKind>,
    /// Who the wall acts as (operator controls show for operators and admins).
    pub identity: Identity,
}

/// The wall app, without its data link (insert a [`crate::net::NetLink`] before running).
pub fn build(opts: &WallOptions) -> App {
    let mut app = App::new();
    let (w, h) = opts.size;
    let bg = palette::background();
    app.insert_resource(ClearColor(Color::srgb_u8(bg[0], bg[1], bg[2])))
        .insert_resource(WallSize { w: w as f32, h: h as f32 })
        .insert_resource(DemoMode(opts.demo))
        .insert_resource(WallSettings(opts.config.clone()));
    match &opts.surface {
        Surface::Window => {
            app.add_plugins(DefaultPlugins.set(WindowPlugin {
                primary_window: Some(Window {
                    title: "Vizora".into(),
                    resolution: WindowResolution::new(w, h).with_scale_factor_override(1.0),
                    present_mode: PresentMode::AutoVsync,
                    ..default()
                }),
                ..default()
            }))
            .add_plugins((OverlayPlugin, OperatorPlugin))
            .add_systems(Startup, |mut commands: Commands| {
                commands.spawn((Camera2d, Msaa::Off));
            })
            .add_systems(PreUpdate, track_window_size);
        }
        Surface::Kiosk => {
            let k = opts.config.kiosk.clone();
            app.add_plugins(DefaultPlugins.set(WindowPlugin {
                primary_window: Some(Window {
                    title: "Vizora".into(),
                    // The size applies where the display ignores full screen (no window manager).
                    resolution: WindowResolution::new(w, h).with_scale_factor_override(1.0),
                    mode: WindowMode::BorderlessFullscreen(MonitorSelection::Index(k.monitor)),
                    present_mode: PresentMode::AutoVsync,
                    ..default()
                }),
                primary_cursor_options: Some(CursorOptions { visible: false, ..default() }),
                // Only the configured chord quits a kiosk.
                close_when_requested: false,
                ..default()
            }))
            .add_plugins(KioskPlugin { config: k })
            .add_systems(Startup, |mut commands: Commands| {
                commands.spawn((Camera2d, Msaa::Off));
            })
            .add_systems(PreUpdate, track_window_size);
        }
        Surface::Headless { out, frames, then, min_devices } => {
            app.add_plugins(
                DefaultPlugins
                    .set(WindowPlugin {
                        primary_window: None,
                        primary_cursor_options: None,
                        exit_condition: ExitCondition::DontExit,
                        close_when_requested: false,
                    })
                    // Every pipeline ready before the first frame: the capture is never half-drawn.
                    .set(RenderPlugin { synchronous_pipeline_compilation: true, ..default() })
                    .disable::<WinitPlugin>(),
            )
            .add_plugins(ScheduleRunnerPlugin::run_loop(Duration::from_millis(1)))
            .add_plugins(HeadlessPlugin {
                out: out.clone(),
                frames: *frames,
                then: then.clone(),
                min_devices: *min_devices,
                data_timeout: Duration::from_secs(60),
            })
            // Animations step a fixed 0.1 s a frame: captures are repeatable.
            .insert_resource(PulseClock { t: 0.0, fixed_step: Some(0.1) });
        }
    }
    app.insert_resource(opts.identity.clone());
    // On small machines (kiosk mini PCs, this 2-core build box) one thread runs
    // the wall's many small systems in half the time of waking workers for them.
    if std::thread::available_parallelism().map_or(1, |n| n.get()) <= 4 {
        single_threaded_main(&mut app);
    }
    app.add_plugins((
        NetPlugin { offline: opts.offline },
        FleetPlugin,
        PagesPlugin { fixed: opts.page },
        PanelPlugin,
        MainPanelPlugin,
        DevicesPanelPlugin,
        TileMarksPlugin,
        HealthPanelPlugin,
        AnalyticsPanelPlugin,
        SchedulesPanelPlugin,
        CatalogPanelsPlugin,
        HudPlugin,
        ToastPlugin,
    ));
    app
}

/// Runs the main world's per-frame schedules on one thread. The wall's
/// systems are many and small: on a 2-core kiosk PC, waking worker threads
/// for them costs more than the work (see `benches/wall_frame.rs`).
/// Rendering keeps its own thread either way.
pub fn single_threaded_main(app: &mut App) {
    use bevy::ecs::schedule::SingleThreadedExecutor;
    fn one(app: &mut App, label: impl bevy::ecs::schedule::ScheduleLabel) {
        app.edit_schedule(label, |s| {
            s.set_executor(SingleThreadedExecutor::new());
        });
    }
    one(app, First);
    one(app, PreUpdate);
    one(app, Update);
    one(app, PostUpdate);
    one(app, Last);
}

fn track_window_size(window: Option<Single<&Window>>, mut size: ResMut<WallSize>) {
    let Some(window) = window else { return };
    let (w, h) = (window.resolution.width(), window.resolution.height());
    if w > 0.0 && h > 0.0 && (size.w != w || size.h != h) {
        *size = WallSize { w, h };
    }
}
