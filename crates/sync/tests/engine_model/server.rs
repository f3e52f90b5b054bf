//! The model gateway: decides mutations with the shared `apply`, writes
//! them to a bounded log, remembers decided ids, answers subscribes with a
//! replay or a snapshot, and can lose its log (a new epoch).

use std::collections::{BTreeMap, VecDeque};

use vizora_protocol::{
    Alert, AlertState, ApplyCtx, Content, ContentKind, Device, DeviceStatus, DeviceStatusData, Entity, Event, LogEntry,
    Mutation, MutationAck, OrgState, Playlist, PlaylistItem, Position, RejectCode, Role, Schedule, ScheduleTarget,
    Severity, apply,
};

use crate::ORG;

fn initial() -> Vec<Event> {
    let device = |id: &str| Device {
        id: id.into(),
        org: ORG.into(),
        rev: 1,
        name: id.into(),
        tags: vec![],
        playlist_id: None,
        status: DeviceStatus::Unknown,
        last_seen_ms: 0,
        health: None,
        playing: None,
    };
    let content = |id: &str| Content {
        id: id.into(),
        org: ORG.into(),
        rev: 1,
        name: id.into(),
        kind: ContentKind::Image,
        uri: "u".into(),
        duration_s: 5.0,
        size_bytes: 1,
    };
    let item = |c: &str| PlaylistItem { content_id: c.into(), duration_s: 5.0 };
    vec![
        Event::DeviceUpserted(device("d0")),
        Event::DeviceUpserted(device("d1")),
        Event::ContentUpserted(content("c0")),
        Event::ContentUpserted(content("c1")),
        Event::ContentUpserted(content("c2")),
        Event::PlaylistUpserted(Playlist {
            id: "p0".into(),
            org: ORG.into(),
            rev: 1,
            name: "p0".into(),
            items: vec![item("c0"), item("c1"), item("c2")],
        }),
        Event::PlaylistUpserted(Playlist {
            id: "p1".into(),
            org: ORG.into(),
            rev: 1,
            name: "p1".into(),
            items: vec![],
        }),
        Event::ScheduleUpserted(Schedule {
            id: "s0".into(),
            org: ORG.into(),
            rev: 1,
            name: "s0".into(),
            playlist_id: "p0".into(),
            target: ScheduleTarget::Device("d0".into()),
            start_ms: 100,
            end_ms: None,
            days: None,
            daily_from: None,
            daily_to: None,
            priority: 0,
            enabled: true,
        }),
        Event::AlertUpserted(alert("a0", 1, AlertState::Open)),
        Event::AlertUpserted(alert("a1", 1, AlertState::Resolved)),
    ]
}

pub fn alert(id: &str, rev: u64, state: AlertState) -> Alert {
    Alert {
        id: id.into(),
        org: ORG.into(),
        rev,
        device_id: None,
        severity: Severity::Critical,
        kind: "device_offline".into(),
        message: "m".into(),
        raised_ms: 0,
        state,
        acked_by: None,
        muted_until_ms: None,
    }
}

/// Server → client messages on one connection, in order.
pub enum Down {
    Events(String, Vec<LogEntry>),
    Snapshot(String, u64, Vec<Entity>),
    Ack(String, MutationAck),
}

pub struct Server {
    pub state: OrgState,
    pub epoch: u32,
    pub head: u64,
    /// Retained entries, the newest `retain` of them.
    pub log: VecDeque<LogEntry>,
    pub retain: usize,
    pub decided: BTreeMap<(String, String), MutationAck>,
    pub next_id: u64,
}

impl Server {
    pub fn new(retain: usize) -> Self {
        let mut s = Server {
            state: OrgState::default(),
            epoch: 1,
            head: 0,
            log: VecDeque::new(),
            retain,
            decided: BTreeMap::new(),
            next_id: 0,
        };
        for e in initial() {
            s.append(e);
        }
        s
    }

    pub fn epoch(&self) -> String {
        format!("e{}", self.epoch)
    }

    pub fn append(&mut self, event: Event) -> LogEntry {
        self.head += 1;
        self.state.apply_event(&event);
        let entry = LogEntry { seq: self.head, ts_ms: self.head, event };
        // Entries travel as JSON, as they would on the wire.
        let text = serde_json::to_string(&entry).expect("entries serialise");
        let entry: LogEntry = serde_json::from_str(&text).expect("entries decode");
        self.log.push_back(entry.clone());
        while self.log.len() > self.retain {
            self.log.pop_front();
        }
        entry
    }

    /// Decides a mutation as the gateway would: from its wire form, at most once.
    pub fn mutate(&mut self, m: &Mutation, role: Role, sub: &str, rate_limited: bool) -> (MutationAck, Vec<LogEntry>) {
        let wire = serde_json::to_value(m).expect("mutations serialise");
        let m =
            Mutation::decode(&wire).unwrap_or_else(|e| panic!("the server refuses what the client built: {e}: {wire}"));
        let key = (m.client_id.clone(), m.mutation_id.clone());
        if let Some(prev) = self.decided.get(&key) {
            let dup = match prev {
                MutationAck::Applied { seq, rev } => MutationAck::Duplicate { seq: Some(*seq), rev: Some(*rev) },
                _ => MutationAck::Duplicate { seq: None, rev: None },
            };
            return (dup, vec![]);
        }
        if rate_limited {
            return (MutationAck::rejected(RejectCode::RateLimited, "slow down"), vec![]);
        }
        self.next_id += 1;
        let ctx = ApplyCtx { org: ORG.into(), role, sub: sub.into(), new_id: format!("srv{}", self.next_id) };
        let (ack, entries) = match apply(&self.state, &m, &ctx) {
            Ok(applied) => {
                let rev = applied.rev;
                let entries: Vec<LogEntry> = applied.into_events(&m).into_iter().map(|e| self.append(e)).collect();
                (MutationAck::Applied { seq: entries[0].seq, rev }, entries)
            }
            Err(r) => {
                assert_ne!(r.code, RejectCode::RateLimited);
                (r.to_ack(), vec![])
            }
        };
        self.decided.insert(key, ack.clone());
        (ack, entries)
    }

    /// A status change, a new device, an alert raised or resolved: log entries no one asked for.
    pub fn event(&mut self, kind: u8, v: u8) -> Option<LogEntry> {
        let d = format!("d{}", v % 4);
        let a = format!("a{}", v % 3);
        let event = match kind {
            0 => {
                let dev = self.state.devices.get(&d)?;
                let status = [DeviceStatus::Online, DeviceStatus::Degraded, DeviceStatus::Offline][v as usize % 3];
                Event::DeviceStatus(DeviceStatusData { id: d, rev: dev.rev + 1, status, last_seen_ms: self.head })
            }
            1 if !self.state.devices.contains_key(&d) => Event::DeviceUpserted(Device {
                id: d.clone(),
                org: ORG.into(),
                rev: 1,
                name: d,
                tags: vec!["t1".into()],
                playlist_id: None,
                status: DeviceStatus::Unknown,
                last_seen_ms: self.head,
                health: None,
                playing: None,
            }),
            2 => match self.state.alerts.get(&a) {
                Some(x) if x.state != AlertState::Resolved => return None,
                Some(x) => Event::AlertUpserted(alert(&a, x.rev + 1, AlertState::Open)),
                None => Event::AlertUpserted(alert(&a, 1, AlertState::Open)),
            },
            3 => {
                let x = self.state.alerts.get(&a).filter(|x| x.state != AlertState::Resolved)?;
                let mut x = x.clone();
                (x.rev, x.state) = (x.rev + 1, AlertState::Resolved);
                Event::AlertUpserted(x)
            }
            _ => return None,
        };
        Some(self.append(event))
    }

    pub fn subscribe(&self, since: Option<&Position>) -> Down {
        let first = self.log.front().map_or(self.head + 1, |e| e.seq);
        match since {
            Some(p) if p.epoch == self.epoch() && p.seq <= self.head && p.seq + 1 >= first => {
                Down::Events(self.epoch(), self.log.iter().filter(|e| e.seq > p.seq).cloned().collect())
            }
            _ => Down::Snapshot(self.epoch(), self.head, self.state.entities().collect()),
        }
    }

    pub fn reset_log(&mut self) {
        self.epoch += 1;
        self.head = 0;
        self.log.clear();
    }
}
