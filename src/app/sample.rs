//! A deterministic sample fleet for screenshots, tests and benchmarks:
//! `n` devices over four sites, a content library, playlists, schedules
//! with day windows, alerts of every severity and state, 15 minutes of
//! metrics and some schedule executions, all relative to `now_ms`.

use vizora_protocol::{
    Alert, AlertState, Content, ContentKind, Device, DeviceStatus, ExecutionOutcome, Health, Metrics, Playing,
    Playlist, PlaylistItem, Schedule, ScheduleExecuted, ScheduleTarget, Severity, TopContent,
};

use vizora_client::StateFile;

/// Site tags, one per group of devices.
pub const TAGS: [&str; 4] = ["lobby", "store", "station", "office"];
const ORG: &str = "acme";

/// Status of device `i`: mostly online, some degraded, offline, unknown.
pub fn sample_status(i: usize) -> DeviceStatus {
    match i {
        i if i % 29 == 5 => DeviceStatus::Unknown,
        i if i % 13 == 3 => DeviceStatus::Offline,
        i if i % 7 == 2 => DeviceStatus::Degraded,
        _ => DeviceStatus::Online,
    }
}

fn content(i: usize) -> Content {
    let (name, kind, dur, size) = [
        ("Winter sale hero", ContentKind::Video, 30, 48 << 20),
        ("Opening hours", ContentKind::Image, 10, 420 << 10),
        ("Departures board", ContentKind::Web, 60, 12 << 10),
        ("Coffee promo", ContentKind::Video, 15, 22 << 20),
        ("Safety notice", ContentKind::Image, 8, 310 << 10),
        ("Weather widget", ContentKind::Web, 20, 9 << 10),
        ("Brand loop", ContentKind::Video, 45, 96 << 20),
        ("Wayfinding map", ContentKind::Image, 12, 1 << 20),
        ("Staff notices", ContentKind::Web, 30, 15 << 10),
        ("Night ambient", ContentKind::Video, 120, 210 << 20),
    ][i % 10];
    Content {
        id: format!("c{i:02}"),
        org: ORG.into(),
        rev: 1,
        name: name.into(),
        kind,
        uri: format!("https://cdn.example.com/c{i:02}"),
        duration_s: f64::from(dur),
        size_bytes: size,
    }
}

fn playlist(id: &str, name: &str, items: &[usize]) -> Playlist {
    Playlist {
        id: id.into(),
        org: ORG.into(),
        rev: 3,
        name: name.into(),
        items: items
            .iter()
            .map(|&c| PlaylistItem { content_id: format!("c{c:02}"), duration_s: content(c).duration_s })
            .collect(),
    }
}

fn schedule(
    id: &str,
    name: &str,
    pl: &str,
    target: ScheduleTarget,
    window: Option<(&str, &str)>,
    priority: i32,
) -> Schedule {
    Schedule {
        id: id.into(),
        org: ORG.into(),
        rev: 1,
        name: name.into(),
        playlist_id: pl.into(),
        target,
        start_ms: 0,
        end_ms: None,
        days: None,
        daily_from: window.map(|w| w.0.into()),
        daily_to: window.map(|w| w.1.into()),
        priority,
        enabled: true,
    }
}

/// The sample fleet with `n` devices, as of `now_ms`.
pub fn sample_fleet(n: usize, now_ms: u64) -> StateFile {
    let playlists = vec![
        playlist("p-retail", "Retail day", &[0, 1, 3, 6]),
        playlist("p-transit", "Transit info", &[2, 5, 4, 7]),
        playlist("p-office", "Office loop", &[8, 5, 1]),
        playlist("p-night", "Night ambient", &[9, 6]),
    ];
    let schedules = vec![
        schedule("s-day", "Store hours", "p-retail", ScheduleTarget::Tag("store".into()), Some(("00:00", "23:59")), 10),
        schedule("s-transit", "Transit all day", "p-transit", ScheduleTarget::Tag("station".into()), None, 5),
        schedule(
            "s-office",
            "Office hours",
            "p-office",
            ScheduleTarget::Tag("office".into()),
            Some(("07:00", "19:00")),
            5,
        ),
        schedule("s-night", "Night mode", "p-night", ScheduleTarget::Tag("lobby".into()), Some(("20:00", "06:00")), 1),
        schedule("s-vip", "VIP lounge", "p-retail", ScheduleTarget::Device("dev-00001".into()), None, 50),
    ];
    let default_for = |tag: &str| match tag {
        "store" => "p-retail",
        "station" => "p-transit",
        "office" => "p-office",
        _ => "p-retail",
    };
    let devices: Vec<Device> = (0..n)
        .map(|i| {
            let tag = TAGS[(i / 12) % TAGS.len()];
            let status = sample_status(i);
            let heard = status != DeviceStatus::Offline && status != DeviceStatus::Unknown;
            let playlist = default_for(tag);
            // Every 11th device plays something other than it should.
            let playing = if i % 11 == 4 { "p-night" } else { playlist };
            Device {
                id: format!("dev-{i:05}"),
                org: ORG.into(),
                rev: 2,
                name: format!("{tag}-{i:04}"),
                tags: vec![tag.into()],
                playlist_id: Some(playlist.into()),
                status,
                last_seen_ms: if heard { now_ms.saturating_sub(2_000) } else { now_ms.saturating_sub(600_000) },
                health: heard.then_some(Health {
                    cpu_pct: 20.0 + (i % 50) as f32,
                    mem_pct: 40.0 + (i % 30) as f32,
                    temp_c: if status == DeviceStatus::Degraded { 84.0 } else { 52.0 + (i % 9) as f32 },
                    disk_free_pct: 60.0,
                    uptime_s: 86_400.0 + i as f64,
                }),
                playing: heard.then(|| Playing {
                    playlist_id: playing.into(),
                    content_id: "c01".into(),
                    since_ms: now_ms.saturating_sub(5_000),
                }),
            }
        })
        .collect();
    let mut alerts = Vec::new();
    for (i, d) in devices.iter().enumerate() {
        let (severity, kind, message) = match d.status {
            DeviceStatus::Offline => (Severity::Critical, "device_offline", format!("{} is offline", d.name)),
            DeviceStatus::Degraded => (Severity::Warning, "overheating", format!("{} runs hot (84 C)", d.name)),
            _ => continue,
        };
        let acked = i % 3 == 0;
        alerts.push(Alert {
            id: format!("a-{i:05}"),
            org: ORG.into(),
            rev: 1,
            device_id: Some(d.id.clone()),
            severity,
            kind: kind.into(),
            message,
            raised_ms: now_ms.saturating_sub(30_000 + (i as u64 % 20) * 60_000),
            state: if acked { AlertState::Acked } else { AlertState::Open },
            acked_by: acked.then(|| "alice".into()),
            muted_until_ms: None,
        });
    }
    alerts.push(Alert {
        id: "a-fw".into(),
        org: ORG.into(),
        rev: 1,
        device_id: None,
        severity: Severity::Info,
        kind: "firmware".into(),
        message: "firmware 4.2 available".into(),
        raised_ms: now_ms.saturating_sub(3_600_000),
        state: AlertState::Open,
        acked_by: None,
        muted_until_ms: None,
    });
    let metrics = (0..90u64)
        .map(|k| {
            let ts_ms = now_ms.saturating_sub((89 - k) * 10_000);
            let wave = ((k as f32) / 9.0).sin() * 0.3 + 1.0;
            let plays = (n as f32 * 2.0 * wave) as u64;
            let errors = plays / 40 + (k % 7 == 0) as u64 * plays / 10;
            Metrics {
                ts_ms,
                window_s: 60,
                online: n as u64,
                degraded: 0,
                offline: 0,
                plays,
                errors,
                impressions: plays + errors,
                top_content: (0..6)
                    .map(|c| TopContent { content_id: format!("c{c:02}"), plays: plays / (c + 2) })
                    .collect(),
            }
        })
        .collect();
    let executions = (0..8u64)
        .map(|k| ScheduleExecuted {
            schedule_id: ["s-day", "s-transit", "s-office", "s-night"][k as usize % 4].into(),
            device_id: format!("dev-{:05}", (k * 7) as usize % n.max(1)),
            playlist_id: "p-retail".into(),
            at_ms: now_ms.saturating_sub((8 - k) * 45_000),
            outcome: match k % 5 {
                3 => ExecutionOutcome::Failed,
                4 => ExecutionOutcome::Skipped,
                _ => ExecutionOutcome::Ok,
            },
            error: (k % 5 == 3).then(|| "content c06 not downloaded".into()),
        })
        .collect();
    StateFile {
        epoch: "fixture".into(),
        seq: n as u64 + 100,
        device: devices,
        playlist: playlists,
        content: (0..10).map(content).collect(),
        schedule: schedules,
        alert: alerts,
        metrics,
        executions,
    }
}

/// Live changes for a sample fleet: device status flips and telemetry, as
/// a gateway would send them, for load on the wall without a gateway.
#[derive(Debug, Clone)]
pub struct SampleFeed {
    devices: usize,
    seq: u64,
    next: usize,
    revs: Vec<u64>,
    playing: Vec<Option<vizora_protocol::Playing>>,
}

impl SampleFeed {
    /// Changes for `sample_fleet(devices, _)`, after its snapshot and executions.
    pub fn new(fleet: &StateFile) -> Self {
        Self {
            devices: fleet.device.len(),
            seq: fleet.seq + fleet.executions.len() as u64,
            next: 0,
            revs: fleet.device.iter().map(|d| d.rev).collect(),
            playing: fleet.device.iter().map(|d| d.playing.clone()).collect(),
        }
    }

    /// The next `n` status entries (devices in turn, flipping online and
    /// degraded) and a telemetry batch for the same devices.
    pub fn next(&mut self, n: usize, now_ms: u64) -> (Vec<vizora_protocol::LogEntry>, vizora_protocol::Telemetry) {
        use vizora_protocol::{DeviceStatusData, Event, LogEntry, Telemetry, TelemetryDevice};
        let mut entries = Vec::with_capacity(n);
        let mut telemetry = Vec::with_capacity(n);
        for _ in 0..n.min(self.devices) {
            let i = self.next % self.devices.max(1);
            self.next += 1;
            self.seq += 1;
            self.revs[i] += 1;
            let status = if self.revs[i].is_multiple_of(2) { DeviceStatus::Online } else { DeviceStatus::Degraded };
            let id = format!("dev-{i:05}");
            entries.push(LogEntry {
                seq: self.seq,
                ts_ms: now_ms,
                event: Event::DeviceStatus(DeviceStatusData {
                    id: id.clone(),
                    rev: self.revs[i],
                    status,
                    last_seen_ms: now_ms,
                }),
            });
            telemetry.push(TelemetryDevice {
                id,
                health: Health {
                    cpu_pct: (self.seq % 90) as f32,
                    mem_pct: 50.0,
                    temp_c: 60.0,
                    disk_free_pct: 40.0,
                    uptime_s: self.seq as f64,
                },
                playing: self.playing[i].clone(),
            });
        }
        (entries, Telemetry { ts_ms: now_ms, devices: telemetry })
    }
}
