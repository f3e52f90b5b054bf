//! Target `codec`: the Engine.IO / Socket.IO text codec
//! (`vizora_protocol::codec`) on arbitrary text.
//!
//! Every input is tried both as an Engine.IO frame and as a bare Socket.IO
//! packet (what rides in an Engine.IO MESSAGE). Invariants:
//! - decoding never panics (the module promises it);
//! - what decodes re-encodes to text that decodes to an equal packet, and
//!   encoding that is a fixed point (`encode(decode(encode(p))) == encode(p)`);
//! - PING / PONG / MESSAGE frames re-encode to exactly the input;
//! - the one-argument encoders (`encode_event_raw`, `encode_ack`, ...) that
//!   client and gateway send with produce packets that decode to what they
//!   were given.

use vizora_protocol::codec::{
    EioPacket, SioBody, SioPacket, encode_ack, encode_connect, encode_connect_error, encode_disconnect,
    encode_event_raw,
};

/// One fuzz input.
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    eio(text);
    sio(text);
}

fn eio(text: &str) {
    let Ok(p) = EioPacket::decode(text) else { return };
    let enc = p.encode();
    let again =
        EioPacket::decode(&enc).unwrap_or_else(|e| panic!("EIO {text:?} decoded, its encoding {enc:?} does not: {e}"));
    assert_eq!(again, p, "EIO round trip of {text:?} via {enc:?}");
    if matches!(p, EioPacket::Ping(_) | EioPacket::Pong(_) | EioPacket::Message(_)) {
        assert_eq!(enc, text, "EIO data frame is not re-encoded verbatim");
    }
    if let EioPacket::Message(m) = p {
        sio(m);
    }
}

fn sio(text: &str) {
    let Ok(p) = SioPacket::decode(text) else { return };
    let enc = p.encode();
    let again =
        SioPacket::decode(&enc).unwrap_or_else(|e| panic!("SIO {text:?} decoded, its encoding {enc:?} does not: {e}"));
    assert_eq!(again, p, "SIO round trip of {text:?} via {enc:?}");
    assert_eq!(again.encode(), enc, "SIO encoding of {text:?} is not a fixed point");
    encoders(&p);
}

/// The helpers the client and gateway actually send with, fed with what the
/// packet carries: each must produce a packet that decodes back to it.
fn encoders(p: &SioPacket) {
    let ns = p.ns.as_str();
    match &p.body {
        SioBody::Event { name, args, ack: None } if args.len() == 1 => {
            let arg = args[0].get();
            check("encode_event_raw", ns, encode_event_raw(ns, name, arg), |g| {
                matches!(&g.body, SioBody::Event { name: n, args: a, ack: None }
                    if n == name && a.len() == 1 && a[0].get() == arg)
            });
        }
        SioBody::Ack { id, args } if args.len() == 1 => {
            // encode_ack serialises a value; a RawValue serialises as its text.
            let arg = args[0].get();
            check(
                "encode_ack",
                ns,
                encode_ack(ns, *id, &args[0]),
                |g| matches!(&g.body, SioBody::Ack { id: i, args: a } if i == id && a.len() == 1 && a[0].get() == arg),
            );
        }
        SioBody::Connect(payload) => {
            let want = payload.as_ref().map(|r| r.get().to_owned());
            check(
                "encode_connect",
                ns,
                encode_connect(ns, payload.as_ref()),
                |g| matches!(&g.body, SioBody::Connect(r) if r.as_ref().map(|r| r.get().to_owned()) == want),
            );
        }
        SioBody::ConnectError(raw) => {
            let want = raw.get();
            check(
                "encode_connect_error",
                ns,
                encode_connect_error(ns, raw),
                |g| matches!(&g.body, SioBody::ConnectError(r) if r.get() == want),
            );
        }
        SioBody::Disconnect => {
            check("encode_disconnect", ns, encode_disconnect(ns), |g| matches!(g.body, SioBody::Disconnect));
        }
        _ => {}
    }
}

fn check(what: &str, ns: &str, enc: String, want: impl Fn(&SioPacket) -> bool) {
    let got = SioPacket::decode(&enc).unwrap_or_else(|e| panic!("{what} made {enc:?}, which does not decode: {e}"));
    assert_eq!(got.ns, normal_ns(ns), "{what} made {enc:?}: namespace changed");
    assert!(want(&got), "{what} made {enc:?}, which decodes to {got:?}");
}

/// The encoders leave out `/` (and an empty namespace); decoding fills in `/`.
fn normal_ns(ns: &str) -> &str {
    if ns.is_empty() { "/" } else { ns }
}
