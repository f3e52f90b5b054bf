//! The lossy streams and `error` (PROTOCOL.md §4), the subscribe handshake
//! (§5), JWT claims and CONNECT_ERROR (§2), and the `/device` messages (§7)
//! as literal JSON: each decodes to the expected value, and the expected value
//! serialises back to the literal.

mod support;

use serde_json::json;
use support::{assert_wire, assert_wire_exact, ours, parse, s};
use vizora_protocol::auth::AuthPayload;
use vizora_protocol::device::{Command, CommandAck, CommandKind, Heartbeat, Playback};
use vizora_protocol::{
    AuthErrorCode, Claims, ConnectErrorData, ConnectErrorPayload, ErrorCode, ErrorMsg, Health, Metrics, Playing,
    Position, Role, Subscribe, SubscribeAck, SubscribeMode, Telemetry, TelemetryDevice, TopContent,
};

const HEALTH: &str = r#"{"cpu_pct":97.5,"mem_pct":40.1,"temp_c":81.3,"disk_free_pct":4.5,"uptime_s":3600}"#;

fn health() -> Health {
    Health { cpu_pct: 97.5, mem_pct: 40.1, temp_c: 81.3, disk_free_pct: 4.5, uptime_s: 3600.0 }
}

fn playing() -> Playing {
    Playing { playlist_id: s("pl-7"), content_id: s("c-2"), since_ms: 1_764_230_395_000 }
}

const PLAYING: &str = r#"{"playlist_id":"pl-7","content_id":"c-2","since_ms":1764230395000}"#;

// ---- lossy streams and error ---------------------------------------------------

#[test]
fn telemetry_round_trips() {
    let literal = format!(
        r#"{{"ts_ms":1764230400123,"devices":[{{"id":"dev-1","health":{HEALTH},"playing":{PLAYING}}},
            {{"id":"dev-2","health":{HEALTH}}},{{"id":"dev-3","health":{HEALTH},"playing":null}}]}}"#
    );
    let expected = Telemetry {
        ts_ms: 1_764_230_400_123,
        devices: vec![
            TelemetryDevice { id: s("dev-1"), health: health(), playing: Some(playing()) },
            TelemetryDevice { id: s("dev-2"), health: health(), playing: None },
            TelemetryDevice { id: s("dev-3"), health: health(), playing: None },
        ],
    };
    assert_wire(&literal, &expected);
    assert_wire(r#"{"ts_ms":5,"devices":[]}"#, &Telemetry { ts_ms: 5, devices: vec![] });
}

#[test]
fn metrics_round_trip() {
    let literal = r#"{"ts_ms":1764230400000,"window_s":60,"online":41,"degraded":2,"offline":3,"plays":1200,
        "errors":7,"impressions":1207,"top_content":[{"content_id":"c-2","plays":300},{"content_id":"c-1","plays":250}]}"#;
    let expected = Metrics {
        ts_ms: 1_764_230_400_000,
        window_s: 60,
        online: 41,
        degraded: 2,
        offline: 3,
        plays: 1200,
        errors: 7,
        impressions: 1207,
        top_content: vec![
            TopContent { content_id: s("c-2"), plays: 300 },
            TopContent { content_id: s("c-1"), plays: 250 },
        ],
    };
    assert_wire(literal, &expected);
    let missing = literal.replace(r#""impressions":1207,"#, "");
    assert!(serde_json::from_str::<Metrics>(&missing).is_err());
}

#[test]
fn error_message_with_each_code() {
    for (code, name) in [
        (ErrorCode::RateLimited, "rate_limited"),
        (ErrorCode::BadRequest, "bad_request"),
        (ErrorCode::PayloadTooLarge, "payload_too_large"),
        (ErrorCode::TokenExpired, "token_expired"),
    ] {
        let literal = format!(r#"{{"code":"{name}","message":"what went wrong"}}"#);
        assert_wire_exact(&literal, &ErrorMsg { code, message: s("what went wrong") });
        assert_eq!(code.as_str(), name);
    }
    assert!(serde_json::from_str::<ErrorMsg>(r#"{"code":"teapot","message":"m"}"#).is_err());
}

#[test]
fn token_expiry_error_of_section_2_decodes_without_a_message() {
    let e: ErrorMsg = serde_json::from_str(r#"{"code": "token_expired"}"#).unwrap();
    assert_eq!(e, ErrorMsg { code: ErrorCode::TokenExpired, message: String::new() });
}

// ---- subscribe -------------------------------------------------------------------

#[test]
fn subscribe_from_scratch_sends_since_null() {
    // `since` is not optional on the wire: a fresh start says null explicitly.
    assert_wire_exact(r#"{"since":null}"#, &Subscribe { since: None });
    assert_eq!(serde_json::from_str::<Subscribe>("{}").unwrap(), Subscribe { since: None });
}

#[test]
fn subscribe_from_a_position() {
    let expected = Subscribe { since: Some(Position { epoch: s("ep-1"), seq: 1042 }) };
    assert_wire_exact(r#"{"since":{"epoch":"ep-1","seq":1042}}"#, &expected);
    assert!(serde_json::from_str::<Subscribe>(r#"{"since":{"epoch":"ep-1"}}"#).is_err());
    assert!(serde_json::from_str::<Subscribe>(r#"{"since":{"epoch":"ep-1","seq":-1}}"#).is_err());
    assert!(serde_json::from_str::<Subscribe>(r#"{"since":42}"#).is_err());
}

#[test]
fn subscribe_ack_in_both_modes() {
    assert_wire_exact(
        r#"{"mode":"replay","epoch":"ep-1","head_seq":1050}"#,
        &SubscribeAck { mode: SubscribeMode::Replay, epoch: s("ep-1"), head_seq: 1050 },
    );
    assert_wire_exact(
        r#"{"mode":"snapshot","epoch":"ep-2","head_seq":0}"#,
        &SubscribeAck { mode: SubscribeMode::Snapshot, epoch: s("ep-2"), head_seq: 0 },
    );
    assert!(serde_json::from_str::<SubscribeAck>(r#"{"mode":"resume","epoch":"e","head_seq":1}"#).is_err());
}

// ---- authentication ------------------------------------------------------------

#[test]
fn claims_for_each_role() {
    for (role, name, may_mutate) in [
        (Role::Viewer, "viewer", false),
        (Role::Operator, "operator", true),
        (Role::Admin, "admin", true),
        (Role::Device, "device", false),
    ] {
        let literal = format!(r#"{{"sub":"u-1","org":"org-1","role":"{name}","exp":1764234000}}"#);
        let expected = Claims { sub: s("u-1"), org: s("org-1"), role, exp: 1_764_234_000, iat: None };
        assert_wire_exact(&literal, &expected);
        assert_eq!(role.may_mutate(), may_mutate, "{name}");
    }
}

#[test]
fn claims_read_iat_ignore_other_registered_extras_and_need_exp() {
    let with_extras =
        r#"{"sub":"dev-1","org":"org-1","role":"device","exp":1764234000,"iat":1764230400,"iss":"vizora"}"#;
    let c: Claims = serde_json::from_str(with_extras).unwrap();
    assert_eq!(
        c,
        Claims { sub: s("dev-1"), org: s("org-1"), role: Role::Device, exp: 1_764_234_000, iat: Some(1_764_230_400.0) }
    );
    assert!(serde_json::from_str::<Claims>(r#"{"sub":"u","org":"o","role":"viewer"}"#).is_err());
    assert!(serde_json::from_str::<Claims>(r#"{"sub":"u","org":"o","role":"root","exp":1}"#).is_err());
}

#[test]
fn connect_error_payload_with_each_code() {
    for (code, name) in [
        (AuthErrorCode::TokenMissing, "token_missing"),
        (AuthErrorCode::TokenInvalid, "token_invalid"),
        (AuthErrorCode::TokenExpired, "token_expired"),
        (AuthErrorCode::WrongNamespace, "wrong_namespace"),
    ] {
        let literal = format!(r#"{{"message":"unauthorized","data":{{"code":"{name}"}}}}"#);
        let expected = ConnectErrorPayload { message: s("unauthorized"), data: ConnectErrorData { code } };
        assert_wire_exact(&literal, &expected);
        assert_eq!(ConnectErrorPayload::unauthorized(code), expected);
        assert_eq!(code.as_str(), name);
    }
}

#[test]
fn connect_auth_payload() {
    assert_wire_exact(
        r#"{"token":"eyJhbGciOiJIUzI1NiJ9.e30.x"}"#,
        &AuthPayload { token: s("eyJhbGciOiJIUzI1NiJ9.e30.x") },
    );
    assert!(serde_json::from_str::<AuthPayload>("{}").is_err());
}

// ---- /device ---------------------------------------------------------------------

#[test]
fn heartbeat_with_and_without_playing() {
    let literal = format!(r#"{{"ts_ms":1764230400123,"health":{HEALTH},"playing":{PLAYING}}}"#);
    assert_wire(&literal, &Heartbeat { ts_ms: 1_764_230_400_123, health: health(), playing: Some(playing()) });
    let bare = Heartbeat { ts_ms: 1_764_230_400_123, health: health(), playing: None };
    assert_wire(&format!(r#"{{"ts_ms":1764230400123,"health":{HEALTH}}}"#), &bare);
    assert_wire(&format!(r#"{{"ts_ms":1764230400123,"health":{HEALTH},"playing":null}}"#), &bare);
    assert!(serde_json::from_str::<Heartbeat>(r#"{"ts_ms":1}"#).is_err());
}

#[test]
fn health_compares_as_the_decimals_sent() {
    let h: Health = serde_json::from_str(HEALTH).unwrap();
    assert_eq!(ours(&h), parse(HEALTH));
    assert!(h.temp_c > 80.0 && h.disk_free_pct < 5.0 && h.cpu_pct > 95.0);
}

#[test]
fn playback_ok_and_failed() {
    let ok = Playback { content_id: s("c-2"), started_ms: 1_764_230_395_000, duration_s: 15.0, ok: true, error: None };
    assert_wire(r#"{"content_id":"c-2","started_ms":1764230395000,"duration_s":15,"ok":true}"#, &ok);
    assert_wire(r#"{"content_id":"c-2","started_ms":1764230395000,"duration_s":15,"ok":true,"error":null}"#, &ok);
    let failed = Playback { ok: false, duration_s: 0.0, error: Some(s("decode error")), ..ok };
    assert_wire(
        r#"{"content_id":"c-2","started_ms":1764230395000,"duration_s":0,"ok":false,"error":"decode error"}"#,
        &failed,
    );
}

#[test]
fn commands_of_each_kind() {
    assert_wire_exact(
        r#"{"command_id":"cmd-1","kind":"restart","args":{}}"#,
        &Command { command_id: s("cmd-1"), kind: CommandKind::Restart, args: json!({}) },
    );
    assert_wire_exact(
        r#"{"command_id":"cmd-2","kind":"assign_playlist","args":{"playlist_id":"pl-7"}}"#,
        &Command { command_id: s("cmd-2"), kind: CommandKind::AssignPlaylist, args: json!({ "playlist_id": "pl-7" }) },
    );
    assert!(serde_json::from_str::<Command>(r#"{"command_id":"c","kind":"reboot","args":{}}"#).is_err());
}

#[test]
fn command_acks() {
    assert_wire(r#"{"ok":true}"#, &CommandAck { ok: true, error: None });
    assert_wire(r#"{"ok":true,"error":null}"#, &CommandAck { ok: true, error: None });
    assert_wire(r#"{"ok":false,"error":"busy"}"#, &CommandAck { ok: false, error: Some(s("busy")) });
}
