//! Seeding a scenario over the real wire: an admin `/wall` session that
//! subscribes (so it knows every id and rev from the log), issues PROTOCOL.md
//! §6 mutations one at a time, waits for each ack and fails naming the item
//! when one is rejected.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;
use vizora_client::transport::{Incoming, Session};
use vizora_protocol::{
    Device, DeviceStatus, Entity, EntityKind, Events, MutationAck, NS_WALL, OrgState, SnapshotPage, SubscribeAck,
};

use super::{GroupSpec, Scenario};

const DAY_MS: u64 = 86_400_000;

/// Seeding that could not be done.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// No admin session.
    #[error("admin connection: {0}")]
    Connect(String),
    /// The gateway refused a mutation.
    #[error("{item}: rejected {code}: {message}")]
    Rejected {
        /// What was being seeded, e.g. `schedule "Weekday breakfast"`.
        item: String,
        /// The reject code.
        code: String,
        /// The gateway's message (it names the field for `invalid`).
        message: String,
    },
    /// No ack, or no log entry, in time.
    #[error("{item}: no answer within {secs} s")]
    Timeout {
        /// What was being seeded.
        item: String,
        /// The wait.
        secs: u64,
    },
    /// The gateway broke the protocol.
    #[error("protocol: {0}")]
    Protocol(String),
}

/// An admin `/wall` session that keeps the org's state from the log.
#[derive(Debug)]
pub struct Admin {
    s: Session,
    client_id: String,
    next_id: u64,
    /// The org as the log has it, up to `seq`.
    pub state: OrgState,
    epoch: String,
    seq: u64,
    /// Entities upserted by entry seq: how a create learns its server-made id.
    upserts: BTreeMap<u64, Entity>,
    timeout: Duration,
}

impl Admin {
    /// Connects, subscribes and reads the snapshot; `timeout` bounds every wait.
    pub async fn connect(url: &str, token: &str, timeout: Duration) -> Result<Self, SeedError> {
        let mut s =
            Session::connect(url, NS_WALL, token, timeout).await.map_err(|e| SeedError::Connect(e.to_string()))?;
        let id = s.emit_with_ack("subscribe", &json!({ "since": null })).await.map_err(conn)?;
        let deadline = Instant::now() + timeout;
        let mut admin = loop {
            match recv_by(&mut s, deadline, "subscribe").await? {
                Incoming::Ack { id: got, arg } if got == id => {
                    let ack: SubscribeAck = serde_json::from_str(&arg).map_err(|e| proto("subscribe ack", e))?;
                    break Self {
                        s,
                        client_id: format!("sim-seed-{:x}", vizora_protocol::now_ms()),
                        next_id: 0,
                        state: OrgState::default(),
                        epoch: ack.epoch,
                        seq: ack.head_seq,
                        upserts: BTreeMap::new(),
                        timeout,
                    };
                }
                _ => {}
            }
        };
        // The snapshot is complete once the last page of the last kind arrived.
        let mut complete = false;
        while !complete {
            if let Incoming::Event { name, arg, .. } = recv_by(&mut admin.s, deadline, "snapshot").await? {
                if name == "snapshot" {
                    let page: SnapshotPage = serde_json::from_str(&arg).map_err(|e| proto("snapshot", e))?;
                    complete = page.last && page.kind == EntityKind::Alert;
                    page.items.into_iter().for_each(|e| admin.state.insert(e));
                } else {
                    admin.on_event(&name, &arg)?;
                }
            }
        }
        Ok(admin)
    }

    /// Folds an `events` batch in; other events change nothing.
    fn on_event(&mut self, name: &str, arg: &str) -> Result<(), SeedError> {
        if name != "events" {
            return Ok(());
        }
        let batch: Events = serde_json::from_str(arg).map_err(|e| proto("events", e))?;
        if batch.epoch != self.epoch {
            return Err(SeedError::Protocol(format!("log epoch changed to {} while seeding", batch.epoch)));
        }
        for entry in batch.items {
            if entry.seq <= self.seq {
                continue;
            }
            if entry.seq != self.seq + 1 {
                return Err(SeedError::Protocol(format!("log gap: seq {} after {}", entry.seq, self.seq)));
            }
            self.seq = entry.seq;
            self.state.apply_event(&entry.event);
            if let Some(e) = upserted(&entry.event) {
                self.upserts.insert(entry.seq, e);
            }
        }
        Ok(())
    }

    /// Sends one mutation and returns its decided ack (`rate_limited` is retried).
    pub async fn mutate(
        &mut self,
        item: &str,
        kind: &str,
        target: Option<&str>,
        base_rev: Option<u64>,
        args: Value,
    ) -> Result<MutationAck, SeedError> {
        self.next_id += 1;
        let mut m = json!({ "mutation_id": format!("m{}", self.next_id), "client_id": self.client_id, "kind": kind, "args": args });
        if let Some(t) = target {
            m["target"] = json!(t);
        }
        if let Some(r) = base_rev {
            m["base_rev"] = json!(r);
        }
        let deadline = Instant::now() + self.timeout;
        let mut pause = Duration::from_millis(50);
        loop {
            let id = self.s.emit_with_ack("mutate", &m).await.map_err(conn)?;
            let ack = loop {
                match self.recv(deadline, item).await? {
                    Incoming::Ack { id: got, arg } if got == id => {
                        break serde_json::from_str::<MutationAck>(&arg).map_err(|e| proto("mutate ack", e))?;
                    }
                    Incoming::Event { name, arg, .. } => self.on_event(&name, &arg)?,
                    _ => {}
                }
            };
            match ack {
                MutationAck::Rejected {
                    code: vizora_protocol::RejectCode::RateLimited | vizora_protocol::RejectCode::Unavailable,
                    ..
                } => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(1));
                }
                ack => return Ok(ack),
            }
        }
    }

    /// Sends one mutation that must apply; returns the entity its entry carries.
    pub async fn apply(
        &mut self,
        item: &str,
        kind: &str,
        target: Option<&str>,
        base_rev: Option<u64>,
        args: Value,
    ) -> Result<Entity, SeedError> {
        match self.mutate(item, kind, target, base_rev, args).await? {
            MutationAck::Applied { seq, .. } | MutationAck::Duplicate { seq: Some(seq), .. } => {
                let deadline = Instant::now() + self.timeout;
                while self.seq < seq {
                    if let Incoming::Event { name, arg, .. } = self.recv(deadline, item).await? {
                        self.on_event(&name, &arg)?;
                    }
                }
                let found = self.upserts.remove(&seq);
                self.upserts = self.upserts.split_off(&seq);
                found.ok_or_else(|| SeedError::Protocol(format!("{item}: no upserted entry at seq {seq}")))
            }
            MutationAck::Rejected { code, message, .. } => {
                Err(SeedError::Rejected { item: item.to_owned(), code: code.as_str().to_owned(), message })
            }
            MutationAck::Duplicate { .. } => Err(SeedError::Rejected {
                item: item.to_owned(),
                code: "duplicate".into(),
                message: "decided before, not applied".into(),
            }),
        }
    }

    /// Reads the log until `done` holds or `timeout` passes; whether it held.
    pub async fn wait_until(&mut self, timeout: Duration, done: impl Fn(&OrgState) -> bool) -> Result<bool, SeedError> {
        let deadline = Instant::now() + timeout;
        while !done(&self.state) {
            match tokio::time::timeout_at(deadline, self.s.recv()).await {
                Err(_) => return Ok(false),
                Ok(Ok(Incoming::Event { name, arg, .. })) => self.on_event(&name, &arg)?,
                Ok(Ok(Incoming::Disconnected)) => return Err(SeedError::Connect("closed by the gateway".into())),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(conn(e)),
            }
        }
        Ok(true)
    }

    async fn recv(&mut self, deadline: Instant, item: &str) -> Result<Incoming, SeedError> {
        recv_by(&mut self.s, deadline, item).await
    }

    /// Closes the session.
    pub async fn close(self) {
        self.s.close().await;
    }
}

fn upserted(event: &vizora_protocol::Event) -> Option<Entity> {
    use vizora_protocol::Event as E;
    Some(match event {
        E::DeviceUpserted(e) => Entity::Device(e.clone()),
        E::PlaylistUpserted(e) => Entity::Playlist(e.clone()),
        E::ContentUpserted(e) => Entity::Content(e.clone()),
        E::ScheduleUpserted(e) => Entity::Schedule(e.clone()),
        _ => return None,
    })
}

async fn recv_by(s: &mut Session, deadline: Instant, item: &str) -> Result<Incoming, SeedError> {
    let secs = deadline.saturating_duration_since(Instant::now()).as_secs();
    match tokio::time::timeout_at(deadline, s.recv()).await {
        Err(_) => Err(SeedError::Timeout { item: item.to_owned(), secs }),
        Ok(Ok(Incoming::Disconnected)) => Err(SeedError::Connect("closed by the gateway".into())),
        Ok(Ok(m)) => Ok(m),
        Ok(Err(e)) => Err(conn(e)),
    }
}

fn conn(e: impl std::fmt::Display) -> SeedError {
    SeedError::Connect(e.to_string())
}

fn proto(what: &str, e: impl std::fmt::Display) -> SeedError {
    SeedError::Protocol(format!("{what}: {e}"))
}

/// Server ids of what a scenario created, by scenario name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Seeded {
    /// Content ids.
    pub content: BTreeMap<String, String>,
    /// Playlist ids.
    pub playlists: BTreeMap<String, String>,
    /// Schedule ids.
    pub schedules: BTreeMap<String, String>,
}

/// Creates the scenario's content, playlists and schedules (in that order,
/// so every reference exists); `now_ms` anchors `start_days`/`end_days`.
pub async fn seed(admin: &mut Admin, scenario: &Scenario, now_ms: u64) -> Result<Seeded, SeedError> {
    let mut out = Seeded::default();
    let id_of = |e: Entity| e.id().to_owned();
    for c in &scenario.content {
        let args = json!({ "name": c.name, "kind": c.kind, "uri": c.uri, "duration_s": c.duration_s, "size_bytes": c.size_bytes });
        let e = admin.apply(&format!("content {:?}", c.name), "content.create", None, None, args).await?;
        out.content.insert(c.name.clone(), id_of(e));
    }
    for p in &scenario.playlists {
        let items: Vec<Value> = p
            .items
            .iter()
            .map(|it| {
                let spec = scenario.content.iter().find(|c| c.name == it.content);
                let duration = it.duration_s.or(spec.map(|c| c.duration_s)).unwrap_or(10);
                json!({ "content_id": out.content.get(&it.content), "duration_s": duration })
            })
            .collect();
        let args = json!({ "name": p.name, "items": items });
        let e = admin.apply(&format!("playlist {:?}", p.name), "playlist.create", None, None, args).await?;
        out.playlists.insert(p.name.clone(), id_of(e));
    }
    let midnight = now_ms - now_ms % DAY_MS;
    let day = |d: i64| midnight.saturating_add_signed(d.saturating_mul(DAY_MS as i64));
    for s in &scenario.schedules {
        let args = json!({
            "name": s.name, "playlist_id": out.playlists.get(&s.playlist), "target": s.target,
            "start_ms": day(s.start_days), "end_ms": s.end_days.map(day), "days": s.days,
            "daily_from": s.daily_from, "daily_to": s.daily_to, "priority": s.priority, "enabled": s.enabled,
        });
        let e = admin.apply(&format!("schedule {:?}", s.name), "schedule.create", None, None, args).await?;
        out.schedules.insert(s.name.clone(), id_of(e));
    }
    Ok(out)
}

/// What the simulated players are told besides the wire. PROTOCOL.md §7
/// tells a player only `command`s (restart, assign_playlist): no schedules,
/// playlists or tags reach `/device`. A real player gets those from its CMS
/// when provisioned; the fleet gets them here, as seeded, so each player can
/// resolve its own schedule with `vizora_protocol::schedule`.
#[derive(Debug, Clone, Default)]
pub struct Provision {
    /// Content, playlists and schedules with their server ids.
    pub state: OrgState,
    /// Device groups, `playlist` holding the server id.
    pub groups: Vec<GroupSpec>,
    /// Fraction of schedule switches reported `failed` or `skipped`.
    pub schedule_faults: f64,
}

impl Provision {
    /// The provisioning of a seeded scenario; `state` is the admin's view after seeding.
    pub fn new(scenario: &Scenario, seeded: &Seeded, state: &OrgState) -> Self {
        let mut org = state.clone();
        org.devices.clear();
        org.alerts.clear();
        let groups = scenario
            .groups
            .iter()
            .map(|g| GroupSpec {
                playlist: g.playlist.as_ref().and_then(|p| seeded.playlists.get(p).cloned()),
                ..g.clone()
            })
            .collect();
        Self { state: org, groups, schedule_faults: scenario.schedule_faults }
    }

    /// The device entity player `index` of `players` believes it is: its tags and assigned playlist.
    pub fn device(&self, id: &str, index: usize, players: usize) -> Device {
        let group = super::group_of(&self.groups, index, players);
        Device {
            id: id.to_owned(),
            org: String::new(),
            rev: 0,
            name: id.to_owned(),
            tags: group.map(|g| g.tags.clone()).unwrap_or_default(),
            playlist_id: group.and_then(|g| g.playlist.clone()),
            status: DeviceStatus::Unknown,
            last_seen_ms: 0,
            health: None,
            playing: None,
        }
    }
}

/// Waits for every player in `ids` (index order) to appear, then gives each
/// its group's tags and playlist (`device.set_tags`, `device.assign_playlist`),
/// retrying a `conflict` with the rev the gateway reports (a status change
/// may race the write).
pub async fn seed_devices(
    admin: &mut Admin,
    provision: &Provision,
    ids: &[String],
    appear_within: Duration,
) -> Result<(), SeedError> {
    let all_there = |s: &OrgState| ids.iter().all(|id| s.devices.contains_key(id));
    if !admin.wait_until(appear_within, all_there).await? {
        let missing = ids.iter().find(|id| !admin.state.devices.contains_key(*id)).cloned().unwrap_or_default();
        return Err(SeedError::Timeout {
            item: format!("device {missing:?} to connect"),
            secs: appear_within.as_secs(),
        });
    }
    for (i, id) in ids.iter().enumerate() {
        let want = provision.device(id, i, ids.len());
        let have = admin.state.devices.get(id).cloned();
        if !want.tags.is_empty() && have.as_ref().is_none_or(|d| d.tags != want.tags) {
            let args = json!({ "tags": want.tags });
            set_device(admin, &format!("device {id:?} tags"), "device.set_tags", id, args).await?;
        }
        if want.playlist_id.is_some() && have.as_ref().is_none_or(|d| d.playlist_id != want.playlist_id) {
            let args = json!({ "playlist_id": want.playlist_id });
            set_device(admin, &format!("device {id:?} playlist"), "device.assign_playlist", id, args).await?;
        }
    }
    Ok(())
}

async fn set_device(admin: &mut Admin, item: &str, kind: &str, id: &str, args: Value) -> Result<(), SeedError> {
    let mut rev = admin.state.rev(EntityKind::Device, id);
    for _ in 0..8 {
        match admin.mutate(item, kind, Some(id), rev, args.clone()).await? {
            MutationAck::Applied { .. } | MutationAck::Duplicate { .. } => return Ok(()),
            MutationAck::Rejected { code: vizora_protocol::RejectCode::Conflict, current, .. } => {
                rev = current.as_ref().and_then(|c| c["rev"].as_u64()).or(rev);
            }
            MutationAck::Rejected { code, message, .. } => {
                return Err(SeedError::Rejected { item: item.to_owned(), code: code.as_str().to_owned(), message });
            }
        }
    }
    Err(SeedError::Rejected { item: item.to_owned(), code: "conflict".into(), message: "rev kept moving".into() })
}
