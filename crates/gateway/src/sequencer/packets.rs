//! Packets the sequencer sends: `events` batches and snapshot pages, split
//! so no packet exceeds the configured byte bound (PROTOCOL.md §8 Bounds).

use vizora_protocol::EntityKind;

use super::Org;
use crate::peer::Packet;

/// Bytes of a snapshot page besides its items and epoch.
const SNAPSHOT_OVERHEAD: usize = 96;

/// `events` packets from pre-serialised entries, each at most `max_bytes`
/// (an entry alone is always below it: its inputs are bounded). A
/// `mutation.applied` entry stays in the packet of the change before it
/// (PROTOCOL.md §8: "in the same `events` batch").
pub(super) fn events_packets<'a>(
    epoch: &str,
    items: impl IntoIterator<Item = &'a str>,
    max_bytes: usize,
) -> Vec<Packet> {
    let epoch_json = serde_json::to_string(epoch).unwrap_or_default();
    let start = |first: &str| {
        let mut p = String::with_capacity(first.len().max(4096).min(max_bytes));
        // The Engine.IO message type first: see `Packet::from_message`.
        p.push_str("42/wall,[\"events\",{\"epoch\":");
        p.push_str(&epoch_json);
        p.push_str(",\"items\":[");
        let items_at = p.len();
        p.push_str(first);
        (p, items_at)
    };
    let mut out = Vec::new();
    // The packet being filled, where its items start, and where its last item starts.
    let mut cur: Option<(String, usize, usize)> = None;
    for it in items {
        // `,` before the item and `]}]` after it.
        if let Some((p, items_at, last_at)) = &mut cur
            && p.len() + it.len() + 4 > max_bytes
        {
            // The change before it, if not alone in its packet, moves to
            // the next packet with it (where the two fit: the bound wins).
            // A `mutation.applied` before it is another mutation's (a
            // restart writes only that): it stays with its own change.
            let pair_fits = *last_at > *items_at && *items_at + (p.len() - *last_at) + it.len() + 4 <= max_bytes;
            if pair_fits && is_applied(it) && !is_applied(&p[*last_at..]) {
                let change = p[*last_at..].to_owned();
                p.truncate(*last_at - 1);
                out.push(close_events(std::mem::take(p)));
                let (mut next, at) = start(&change);
                next.push(',');
                next.push_str(it);
                cur = Some((next, at, at + change.len() + 1));
                continue;
            }
            out.extend(cur.take().map(|c| close_events(c.0)));
        }
        match &mut cur {
            Some((p, _, last_at)) => {
                p.push(',');
                *last_at = p.len();
                p.push_str(it);
            }
            None => {
                let (p, at) = start(it);
                cur = Some((p, at, at));
            }
        }
    }
    out.extend(cur.map(|c| close_events(c.0)));
    out
}

/// Whether a serialised log entry is a `mutation.applied`. Entries are
/// written `{"seq":…,"ts_ms":…,"type":…`: the first `"type"` is the entry's own.
pub(super) fn is_applied(item: &str) -> bool {
    const KEY: &str = ",\"type\":\"";
    item.find(KEY).is_some_and(|i| item[i + KEY.len()..].starts_with("mutation.applied\""))
}

fn close_events(mut p: String) -> Packet {
    p.push_str("]}]");
    Packet::from_message(p)
}

/// Every snapshot page of `org` at its head, kind by kind: at most `page`
/// entities and `max_bytes` bytes each; an empty kind still gets its page
/// with `last: true`.
pub(super) fn snapshot_pages(org: &Org, page: usize, max_bytes: usize) -> Vec<Packet> {
    let head = |kind: EntityKind| {
        format!(
            "42/wall,[\"snapshot\",{{\"epoch\":{},\"seq\":{},\"kind\":\"{}\",\"items\":[",
            serde_json::to_string(&org.epoch).unwrap_or_default(),
            org.head,
            kind.as_str()
        )
    };
    let mut out: Vec<Packet> = Vec::new();
    for kind in EntityKind::ALL {
        let items: Vec<String> = match kind {
            EntityKind::Device => org.state.devices.values().filter_map(|e| serde_json::to_string(e).ok()).collect(),
            EntityKind::Playlist => {
                org.state.playlists.values().filter_map(|e| serde_json::to_string(e).ok()).collect()
            }
            EntityKind::Content => org.state.contents.values().filter_map(|e| serde_json::to_string(e).ok()).collect(),
            EntityKind::Schedule => {
                org.state.schedules.values().filter_map(|e| serde_json::to_string(e).ok()).collect()
            }
            EntityKind::Alert => org.state.alerts.values().filter_map(|e| serde_json::to_string(e).ok()).collect(),
        };
        let mut pages: Vec<String> = Vec::new();
        let mut cur = head(kind);
        let mut n = 0;
        for it in &items {
            if n > 0 && (n == page || cur.len() + it.len() + SNAPSHOT_OVERHEAD > max_bytes) {
                pages.push(std::mem::replace(&mut cur, head(kind)));
                n = 0;
            }
            if n > 0 {
                cur.push(',');
            }
            cur.push_str(it);
            n += 1;
        }
        pages.push(cur);
        let count = pages.len();
        for (i, mut p) in pages.into_iter().enumerate() {
            p.push_str(if i + 1 == count { "],\"last\":true}]" } else { "],\"last\":false}]" });
            out.push(Packet::from_message(p));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_split_by_bytes_in_order_without_loss() {
        let items: Vec<String> =
            (1..=100).map(|i| format!("{{\"seq\":{i},\"pad\":\"{}\"}}", "x".repeat(900))).collect();
        let packets = events_packets("e1", items.iter().map(String::as_str), 8 * 1024);
        assert!(packets.len() > 10, "{} packets", packets.len());
        let mut seqs = Vec::new();
        for p in &packets {
            assert!(p.len() <= 8 * 1024, "{} bytes", p.len());
            let text = std::str::from_utf8(p.as_bytes()).expect("UTF-8");
            let body = text.strip_prefix("2/wall,").expect("namespace");
            let v: serde_json::Value = serde_json::from_str(body).expect("valid JSON");
            assert_eq!(v[1]["epoch"], "e1");
            seqs.extend(v[1]["items"].as_array().expect("items").iter().map(|e| e["seq"].as_u64().expect("seq")));
        }
        assert_eq!(seqs, (1..=100).collect::<Vec<_>>());
    }

    #[test]
    fn a_mutation_applied_stays_with_its_change_at_every_bound() {
        // A restart's `mutation.applied` (no change entry) first, then pairs
        // of growing size, each tenth one followed by another restart's.
        let restart = |seq: u64| {
            format!(r#"{{"seq":{seq},"ts_ms":1,"type":"mutation.applied","data":{{"kind":"device.restart"}}}}"#)
        };
        let mut items = vec![restart(1)];
        let mut seq = 1;
        let mut starts = vec![1];
        for i in 0..60u64 {
            let pad = "y".repeat((i as usize * 37) % 700);
            starts.push(seq + 1);
            items.push(format!(
                r#"{{"seq":{},"ts_ms":1,"type":"playlist.upserted","data":{{"name":"mutation.applied {pad}"}}}}"#,
                seq + 1
            ));
            items.push(format!(
                r#"{{"seq":{},"ts_ms":1,"type":"mutation.applied","data":{{"kind":"playlist.create"}}}}"#,
                seq + 2
            ));
            seq += 2;
            if i % 10 == 9 {
                seq += 1;
                starts.push(seq);
                items.push(restart(seq));
            }
        }
        assert!(!is_applied(&items[1]) && is_applied(&items[2]) && is_applied(&items[0]));
        for max in (1024..6000).step_by(97) {
            let packets = events_packets("e1", items.iter().map(String::as_str), max);
            let mut seqs = Vec::new();
            for p in &packets {
                assert!(p.len() <= max, "{} bytes at {max}", p.len());
                let text = std::str::from_utf8(p.as_bytes()).expect("UTF-8");
                let v: serde_json::Value =
                    serde_json::from_str(text.strip_prefix("2/wall,").expect("ns")).expect("JSON");
                let got: Vec<u64> =
                    v[1]["items"].as_array().expect("items").iter().map(|e| e["seq"].as_u64().expect("seq")).collect();
                // Every packet starts at a change or a restart, never at a pair's second half.
                assert!(starts.contains(&got[0]), "packet at {max} starts at {}", got[0]);
                seqs.extend(got);
            }
            assert_eq!(seqs, (1..=seq).collect::<Vec<_>>(), "at {max}");
        }
    }

    #[test]
    fn a_small_batch_is_one_packet() {
        let packets = events_packets("e1", ["{\"seq\":1}", "{\"seq\":2}"], 512 * 1024);
        assert_eq!(
            packets,
            vec![Packet::from("2/wall,[\"events\",{\"epoch\":\"e1\",\"items\":[{\"seq\":1},{\"seq\":2}]}]".to_owned())]
        );
    }
}
