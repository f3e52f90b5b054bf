//! Target `server_packets`: what the client does with a text frame from the
//! server (crates/client/src/transport.rs `recv`, crates/client/src/run.rs
//! `stream`, outbox `on_ack`, the CONNECT_ERROR in `connect`).
//!
//! Input: if the first byte is `a`..=`h`, the rest is the JSON argument of one
//! message type (fast path to the typed decoders):
//! `a` snapshot, `b` events, `c` telemetry, `d` metrics, `e` error,
//! `f` subscribe ack, `g` mutate ack, `h` CONNECT_ERROR payload.
//! Otherwise the whole input is one Engine.IO frame, unwrapped and dispatched
//! by event name exactly as the client does (first argument, or `null`).
//!
//! Invariants, for whatever decodes:
//! - nothing panics;
//! - the value serialises, and that decodes to an equal value (exactly,
//!   through `serde_json::Value`); its JSON *text* decodes too (what the
//!   client caches must load again: a value that decodes but cannot be
//!   written back, e.g. a float that overflowed to infinity and serialises
//!   as `null`, is a crash here);
//! - every item of a snapshot page has the page's kind.

use std::fmt::Debug;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use vizora_protocol::codec::{EioPacket, SioBody, SioPacket};
use vizora_protocol::{
    ConnectErrorPayload, ErrorMsg, Events, Metrics, MutationAck, SnapshotPage, SubscribeAck, Telemetry,
};

/// One fuzz input.
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match text.as_bytes().first().copied() {
        Some(sel @ b'a'..=b'h') => typed(sel, &text[1..]),
        Some(_) => frame(text),
        None => {}
    }
}

fn typed(sel: u8, arg: &str) {
    match sel {
        b'a' => event("snapshot", arg),
        b'b' => event("events", arg),
        b'c' => event("telemetry", arg),
        b'd' => event("metrics", arg),
        b'e' => event("error", arg),
        b'f' => {
            roundtrip::<SubscribeAck>("subscribe ack", arg);
        }
        b'g' => {
            roundtrip::<MutationAck>("mutate ack", arg);
        }
        _ => {
            roundtrip::<ConnectErrorPayload>("CONNECT_ERROR", arg);
        }
    }
}

/// transport.rs: pings are answered, other non-messages skipped, then the
/// Socket.IO packet is unwrapped (the namespace filter is not modelled).
fn frame(text: &str) {
    if text.starts_with('2') {
        return; // a ping: echoed as `3<rest>`, nothing decoded
    }
    let Ok(EioPacket::Message(msg)) = EioPacket::decode(text) else { return };
    let Ok(p) = SioPacket::decode(msg) else { return };
    match p.body {
        SioBody::Event { name, args, .. } => event(&name, &first(&args)),
        SioBody::Ack { args, .. } => {
            // run.rs: the subscribe ack; outbox.rs: every other ack.
            let arg = first(&args);
            roundtrip::<SubscribeAck>("subscribe ack", &arg);
            roundtrip::<MutationAck>("mutate ack", &arg);
        }
        SioBody::ConnectError(raw) => {
            roundtrip::<ConnectErrorPayload>("CONNECT_ERROR", raw.get());
        }
        _ => {}
    }
}

fn first(args: &[Box<RawValue>]) -> String {
    args.first().map(|a| a.get().to_owned()).unwrap_or_else(|| "null".into())
}

/// run.rs `stream`: dispatch by event name.
fn event(name: &str, arg: &str) {
    match name {
        "snapshot" => {
            if let Some(page) = roundtrip::<SnapshotPage>("snapshot", arg) {
                for e in &page.items {
                    assert_eq!(e.kind(), page.kind, "a {:?} page holds a {:?}", page.kind, e.kind());
                }
            }
        }
        "events" => {
            roundtrip::<Events>("events", arg);
        }
        "telemetry" => {
            roundtrip::<Telemetry>("telemetry", arg);
        }
        "metrics" => {
            roundtrip::<Metrics>("metrics", arg);
        }
        "error" => {
            roundtrip::<ErrorMsg>("error", arg);
        }
        _ => {}
    }
}

fn roundtrip<T: Serialize + DeserializeOwned + PartialEq + Debug>(what: &str, text: &str) -> Option<T> {
    let t: T = serde_json::from_str(text).ok()?;
    let v = serde_json::to_value(&t).unwrap_or_else(|e| panic!("{what} from {text:?} does not serialise: {e}"));
    let back: T = serde_json::from_value(v.clone())
        .unwrap_or_else(|e| panic!("{what} from {text:?} re-encodes as {v}, which does not decode: {e}"));
    assert_eq!(back, t, "{what} round trip via {v}");
    let s = serde_json::to_string(&t).unwrap_or_else(|e| panic!("{what} does not serialise to text: {e}"));
    if let Err(e) = serde_json::from_str::<T>(&s) {
        panic!("{what} from {text:?} re-encodes as text {s}, which does not decode: {e}");
    }
    Some(t)
}
