//! Packets the sequencer sends: snapshot pages and `events` batches.

use vizora_protocol::codec::encode_event;
use vizora_protocol::{Entity, EntityKind, NS_WALL, SnapshotPage};

use super::{Org, Sock};

/// Sends a full snapshot in pages, kind by kind; false when the socket is full or gone.
pub(super) fn send_snapshot(org: &Org, sock: &Sock, page: usize) -> bool {
    for kind in EntityKind::ALL {
        let items: Vec<Entity> = match kind {
            EntityKind::Device => org.state.devices.values().cloned().map(Entity::Device).collect(),
            EntityKind::Playlist => org.state.playlists.values().cloned().map(Entity::Playlist).collect(),
            EntityKind::Content => org.state.contents.values().cloned().map(Entity::Content).collect(),
            EntityKind::Schedule => org.state.schedules.values().cloned().map(Entity::Schedule).collect(),
            EntityKind::Alert => org.state.alerts.values().cloned().map(Entity::Alert).collect(),
        };
        let chunks: Vec<&[Entity]> = if items.is_empty() { vec![&[]] } else { items.chunks(page).collect() };
        let n = chunks.len();
        for (i, chunk) in chunks.into_iter().enumerate() {
            let p =
                SnapshotPage { epoch: org.epoch.clone(), seq: org.head, kind, items: chunk.to_vec(), last: i + 1 == n };
            if sock.emit(encode_event(NS_WALL, None, "snapshot", &p)).is_err() {
                return false;
            }
        }
    }
    true
}

/// `events` packet text from pre-serialised entries.
pub(super) fn events_packet(epoch: &str, items: &[&str]) -> String {
    let len: usize = items.iter().map(|s| s.len() + 1).sum::<usize>() + epoch.len() + 48;
    let mut out = String::with_capacity(len);
    out.push_str("2/wall,[\"events\",{\"epoch\":");
    out.push_str(&serde_json::to_string(epoch).unwrap_or_default());
    out.push_str(",\"items\":[");
    for (i, it) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(it);
    }
    out.push_str("]}]");
    out
}
