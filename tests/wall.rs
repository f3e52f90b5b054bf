//! The wallboard as a user runs it: the `vizora` binary rendering headless
//! PNGs (fixture fleet and live embedded demo), and the ECS plugins on
//! `MinimalPlugins` with an injected channel (no sockets, no GPU).
//!
//! One test binary on purpose: each file in `tests/` links all of Bevy.

use std::path::{Path, PathBuf};
use std::process::Command;

use vizora::base::layout::{Grid, tile_area};
use vizora::base::palette::{self, Rgb, Theme};
use vizora_client::StateFile;
use vizora_protocol::{Device, DeviceStatus};

#[path = "wall/cli.rs"]
mod cli;
#[path = "wall/console.rs"]
mod console;
#[path = "wall/ecs.rs"]
mod ecs;
#[path = "wall/focus.rs"]
mod focus;
#[path = "wall/harness.rs"]
mod harness;
#[path = "wall/layers.rs"]
mod layers;
#[path = "wall/pages.rs"]
mod pages;
#[path = "wall/panels.rs"]
mod panels;

fn device(i: usize, status: DeviceStatus) -> Device {
    let now = vizora_protocol::now_ms();
    Device {
        id: format!("dev-{i:03}"),
        org: "acme".into(),
        rev: 2,
        name: format!("lobby-{i:03}"),
        tags: vec!["lobby".into()],
        playlist_id: None,
        status,
        last_seen_ms: now,
        health: None,
        playing: None,
    }
}

/// Where screenshots are kept for people to look at: `<target>/screenshots/`.
fn screenshot_dir() -> PathBuf {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let dir = tmp.parent().unwrap_or(&tmp).join("screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

fn render(args: &[&str], out: &Path) {
    let _ = std::fs::remove_file(out);
    let status = Command::new(env!("CARGO_BIN_EXE_vizora"))
        .args(["wall", "--headless", "--screenshot"])
        .arg(out)
        .args(args)
        .env("RUST_LOG", "warn")
        // The demo's outbox and last state go to the build's scratch, not the home directory.
        .env("XDG_STATE_HOME", PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("state"))
        .status()
        .expect("run vizora");
    assert!(status.success(), "vizora wall --headless failed: {status}");
    // A render panic can still exit 0: the file is the proof.
    assert!(out.exists(), "{} was not written", out.display());
}

fn pixel(img: &image::RgbImage, x: f32, y: f32) -> Rgb {
    let p = img.get_pixel(x as u32, y as u32);
    [p[0], p[1], p[2]]
}

fn close(a: Rgb, b: Rgb) -> bool {
    a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= 3)
}

#[test]
fn fixture_fleet_renders_tiles_in_status_colours_and_shapes() {
    let statuses = [
        DeviceStatus::Online,
        DeviceStatus::Offline,
        DeviceStatus::Online,
        DeviceStatus::Degraded,
        DeviceStatus::Unknown,
        DeviceStatus::Offline,
        DeviceStatus::Online,
        DeviceStatus::Online,
        DeviceStatus::Offline,
        DeviceStatus::Degraded,
        DeviceStatus::Online,
        DeviceStatus::Online,
    ];
    let devices: Vec<Device> = statuses.iter().enumerate().map(|(i, s)| device(i, *s)).collect();
    let state = StateFile { epoch: "fixture".into(), seq: 40, device: devices, ..Default::default() };
    let dir = tempfile::tempdir().expect("tempdir");
    let fixture = dir.path().join("fleet.json");
    std::fs::write(&fixture, serde_json::to_string_pretty(&state).expect("json")).expect("write fixture");

    let (w, h) = (1280.0, 720.0);
    let out = screenshot_dir().join("wall-fixture-1280x720.png");
    render(
        &["--fixture", fixture.to_str().expect("utf8"), "--page", "devices", "--size", "1280x720", "--frames", "4"],
        &out,
    );

    let img = image::open(&out).expect("decode png").to_rgb8();
    assert_eq!((img.width(), img.height()), (1280, 720));
    let grid = Grid::fit(statuses.len(), tile_area(w, h));
    for (i, status) in statuses.iter().enumerate() {
        let t = grid.tile(i);
        // The rim (left edge, middle) always carries the status colour.
        let rim = pixel(&img, t.x + 4.0, t.y + t.h / 2.0);
        assert!(close(rim, palette::status_color(*status)), "tile {i} ({status:?}) rim {rim:?}");
        // Shape: offline tiles are hollow, so their centre is background.
        // Below the mini bars, above the status label.
        let centre = pixel(&img, t.x + t.w / 2.0, t.y + t.h * 0.62);
        match status {
            DeviceStatus::Offline | DeviceStatus::Unknown => {
                assert!(
                    close(centre, Theme::default().background),
                    "tile {i} ({status:?}) centre {centre:?} should be background"
                )
            }
            _ => assert!(close(centre, palette::status_color(*status)), "tile {i} ({status:?}) centre {centre:?}"),
        }
    }
    // The top bar is drawn.
    assert!(close(pixel(&img, w - 2.0, 2.0), Theme::default().panel), "top bar");
}

#[test]
fn live_demo_renders_headless_with_the_simulated_fleet() {
    let out = screenshot_dir().join("wall-demo-1920x1080.png");
    render(
        &["--players", "60", "--heartbeat-s", "1", "--min-devices", "60", "--frames", "10", "--page", "devices"],
        &out,
    );
    let img = image::open(&out).expect("decode png").to_rgb8();
    let online = img.pixels().filter(|p| close([p[0], p[1], p[2]], palette::ONLINE)).count();
    // 60 tiles on 1080p are ~100 px a side; most players are online.
    assert!(online > 20 * 50 * 50, "expected many online tile pixels, found {online}");
    // Durable by default: the demo kept its outbox and last state in the state directory.
    let store = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("state/vizora/walls/demo.sqlite");
    assert!(store.exists(), "{} was not written", store.display());
}

#[test]
fn a_bad_fixture_is_reported_with_its_position() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fixture = dir.path().join("bad.json");
    std::fs::write(&fixture, "{\n  \"epoch\": \"e\",\n  \"seq\": \"not a number\"\n}\n").expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_vizora"))
        .args(["wall", "--headless", "--fixture"])
        .arg(&fixture)
        .output()
        .expect("run vizora");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.json:3:"), "error names file and line: {err}");
}

#[test]
fn health_page_lists_open_alerts_most_severe_first() {
    use vizora_protocol::{Alert, AlertState, Severity};
    let alert = |id: &str, sev: Severity, state: AlertState, msg: &str, raised: u64| Alert {
        id: id.into(),
        org: "acme".into(),
        rev: 1,
        device_id: Some("dev-001".into()),
        severity: sev,
        kind: "device_offline".into(),
        message: msg.into(),
        raised_ms: raised,
        state,
        acked_by: (state == AlertState::Acked).then(|| "alice".into()),
        muted_until_ms: None,
    };
    let now = vizora_protocol::now_ms();
    let state = StateFile {
        epoch: "fixture".into(),
        seq: 9,
        device: vec![device(1, DeviceStatus::Offline), device(2, DeviceStatus::Degraded)],
        alert: vec![
            alert("a1", Severity::Warning, AlertState::Open, "lobby-002 is degraded", now - 60_000),
            // Under five minutes: not escalated, so the row is steady (escalated rows breathe).
            alert("a2", Severity::Critical, AlertState::Open, "lobby-001 is offline", now - 240_000),
            alert("a3", Severity::Critical, AlertState::Resolved, "lobby-009 is offline", now - 900_000),
            alert("a4", Severity::Info, AlertState::Acked, "firmware update available", now - 30_000),
        ],
        ..Default::default()
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let fixture = dir.path().join("alerts.json");
    std::fs::write(&fixture, serde_json::to_string(&state).expect("json")).expect("write");
    let out = screenshot_dir().join("wall-health-1920x1080.png");
    render(
        &["--fixture", fixture.to_str().expect("utf8"), "--page", "health", "--size", "1920x1080", "--frames", "4"],
        &out,
    );
    let img = image::open(&out).expect("decode png").to_rgb8();
    // Rows are drawn in their severity colour: the critical one above the warning one.
    let first_row_of =
        |c: Rgb| (0..img.height()).find(|&y| (0..img.width() / 2).any(|x| close(pixel(&img, x as f32, y as f32), c)));
    let crit = first_row_of(palette::OFFLINE).expect("a critical row is drawn");
    let warn = first_row_of(palette::DEGRADED).expect("a warning row is drawn");
    assert!(crit < warn, "critical ({crit}) above warning ({warn})");
    // No device tiles on the health page.
    let g = Grid::fit(2, tile_area(1920.0, 1080.0));
    let t = g.tile(1);
    let rim = pixel(&img, t.x + 4.0, t.y + t.h * 0.9);
    assert!(close(rim, Theme::default().background), "tiles are hidden on the health page, found {rim:?}");
}

/// The operator console, a device's detail card and a device search, drawn
/// together on the devices page at 1080p and 4K, checked by region: tiles
/// that match the search keep their colour and the others fade, the card
/// is drawn on the right, the console (egui) on the left.
#[test]
fn console_detail_card_and_search_render_at_1080p_and_4k() {
    use vizora::base::layout::bar_height;
    use vizora_protocol::OrgState;
    let n = 300;
    let sample = vizora::app::sample::sample_fleet(n, 0);
    let state = OrgState::from_entities(sample.entities());
    let order: Vec<(String, DeviceStatus)> =
        vizora::panels::devices::tile_order(&state).iter().map(|d| (d.id.clone(), d.status)).collect();
    let selected = order.iter().find(|(_, s)| *s == DeviceStatus::Offline).map(|(id, _)| id.clone()).expect("one");
    for (w, h) in [(1920u32, 1080u32), (3840, 2160)] {
        let (wf, hf) = (w as f32, h as f32);
        let out = screenshot_dir().join(format!("wall-console-card-search-{w}x{h}.png"));
        let size = format!("{w}x{h}");
        render(
            &[
                "--sample",
                &n.to_string(),
                "--page",
                "devices",
                "--find",
                "status:offline",
                "--select",
                &selected,
                "--role",
                "admin",
                "--console",
                "--size",
                &size,
                "--frames",
                "4",
            ],
            &out,
        );
        let img = image::open(&out).expect("decode png").to_rgb8();
        assert_eq!((img.width(), img.height()), (w, h));
        let zoom = hf / 1080.0;
        // The search: between the console (left) and the card (right), matching
        // tiles keep their status colour at the rim; the others fade 75 % toward the background.
        let grid = Grid::fit(n, tile_area(wf, hf));
        let (lo, hi) = (480.0 * zoom + 24.0, wf * 0.6);
        let fade = |c: Rgb| -> Rgb {
            let bg = Theme::default().background;
            std::array::from_fn(|i| (f32::from(c[i]) * 0.25 + f32::from(bg[i]) * 0.75).round() as u8)
        };
        let (mut matched, mut faded) = (0, 0);
        for (i, (id, status)) in order.iter().enumerate() {
            let t = grid.tile(i);
            if t.x < lo || t.x + t.w > hi || id == &selected {
                continue;
            }
            let rim = pixel(&img, t.x + 2.0, t.y + t.h / 2.0);
            if *status == DeviceStatus::Offline {
                assert!(close(rim, palette::status_color(*status)), "{size}: {id} matches, rim {rim:?}");
                matched += 1;
            } else {
                let want = fade(palette::status_color(*status));
                assert!(
                    rim.iter().zip(want).all(|(a, b)| a.abs_diff(b) <= 4),
                    "{size}: {id} faded {rim:?} vs {want:?}"
                );
                faded += 1;
            }
        }
        assert!(matched > 0 && faded > 0, "{size}: both kinds checked ({matched} matched, {faded} faded)");
        // The detail card: the panel colour inside its top-right padding, the accent on its left edge.
        let bar = bar_height(hf);
        let (right, top) = (wf - bar * 0.3, bar * 1.2);
        assert!(close(pixel(&img, right - 3.0, top + 3.0), Theme::default().panel), "{size}: the card is drawn");
        let left = right - wf * 0.34;
        assert!(close(pixel(&img, left + 2.0, top + 200.0 * zoom), palette::ACCENT), "{size}: the card's edge");
        // The console: egui's window fill (dark theme, grey 27) just inside its left edge.
        let (cx, cy) = (12.0 * zoom + 3.0 * zoom, bar + 12.0 * zoom + 120.0 * zoom);
        let fill = pixel(&img, cx, cy);
        assert!(fill.iter().all(|v| v.abs_diff(27) <= 3), "{size}: the console is drawn at ({cx}, {cy}): {fill:?}");
    }
}
