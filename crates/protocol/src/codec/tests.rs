//! Literal frames as the Engine.IO / Socket.IO protocol documents print them,
//! decoded to the expected packet and encoded back to the same text.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::auth::{AuthErrorCode, AuthPayload, ConnectErrorPayload};
use crate::mutation::MutationAck;

fn raw(json: &str) -> Box<RawValue> {
    RawValue::from_string(json.to_owned()).expect("test JSON is valid")
}

fn sio(ns: &str, body: SioBody) -> SioPacket {
    SioPacket { ns: ns.to_owned(), body }
}

fn event(ns: &str, ack: Option<u64>, name: &str, args: &[&str]) -> SioPacket {
    let args = args.iter().map(|a| raw(a)).collect();
    sio(ns, SioBody::Event { name: name.to_owned(), args, ack })
}

/// Decodes `literal`, checks it against `expected`, and checks that encoding
/// gives the literal back byte for byte.
#[track_caller]
fn assert_eio(literal: &str, expected: EioPacket<'_>) {
    assert_eq!(EioPacket::decode(literal), Ok(expected.clone()), "decoding {literal:?}");
    assert_eq!(expected.encode(), literal, "encoding {expected:?}");
}

#[track_caller]
fn assert_sio(literal: &str, expected: SioPacket) {
    assert_eq!(SioPacket::decode(literal), Ok(expected.clone()), "decoding {literal:?}");
    assert_eq!(expected.encode(), literal, "encoding {expected:?}");
}

// ---- Engine.IO ----------------------------------------------------------------

const OPEN: &str = r#"0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;

#[test]
fn eio_open_handshake_decodes_and_encodes_byte_for_byte() {
    let open = OpenPacket {
        sid: "lv_VI97HAXpY6yYWAAAC".into(),
        upgrades: vec!["websocket".into()],
        ping_interval: 25_000,
        ping_timeout: 20_000,
        max_payload: 1_000_000,
    };
    assert_eio(OPEN, EioPacket::Open(open));
}

#[test]
fn eio_open_without_optional_fields_takes_defaults() {
    let frame = r#"0{"sid":"abc","pingInterval":10000,"pingTimeout":5000}"#;
    let Ok(EioPacket::Open(open)) = EioPacket::decode(frame) else {
        panic!("not an open packet: {frame}");
    };
    assert_eq!(open.sid, "abc");
    assert!(open.upgrades.is_empty());
    assert_eq!((open.ping_interval, open.ping_timeout, open.max_payload), (10_000, 5_000, 1 << 20));
}

#[test]
fn eio_open_missing_ping_interval_is_a_payload_error() {
    let err = EioPacket::decode(r#"0{"sid":"abc","pingTimeout":5000}"#).unwrap_err();
    assert!(matches!(&err, DecodeError::Payload(m) if m.contains("pingInterval")), "{err:?}");
}

#[test]
fn eio_control_packets_decode_and_encode() {
    assert_eio("1", EioPacket::Close);
    assert_eio("2", EioPacket::Ping(""));
    assert_eio("3", EioPacket::Pong(""));
    assert_eio("2probe", EioPacket::Ping("probe"));
    assert_eio("3probe", EioPacket::Pong("probe"));
    assert_eio("5", EioPacket::Upgrade);
    assert_eio("6", EioPacket::Noop);
}

#[test]
fn eio_message_carries_the_socket_io_packet_verbatim() {
    assert_eio("4hello", EioPacket::Message("hello"));
    assert_eio(r#"42["hello",1]"#, EioPacket::Message(r#"2["hello",1]"#));
    let Ok(EioPacket::Message(inner)) = EioPacket::decode(r#"42/admin,456["project:delete",123]"#) else {
        panic!("not a message");
    };
    assert_eq!(SioPacket::decode(inner), Ok(event("/admin", Some(456), "project:delete", &["123"])));
}

#[test]
fn eio_message_keeps_non_ascii_text() {
    assert_eio("4é✓", EioPacket::Message("é✓"));
}

#[test]
fn eio_errors() {
    assert_eq!(EioPacket::decode(""), Err(DecodeError::Empty));
    assert_eq!(EioPacket::decode("7"), Err(DecodeError::UnknownType('7')));
    assert_eq!(EioPacket::decode("x2"), Err(DecodeError::UnknownType('x')));
    assert_eq!(EioPacket::decode("é"), Err(DecodeError::UnknownType('é')));
    assert!(matches!(EioPacket::decode("0{not json"), Err(DecodeError::Payload(_))));
    assert!(matches!(EioPacket::decode("0"), Err(DecodeError::Payload(_))));
}

// ---- Socket.IO: packets as the protocol document shows them -------------------

#[test]
fn sio_connect_to_main_namespace() {
    assert_sio("0", sio("/", SioBody::Connect(None)));
}

#[test]
fn sio_connect_to_custom_namespace() {
    assert_sio("0/admin,", sio("/admin", SioBody::Connect(None)));
}

#[test]
fn sio_connect_with_auth_payload() {
    assert_sio(r#"0{"token":"123"}"#, sio("/", SioBody::Connect(Some(raw(r#"{"token":"123"}"#)))));
    assert_sio(r#"0/admin,{"token":"123"}"#, sio("/admin", SioBody::Connect(Some(raw(r#"{"token":"123"}"#)))));
}

#[test]
fn sio_connect_auth_payload_reads_as_auth_payload() {
    let p = SioPacket::decode(r#"0/wall,{"token":"eyJ.x.y"}"#).unwrap();
    let SioBody::Connect(Some(payload)) = &p.body else { panic!("{p:?}") };
    let auth: AuthPayload = arg(payload).unwrap();
    assert_eq!(auth.token, "eyJ.x.y");
}

#[test]
fn sio_server_connect_reply_with_sid() {
    assert_sio(
        r#"0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}"#,
        sio("/admin", SioBody::Connect(Some(raw(r#"{"sid":"oSO0OpakMV_3jnilAAAA"}"#)))),
    );
}

#[test]
fn sio_disconnect() {
    assert_sio("1/admin,", sio("/admin", SioBody::Disconnect));
    assert_sio("1", sio("/", SioBody::Disconnect));
}

#[test]
fn sio_event() {
    assert_sio(r#"2["hello",1]"#, event("/", None, "hello", &["1"]));
}

#[test]
fn sio_event_with_namespace_and_ack_id() {
    assert_sio(r#"2/admin,456["project:delete",123]"#, event("/admin", Some(456), "project:delete", &["123"]));
}

#[test]
fn sio_event_with_ack_on_main_namespace_and_several_args() {
    assert_sio(
        r#"212["mutate",{"a":[1,2]},"x",null]"#,
        event("/", Some(12), "mutate", &[r#"{"a":[1,2]}"#, r#""x""#, "null"]),
    );
}

#[test]
fn sio_event_without_args() {
    assert_sio(r#"2/wall,["ping"]"#, event("/wall", None, "ping", &[]));
}

#[test]
fn sio_event_name_with_escapes_survives() {
    assert_sio(r#"2["a\"b\\c",1]"#, event("/", None, "a\"b\\c", &["1"]));
}

#[test]
fn sio_event_args_tolerate_whitespace_from_other_writers() {
    let p = SioPacket::decode(r#"2/wall,3[ "subscribe" , {"since": null} ]"#).unwrap();
    assert_eq!(p, event("/wall", Some(3), "subscribe", &[r#"{"since": null}"#]));
}

#[test]
fn sio_ack() {
    assert_sio("3/admin,456[]", sio("/admin", SioBody::Ack { id: 456, args: vec![] }));
    assert_sio(
        r#"37[{"status":"duplicate"}]"#,
        sio("/", SioBody::Ack { id: 7, args: vec![raw(r#"{"status":"duplicate"}"#)] }),
    );
}

#[test]
fn sio_connect_error() {
    assert_sio(
        r#"4{"message":"Not authorized"}"#,
        sio("/", SioBody::ConnectError(raw(r#"{"message":"Not authorized"}"#))),
    );
}

#[test]
fn sio_connect_error_of_our_protocol() {
    let literal = r#"4/wall,{"message":"unauthorized","data":{"code":"token_expired"}}"#;
    let payload = r#"{"message":"unauthorized","data":{"code":"token_expired"}}"#;
    assert_sio(literal, sio("/wall", SioBody::ConnectError(raw(payload))));
    let p = SioPacket::decode(literal).unwrap();
    let SioBody::ConnectError(payload) = &p.body else { panic!("{p:?}") };
    let payload: ConnectErrorPayload = arg(payload).unwrap();
    assert_eq!(payload, ConnectErrorPayload::unauthorized(AuthErrorCode::TokenExpired));
}

#[test]
fn sio_binary_packets_are_refused() {
    assert_eq!(SioPacket::decode(r#"51-["hello",{"_placeholder":true,"num":0}]"#), Err(DecodeError::Binary));
    assert_eq!(SioPacket::decode(r#"61-/admin,456[{"_placeholder":true,"num":0}]"#), Err(DecodeError::Binary));
}

// ---- Socket.IO: errors --------------------------------------------------------

#[track_caller]
fn assert_payload_err(frame: &str) {
    let r = SioPacket::decode(frame);
    assert!(matches!(r, Err(DecodeError::Payload(_))), "{frame:?} gave {r:?}");
}

#[test]
fn sio_empty_frame() {
    assert_eq!(SioPacket::decode(""), Err(DecodeError::Empty));
}

#[test]
fn sio_unknown_type_digit() {
    assert_eq!(SioPacket::decode("7"), Err(DecodeError::UnknownType('7')));
    assert_eq!(SioPacket::decode(r#"9["x"]"#), Err(DecodeError::UnknownType('9')));
    assert_eq!(SioPacket::decode("z"), Err(DecodeError::UnknownType('z')));
    assert_eq!(SioPacket::decode("ü0"), Err(DecodeError::UnknownType('ü')));
}

#[test]
fn sio_event_name_must_be_a_string() {
    assert_eq!(SioPacket::decode("2[1,2]"), Err(DecodeError::Payload("EVENT name must be a string".into())));
    assert_payload_err(r#"2[{"name":"x"}]"#);
    assert_payload_err("2[null]");
}

#[test]
fn sio_event_needs_a_non_empty_array() {
    assert_eq!(SioPacket::decode("2[]"), Err(DecodeError::Payload("EVENT needs a name".into())));
    assert_payload_err(r#"2{"hello":1}"#);
    assert_payload_err(r#"2"hello""#);
    assert_payload_err("2");
    assert_payload_err("2/wall,");
}

#[test]
fn sio_ack_without_id() {
    assert_eq!(SioPacket::decode("3[]"), Err(DecodeError::Header("ACK without id")));
    assert_eq!(SioPacket::decode("3/admin,[1]"), Err(DecodeError::Header("ACK without id")));
}

#[test]
fn sio_ack_args_must_be_an_array() {
    assert_payload_err(r#"35{"status":"applied"}"#);
    assert_payload_err("35");
}

#[test]
fn sio_ack_id_on_packets_that_take_none() {
    let e = Err(DecodeError::Header("ack id on a packet that takes none"));
    assert_eq!(SioPacket::decode(r#"0/admin,12{"token":"x"}"#), e);
    assert_eq!(SioPacket::decode("1/admin,12"), e);
    // A CONNECT_ERROR whose payload starts with a digit reads as an ack id.
    assert!(SioPacket::decode("412").is_err());
}

#[test]
fn sio_ack_id_too_large() {
    assert_eq!(SioPacket::decode(r#"218446744073709551616["x"]"#), Err(DecodeError::Header("ack id too large")));
    assert_eq!(SioPacket::decode(r#"218446744073709551615["x"]"#), Ok(event("/", Some(u64::MAX), "x", &[])));
}

#[test]
fn sio_connect_payload_must_be_an_object() {
    assert_eq!(SioPacket::decode("0[1]"), Err(DecodeError::Payload("CONNECT payload must be an object".into())));
    assert_payload_err(r#"0/wall,"token""#);
}

#[test]
fn sio_junk_json() {
    assert_payload_err(r#"2["hello",1"#);
    assert_payload_err(r#"2["hello",1]]"#);
    assert_payload_err(r#"2["hello",tru]"#);
    assert_payload_err(r#"0{"token":"#);
    assert_payload_err("4{message}");
    assert_payload_err("4");
    assert_payload_err(r#"3/admin,456[,]"#);
}

// ---- helper encoders ---------------------------------------------------------

#[test]
fn encode_event_literals() {
    assert_eq!(encode_event("/", None, "hello", &1), r#"2["hello",1]"#);
    assert_eq!(encode_event("/admin", Some(456), "project:delete", &123), r#"2/admin,456["project:delete",123]"#);
    assert_eq!(
        encode_event("/wall", Some(1), "subscribe", &json!({ "since": null })),
        r#"2/wall,1["subscribe",{"since":null}]"#
    );
    assert_eq!(encode_event("", None, "x", "y"), r#"2["x","y"]"#);
    assert_eq!(encode_event("/", None, "a\"b", &()), r#"2["a\"b",null]"#);
}

#[test]
fn encode_event_raw_literals() {
    assert_eq!(
        encode_event_raw("/wall", "events", r#"{"epoch":"e1","items":[]}"#),
        r#"2/wall,["events",{"epoch":"e1","items":[]}]"#
    );
    assert_eq!(encode_event_raw("/", "hello", "1"), r#"2["hello",1]"#);
}

#[test]
fn encode_ack_literals() {
    let applied = MutationAck::Applied { seq: 5, rev: 2 };
    assert_eq!(encode_ack("/wall", 7, &applied), r#"3/wall,7[{"status":"applied","seq":5,"rev":2}]"#);
    assert_eq!(encode_ack("/", 0, &json!(null)), "30[null]");
    assert_eq!(encode_ack("/admin", 456, &json!([])), "3/admin,456[[]]");
}

#[test]
fn encode_connect_literals() {
    assert_eq!(encode_connect::<Value>("/", None), "0");
    assert_eq!(encode_connect::<Value>("/admin", None), "0/admin,");
    let auth = AuthPayload { token: "123".into() };
    assert_eq!(encode_connect("/", Some(&auth)), r#"0{"token":"123"}"#);
    assert_eq!(encode_connect("/admin", Some(&auth)), r#"0/admin,{"token":"123"}"#);
    assert_eq!(
        encode_connect("/admin", Some(&json!({ "sid": "oSO0OpakMV_3jnilAAAA" }))),
        r#"0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}"#
    );
}

#[test]
fn encode_connect_error_literals() {
    assert_eq!(encode_connect_error("/", &json!({ "message": "Not authorized" })), r#"4{"message":"Not authorized"}"#);
    assert_eq!(
        encode_connect_error("/wall", &ConnectErrorPayload::unauthorized(AuthErrorCode::TokenExpired)),
        r#"4/wall,{"message":"unauthorized","data":{"code":"token_expired"}}"#
    );
    assert_eq!(
        encode_connect_error("/device", &ConnectErrorPayload::unauthorized(AuthErrorCode::WrongNamespace)),
        r#"4/device,{"message":"unauthorized","data":{"code":"wrong_namespace"}}"#
    );
}

#[test]
fn encode_disconnect_literals() {
    assert_eq!(encode_disconnect("/admin"), "1/admin,");
    assert_eq!(encode_disconnect("/"), "1");
}

#[test]
fn helper_output_decodes_to_the_same_packet() {
    let cases = [
        (
            encode_event("/wall", Some(9), "mutate", &json!({ "k": 1 })),
            event("/wall", Some(9), "mutate", &[r#"{"k":1}"#]),
        ),
        (encode_event_raw("/wall", "metrics", r#"{"ts_ms":1}"#), event("/wall", None, "metrics", &[r#"{"ts_ms":1}"#])),
        (
            encode_ack("/wall", 9, &json!({ "mode": "replay" })),
            sio("/wall", SioBody::Ack { id: 9, args: vec![raw(r#"{"mode":"replay"}"#)] }),
        ),
        (
            encode_connect("/device", Some(&json!({ "token": "t" }))),
            sio("/device", SioBody::Connect(Some(raw(r#"{"token":"t"}"#)))),
        ),
        (
            encode_connect_error("/wall", &json!({ "message": "m" })),
            sio("/wall", SioBody::ConnectError(raw(r#"{"message":"m"}"#))),
        ),
        (encode_disconnect("/wall"), sio("/wall", SioBody::Disconnect)),
    ];
    for (text, expected) in cases {
        assert_eq!(SioPacket::decode(&text), Ok(expected), "{text}");
    }
}

#[test]
fn arg_decodes_a_typed_argument() {
    let p = SioPacket::decode(r#"2/wall,4["subscribe",{"since":{"epoch":"e","seq":3}}]"#).unwrap();
    let SioBody::Event { args, .. } = &p.body else { panic!("{p:?}") };
    let sub: crate::stream::Subscribe = arg(&args[0]).unwrap();
    assert_eq!(sub.since.map(|p| p.seq), Some(3));
    assert!(arg::<crate::stream::SubscribeAck>(&args[0]).is_err());
}

// ---- properties --------------------------------------------------------------

/// Frames glued from pieces that real packets are made of, so that random
/// input reaches the namespace, ack id and JSON stages.
fn packetish() -> impl Strategy<Value = String> {
    let pieces = vec![
        "0",
        "1",
        "2",
        "3",
        "4",
        "5",
        "6",
        "/",
        "/admin",
        ",",
        "456",
        "18446744073709551616",
        "[",
        "]",
        "{",
        "}",
        "\"",
        "\"hello\"",
        ":",
        "null",
        "-",
        "é",
        "\\",
    ];
    prop::collection::vec(prop::sample::select(pieces), 0..16).prop_map(|v| v.concat())
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        "\\PC{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn json_object() -> impl Strategy<Value = Value> {
    prop::collection::btree_map("\\PC{0,6}", json_value(), 0..4).prop_map(|m| Value::Object(m.into_iter().collect()))
}

fn to_raw(v: &Value) -> Box<RawValue> {
    raw(&serde_json::to_string(v).expect("a Value always serialises"))
}

fn sio_packet() -> impl Strategy<Value = SioPacket> {
    let ns = prop_oneof![Just("/".to_owned()), "/[a-z0-9_-]{1,8}", "/[^,]{1,6}"];
    let args = || prop::collection::vec(json_value(), 0..4);
    let body = prop_oneof![
        prop::option::of(json_object()).prop_map(|p| SioBody::Connect(p.as_ref().map(to_raw))),
        Just(SioBody::Disconnect),
        ("\\PC{0,12}", args(), prop::option::of(any::<u64>()))
            .prop_map(|(name, args, ack)| { SioBody::Event { name, args: args.iter().map(to_raw).collect(), ack } }),
        (any::<u64>(), args()).prop_map(|(id, args)| SioBody::Ack { id, args: args.iter().map(to_raw).collect() }),
        // CONNECT_ERROR payloads are objects (Socket.IO 5; PROTOCOL.md §2).
        json_object().prop_map(|p| SioBody::ConnectError(to_raw(&p))),
    ];
    (ns, body).prop_map(|(ns, body)| SioPacket { ns, body })
}

proptest! {
    #[test]
    fn eio_decode_never_panics(s in any::<String>()) {
        let _ = EioPacket::decode(&s);
    }

    #[test]
    fn eio_decode_never_panics_on_packetish_text(s in r#"[0-6\[\]{}",/:abc]{0,40}"#) {
        let _ = EioPacket::decode(&s);
    }

    #[test]
    fn sio_decode_never_panics(s in any::<String>()) {
        let _ = SioPacket::decode(&s);
    }

    #[test]
    fn sio_decode_never_panics_on_packetish_text(s in r#"[0-6\[\]{}",/:abc]{0,40}"#) {
        let _ = SioPacket::decode(&s);
    }

    #[test]
    fn sio_decode_never_panics_on_packet_pieces(s in packetish()) {
        if let Ok(p) = SioPacket::decode(&s) {
            // Whatever decodes must encode to something that decodes the same.
            prop_assert_eq!(SioPacket::decode(&p.encode()), Ok(p));
        }
    }

    #[test]
    fn eio_text_packets_round_trip(data in any::<String>(), t in 0u8..3) {
        let p = match t {
            0 => EioPacket::Ping(&data),
            1 => EioPacket::Pong(&data),
            _ => EioPacket::Message(&data),
        };
        let text = p.encode();
        prop_assert_eq!(EioPacket::decode(&text), Ok(p));
    }

    #[test]
    fn sio_packets_round_trip(p in sio_packet()) {
        let text = p.encode();
        prop_assert_eq!(SioPacket::decode(&text), Ok(p.clone()), "text {}", text);
        // And inside an Engine.IO message, as they travel.
        let frame = EioPacket::Message(&text).encode();
        prop_assert_eq!(EioPacket::decode(&frame), Ok(EioPacket::Message(&text)));
    }
}
