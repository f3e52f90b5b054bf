//! HeadlessPlugin: render the wall into an image (no window, no X server)
//! and save it as a PNG once data is in and a few frames have settled.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bevy::camera::RenderTarget;
use bevy::diagnostic::FrameCount;
use bevy::prelude::*;
use bevy::render::render_resource::{TextureFormat, TextureUsages};
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured, save_to_disk};

use crate::sync::fleet::Fleet;
use crate::sync::history::AnalyticsHistory;
use crate::sync::net::LinkState;
use crate::wall::WallSize;

/// Renders to `out` after `frames` frames with data.
#[derive(Debug, Clone)]
pub struct HeadlessPlugin {
    /// PNG path.
    pub out: PathBuf,
    /// Frames to render once data is in, before the capture.
    pub frames: u32,
    /// A second capture, this many frames after the first (to see animation).
    pub then: Option<(PathBuf, u32)>,
    /// Wait until the fleet holds at least this many devices (a live demo ramps up).
    pub min_devices: usize,
    /// Give up if no data arrives within this long.
    pub data_timeout: Duration,
    /// From a gateway, wait for complete data (devices and a `metrics`
    /// message) rather than the first snapshot; fixtures are complete at once.
    pub wait_complete: bool,
}

/// Frames rendered before any capture.
const WARMUP_FRAMES: u32 = 6;

#[derive(Resource, Debug)]
struct Capture {
    out: PathBuf,
    frames: u32,
    counted: u32,
    requested: bool,
    then: Option<(PathBuf, u32)>,
    min_devices: usize,
    /// Frame times once data is in (ms), reported at the capture.
    frame_ms: Vec<f32>,
    /// Captures still to be written before exiting.
    outstanding: u32,
    started: Instant,
    data_timeout: Duration,
    wait_complete: bool,
    target: Handle<Image>,
}

impl Plugin for HeadlessPlugin {
    fn build(&self, app: &mut App) {
        app.insert_resource(Capture {
            out: self.out.clone(),
            frames: self.frames.max(1),
            counted: 0,
            requested: false,
            then: self.then.clone(),
            min_devices: self.min_devices,
            frame_ms: Vec::new(),
            outstanding: 1 + u32::from(self.then.is_some()),
            started: Instant::now(),
            data_timeout: self.data_timeout,
            wait_complete: self.wait_complete,
            target: Handle::default(),
        })
        .add_systems(Startup, spawn_image_camera)
        .add_systems(Update, capture_when_ready);
    }
}

fn spawn_image_camera(
    mut commands: Commands,
    mut images: ResMut<Assets<Image>>,
    size: Res<WallSize>,
    mut cap: ResMut<Capture>,
) {
    let mut img = Image::new_target_texture(size.w as u32, size.h as u32, TextureFormat::Rgba8UnormSrgb, None);
    img.texture_descriptor.usage |= TextureUsages::COPY_SRC;
    cap.target = images.add(img);
    // Flat panels need no MSAA, and in software rendering it is the largest cost.
    commands.spawn((Camera2d, RenderTarget::Image(cap.target.clone().into()), Msaa::Off, IsDefaultUiCamera));
}

#[expect(clippy::too_many_arguments, reason = "the capture waits on the fleet, the metrics, the link and the clock")]
fn capture_when_ready(
    mut commands: Commands,
    mut cap: ResMut<Capture>,
    fleet: Res<Fleet>,
    history: Res<AnalyticsHistory>,
    link: Res<State<LinkState>>,
    mut exit: MessageWriter<AppExit>,
    frames: Res<FrameCount>,
    time: Res<Time<Real>>,
) {
    if cap.requested {
        // The second capture, a fixed number of frames after the first.
        if let Some((out, after)) = cap.then.clone() {
            cap.counted += 1;
            if cap.counted >= cap.frames + after {
                cap.then = None;
                spawn_capture(&mut commands, cap.target.clone(), out);
            }
        }
        return;
    }
    // A fixture is complete at once. From a gateway, the data is current once
    // the link is live (subscribed and caught up, whatever a saved state held
    // before), and complete once the gateway's metrics came too (or were
    // refused, and say why on their panel). With the gateway unreachable,
    // what was saved is all there will be.
    let current = match *link.get() {
        LinkState::Offline | LinkState::Reconnecting | LinkState::Refused => true,
        LinkState::Connecting => false,
        LinkState::Live => !cap.wait_complete || history.latest.is_some() || history.refused.is_some(),
    };
    let ready = fleet.0.position().is_some() && fleet.0.view().devices.len() >= cap.min_devices && current;
    if !ready {
        if cap.started.elapsed() > cap.data_timeout {
            error!(link = ?link.get(), "no fleet data within {:?}; nothing to render", cap.data_timeout);
            exit.write(AppExit::error());
        }
        return;
    }
    cap.counted += 1;
    if frames.0 >= WARMUP_FRAMES && cap.counted > 1 {
        cap.frame_ms.push(time.delta_secs() * 1000.0);
    }
    // Some frames for the renderer to warm up, whatever the data timing.
    if cap.counted < cap.frames || frames.0 < WARMUP_FRAMES {
        return;
    }
    cap.counted = cap.frames;
    if let Some(stats) = frame_stats(&mut cap.frame_ms) {
        // On stdout, for scripts/bench: the frame time with data, before the capture.
        println!("{stats}");
    }
    cap.requested = true;
    let out = cap.out.clone();
    info!(path = %out.display(), "capturing wall");
    spawn_capture(&mut commands, cap.target.clone(), out);
}

/// "frame_ms n=… mean=… p50=… p99=… max=…" over the recorded frames.
fn frame_stats(ms: &mut [f32]) -> Option<String> {
    if ms.is_empty() {
        return None;
    }
    ms.sort_by(f32::total_cmp);
    let pct = |p: f32| ms[((ms.len() - 1) as f32 * p).round() as usize];
    let mean = ms.iter().sum::<f32>() / ms.len() as f32;
    Some(format!("frame_ms n={} mean={mean:.2} p50={:.2} p99={:.2} max={:.2}", ms.len(), pct(0.5), pct(0.99), pct(1.0)))
}

fn spawn_capture(commands: &mut Commands, target: Handle<Image>, out: PathBuf) {
    commands.spawn(Screenshot::image(target)).observe(save_to_disk(out)).observe(
        |_: On<ScreenshotCaptured>, mut cap: ResMut<Capture>, mut exit: MessageWriter<AppExit>| {
            cap.outstanding = cap.outstanding.saturating_sub(1);
            if cap.outstanding == 0 {
                exit.write(AppExit::Success);
            }
        },
    );
}
