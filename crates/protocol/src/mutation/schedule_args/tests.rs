//! `schedule.create` and `schedule.update` arguments (PROTOCOL.md §6, §8):
//! required fields, defaults, targets, windows, and null meaning "clear".

use serde_json::{Value, json};

use crate::entity::ScheduleTarget;
use crate::mutation::tests::{field_of, mutate, s};
use crate::mutation::{ArgError, Mutation, MutationOp, ScheduleFields, SchedulePatch};

fn fields(a: Value) -> ScheduleFields {
    match MutationOp::parse("schedule.create", &a) {
        Ok(MutationOp::ScheduleCreate(f)) => f,
        other => panic!("{a}: {other:?}"),
    }
}

fn patch(a: Value) -> Result<SchedulePatch, ArgError> {
    MutationOp::parse("schedule.update", &a).map(|op| match op {
        MutationOp::ScheduleUpdate(p) => p,
        other => panic!("{other:?}"),
    })
}

fn minimal_schedule() -> Value {
    json!({ "name": "All day", "playlist_id": "pl-1", "target": { "device": "dev-1" }, "start_ms": 1000 })
}

#[test]
fn schedule_create_defaults() {
    let expected = ScheduleFields {
        name: s("All day"),
        playlist_id: s("pl-1"),
        target: ScheduleTarget::Device(s("dev-1")),
        start_ms: 1000,
        end_ms: None,
        days: None,
        daily_from: None,
        daily_to: None,
        priority: 0,
        enabled: true,
    };
    assert_eq!(fields(minimal_schedule()), expected);
    // Optional fields sent as null mean the same as left out.
    let mut with_nulls = minimal_schedule();
    for f in ["end_ms", "days", "daily_from", "daily_to", "priority", "enabled"] {
        with_nulls[f] = Value::Null;
    }
    assert_eq!(fields(with_nulls), expected);
}

#[test]
fn schedule_create_required_fields() {
    for f in ["name", "playlist_id", "target", "start_ms"] {
        let mut args = minimal_schedule();
        args.as_object_mut().unwrap().remove(f);
        assert_eq!(
            field_of(json!({ "mutation_id": "m", "client_id": "c", "kind": "schedule.create", "args": args })),
            f
        );
    }
}

#[test]
fn schedule_targets() {
    let with = |t: Value| {
        let mut a = minimal_schedule();
        a["target"] = t;
        MutationOp::parse("schedule.create", &a)
    };
    let tag = with(json!({ "tag": "lobby" })).unwrap();
    assert!(matches!(tag, MutationOp::ScheduleCreate(f) if f.target == ScheduleTarget::Tag(s("lobby"))));
    for bad in [json!({}), json!({ "device": "d", "tag": "t" }), json!({ "site": "x" }), json!("dev-1")] {
        assert_eq!(with(bad.clone()).unwrap_err().field, "target", "{bad}");
    }
    assert_eq!(with(json!({ "device": "" })).unwrap_err().field, "target.device");
    assert_eq!(with(json!({ "tag": 5 })).unwrap_err().field, "target.tag");
}

#[test]
fn schedule_days_windows_and_priority() {
    let with = |f: &str, v: Value| {
        let mut a = minimal_schedule();
        a[f] = v;
        MutationOp::parse("schedule.create", &a).map(|op| match op {
            MutationOp::ScheduleCreate(f) => f,
            other => panic!("{other:?}"),
        })
    };
    assert_eq!(with("days", json!([5, 1, 0])).unwrap().days, Some(vec![0, 1, 5]));
    assert_eq!(with("days", json!([5, 1, 5, 0])).unwrap_err().field, "days[2]");
    assert_eq!(with("days", json!([1, 7])).unwrap_err().field, "days[1]");
    assert_eq!(with("days", json!("mon")).unwrap_err().field, "days");
    assert_eq!(with("daily_from", json!("24:00")).unwrap().daily_from.as_deref(), Some("24:00"));
    for bad in ["25:00", "7:00", "07:60", "0700", "24:01"] {
        assert_eq!(with("daily_from", json!(bad)).unwrap_err().field, "daily_from", "{bad}");
        assert_eq!(with("daily_to", json!(bad)).unwrap_err().field, "daily_to", "{bad}");
    }
    // An end before the start is a schedule that never applies, not an error (§8 sets no order).
    assert_eq!(with("end_ms", json!(999)).unwrap().end_ms, Some(999));
    assert_eq!(with("end_ms", json!(1000)).unwrap().end_ms, Some(1000));
    assert_eq!(with("priority", json!(-7)).unwrap().priority, -7);
    assert_eq!(with("priority", json!(i64::from(i32::MAX) + 1)).unwrap_err().field, "priority");
    assert_eq!(with("enabled", json!(1)).unwrap_err().field, "enabled");
}

#[test]
fn schedule_update_needs_known_fields_and_at_least_one() {
    assert_eq!(patch(json!({})).unwrap_err().field, "args");
    assert_eq!(patch(Value::Null).unwrap_err().field, "args");
    assert_eq!(patch(json!({ "id": "sch-2" })).unwrap_err().field, "id");
    assert_eq!(patch(json!({ "priority": 1, "rev": 3 })).unwrap_err().field, "rev");
    assert_eq!(patch(json!({ "name": "" })).unwrap_err().field, "name");
    assert_eq!(patch(json!({ "target": { "tag": "" } })).unwrap_err().field, "target.tag");
}

#[test]
fn schedule_update_null_clears_a_nullable_field() {
    let p = patch(json!({ "end_ms": null, "days": [3, 1], "daily_to": "18:00" })).unwrap();
    let expected = SchedulePatch {
        end_ms: Some(None),
        days: Some(Some(vec![1, 3])),
        daily_to: Some(Some(s("18:00"))),
        ..SchedulePatch::default()
    };
    assert_eq!(p, expected);
    // Serialising keeps the explicit null: it means "clear", not "unchanged".
    let m =
        Mutation::decode(&mutate("schedule.update", json!({ "end_ms": null, "days": [3, 1], "daily_to": "18:00" })))
            .unwrap();
    assert_eq!(
        serde_json::to_value(&m).unwrap()["args"],
        json!({ "end_ms": null, "days": [1, 3], "daily_to": "18:00" })
    );
}

#[test]
fn schedule_update_of_every_field_round_trips_exactly() {
    let args = json!({ "name": "Evenings", "playlist_id": "pl-2", "target": { "tag": "bar" },
        "start_ms": 10, "end_ms": 20, "days": [0, 6], "daily_from": "18:00", "daily_to": "23:59",
        "priority": 3, "enabled": true });
    let m = Mutation::decode(&mutate("schedule.update", args.clone())).unwrap();
    assert_eq!(serde_json::to_value(&m).unwrap(), mutate("schedule.update", args));
}
