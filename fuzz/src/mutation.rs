//! Target `mutation`: a `mutate` payload as the gateway receives it (JSON
//! text), through `Mutation::decode` and then `apply` against a small fixed
//! org state, with every role.
//!
//! Invariants:
//! - decode never panics; an error names a field;
//! - a decoded mutation re-serialises (`Serialize for Mutation`, what the
//!   client sends) to a value that decodes to the same mutation, and
//!   `MutationOp::parse(kind_name, args_json)` gives the same op back;
//!   through JSON *text* it still decodes, to the same kind, target and ids
//!   (floats are compared through `Value`, see the note in `stored_row`);
//! - `base_rev` is present exactly when the kind checks it, `target` whenever
//!   the kind is not a create;
//! - `apply` is deterministic; a viewer is always refused `forbidden`, an
//!   operator exactly like an admin except `forbidden` for admin-only kinds;
//! - an applied change is consistent: right kind and id, rev + 1 (1 for a
//!   create, unchanged only for `device.restart`), the org unchanged, and
//!   folding its event into the state leaves the entity there at that rev
//!   (or removes it); applying the same mutation again conflicts;
//! - a rejection's ack round-trips, and `conflict` carries the entity.

use std::sync::OnceLock;

use serde_json::Value;
use vizora_protocol::mutation::MUTATION_KINDS;
use vizora_protocol::{
    ApplyCtx, Entity, EntityKind, Event, Mutation, MutationAck, MutationOp, OrgState, RejectCode, Role, apply, lookups,
};

/// The org the fuzzer acts in. Ids are short so the dictionary and the
/// mutator find them: d1, p1, c1, c2, s1, a1 (open), a2 (resolved); p9 is in
/// another org and must behave as if absent.
const STATE: [(EntityKind, &str); 8] = [
    (
        EntityKind::Device,
        r#"{"id":"d1","org":"o1","rev":3,"name":"Lobby","tags":["t1"],"playlist_id":"p1","status":"online","last_seen_ms":1}"#,
    ),
    (
        EntityKind::Playlist,
        r#"{"id":"p1","org":"o1","rev":2,"name":"Main","items":[{"content_id":"c1","duration_s":5},{"content_id":"c2","duration_s":2.5}]}"#,
    ),
    (EntityKind::Playlist, r#"{"id":"p9","org":"o2","rev":1,"name":"Theirs","items":[]}"#),
    (
        EntityKind::Content,
        r#"{"id":"c1","org":"o1","rev":1,"name":"Img","kind":"image","uri":"https://x/1.png","duration_s":5,"size_bytes":10}"#,
    ),
    (
        EntityKind::Content,
        r#"{"id":"c2","org":"o1","rev":4,"name":"Vid","kind":"video","uri":"https://x/2.mp4","duration_s":2.5,"size_bytes":99}"#,
    ),
    (
        EntityKind::Schedule,
        r#"{"id":"s1","org":"o1","rev":1,"name":"Days","playlist_id":"p1","target":{"tag":"t1"},"start_ms":1000,"end_ms":5000,"days":[1,2],"daily_from":"08:00","daily_to":"18:00","priority":0,"enabled":true}"#,
    ),
    (
        EntityKind::Alert,
        r#"{"id":"a1","org":"o1","rev":1,"device_id":"d1","severity":"warning","kind":"device_offline","message":"m","raised_ms":1,"state":"open"}"#,
    ),
    (
        EntityKind::Alert,
        r#"{"id":"a2","org":"o1","rev":2,"severity":"info","kind":"note","message":"m","raised_ms":1,"state":"resolved"}"#,
    ),
];

fn state() -> &'static OrgState {
    static STATE_CELL: OnceLock<OrgState> = OnceLock::new();
    STATE_CELL.get_or_init(|| {
        OrgState::from_entities(STATE.iter().map(|(kind, json)| {
            Entity::from_json(*kind, json)
                .unwrap_or_else(|e| panic!("fixture {json}: {e} (update fuzz/src/mutation.rs)"))
        }))
    })
}

fn ctx(role: Role) -> ApplyCtx {
    ApplyCtx { org: "o1".into(), role, sub: "u1".into(), new_id: "n1".into() }
}

/// One fuzz input.
pub fn run(data: &[u8]) {
    let Ok(v) = serde_json::from_slice::<Value>(data) else { return };
    let m = match Mutation::decode(&v) {
        Ok(m) => m,
        Err(e) => {
            assert!(!e.field.is_empty(), "an argument error names no field: {e:?}");
            return;
        }
    };
    decoded(&m);
    applied(&m);
}

fn decoded(m: &Mutation) {
    let kind = m.op.kind_name();
    assert!(MUTATION_KINDS.contains(&kind), "kind {kind} is not in MUTATION_KINDS");
    assert_eq!(m.base_rev.is_some(), m.op.checks_rev(), "base_rev presence for {kind}: {m:?}");
    assert!(m.op.is_create() || m.target.is_some(), "{kind} decoded without a target");
    for (what, s) in [("mutation_id", &m.mutation_id), ("client_id", &m.client_id)] {
        assert!(!s.is_empty() && s.len() <= 128, "{what} out of bounds: {s:?}");
    }

    // What the client sends decodes to what it meant (exact, through Value).
    let v = serde_json::to_value(m).expect("a Mutation serialises");
    let back = Mutation::decode(&v).unwrap_or_else(|e| panic!("re-encoded {v} does not decode: {e}"));
    assert_eq!(&back, m, "Mutation round trip through {v}");
    let op = MutationOp::parse(kind, &m.op.args_json())
        .unwrap_or_else(|e| panic!("args_json of {kind} does not parse: {e}: {}", m.op.args_json()));
    assert_eq!(op, m.op, "MutationOp round trip for {kind}");

    // And through text, as it travels.
    let text = serde_json::to_string(m).expect("a Mutation serialises to text");
    let back: Mutation =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("re-encoded {text} does not decode: {e}"));
    assert_eq!(back.op.kind_name(), kind);
    assert_eq!((&back.target, back.base_rev, &back.mutation_id), (&m.target, m.base_rev, &m.mutation_id));
}

fn applied(m: &Mutation) {
    let state = state();
    let admin = ctx(Role::Admin);
    let got = apply(state, m, &admin);
    assert_eq!(got, apply(state, m, &admin), "apply is not deterministic for {m:?}");

    // Roles.
    for role in [Role::Viewer, Role::Device] {
        let r = apply(state, m, &ctx(role)).expect_err("a role that may not mutate was let through");
        assert_eq!(r.code, RejectCode::Forbidden, "{role:?}: {r:?}");
    }
    let op = apply(state, m, &ctx(Role::Operator));
    if m.op.needs_admin() {
        assert_eq!(op.expect_err("operator ran an admin-only kind").code, RejectCode::Forbidden);
    } else {
        assert_eq!(op, got, "operator and admin differ on {m:?}");
    }

    let keys = lookups(m, &admin);
    let kind = m.op.entity_kind();
    match got {
        Err(r) => {
            assert!(
                matches!(
                    r.code,
                    RejectCode::Forbidden | RejectCode::NotFound | RejectCode::Conflict | RejectCode::Invalid
                ),
                "apply returned {:?}",
                r.code
            );
            assert_eq!(r.code == RejectCode::Conflict, r.current.is_some(), "conflict and current disagree: {r:?}");
            let ack = r.to_ack();
            assert!(matches!(&ack, MutationAck::Rejected { code, .. } if *code == r.code));
            let v = serde_json::to_value(&ack).expect("an ack serialises");
            let back: MutationAck = serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("ack {v}: {e}"));
            assert_eq!(back, ack);
        }
        Ok(a) => {
            assert_eq!(a.kind, kind, "applied to another kind");
            assert!(keys.contains(&(kind, a.id.as_str())), "lookups {keys:?} miss the entity {}", a.id);
            let old = state.rev(kind, &a.id).filter(|_| state.org_of(kind, &a.id) == Some("o1"));
            if m.op.is_create() {
                assert_eq!((old, a.rev), (None, 1), "a create over an existing entity, or rev != 1");
            } else {
                assert_eq!(Some(a.id.as_str()), m.target.as_deref(), "applied to another entity");
                let old = old.expect("applied to an entity that is not in the org");
                let want = if a.event.is_none() { old } else { old + 1 };
                assert_eq!(a.rev, want, "rev after {} (event {:?})", m.op.kind_name(), a.event);
            }
            let mut next = state.clone();
            if let Some(ev) = &a.event {
                assert_eq!(ev.entity_ref(), Some((kind, a.id.as_str())), "the event names another entity");
                next.apply_event(ev);
                match upserted(ev) {
                    Some(e) => {
                        assert_eq!(e.rev(), a.rev);
                        assert_eq!(org(&e), "o1", "entity moved org");
                        assert_eq!(next.get(kind, &a.id).as_ref(), Some(&e), "fold lost the upsert");
                        let v = serde_json::to_value(&e).expect("an entity serialises");
                        let back = Entity::from_value(kind, v.clone()).unwrap_or_else(|err| panic!("{v}: {err}"));
                        assert_eq!(back, e, "the applied entity does not round-trip");
                    }
                    None => assert!(!next.contains(kind, &a.id), "fold kept a removed entity"),
                }
                if m.op.is_create() || m.op.checks_rev() {
                    let again = apply(&next, m, &admin);
                    let code = again.as_ref().map_err(|r| r.code).err();
                    // A create finds its id taken; a rev-checked change finds
                    // a newer rev, or (after a remove) no entity at all.
                    assert!(
                        matches!(code, Some(RejectCode::Conflict | RejectCode::NotFound)),
                        "the same mutation applied twice: {again:?}"
                    );
                }
            } else {
                assert!(matches!(m.op, MutationOp::DeviceRestart), "{} changed nothing", m.op.kind_name());
            }
            let events = a.into_events(m);
            assert!(matches!(events.last(), Some(Event::MutationApplied(_))), "{events:?}");
        }
    }
}

fn upserted(ev: &Event) -> Option<Entity> {
    Some(match ev {
        Event::DeviceUpserted(e) => Entity::Device(e.clone()),
        Event::PlaylistUpserted(e) => Entity::Playlist(e.clone()),
        Event::ContentUpserted(e) => Entity::Content(e.clone()),
        Event::ScheduleUpserted(e) => Entity::Schedule(e.clone()),
        Event::AlertUpserted(e) => Entity::Alert(e.clone()),
        _ => return None,
    })
}

fn org(e: &Entity) -> &str {
    match e {
        Entity::Device(x) => &x.org,
        Entity::Playlist(x) => &x.org,
        Entity::Content(x) => &x.org,
        Entity::Schedule(x) => &x.org,
        Entity::Alert(x) => &x.org,
    }
}
