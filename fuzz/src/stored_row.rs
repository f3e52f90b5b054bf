//! Target `stored_row`: a row of the gateway's SQLite store as
//! `Org::from_store` (crates/gateway/src/engine.rs) reads it back: an
//! entity's JSON with its kind from the row (`Entity::from_json`), or a
//! decided mutation's ack JSON (`MutationAck`).
//!
//! Input: the first byte picks the row type (`d` device, `p` playlist,
//! `c` content, `s` schedule, `a` alert, `k` decided ack; any other byte picks
//! an entity kind by its value), the rest is the stored JSON text.
//!
//! Invariants, for whatever decodes:
//! - nothing panics;
//! - the entity has the row's kind, and folds into an `OrgState` under its id;
//! - it serialises (as the gateway writes it) to a value that decodes to an
//!   equal entity, and its JSON text decodes again with the same kind, id and
//!   rev: a row that loads but cannot be written and loaded again (a float
//!   that overflowed to infinity is written as `null`) is a crash here.
//!
//! Floats are compared exactly only through `serde_json::Value`: without
//! serde_json's `float_roundtrip` feature its text parser is not correctly
//! rounded (`f64_from_parts` multiplies by inexact powers of ten), so an f64
//! can come back one ulp off through text. Enable that feature workspace-wide
//! if text must round-trip bit for bit, then compare the text path too.

use vizora_protocol::{Entity, EntityKind, MutationAck, OrgState};

/// One fuzz input.
pub fn run(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let kind = match sel {
        b'd' => EntityKind::Device,
        b'p' => EntityKind::Playlist,
        b'c' => EntityKind::Content,
        b's' => EntityKind::Schedule,
        b'a' => EntityKind::Alert,
        b'k' => return decided(text),
        other => EntityKind::ALL[usize::from(other) % EntityKind::ALL.len()],
    };
    let Ok(e) = Entity::from_json(kind, text) else { return };
    assert_eq!(e.kind(), kind, "a {kind:?} row decoded as {:?}", e.kind());

    // Org::from_store folds it in.
    let state = OrgState::from_entities([e.clone()]);
    assert_eq!(state.get(kind, e.id()).as_ref(), Some(&e), "OrgState lost the entity");
    assert_eq!(state.rev(kind, e.id()), Some(e.rev()));

    // Written back and read again.
    let v = serde_json::to_value(&e).unwrap_or_else(|err| panic!("{kind:?} from {text:?} does not serialise: {err}"));
    let back = Entity::from_value(kind, v.clone())
        .unwrap_or_else(|err| panic!("{kind:?} from {text:?} is stored as {v}, which does not load: {err}"));
    assert_eq!(back, e, "{kind:?} round trip via {v}");
    let s = serde_json::to_string(&e).unwrap_or_else(|err| panic!("{kind:?} does not serialise to text: {err}"));
    let again = Entity::from_json(kind, &s)
        .unwrap_or_else(|err| panic!("{kind:?} from {text:?} is stored as {s}, which does not load: {err}"));
    assert_eq!((again.kind(), again.id(), again.rev()), (e.kind(), e.id(), e.rev()));
}

fn decided(text: &str) {
    let Ok(ack) = serde_json::from_str::<MutationAck>(text) else { return };
    let v = serde_json::to_value(&ack).unwrap_or_else(|e| panic!("ack from {text:?} does not serialise: {e}"));
    let back: MutationAck =
        serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("ack from {text:?} is stored as {v}: {e}"));
    assert_eq!(back, ack, "ack round trip via {v}");
}
