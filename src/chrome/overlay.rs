//! OverlayPlugin: the egui debug overlay, toggled with F12: connection,
//! counters, frame time.

use bevy::prelude::*;
use bevy_egui::{EguiContexts, EguiPlugin, EguiPrimaryContextPass, egui};

use crate::sync::fleet::{AckTimes, Fleet};
use crate::sync::net::{LinkInfo, LinkState};

/// Whether the overlay shows, and frame-time history.
#[derive(Resource, Debug, Default)]
pub struct OverlayState {
    /// Shown.
    pub visible: bool,
    frame_ms: std::collections::VecDeque<f32>,
}

/// The F12 overlay.
#[derive(Default)]
pub struct OverlayPlugin;

impl Plugin for OverlayPlugin {
    fn build(&self, app: &mut App) {
        app.add_plugins(EguiPlugin::default())
            .init_resource::<OverlayState>()
            .add_systems(Update, (toggle_overlay, record_frame_time))
            .add_systems(EguiPrimaryContextPass, draw_overlay);
    }
}

fn toggle_overlay(keys: Res<ButtonInput<KeyCode>>, mut st: ResMut<OverlayState>) {
    if keys.just_pressed(KeyCode::F12) {
        st.visible = !st.visible;
    }
}

fn record_frame_time(time: Res<Time>, mut st: ResMut<OverlayState>) {
    st.frame_ms.push_back(time.delta_secs() * 1000.0);
    if st.frame_ms.len() > 240 {
        st.frame_ms.pop_front();
    }
}

/// Resident memory of this process, from /proc (Linux); none elsewhere.
pub fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[expect(clippy::too_many_arguments, reason = "the overlay shows everything")]
fn draw_overlay(
    mut contexts: EguiContexts,
    st: Res<OverlayState>,
    info: Res<LinkInfo>,
    link: Res<State<LinkState>>,
    fleet: Res<Fleet>,
    rtt: Res<AckTimes>,
    time: Res<Time>,
    mut rates: Local<(f64, u64, f64)>,
    entities: Query<Entity>,
) -> Result {
    // Event rate over the last second or so: (t at last sample, entries then, rate).
    let t = time.elapsed_secs_f64();
    if t - rates.0 >= 1.0 {
        rates.2 = (info.entries - rates.1) as f64 / (t - rates.0);
        *rates = (t, info.entries, rates.2);
    }
    if !st.visible {
        return Ok(());
    }
    let ctx = contexts.ctx_mut()?;
    let engine = fleet.0.engine();
    let stats = engine.stats();
    egui::Window::new("Vizora debug (F12)").default_width(360.0).show(ctx, |ui| {
        ui.heading("Connection");
        ui.label(format!("state: {:?}", link.get()));
        ui.label(format!("server: {}", info.server.as_deref().unwrap_or("-")));
        ui.label(format!("last subscribe: {:?}", info.mode));
        ui.label(format!("reconnects: {}", info.reconnects));
        // Engine.IO pings come from the server, so the one round trip a wall can
        // time is its own: a change sent until the gateway's ack.
        ui.label(match rtt.last_ms {
            Some(ms) => format!("RTT (last change -> ack): {ms:.1} ms"),
            None => "RTT (last change -> ack): no change sent yet".to_owned(),
        });
        if let Some(r) = &info.reason {
            ui.label(format!("reason: {r}"));
        }
        ui.separator();
        ui.heading("Stream");
        ui.label(format!("entries: {}  ({:.0}/s)", info.entries, rates.2));
        ui.label(format!("snapshots: {}   telemetry: {}", info.snapshots, info.telemetry));
        ui.label(format!(
            "engine: applied {}  skipped {}  gaps {}  new epochs {}  snapshots {}",
            stats.entries_applied, stats.entries_skipped, stats.gaps, stats.new_epochs, stats.snapshots
        ));
        if let Some((epoch, seq)) = fleet.0.position() {
            ui.label(format!("position: {epoch}:{seq}"));
        }
        ui.separator();
        ui.heading("Outbox");
        ui.label(format!(
            "pending: {}   unacked: {}   confirmed: {}   rolled back: {}",
            engine.pending().len(),
            engine.unacked().count(),
            stats.confirmed,
            stats.rolled_back
        ));
        for p in engine.pending().iter().take(8) {
            let m = p.mutation();
            let acked = if p.is_acked() { "acked" } else { "waiting" };
            ui.label(format!(
                "  {} {} {} ({acked})",
                &m.mutation_id,
                m.op.kind_name(),
                m.target.as_deref().unwrap_or("-")
            ));
        }
        ui.separator();
        ui.heading("Frame");
        let mut sorted: Vec<f32> = st.frame_ms.iter().copied().collect();
        sorted.sort_by(f32::total_cmp);
        let pct = |p: f32| sorted.get(((sorted.len() as f32 - 1.0) * p) as usize).copied().unwrap_or(0.0);
        ui.label(format!("frame ms p50 {:.1}  p99 {:.1}  max {:.1}", pct(0.5), pct(0.99), pct(1.0)));
        // A text histogram: frames per 4 ms bucket.
        let mut buckets = [0usize; 8];
        for ms in &st.frame_ms {
            buckets[((*ms / 4.0) as usize).min(7)] += 1;
        }
        let n = st.frame_ms.len().max(1);
        for (i, b) in buckets.iter().enumerate() {
            let bar = "#".repeat(b * 40 / n);
            let label = if i == 7 { ">=28".to_owned() } else { format!("{:>2}-{:<2}", i * 4, i * 4 + 4) };
            ui.monospace(format!("{label} ms {bar} {b}"));
        }
        ui.separator();
        ui.label(format!("entities: {}   devices: {}", entities.iter().count(), fleet.0.view().devices.len()));
        if let Some(rss) = rss_bytes() {
            ui.label(format!("memory (RSS): {:.1} MiB", rss as f64 / (1 << 20) as f64));
        }
    });
    Ok(())
}
