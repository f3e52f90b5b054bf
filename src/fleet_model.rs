//! What the wall knows about the fleet, applied from snapshots and log
//! entries. Pure: no Bevy. (The full sync engine with optimistic mutations
//! lives in `vizora-sync`; this is the read side the panels draw.)

use vizora_protocol::{AlertState, Entity, EntityKind, LogEntry, OrgState};

/// What changed after applying something.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Everything was replaced (snapshot).
    pub reset: bool,
    /// Devices whose view changed, by id.
    pub devices: Vec<String>,
    /// Devices added or removed (tile layout changes).
    pub membership: bool,
    /// Alerts changed.
    pub alerts: bool,
}

/// The fleet as the wall shows it.
#[derive(Debug, Clone, Default)]
pub struct FleetModel {
    /// The org's entities, folded with the protocol's own `OrgState::apply_event`.
    pub state: OrgState,
    /// Log position `(epoch, seq)` of the last applied entry.
    pub position: Option<(String, u64)>,
    /// Time of the last applied entry, ms.
    pub last_event_ms: Option<u64>,
}

impl FleetModel {
    /// Replaces everything with a snapshot.
    pub fn apply_snapshot(&mut self, epoch: &str, seq: u64, entities: Vec<Entity>) -> Changes {
        self.state = OrgState::from_entities(entities);
        self.position = Some((epoch.to_owned(), seq));
        Changes { reset: true, devices: self.state.devices.keys().cloned().collect(), membership: true, alerts: true }
    }

    /// Applies log entries in order.
    pub fn apply_entries(&mut self, epoch: &str, items: &[LogEntry]) -> Changes {
        let mut ch = Changes::default();
        for entry in items {
            self.position = Some((epoch.to_owned(), entry.seq));
            self.last_event_ms = Some(entry.ts_ms);
            let Some((kind, id)) = entry.event.entity_ref() else { continue };
            let known = self.state.contains(kind, id);
            self.state.apply_event(&entry.event);
            match kind {
                EntityKind::Device => {
                    let now = self.state.contains(kind, id);
                    ch.membership |= known != now;
                    if now {
                        ch.devices.push(id.to_owned());
                    }
                }
                EntityKind::Alert => ch.alerts = true,
                _ => {}
            }
        }
        ch.devices.sort();
        ch.devices.dedup();
        ch
    }

    /// Open (unresolved) alerts.
    pub fn open_alerts(&self) -> usize {
        self.state.alerts.values().filter(|a| a.state != AlertState::Resolved).count()
    }

    /// Device counts by status: online, degraded, offline, unknown.
    pub fn counts(&self) -> [usize; 4] {
        use vizora_protocol::DeviceStatus::*;
        let mut c = [0; 4];
        for d in self.state.devices.values() {
            c[match d.status {
                Online => 0,
                Degraded => 1,
                Offline => 2,
                Unknown => 3,
            }] += 1;
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vizora_protocol::{Device, DeviceStatus, DeviceStatusData, Event};

    fn device(id: &str, status: DeviceStatus) -> Device {
        Device {
            id: id.into(),
            org: "o".into(),
            rev: 1,
            name: id.into(),
            tags: vec![],
            playlist_id: None,
            status,
            last_seen_ms: 0,
            health: None,
            playing: None,
        }
    }

    #[test]
    fn status_entries_change_only_their_device() {
        let mut m = FleetModel::default();
        m.apply_snapshot(
            "e",
            4,
            vec![Entity::Device(device("a", DeviceStatus::Online)), Entity::Device(device("b", DeviceStatus::Online))],
        );
        let entry = LogEntry {
            seq: 5,
            ts_ms: 10,
            event: Event::DeviceStatus(DeviceStatusData {
                id: "b".into(),
                rev: 2,
                status: DeviceStatus::Offline,
                last_seen_ms: 9,
            }),
        };
        let ch = m.apply_entries("e", &[entry]);
        assert_eq!(ch.devices, vec!["b".to_owned()]);
        assert!(!ch.membership);
        assert_eq!(m.counts(), [1, 0, 1, 0]);
        assert_eq!(m.position, Some(("e".into(), 5)));
    }
}
