//! HeadlessPlugin: render the wall into an image (no window, no X server)
//! and save it as a PNG once data is in and a few frames have settled.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bevy::camera::RenderTarget;
use bevy::diagnostic::FrameCount;
use bevy::prelude::*;
use bevy::render::render_resource::{TextureFormat, TextureUsages};
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured, save_to_disk};

use crate::devices_panel::WallSize;
use crate::fleet::Fleet;
use crate::net::LinkState;

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
    /// Captures still to be written before exiting.
    outstanding: u32,
    started: Instant,
    data_timeout: Duration,
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
            outstanding: 1 + u32::from(self.then.is_some()),
            started: Instant::now(),
            data_timeout: self.data_timeout,
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

fn capture_when_ready(
    mut commands: Commands,
    mut cap: ResMut<Capture>,
    fleet: Res<Fleet>,
    link: Res<State<LinkState>>,
    mut exit: MessageWriter<AppExit>,
    frames: Res<FrameCount>,
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
    let ready = fleet.0.position().is_some() && fleet.0.view().devices.len() >= cap.min_devices;
    if !ready {
        if cap.started.elapsed() > cap.data_timeout {
            error!(link = ?link.get(), "no fleet data within {:?}; nothing to render", cap.data_timeout);
            exit.write(AppExit::error());
        }
        return;
    }
    cap.counted += 1;
    // Some frames for the renderer to warm up, whatever the data timing.
    if cap.counted < cap.frames || frames.0 < WARMUP_FRAMES {
        return;
    }
    cap.counted = cap.frames;
    cap.requested = true;
    let out = cap.out.clone();
    info!(path = %out.display(), "capturing wall");
    spawn_capture(&mut commands, cap.target.clone(), out);
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
