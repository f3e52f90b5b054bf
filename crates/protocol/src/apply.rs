//! Applying a validated mutation to an org's state (PROTOCOL.md §6, §8): the
//! one implementation the gateway uses to decide and the client sync engine
//! uses to predict, so both reject the same things with the same code and
//! field name.
//!
//! Arguments are assumed valid as [`Mutation::decode`] / [`MutationOp::parse`]
//! leave them; `apply` checks what depends on state, in this order:
//! role (`forbidden`), target (`not_found`), `base_rev` (`invalid` when
//! missing, `conflict` when different) or, for a create, an existing id
//! (`conflict`), then references, ranges and alert state (`invalid`, naming
//! the field).

use crate::auth::Role;
use crate::entity::{
    Alert, AlertState, Content, Device, DeviceStatus, Entity, EntityKind, Playlist, PlaylistItem, Schedule,
};
use crate::event::{Event, MutationApplied, Removed};
use crate::mutation::{ArgError, Mutation, MutationAck, MutationOp, RejectCode, ScheduleFields, SchedulePatch};
use crate::org_state::OrgState;

/// Who applies a mutation, and the id a create gets when it names none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyCtx {
    /// The token's org: entities of other orgs do not exist.
    pub org: String,
    /// The token's role.
    pub role: Role,
    /// The token's `sub`, written to `acked_by`.
    pub sub: String,
    /// Id for a create without an explicit id, and always for `schedule.create`:
    /// fresh per mutation on the gateway; on a client, fixed when the user acts
    /// (so it differs from the id the server will make).
    pub new_id: String,
}

/// The change an applied mutation makes.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// Kind of the entity concerned.
    pub kind: EntityKind,
    /// Id of the entity concerned (the new id for creates).
    pub id: String,
    /// The entity's new rev (unchanged when nothing changed).
    pub rev: u64,
    /// The change entry (`*.upserted` or `*.removed`); none for `device.restart`.
    pub event: Option<Event>,
}

impl Applied {
    /// The log events it writes, in order: the change (if any), then `mutation.applied`.
    pub fn into_events(self, m: &Mutation) -> Vec<Event> {
        let applied = Event::MutationApplied(MutationApplied {
            mutation_id: m.mutation_id.clone(),
            client_id: m.client_id.clone(),
            kind: m.op.kind_name().to_owned(),
        });
        self.event.into_iter().chain([applied]).collect()
    }
}

/// A refused mutation: the ack's code, message and, on `conflict`, the entity now.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}: {message}", code.as_str())]
pub struct Rejection {
    /// Why.
    pub code: RejectCode,
    /// Human text; for `invalid` it starts with the field (`index: ...`).
    pub message: String,
    /// The entity now, on `conflict` (boxed: it is the rare, large case).
    pub current: Option<Box<Entity>>,
}

impl Rejection {
    /// A rejection without `current`.
    pub fn new(code: RejectCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), current: None }
    }

    /// An `invalid` rejection naming `field`, worded as [`MutationAck::invalid`] words it.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::from(ArgError::new(field, message))
    }

    /// The `rejected` ack that reports it.
    pub fn to_ack(&self) -> MutationAck {
        MutationAck::Rejected {
            code: self.code,
            message: crate::bounds::clip(self.message.clone()),
            current: self.current.as_deref().and_then(|e| serde_json::to_value(e).ok()),
        }
    }

    fn conflict(current: Entity, message: String) -> Self {
        Self { code: RejectCode::Conflict, message, current: Some(Box::new(current)) }
    }
}

impl From<ArgError> for Rejection {
    fn from(e: ArgError) -> Self {
        Self::new(RejectCode::Invalid, e.to_string())
    }
}

/// Decides `m` against `state` for `ctx`: the change it makes, or why not.
/// Pure: `state` is not touched; fold [`Applied::event`] in with
/// [`OrgState::apply_event`].
pub fn apply(state: &OrgState, m: &Mutation, ctx: &ApplyCtx) -> Result<Applied, Rejection> {
    authorize(&m.op, ctx.role)?;
    if m.op.is_create() {
        return create(state, &m.op, ctx);
    }
    let kind = m.op.entity_kind();
    let id = m.target.as_deref().ok_or_else(|| Rejection::invalid("target", "required for this kind"))?;
    let current = (state.org_of(kind, id) == Some(ctx.org.as_str()))
        .then(|| state.get(kind, id))
        .flatten()
        .ok_or_else(|| Rejection::new(RejectCode::NotFound, format!("no {} `{id}`", kind.as_str())))?;
    if m.op.checks_rev() {
        let base = m.base_rev.ok_or_else(|| Rejection::invalid("base_rev", "required for this kind"))?;
        if base != current.rev() {
            let msg = format!("{} `{id}` is at rev {}, not {base}", kind.as_str(), current.rev());
            return Err(Rejection::conflict(current, msg));
        }
    }
    let rev = current.rev();
    let change = match current {
        Entity::Device(d) => device(state, &m.op, d)?,
        Entity::Playlist(p) => playlist(state, &m.op, p)?,
        Entity::Content(c) => content(&m.op, c)?,
        Entity::Schedule(s) => schedule(state, &m.op, s)?,
        Entity::Alert(a) => Change::Upsert(Entity::Alert(alert(&m.op, a, ctx)?)),
    };
    Ok(match change {
        Change::Upsert(e) => Applied { kind, id: id.to_owned(), rev: e.rev(), event: Some(Event::upserted(e)) },
        Change::Remove(make) => {
            let removed = Removed { id: id.to_owned(), rev: rev + 1 };
            Applied { kind, id: id.to_owned(), rev: rev + 1, event: Some(make(removed)) }
        }
        Change::Nothing => Applied { kind, id: id.to_owned(), rev, event: None },
    })
}

/// What a mutation on an existing entity does to it.
#[expect(clippy::large_enum_variant, reason = "a short-lived value, made once per mutation and unpacked at once")]
enum Change {
    Upsert(Entity),
    Remove(fn(Removed) -> Event),
    Nothing,
}

fn authorize(op: &MutationOp, role: Role) -> Result<(), Rejection> {
    if !role.may_mutate() {
        let msg = format!("role `{}` may not mutate", role.as_str());
        return Err(Rejection::new(RejectCode::Forbidden, msg));
    }
    if op.needs_admin() && role != Role::Admin {
        let msg = format!("`{}` needs the admin role", op.kind_name());
        return Err(Rejection::new(RejectCode::Forbidden, msg));
    }
    Ok(())
}

/// Checks that `id` names an entity of `kind` in `org`; `field` is named if not.
fn must_exist(state: &OrgState, org: &str, kind: EntityKind, id: &str, field: &str) -> Result<(), Rejection> {
    if state.org_of(kind, id) == Some(org) {
        Ok(())
    } else {
        Err(Rejection::invalid(field, format!("no {} `{id}` in this org", kind.as_str())))
    }
}

fn check_items(state: &OrgState, org: &str, items: &[PlaylistItem]) -> Result<(), Rejection> {
    for (i, item) in items.iter().enumerate() {
        must_exist(state, org, EntityKind::Content, &item.content_id, &format!("items[{i}].content_id"))?;
    }
    Ok(())
}

fn in_range(field: &str, i: usize, len: usize) -> Result<(), Rejection> {
    if i < len { Ok(()) } else { Err(Rejection::invalid(field, format!("must be in 0..{len}, got {i}"))) }
}

/// Every entity [`apply`] looks up to decide `m` for `ctx`: its outcome can
/// change only when one of these does (a client replaying pending mutations
/// relies on it, so keep it in step with the lookups below).
pub fn lookups<'a>(m: &'a Mutation, ctx: &'a ApplyCtx) -> Vec<(EntityKind, &'a str)> {
    let mut keys = Vec::with_capacity(2);
    if m.op.is_create() {
        keys.push((m.op.entity_kind(), created_id(&m.op, ctx)));
    } else if let Some(target) = &m.target {
        keys.push((m.op.entity_kind(), target.as_str()));
    }
    match &m.op {
        MutationOp::DeviceAssignPlaylist { playlist_id: Some(id) }
        | MutationOp::DeviceCreate { playlist_id: Some(id), .. } => keys.push((EntityKind::Playlist, id)),
        MutationOp::PlaylistAddItem { content_id, .. } => keys.push((EntityKind::Content, content_id)),
        MutationOp::PlaylistCreate { items, .. } => {
            keys.extend(items.iter().map(|i| (EntityKind::Content, i.content_id.as_str())));
        }
        MutationOp::ScheduleCreate(f) => keys.push((EntityKind::Playlist, &f.playlist_id)),
        MutationOp::ScheduleUpdate(SchedulePatch { playlist_id: Some(id), .. }) => {
            keys.push((EntityKind::Playlist, id));
        }
        _ => {}
    }
    keys
}

/// The id a create makes: the one it names, else the context's.
fn created_id<'a>(op: &'a MutationOp, ctx: &'a ApplyCtx) -> &'a str {
    match op {
        MutationOp::DeviceCreate { id: Some(id), .. }
        | MutationOp::PlaylistCreate { id: Some(id), .. }
        | MutationOp::ContentCreate { id: Some(id), .. } => id,
        _ => &ctx.new_id,
    }
}

fn create(state: &OrgState, op: &MutationOp, ctx: &ApplyCtx) -> Result<Applied, Rejection> {
    let kind = op.entity_kind();
    let id = created_id(op, ctx);
    if let Some(current) = state.get(kind, id).filter(|_| state.org_of(kind, id) == Some(ctx.org.as_str())) {
        let msg = format!("{} `{id}` exists", kind.as_str());
        return Err(Rejection::conflict(current, msg));
    }
    let (id, org) = (id.to_owned(), ctx.org.clone());
    let entity = match op {
        // Known before it first connects: its first CONNECT logs only `device.status`.
        MutationOp::DeviceCreate { name, tags, playlist_id, .. } => {
            if let Some(p) = playlist_id {
                must_exist(state, &org, EntityKind::Playlist, p, "playlist_id")?;
            }
            Entity::Device(Device {
                id,
                org,
                rev: 1,
                name: name.clone(),
                tags: tags.clone(),
                playlist_id: playlist_id.clone(),
                status: DeviceStatus::Unknown,
                last_seen_ms: 0,
                health: None,
                playing: None,
            })
        }
        MutationOp::PlaylistCreate { name, items, .. } => {
            check_items(state, &org, items)?;
            Entity::Playlist(Playlist { id, org, rev: 1, name: name.clone(), items: items.clone() })
        }
        MutationOp::ContentCreate { name, kind, uri, duration_s, size_bytes, .. } => Entity::Content(Content {
            id,
            org,
            rev: 1,
            name: name.clone(),
            kind: *kind,
            uri: uri.clone(),
            duration_s: *duration_s,
            size_bytes: *size_bytes,
        }),
        MutationOp::ScheduleCreate(f) => Entity::Schedule(new_schedule(state, f, id, org)?),
        _ => return Err(wrong_kind(op)),
    };
    Ok(Applied { kind, id: entity.id().to_owned(), rev: 1, event: Some(Event::upserted(entity)) })
}

fn new_schedule(state: &OrgState, f: &ScheduleFields, id: String, org: String) -> Result<Schedule, Rejection> {
    must_exist(state, &org, EntityKind::Playlist, &f.playlist_id, "playlist_id")?;
    Ok(Schedule {
        id,
        org,
        rev: 1,
        name: f.name.clone(),
        playlist_id: f.playlist_id.clone(),
        target: f.target.clone(),
        start_ms: f.start_ms,
        end_ms: f.end_ms,
        days: f.days.clone(),
        daily_from: f.daily_from.clone(),
        daily_to: f.daily_to.clone(),
        priority: f.priority,
        enabled: f.enabled,
    })
}

fn device(state: &OrgState, op: &MutationOp, mut d: Device) -> Result<Change, Rejection> {
    match op {
        MutationOp::DeviceRename { name } => d.name = name.clone(),
        MutationOp::DeviceSetTags { tags } => {
            d.tags.clear();
            for t in tags {
                if !d.tags.contains(t) {
                    d.tags.push(t.clone());
                }
            }
        }
        MutationOp::DeviceAssignPlaylist { playlist_id } => {
            if let Some(p) = playlist_id {
                must_exist(state, &d.org, EntityKind::Playlist, p, "playlist_id")?;
            }
            d.playlist_id = playlist_id.clone();
        }
        MutationOp::DeviceRestart => return Ok(Change::Nothing),
        MutationOp::DeviceRemove => return Ok(Change::Remove(Event::DeviceRemoved)),
        _ => return Err(wrong_kind(op)),
    }
    d.rev += 1;
    Ok(Change::Upsert(Entity::Device(d)))
}

fn playlist(state: &OrgState, op: &MutationOp, mut p: Playlist) -> Result<Change, Rejection> {
    let len = p.items.len();
    match op {
        MutationOp::PlaylistRename { name } => p.name = name.clone(),
        MutationOp::PlaylistAddItem { content_id, duration_s, index } => {
            must_exist(state, &p.org, EntityKind::Content, content_id, "content_id")?;
            if len >= crate::bounds::MAX_PLAYLIST_ITEMS {
                let max = crate::bounds::MAX_PLAYLIST_ITEMS;
                return Err(Rejection::invalid("items", format!("a playlist holds at most {max} items")));
            }
            let at = index.unwrap_or(len);
            if at > len {
                return Err(Rejection::invalid("index", format!("must be in 0..={len}, got {at}")));
            }
            p.items.insert(at, PlaylistItem { content_id: content_id.clone(), duration_s: *duration_s });
        }
        MutationOp::PlaylistRemoveItem { index } => {
            in_range("index", *index, len)?;
            p.items.remove(*index);
        }
        MutationOp::PlaylistMoveItem { from, to } => {
            in_range("from", *from, len)?;
            in_range("to", *to, len)?;
            let item = p.items.remove(*from);
            p.items.insert(*to, item);
        }
        MutationOp::PlaylistDelete => return Ok(Change::Remove(Event::PlaylistRemoved)),
        _ => return Err(wrong_kind(op)),
    }
    p.rev += 1;
    Ok(Change::Upsert(Entity::Playlist(p)))
}

fn content(op: &MutationOp, mut c: Content) -> Result<Change, Rejection> {
    match op {
        MutationOp::ContentUpdate { name, uri, duration_s } => {
            if let Some(v) = name {
                c.name = v.clone();
            }
            if let Some(v) = uri {
                c.uri = v.clone();
            }
            if let Some(v) = duration_s {
                c.duration_s = *v;
            }
        }
        MutationOp::ContentDelete => return Ok(Change::Remove(Event::ContentRemoved)),
        _ => return Err(wrong_kind(op)),
    }
    c.rev += 1;
    Ok(Change::Upsert(Entity::Content(c)))
}

fn schedule(state: &OrgState, op: &MutationOp, mut s: Schedule) -> Result<Change, Rejection> {
    match op {
        MutationOp::ScheduleUpdate(patch) => patch_schedule(state, &mut s, patch)?,
        MutationOp::ScheduleSetEnabled { enabled } => s.enabled = *enabled,
        MutationOp::ScheduleDelete => return Ok(Change::Remove(Event::ScheduleRemoved)),
        _ => return Err(wrong_kind(op)),
    }
    s.rev += 1;
    Ok(Change::Upsert(Entity::Schedule(s)))
}

fn patch_schedule(state: &OrgState, s: &mut Schedule, p: &SchedulePatch) -> Result<(), Rejection> {
    if let Some(id) = &p.playlist_id {
        must_exist(state, &s.org, EntityKind::Playlist, id, "playlist_id")?;
        s.playlist_id = id.clone();
    }
    if let Some(v) = &p.name {
        s.name = v.clone();
    }
    if let Some(v) = &p.target {
        s.target = v.clone();
    }
    if let Some(v) = p.start_ms {
        s.start_ms = v;
    }
    if let Some(v) = p.end_ms {
        s.end_ms = v;
    }
    if let Some(v) = &p.days {
        s.days = v.clone();
    }
    if let Some(v) = &p.daily_from {
        s.daily_from = v.clone();
    }
    if let Some(v) = &p.daily_to {
        s.daily_to = v.clone();
    }
    if let Some(v) = p.priority {
        s.priority = v;
    }
    if let Some(v) = p.enabled {
        s.enabled = v;
    }
    Ok(())
}

fn alert(op: &MutationOp, mut a: Alert, ctx: &ApplyCtx) -> Result<Alert, Rejection> {
    match op {
        MutationOp::AlertAck => {
            if a.state == AlertState::Resolved {
                return Err(Rejection::invalid("state", "a resolved alert cannot be acknowledged"));
            }
            a.state = AlertState::Acked;
            a.acked_by = Some(ctx.sub.clone());
        }
        MutationOp::AlertResolve => a.state = AlertState::Resolved,
        MutationOp::AlertMute { until_ms } => a.muted_until_ms = Some(*until_ms),
        _ => return Err(wrong_kind(op)),
    }
    a.rev += 1;
    Ok(a)
}

/// Only reachable if `entity_kind()` and the per-kind functions disagree.
fn wrong_kind(op: &MutationOp) -> Rejection {
    Rejection::invalid("kind", format!("`{}` does not apply to this entity", op.kind_name()))
}

#[cfg(test)]
mod tests;
