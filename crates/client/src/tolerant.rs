//! Decoding of snapshot pages and `events` batches one item at a time, so
//! that an entity or entry the client cannot read costs only itself: it is
//! left out and described ([`Skipped`]), and the rest of the page or batch
//! is kept. What cannot be placed in the log at all (no readable `seq`, or
//! one beyond PROTOCOL.md §8's bound) ends the batch there.

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;
use vizora_protocol::bounds::MAX_SAFE_INT;
use vizora_protocol::{Entity, EntityKind, LogEntry};

/// Longest id or error text a report carries (a hostile server sets the length).
const REPORT_CHARS: usize = 256;

/// Something left out because it could not be decoded.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Skipped {
    /// Entity kind of a snapshot item, or the `type` of a log entry.
    pub(crate) kind: String,
    /// The entity's id, when readable.
    pub(crate) id: Option<String>,
    /// The log entry's seq, when readable.
    pub(crate) seq: Option<u64>,
    /// What was wrong.
    pub(crate) error: String,
}

#[derive(Deserialize)]
struct WirePage<'a> {
    epoch: String,
    seq: u64,
    kind: String,
    #[serde(borrow)]
    items: Vec<&'a RawValue>,
    last: bool,
}

/// One `snapshot` page, its items decoded one by one.
#[derive(Debug)]
pub(crate) struct Page {
    pub(crate) epoch: String,
    pub(crate) seq: u64,
    /// `None` for a kind this client does not know; its items are all skipped.
    pub(crate) kind: Option<EntityKind>,
    /// Items on the page, readable or not.
    pub(crate) received: usize,
    pub(crate) items: Vec<Entity>,
    pub(crate) skipped: Vec<Skipped>,
    pub(crate) last: bool,
}

/// Decodes a `snapshot` page; fails only when the page itself (epoch, seq,
/// kind, items, last) cannot be read.
pub(crate) fn snapshot_page(arg: &str) -> Result<Page, String> {
    let w: WirePage = serde_json::from_str(arg).map_err(|e| clip(format!("bad snapshot page: {e}")))?;
    let kind = EntityKind::ALL.into_iter().find(|k| k.as_str() == w.kind);
    let mut page = Page {
        epoch: w.epoch,
        seq: w.seq,
        kind,
        received: w.items.len(),
        items: Vec::with_capacity(w.items.len()),
        skipped: Vec::new(),
        last: w.last,
    };
    let Some(kind) = kind else {
        let error = format!("unknown entity kind; {} items left out", w.items.len());
        page.skipped.push(Skipped { kind: clip(w.kind), id: None, seq: None, error });
        return Ok(page);
    };
    for raw in w.items {
        match Entity::from_json(kind, raw.get()) {
            Ok(e) => page.items.push(e),
            Err(e) => {
                let id = parse(raw).and_then(|v| text_at(&v, "/id"));
                page.skipped.push(Skipped {
                    kind: kind.as_str().to_owned(),
                    id,
                    seq: None,
                    error: clip(e.to_string()),
                });
            }
        }
    }
    Ok(page)
}

#[derive(Deserialize)]
struct WireEvents<'a> {
    epoch: String,
    #[serde(borrow)]
    items: Vec<&'a RawValue>,
}

/// One entry of an `events` batch: decoded, or only its `seq` readable
/// (then it still holds its place in the log).
#[derive(Debug)]
pub(crate) struct Item {
    pub(crate) seq: u64,
    pub(crate) entry: Result<LogEntry, Skipped>,
}

/// An `events` batch decoded entry by entry.
#[derive(Debug)]
pub(crate) struct Batch {
    pub(crate) epoch: String,
    /// The entries before the first that cannot be placed.
    pub(crate) items: Vec<Item>,
    /// Why the batch ends early: an entry with no readable `seq`, or one
    /// beyond 2^53 - 1. A protocol violation.
    pub(crate) broken: Option<String>,
}

/// Decodes an `events` batch; fails only when the batch itself (epoch,
/// items) cannot be read.
pub(crate) fn events_batch(arg: &str) -> Result<Batch, String> {
    let w: WireEvents = serde_json::from_str(arg).map_err(|e| clip(format!("bad events: {e}")))?;
    let mut batch = Batch { epoch: w.epoch, items: Vec::with_capacity(w.items.len()), broken: None };
    for (i, raw) in w.items.into_iter().enumerate() {
        let item = match serde_json::from_str::<LogEntry>(raw.get()) {
            Ok(entry) => Item { seq: entry.seq, entry: Ok(entry) },
            Err(e) => {
                let v = parse(raw).unwrap_or_default();
                let Some(seq) = v.get("seq").and_then(Value::as_u64) else {
                    batch.broken = Some(clip(format!("events item {i} has no readable seq: {e}")));
                    break;
                };
                let kind = text_at(&v, "/type").unwrap_or_else(|| "log entry".into());
                let skipped = Skipped { kind, id: text_at(&v, "/data/id"), seq: Some(seq), error: clip(e.to_string()) };
                Item { seq, entry: Err(skipped) }
            }
        };
        if item.seq > MAX_SAFE_INT {
            batch.broken = Some(format!("events item {i}: seq {} is beyond 2^53 - 1 (PROTOCOL.md §8)", item.seq));
            break;
        }
        batch.items.push(item);
    }
    Ok(batch)
}

fn parse(raw: &RawValue) -> Option<Value> {
    serde_json::from_str(raw.get()).ok()
}

fn text_at(v: &Value, pointer: &str) -> Option<String> {
    v.pointer(pointer).and_then(Value::as_str).map(|s| clip(s.to_owned()))
}

/// Cuts `s` to [`REPORT_CHARS`] characters.
fn clip(mut s: String) -> String {
    if let Some((at, _)) = s.char_indices().nth(REPORT_CHARS) {
        s.truncate(at);
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn playlist(id: &str, rev: Value) -> Value {
        json!({ "id": id, "org": "o", "rev": rev, "name": id, "items": [] })
    }

    fn entry(seq: Value, data: Value) -> Value {
        json!({ "seq": seq, "ts_ms": 1, "type": "playlist.upserted", "data": data })
    }

    #[test]
    fn a_bad_entity_is_left_out_of_its_page_and_described() {
        let arg = json!({ "epoch": "e", "seq": 3, "kind": "playlist", "last": true,
            "items": [playlist("a", json!(1)), playlist("b", json!("two")), playlist("c", json!(1))] });
        let page = snapshot_page(&arg.to_string()).expect("the page is readable");
        let ids: Vec<&str> = page.items.iter().map(Entity::id).collect();
        assert_eq!(ids, ["a", "c"]);
        assert_eq!((page.received, page.kind, page.last), (3, Some(EntityKind::Playlist), true));
        let [skipped] = &page.skipped[..] else { panic!("one skipped: {:?}", page.skipped) };
        assert_eq!((skipped.kind.as_str(), skipped.id.as_deref(), skipped.seq), ("playlist", Some("b"), None));
        assert!(skipped.error.contains("invalid type"), "{}", skipped.error);
    }

    #[test]
    fn a_page_of_an_unknown_kind_is_skipped_whole_and_a_broken_page_fails() {
        let arg = json!({ "epoch": "e", "seq": 3, "kind": "widget", "last": true, "items": [{}, {}] });
        let page = snapshot_page(&arg.to_string()).expect("readable");
        assert_eq!((page.kind, page.received, page.items.len()), (None, 2, 0));
        assert_eq!(page.skipped[0].kind, "widget");
        let e = snapshot_page(r#"{"epoch": "e", "seq": -1}"#).expect_err("no usable envelope");
        assert!(e.starts_with("bad snapshot page"), "{e}");
    }

    #[test]
    fn an_entry_with_a_readable_seq_holds_its_place() {
        let arg = json!({ "epoch": "e", "items": [
            entry(json!(4), playlist("a", json!(1))),
            entry(json!(5), playlist("b", json!("two"))),
            entry(json!(6), playlist("c", json!(1))),
        ] });
        let batch = events_batch(&arg.to_string()).expect("readable");
        assert_eq!(batch.broken, None);
        let seqs: Vec<u64> = batch.items.iter().map(|i| i.seq).collect();
        assert_eq!(seqs, [4, 5, 6]);
        let Err(s) = &batch.items[1].entry else { panic!("{:?}", batch.items[1]) };
        assert_eq!((s.kind.as_str(), s.id.as_deref(), s.seq), ("playlist.upserted", Some("b"), Some(5)));
    }

    #[test]
    fn a_batch_ends_at_an_entry_without_a_seq_or_beyond_two_to_the_53() {
        for (bad, why) in
            [(json!("7"), "no readable seq"), (json!(u64::MAX), "beyond 2^53 - 1"), (json!(1u64 << 53), "beyond")]
        {
            let arg = json!({ "epoch": "e", "items": [
                entry(json!(6), playlist("a", json!(1))),
                entry(bad.clone(), playlist("b", json!(1))),
                entry(json!(8), playlist("c", json!(1))),
            ] });
            let batch = events_batch(&arg.to_string()).expect("readable");
            assert_eq!(batch.items.len(), 1, "{bad}: what came before is kept");
            assert!(batch.broken.as_deref().is_some_and(|b| b.contains(why)), "{bad}: {:?}", batch.broken);
        }
        let max = json!({ "epoch": "e", "items": [entry(json!(MAX_SAFE_INT), playlist("a", json!(1)))] });
        assert_eq!(events_batch(&max.to_string()).expect("readable").broken, None, "2^53 - 1 itself is fine");
    }

    #[test]
    fn reports_are_clipped() {
        let long = "x".repeat(10_000);
        assert_eq!(clip(long).chars().count(), REPORT_CHARS + 1);
        assert_eq!(clip("short".into()), "short");
    }
}
