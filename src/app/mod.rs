//! Builds the wallboard `App` for a window or for headless rendering.

use std::path::PathBuf;
use std::time::Duration;

use bevy::app::ScheduleRunnerPlugin;
use bevy::prelude::*;
use bevy::render::RenderPlugin;
use bevy::window::{CursorOptions, ExitCondition, MonitorSelection, PresentMode, WindowMode, WindowResolution};
use bevy::winit::WinitPlugin;

use bevy::app::PluginGroupBuilder;

use crate::base::config::{PanelKind, WallConfig};
use crate::chrome::console::{Console, OperatorPlugin};
use crate::chrome::detail::DetailCardPlugin;
use crate::chrome::finder::FinderPlugin;
use crate::chrome::hud::HudPlugin;
use crate::chrome::kiosk::KioskPlugin;
use crate::chrome::overlay::OverlayPlugin;
use crate::chrome::toast::ToastPlugin;
use crate::panels::alerts::AlertsPanelPlugin;
use crate::panels::analytics::AnalyticsPanelPlugin;
use crate::panels::catalog::CatalogPanelsPlugin;
use crate::panels::devices::DevicesPanelPlugin;
use crate::panels::devices::marks::TileMarksPlugin;
use crate::panels::overview::OverviewPanelPlugin;
use crate::panels::schedules::SchedulesPanelPlugin;
use crate::sync::fleet::{FleetPlugin, GiveUp, Identity};
use crate::sync::net::NetPlugin;
use crate::wall::focus::{DeviceFilter, Selected};
use crate::wall::pages::PagesPlugin;
use crate::wall::panel::PanelPlugin;
use crate::wall::{Colors, DemoMode, PulseClock, WallSettings, WallSize};
use headless::HeadlessPlugin;

pub mod demo;
pub mod headless;
pub mod sample;

/// Everything the wall runs, whatever it draws on: the net bridge, the sync
/// plugin, pages, every panel, the top bar, toasts, the device search and
/// the detail card. The app, the tests
/// and the benchmarks all add this one group (windows add the console and
/// the overlay, which need egui; kiosks add the kiosk plugin).
#[derive(Debug, Clone, Default)]
pub struct WallPlugins {
    /// Data comes from a fixture or a test's channel, not a gateway.
    pub offline: bool,
    /// Show only this panel (no rotation).
    pub page: Option<PanelKind>,
}

impl PluginGroup for WallPlugins {
    fn build(self) -> PluginGroupBuilder {
        PluginGroupBuilder::start::<Self>()
            .add(NetPlugin { offline: self.offline })
            .add(FleetPlugin)
            .add(PagesPlugin { fixed: self.page })
            .add(PanelPlugin)
            .add(OverviewPanelPlugin)
            .add(DevicesPanelPlugin)
            .add(TileMarksPlugin)
            .add(AlertsPanelPlugin)
            .add(AnalyticsPanelPlugin)
            .add(SchedulesPanelPlugin)
            .add(CatalogPanelsPlugin)
            .add(HudPlugin)
            .add(ToastPlugin)
            .add(FinderPlugin)
            .add(DetailCardPlugin)
    }
}

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
        /// Wait for complete data from a gateway (devices and metrics), not just the first snapshot.
        wait_complete: bool,
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
    /// What the wall opens with: a search, a selected device, the console.
    pub focus: StartFocus,
}

/// What the wall opens with (for a kiosk's fixed view, or a screenshot).
#[derive(Debug, Clone, Default)]
pub struct StartFocus {
    /// A device search, as typed in the search box.
    pub find: Option<String>,
    /// A device whose detail card shows.
    pub select: Option<String>,
    /// The operator console is open (operators and admins).
    pub console: bool,
}

/// The wall app, without its data link (insert a [`crate::sync::net::NetLink`] before running).
pub fn build(opts: &WallOptions) -> App {
    let mut app = App::new();
    let (w, h) = opts.size;
    let bg = opts.config.theme.background;
    app.insert_resource(ClearColor(Color::srgb_u8(bg[0], bg[1], bg[2])))
        .insert_resource(WallSize { w: w as f32, h: h as f32 })
        .insert_resource(DemoMode(opts.demo))
        .insert_resource(WallSettings(opts.config.clone()))
        .insert_resource(Colors(opts.config.theme));
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
        Surface::Headless { out, frames, then, min_devices, wait_complete } => {
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
                wait_complete: *wait_complete,
            })
            // Animations step a fixed 0.1 s a frame: captures are repeatable.
            .insert_resource(PulseClock { t: 0.0, fixed_step: Some(0.1) });
            if opts.focus.console {
                // The console is egui, drawn onto the image like the rest.
                app.add_plugins((bevy_egui::EguiPlugin::default(), OperatorPlugin));
            }
        }
    }
    app.insert_resource(opts.identity.clone());
    app.insert_resource(GiveUp::after(f64::from(opts.config.give_up_after_s)));
    // On small machines (kiosk mini PCs, this 2-core build box) one thread runs
    // the wall's many small systems in half the time of waking workers for them.
    if std::thread::available_parallelism().map_or(1, |n| n.get()) <= 4 {
        single_threaded_main(&mut app);
    }
    app.add_plugins(WallPlugins { offline: opts.offline, page: opts.page });
    let focus = &opts.focus;
    if let Some(text) = &focus.find {
        app.world_mut().resource_mut::<DeviceFilter>().set(text);
    }
    app.insert_resource(Selected(focus.select.clone()));
    if focus.console
        && let Some(mut console) = app.world_mut().get_resource_mut::<Console>()
    {
        console.open = true;
        if let Some(id) = &focus.select {
            console.tabs[0].selected = Some(id.clone());
        }
    }
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
