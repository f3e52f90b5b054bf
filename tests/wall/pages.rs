//! Headless screenshots of every page at 1920x1080 and 3840x2160 from the
//! sample fleet, checked by region; a disconnected wall's hatch; an alert
//! pulse seen between two frames. PNGs stay in `<target>/screenshots/`.

use vizora::base::layout::{Grid, tile_area};
use vizora::base::palette::{self, Rgb, Theme};
use vizora::panels::devices::tile_order;
use vizora_protocol::{DeviceStatus, OrgState, Position, now_ms};

use super::{close, pixel, render, screenshot_dir};

const SAMPLE: usize = 48;

/// The sample's devices in tile order: (id, status).
fn order() -> Vec<(String, DeviceStatus)> {
    let state = OrgState::from_entities(vizora::app::sample::sample_fleet(SAMPLE, 0).entities());
    tile_order(&state).into_iter().map(|d| (d.id.clone(), d.status)).collect()
}

fn tile_of(id: &str, n: usize) -> usize {
    let state = OrgState::from_entities(vizora::app::sample::sample_fleet(n, 0).entities());
    tile_order(&state).iter().position(|d| d.id == id).expect("device in the sample")
}

fn count(img: &image::RgbImage, c: Rgb, x0: u32, y0: u32, x1: u32, y1: u32) -> usize {
    let mut n = 0;
    for y in y0..y1.min(img.height()) {
        for x in x0..x1.min(img.width()) {
            let p = img.get_pixel(x, y);
            n += usize::from(close([p[0], p[1], p[2]], c));
        }
    }
    n
}

fn share(img: &image::RgbImage, c: Rgb) -> f64 {
    count(img, c, 0, 0, img.width(), img.height()) as f64 / (img.width() * img.height()) as f64
}

/// Rows (y) where colour `c` appears in the left half.
fn first_row(img: &image::RgbImage, c: Rgb) -> Option<u32> {
    (0..img.height()).find(|&y| (0..img.width() / 2).any(|x| close(pixel(img, x as f32, y as f32), c)))
}

fn page(name: &str, w: u32, h: u32) -> image::RgbImage {
    let out = screenshot_dir().join(format!("page-{name}-{w}x{h}.png"));
    let sample = SAMPLE.to_string();
    let size = format!("{w}x{h}");
    render(&["--sample", &sample, "--page", name, "--size", &size, "--frames", "6"], &out);
    let img = image::open(&out).expect("decode png").to_rgb8();
    assert_eq!((img.width(), img.height()), (w, h));
    img
}

fn check_page(name: &str, img: &image::RgbImage) {
    let (w, h) = (img.width() as f32, img.height() as f32);
    match name {
        "main" => {
            // Four status boxes, each a solid block of its colour.
            for c in [palette::ONLINE, palette::DEGRADED, palette::OFFLINE, palette::UNKNOWN] {
                assert!(share(img, c) > 0.02, "main: the {c:?} box is drawn ({:.3})", share(img, c));
            }
        }
        "devices" => {
            let grid = Grid::fit(SAMPLE, tile_area(w, h));
            for i in 0..SAMPLE {
                let t = grid.tile(i);
                let status = order()[i].1;
                let rim = pixel(img, t.x + t.w * 0.03, t.y + t.h * 0.75);
                assert!(close(rim, palette::status_color(status)), "devices: tile {i} ({status:?}) rim {rim:?}");
                if status == DeviceStatus::Offline {
                    // Silent for 10 minutes: hatched, so the hollow centre is striped, not plain.
                    let (x0, y0) = ((t.x + t.w * 0.3) as u32, (t.y + t.h * 0.3) as u32);
                    let (x1, y1) = ((t.x + t.w * 0.7) as u32, (t.y + t.h * 0.6) as u32);
                    let plain = count(img, Theme::default().background, x0, y0, x1, y1);
                    let area = ((x1 - x0) * (y1 - y0)) as usize;
                    assert!(plain < area * 9 / 10, "devices: offline tile {i} is hatched ({plain}/{area} plain)");
                }
            }
        }
        "health" => {
            let crit = first_row(img, palette::OFFLINE).expect("health: a critical row");
            let warn = first_row(img, palette::DEGRADED).expect("health: a warning row");
            assert!(crit < warn, "health: critical ({crit}) above warning ({warn})");
        }
        "analytics" => {
            // Three charts, top to bottom: plays (green), impressions (blue), errors (vermillion).
            let (g, b, r) = (palette::ONLINE, palette::ACCENT, palette::OFFLINE);
            let bars = |c: Rgb| {
                (0..img.height()).filter(|&y| count(img, c, 0, y, img.width(), y + 1) > img.width() as usize / 4).min()
            };
            let (g, b, r) = (bars(g), bars(b), bars(r));
            assert!(g.is_some() && b.is_some() && r.is_some(), "analytics: three charts drawn: {g:?} {b:?} {r:?}");
            assert!(g < b && b < r, "analytics: charts in order: {g:?} {b:?} {r:?}");
        }
        "schedules" => {
            assert!(first_row(img, palette::OFFLINE).is_some(), "schedules: mismatches are drawn in vermillion");
            assert!(share(img, palette::ACCENT) + share(img, palette::ONLINE) > 0.005, "schedules: timeline segments");
        }
        "playlists" | "content" => {
            let text = share(img, Theme::default().text);
            assert!(text > 0.003, "{name}: rows of text ({text:.4})");
        }
        other => panic!("no check for page {other}"),
    }
    // Every page keeps the top bar.
    assert!(close(pixel(img, w - 2.0, 2.0), Theme::default().panel), "{name}: top bar");
}

#[test]
fn every_page_renders_at_1080p_and_4k() {
    for (w, h) in [(1920, 1080), (3840, 2160)] {
        for name in ["main", "devices", "health", "analytics", "schedules", "playlists", "content"] {
            let img = page(name, w, h);
            check_page(name, &img);
        }
    }
}

#[test]
fn a_wall_without_its_gateway_shows_the_saved_state_hatched_as_disconnected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("wall.db");
    let saved_at = now_ms() - 20 * 60_000;
    let sample = vizora::app::sample::sample_fleet(SAMPLE, saved_at);
    let mut s = vizora_sync::ClientStore::open(&store, 100).expect("store");
    s.save_confirmed(&Position { epoch: "e1".into(), seq: 10 }, saved_at, sample.entities()).expect("save");
    drop(s);
    // A port nothing listens on: the wall keeps retrying and shows what it saved.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let out = screenshot_dir().join("wall-disconnected-1920x1080.png");
    let server = format!("ws://127.0.0.1:{port}");
    let store = store.to_str().expect("utf8");
    render(&["--server", &server, "--token", "t", "--store", store, "--page", "main", "--frames", "6"], &out);
    let img = image::open(&out).expect("decode png").to_rgb8();
    // The amber stripes of the "disconnected" hatch cover the panel (blended over the background).
    let striped = img
        .pixels()
        .filter(|p| {
            let (r, g, b) = (p[0] as i32, p[1] as i32, p[2] as i32);
            r > g && g > b && r - b > 60 && !close([p[0], p[1], p[2]], palette::DEGRADED)
        })
        .count();
    assert!(striped > (1920 * 1080) / 50, "hatch stripes drawn: {striped}");
    // The saved fleet still shows under it: the status boxes are there.
    assert!(share(&img, palette::UNKNOWN) > 0.005, "saved state drawn under the hatch");
}

#[test]
fn an_alert_pulse_differs_between_two_frames() {
    let first = screenshot_dir().join("pulse-a-1920x1080.png");
    let second = screenshot_dir().join("pulse-b-1920x1080.png");
    let _ = std::fs::remove_file(&second);
    let then = second.to_str().expect("utf8");
    render(&["--sample", "12", "--page", "devices", "--frames", "4", "--then", then, "--then-frames", "2"], &first);
    assert!(second.exists(), "the second capture was written");
    let (a, b) = (image::open(&first).expect("a").to_rgb8(), image::open(&second).expect("b").to_rgb8());
    let grid = Grid::fit(12, tile_area(1920.0, 1080.0));
    // Device 2 is degraded with an open warning: its ring shows in the gap left of the tile.
    let t = grid.tile(tile_of("dev-00002", 12));
    let (x, y) = (t.x - grid.gap * 0.3, t.y + t.h / 2.0);
    let (pa, pb) = (pixel(&a, x, y), pixel(&b, x, y));
    let diff: u32 = pa.iter().zip(pb).map(|(p, q)| u32::from(p.abs_diff(q))).sum();
    assert!(diff > 24, "the ring of an alerting tile changes between frames: {pa:?} vs {pb:?}");
    // A tile without an alert has no ring: its gap stays the background.
    let quiet = grid.tile(tile_of("dev-00000", 12));
    let q = pixel(&a, quiet.x - grid.gap * 0.3, quiet.y + quiet.h / 2.0);
    assert!(close(q, Theme::default().background), "no ring around a quiet tile: {q:?}");
}

#[test]
fn a_page_places_its_panels_on_its_grid() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("ops.ron");
    std::fs::write(
        &cfg,
        "(pages: [(name: \"Ops\", grid: (3, 2), panels: [\n\
         (panel: devices, at: (0, 0), span: (2, 2)),\n\
         (panel: health, at: (2, 0)),\n\
         (panel: main, at: (2, 1)),\n\
         ])], rotate_s: 0.0)",
    )
    .expect("write config");
    let out = screenshot_dir().join("page-grid-1920x1080.png");
    render(&["--config", cfg.to_str().expect("utf8"), "--sample", "60", "--frames", "6"], &out);
    let img = image::open(&out).expect("decode png").to_rgb8();
    let (w, h) = (img.width(), img.height());
    let third = w * 2 / 3;
    // Tiles fill the left two thirds; none spill into the right column.
    assert!(count(&img, palette::ONLINE, 0, 0, third - 10, h) > (third * h / 5) as usize, "tiles on the left");
    // Health, top right: its critical rows; the overview, bottom right: the online box.
    assert!(count(&img, palette::OFFLINE, third + 10, 0, w, h / 2) > 200, "health rows top right");
    assert!(count(&img, palette::ONLINE, third + 10, h / 2, w, h) > 2000, "overview boxes bottom right");
    assert!(count(&img, palette::ONLINE, third + 10, 0, w, h / 2) < 50, "no tiles top right");
}
