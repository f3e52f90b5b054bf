//! Random mutations over a small id space, built against the state their
//! sender sees (so some conflict, some name what is gone).

use proptest::prelude::*;
use vizora_protocol::mutation::{ScheduleFields, SchedulePatch};
use vizora_protocol::{ContentKind, Mutation, MutationOp, OrgState, PlaylistItem, ScheduleTarget};

/// A mutation to build against whatever state its sender sees.
#[derive(Debug, Clone)]
pub struct Spec {
    pub kind: u8,
    pub target: u8,
    pub arg: u8,
    pub stale: bool,
}

/// Any mutation spec.
pub fn spec() -> impl Strategy<Value = Spec> {
    (0u8..21, any::<u8>(), any::<u8>(), prop::bool::weighted(0.2)).prop_map(|(kind, target, arg, stale)| Spec {
        kind,
        target,
        arg,
        stale,
    })
}

/// Builds the mutation `s` describes, with ids from a small space and `base_rev` as `seen` has it.
pub fn build(s: &Spec, seen: &OrgState, client_id: &str, mutation_id: String) -> Mutation {
    let v = s.arg as usize;
    let name = format!("n{}", v % 7);
    let pl = |n: usize| format!("p{}", n % 4);
    let ct = |n: usize| format!("c{}", n % 4);
    let t = s.target as usize;
    let schedule_target = || {
        let ids: Vec<&String> = seen.schedules.keys().collect();
        ids.get(t % (ids.len() + 1)).map_or_else(|| "s-missing".to_owned(), |id| (*id).clone())
    };
    use MutationOp as Op;
    let (op, target) = match s.kind {
        0 => (Op::DeviceRename { name }, format!("d{}", t % 4)),
        1 => {
            (Op::DeviceSetTags { tags: vec![format!("t{}", v % 3), format!("t{}", v / 3 % 3)] }, format!("d{}", t % 4))
        }
        2 => (Op::DeviceAssignPlaylist { playlist_id: (!v.is_multiple_of(5)).then(|| pl(v)) }, format!("d{}", t % 4)),
        3 => (Op::DeviceRestart, format!("d{}", t % 4)),
        4 => (Op::DeviceRemove, format!("d{}", t % 4)),
        5 => (
            Op::PlaylistCreate {
                id: v.is_multiple_of(2).then(|| pl(t)),
                name,
                items: vec![PlaylistItem { content_id: ct(v), duration_s: 5.0 }],
            },
            String::new(),
        ),
        6 => (Op::PlaylistRename { name }, pl(t)),
        7 => (
            Op::PlaylistAddItem { content_id: ct(v), duration_s: 3.0, index: (!v.is_multiple_of(3)).then_some(v % 4) },
            pl(t),
        ),
        8 => (Op::PlaylistRemoveItem { index: v % 3 }, pl(t)),
        9 => (Op::PlaylistMoveItem { from: v % 3, to: v / 3 % 3 }, pl(t)),
        10 => (Op::PlaylistDelete, pl(t)),
        11 => {
            let id = v.is_multiple_of(2).then(|| ct(t));
            (
                Op::ContentCreate {
                    id,
                    name,
                    kind: ContentKind::Web,
                    uri: format!("u{v}"),
                    duration_s: 4.0,
                    size_bytes: v as u64,
                },
                String::new(),
            )
        }
        12 => (
            Op::ContentUpdate {
                name: v.is_multiple_of(2).then_some(name),
                uri: Some(format!("u{v}")),
                duration_s: None,
            },
            ct(t),
        ),
        13 => (Op::ContentDelete, ct(t)),
        14 => {
            let f = ScheduleFields {
                name,
                playlist_id: pl(v),
                target: ScheduleTarget::Tag("t1".into()),
                start_ms: 100,
                end_ms: v.is_multiple_of(2).then_some(200),
                days: None,
                daily_from: None,
                daily_to: None,
                priority: 0,
                enabled: true,
            };
            (Op::ScheduleCreate(f), String::new())
        }
        15 => {
            let patch = match v % 4 {
                0 => SchedulePatch { end_ms: Some(Some(50)), ..Default::default() },
                1 => SchedulePatch { end_ms: Some(None), priority: Some(v as i32), ..Default::default() },
                2 => SchedulePatch { playlist_id: Some(pl(v / 4)), ..Default::default() },
                _ => SchedulePatch { name: Some(name), ..Default::default() },
            };
            (Op::ScheduleUpdate(patch), schedule_target())
        }
        16 => (Op::ScheduleSetEnabled { enabled: v.is_multiple_of(2) }, schedule_target()),
        17 => (Op::ScheduleDelete, schedule_target()),
        18 => (Op::AlertAck, format!("a{}", t % 3)),
        19 => (Op::AlertResolve, format!("a{}", t % 3)),
        _ => (Op::AlertMute { until_ms: v as u64 }, format!("a{}", t % 3)),
    };
    let kind = op.entity_kind();
    let rev = seen.rev(kind, &target).unwrap_or(1);
    let base_rev = op.checks_rev().then_some(if s.stale { rev + 1 } else { rev });
    let target = (!op.is_create()).then_some(target);
    Mutation { mutation_id, client_id: client_id.into(), target, base_rev, op }
}
