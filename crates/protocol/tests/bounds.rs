//! PROTOCOL.md §8 Bounds, checked through the public types: health ranges
//! and finiteness, text lengths, ids, durations.

use vizora_protocol::bounds::*;
use vizora_protocol::device::Heartbeat;
use vizora_protocol::{ExecutionOutcome, Health, ScheduleExecuted};

fn health() -> Health {
    Health { cpu_pct: 10.0, mem_pct: 20.0, temp_c: 40.0, disk_free_pct: 50.0, uptime_s: 60.0 }
}

#[test]
fn a_health_value_that_overflows_f32_is_refused_naming_the_field() {
    // 1e39 does not fit an f32: it would become infinity, written as null.
    let err = serde_json::from_str::<Heartbeat>(
        r#"{"ts_ms": 1, "health": {"cpu_pct": 1e39, "mem_pct": 1, "temp_c": 1, "disk_free_pct": 1, "uptime_s": 1}}"#,
    )
    .expect_err("refused while decoding");
    assert!(err.to_string().contains("health.cpu_pct"), "{err}");
    // In range after decoding is a separate check.
    let hb: Heartbeat = serde_json::from_str(
        r#"{"ts_ms": 1, "health": {"cpu_pct": 1e30, "mem_pct": 1, "temp_c": 1, "disk_free_pct": 1, "uptime_s": 1}}"#,
    )
    .expect("finite");
    assert_eq!(hb.check().expect_err("out of range").field, "health.cpu_pct");
}

#[test]
fn every_health_field_has_its_range() {
    assert!(health().check().is_ok());
    for (field, h) in [
        ("health.cpu_pct", Health { cpu_pct: 100.5, ..health() }),
        ("health.mem_pct", Health { mem_pct: -1.0, ..health() }),
        ("health.temp_c", Health { temp_c: 200.5, ..health() }),
        ("health.temp_c", Health { temp_c: f32::NAN, ..health() }),
        ("health.disk_free_pct", Health { disk_free_pct: f32::NEG_INFINITY, ..health() }),
        ("health.uptime_s", Health { uptime_s: -0.5, ..health() }),
        ("health.uptime_s", Health { uptime_s: f64::INFINITY, ..health() }),
    ] {
        assert_eq!(h.check().expect_err(field).field, field);
    }
    let edge = Health { cpu_pct: 0.0, mem_pct: 100.0, temp_c: -100.0, disk_free_pct: 100.0, uptime_s: 0.0 };
    assert!(edge.check().is_ok());
}

#[test]
fn a_fractional_uptime_is_a_number_like_any_other() {
    // `process.uptime()` and `time.monotonic()` report fractions; §8 bounds
    // `uptime_s` only by ≥ 0.
    let hb: Heartbeat = serde_json::from_str(
        r#"{"ts_ms": 1, "health": {"cpu_pct": 1, "mem_pct": 1, "temp_c": 1, "disk_free_pct": 1, "uptime_s": 12.5}}"#,
    )
    .expect("fractional uptime");
    assert!(hb.check().is_ok());
    assert_eq!(hb.health.uptime_s, 12.5);
    let text = serde_json::to_string(&hb.health).expect("encode");
    assert!(text.ends_with(r#""uptime_s":12.5}"#), "{text}");
    // Whole values stay integers on the wire.
    let whole = serde_json::to_string(&health()).expect("encode");
    assert!(whole.ends_with(r#""uptime_s":60}"#), "{whole}");
}

#[test]
fn messages_this_side_writes_are_cut_to_256_characters() {
    assert_eq!(clip("short".into()), "short");
    let exact = "é".repeat(MAX_TEXT_CHARS);
    assert_eq!(clip(exact.clone()), exact);
    let cut = clip(format!("unknown event `{}`", "é".repeat(1 << 20)));
    assert_eq!(cut.chars().count(), MAX_TEXT_CHARS);
    assert!(cut.starts_with("unknown event `éé") && cut.ends_with("é…"), "{cut}");
    assert!(text("message", &cut).is_ok());
    // Rejections quote their input: the ack stays within the bound too.
    let ack = vizora_protocol::MutationAck::rejected(vizora_protocol::RejectCode::Invalid, "x".repeat(5000));
    let vizora_protocol::MutationAck::Rejected { message, .. } = ack else { panic!("rejected") };
    assert_eq!(message.chars().count(), MAX_TEXT_CHARS);
}

#[test]
fn texts_count_characters_not_bytes() {
    let ok = "é".repeat(MAX_TEXT_CHARS);
    assert!(text("error", &ok).is_ok());
    let long = "é".repeat(MAX_TEXT_CHARS + 1);
    assert_eq!(text("error", &long).expect_err("long").field, "error");
}

#[test]
fn schedule_executed_strings_are_bounded() {
    let ev = ScheduleExecuted {
        schedule_id: "s".into(),
        device_id: "d".into(),
        playlist_id: "p".repeat(MAX_ID_BYTES + 1),
        at_ms: 1,
        outcome: ExecutionOutcome::Ok,
        error: None,
    };
    assert_eq!(ev.check().expect_err("long id").field, "playlist_id");
    let ev = ScheduleExecuted { playlist_id: "p".into(), error: Some("x".repeat(100_000)), ..ev };
    assert_eq!(ev.check().expect_err("long error").field, "error");
}

#[test]
fn durations_are_fractional_positive_and_at_most_a_day() {
    assert!(duration("d", 7.5).is_ok());
    assert!(duration("d", MAX_DURATION_S).is_ok());
    for bad in [0.0, -1.0, MAX_DURATION_S + 0.001, f64::NAN, f64::INFINITY] {
        assert!(duration("d", bad).is_err(), "{bad}");
    }
}
