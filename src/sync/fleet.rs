//! FleetPlugin (the sync plugin): the client sync engine as a resource.
//! Applies snapshots, entries, telemetry and acks; takes operator actions
//! (shown in the same frame, queued to the IO thread, rolled back when the
//! gateway refuses); says which entities changed, so panels touch only
//! those, and reports what people should know as [`FleetNotice`]s (the
//! chrome shows them: this layer never draws).

use bevy::prelude::*;
use vizora_client::Control;
use vizora_protocol::{ApplyCtx, Claims, Mutation, MutationAck, MutationOp, RejectCode, Role};

use crate::base::fleet_model::{Changes, FleetModel};
use crate::sync::history::{AnalyticsHistory, take_metrics};
use crate::sync::net::{
    EntriesReceived, NetSystems, OutboxChanged, Outgoing, RestoredReceived, SnapshotReceived, TelemetryReceived,
};

/// The fleet as the wall shows it.
#[derive(Resource, Debug, Default)]
pub struct Fleet(pub FleetModel);

/// Who this wall acts as: from its token's claims (the gateway checks them
/// again; this only decides whether operator controls show).
#[derive(Resource, Debug, Clone)]
pub struct Identity {
    /// Org.
    pub org: String,
    /// Role.
    pub role: Role,
    /// User id.
    pub sub: String,
    /// `client_id` of this wall's mutations.
    pub client_id: String,
}

impl Default for Identity {
    fn default() -> Self {
        Self { org: String::new(), role: Role::Viewer, sub: String::new(), client_id: "wall".into() }
    }
}

impl Identity {
    /// From a token's claims (unverified: the wall cannot verify, the gateway does).
    pub fn from_token(token: &str) -> Option<Self> {
        let c: Claims = jsonwebtoken::dangerous::insecure_decode_claims(token).ok()?;
        Some(Self { client_id: format!("wall-{}", c.sub), org: c.org, role: c.role, sub: c.sub })
    }

    /// Operators and admins get the operator controls.
    pub fn can_operate(&self) -> bool {
        matches!(self.role, Role::Operator | Role::Admin)
    }
}

/// When this wall's token expires (Unix ms, from its `exp` claim), if known.
#[derive(Resource, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenExpiry(pub Option<u64>);

impl TokenExpiry {
    /// From a token's claims (unverified, as [`Identity::from_token`]).
    pub fn from_token(token: &str) -> Self {
        let c: Option<Claims> = jsonwebtoken::dangerous::insecure_decode_claims(token).ok();
        Self(c.map(|c| c.exp.saturating_mul(1000)))
    }
}

/// An operator asks for a change (from the console, or a test).
#[derive(Message, Debug, Clone)]
pub struct OperatorAction {
    /// Target entity (none on creates).
    pub target: Option<String>,
    /// The rev the operator saw.
    pub base_rev: Option<u64>,
    /// What to do.
    pub op: MutationOp,
}

/// When this wall's changes were sent, to time the round trip to their ack.
#[derive(Resource, Debug, Default)]
pub struct AckTimes {
    /// Mutation id → when it was sent, its kind and target.
    sent: std::collections::HashMap<String, (std::time::Instant, &'static str, String)>,
    /// The last change's send → ack time.
    pub last_ms: Option<f32>,
}

/// When each of this wall's pending changes is given up if the gateway has
/// not taken it by then (seconds of the app's clock): it is then shown as
/// failed and withdrawn from the outbox, not left pending forever.
#[derive(Resource, Debug)]
pub struct GiveUp {
    /// Seconds a change may wait (the config's `give_up_after_s`).
    pub after_s: f64,
    due: std::collections::HashMap<String, f64>,
}

impl Default for GiveUp {
    fn default() -> Self {
        Self::after(300.0)
    }
}

impl GiveUp {
    /// Gives changes up after `after_s` seconds.
    pub fn after(after_s: f64) -> Self {
        Self { after_s, due: std::collections::HashMap::new() }
    }
}

/// Systems of this plugin.
#[derive(SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
pub enum FleetSystems {
    /// Applies received data.
    Apply,
}

/// Everything was replaced: panels rebuild.
#[derive(Message, Debug, Clone, Default)]
pub struct FleetReset;

/// Devices were added or removed: tile layout changes.
#[derive(Message, Debug, Clone, Default)]
pub struct FleetMembershipChanged;

/// Alerts changed.
#[derive(Message, Debug, Clone, Default)]
pub struct AlertsChanged;

/// Playlists, content, schedules or schedule executions changed.
#[derive(Message, Debug, Clone, Default)]
pub struct CatalogChanged;

/// One device's view changed.
#[derive(Message, Debug, Clone, PartialEq, Eq)]
pub struct DeviceChanged {
    /// Device id.
    pub id: String,
}

/// Something the sync layer reports for people to see.
#[derive(Message, Debug, Clone, PartialEq)]
pub enum FleetNotice {
    /// An operator change was rolled back.
    RolledBack {
        /// Its kind, e.g. `device.rename`.
        kind: &'static str,
        /// Its target (`new` for creates).
        target: String,
        /// Why, in words.
        reason: String,
        /// Someone else changed it first.
        conflict: bool,
    },
    /// An operator change was refused here, before it was sent.
    Refused {
        /// Its kind.
        kind: &'static str,
        /// Why.
        reason: String,
    },
    /// The gateway applied one of this wall's changes.
    Applied {
        /// Its kind.
        kind: &'static str,
        /// Its target.
        target: String,
    },
    /// The local store failed.
    StoreFailed(String),
    /// Changes saved by an earlier run are being delivered.
    Restored(usize),
}

/// Keeps [`Fleet`] current.
#[derive(Default)]
pub struct FleetPlugin;

impl Plugin for FleetPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Fleet>()
            .init_resource::<Identity>()
            .init_resource::<AckTimes>()
            .init_resource::<GiveUp>()
            .init_resource::<TokenExpiry>()
            .add_message::<FleetReset>()
            .add_message::<FleetMembershipChanged>()
            .add_message::<DeviceChanged>()
            .add_message::<AlertsChanged>()
            .add_message::<CatalogChanged>()
            .add_message::<OperatorAction>()
            .add_message::<FleetNotice>()
            .init_resource::<AnalyticsHistory>()
            .configure_sets(PreUpdate, FleetSystems::Apply.after(NetSystems::Receive))
            .add_systems(
                PreUpdate,
                (apply_restored, apply_snapshots, apply_entries, apply_telemetry, apply_outbox)
                    .chain()
                    .in_set(FleetSystems::Apply),
            )
            .add_systems(PreUpdate, take_metrics.in_set(FleetSystems::Apply))
            // Operator actions apply in Update, after the console's submits, so the next draw shows them.
            .add_systems(Update, (apply_operator_actions, give_up_undelivered).chain());
    }
}

/// Writers for everything a change can announce.
#[derive(bevy::ecs::system::SystemParam)]
struct Announce<'w> {
    reset: MessageWriter<'w, FleetReset>,
    membership: MessageWriter<'w, FleetMembershipChanged>,
    devices: MessageWriter<'w, DeviceChanged>,
    alerts: MessageWriter<'w, AlertsChanged>,
    catalog: MessageWriter<'w, CatalogChanged>,
    notices: MessageWriter<'w, FleetNotice>,
}

impl Announce<'_> {
    fn send(&mut self, ch: Changes) {
        if ch.reset {
            self.reset.write(FleetReset);
        }
        if ch.membership {
            self.membership.write(FleetMembershipChanged);
        }
        if ch.alerts {
            self.alerts.write(AlertsChanged);
        }
        if ch.catalog || ch.executions {
            self.catalog.write(CatalogChanged);
        }
        for rb in &ch.rollbacks {
            let what = rb.mutation.op.kind_name();
            let target = rb.mutation.target.as_deref().unwrap_or("new");
            let reason = match rb.code {
                Some(RejectCode::Conflict) => match &rb.current {
                    Some(cur) => format!("conflict: someone else changed it first (now rev {})", cur.rev()),
                    None => "conflict: someone else changed it first".to_owned(),
                },
                Some(code) => format!("{}: {}", code.as_str(), rb.message),
                None => rb.message.clone(),
            };
            self.notices.write(FleetNotice::RolledBack {
                kind: what,
                target: target.to_owned(),
                reason,
                conflict: rb.code == Some(RejectCode::Conflict),
            });
        }
        self.devices.write_batch(ch.devices.into_iter().map(|id| DeviceChanged { id }));
    }
}

fn apply_restored(mut fleet: ResMut<Fleet>, mut msgs: MessageReader<RestoredReceived>, mut out: Announce) {
    for r in msgs.read() {
        let ch = fleet.0.restore(r.confirmed.clone(), r.pending.clone());
        out.send(ch);
    }
}

fn apply_snapshots(mut fleet: ResMut<Fleet>, mut snaps: MessageReader<SnapshotReceived>, mut out: Announce) {
    for s in snaps.read() {
        let ch = fleet.0.apply_snapshot(&s.epoch, s.seq, s.entities.clone());
        out.send(ch);
    }
}

fn apply_entries(mut fleet: ResMut<Fleet>, mut batches: MessageReader<EntriesReceived>, mut out: Announce) {
    for b in batches.read() {
        let ch = fleet.0.apply_entries(&b.epoch, &b.items);
        out.send(ch);
    }
}

fn apply_telemetry(
    mut fleet: ResMut<Fleet>,
    mut msgs: MessageReader<TelemetryReceived>,
    mut changed: MessageWriter<DeviceChanged>,
) {
    let now = vizora_protocol::now_ms();
    for t in msgs.read() {
        // A sample dated in the future would keep a silent device looking
        // alive until then: it counts as heard now.
        let moved = fleet.0.apply_telemetry(t.0.ts_ms.min(now), &t.0.devices);
        changed.write_batch(moved.into_iter().map(|id| DeviceChanged { id }));
    }
}

fn apply_outbox(
    mut fleet: ResMut<Fleet>,
    mut msgs: MessageReader<OutboxChanged>,
    mut times: ResMut<AckTimes>,
    mut out: Announce,
) {
    for m in msgs.read() {
        match m {
            OutboxChanged::Acked { mutation_id, ack } => {
                if let Some((t, kind, target)) = times.sent.remove(mutation_id) {
                    times.last_ms = Some(t.elapsed().as_secs_f32() * 1000.0);
                    if matches!(ack, MutationAck::Applied { .. } | MutationAck::Duplicate { .. }) {
                        out.notices.write(FleetNotice::Applied { kind, target });
                    }
                }
                let ch = fleet.0.ack(mutation_id, ack);
                out.send(ch);
            }
            OutboxChanged::Full { mutation_id, capacity } => {
                // The rollback's toast says why; what was queued before stays queued.
                times.sent.remove(mutation_id);
                let reason = format!("outbox full ({capacity} earlier changes wait for the gateway; none lost)");
                let ch = fleet.0.withdraw(mutation_id, &reason);
                out.send(ch);
            }
            OutboxChanged::StoreFailed { mutation_id: Some(id), message } => {
                times.sent.remove(id);
                let ch = fleet.0.withdraw(id, &format!("not saved: {message}"));
                out.send(ch);
            }
            OutboxChanged::StoreFailed { mutation_id: None, message } => {
                out.notices.write(FleetNotice::StoreFailed(message.clone()));
            }
            OutboxChanged::Restored { pending } if *pending > 0 => {
                out.notices.write(FleetNotice::Restored(*pending));
            }
            OutboxChanged::Restored { .. } | OutboxChanged::Queued(_) => {}
        }
    }
}

/// Changes the gateway has not taken within `give_up_after_s` are rolled
/// back as failed and withdrawn from the outbox. One the gateway already
/// acknowledged (it waits for its log entry) is delivered: it is kept.
fn give_up_undelivered(
    time: Res<Time>,
    mut fleet: ResMut<Fleet>,
    mut give_up: ResMut<GiveUp>,
    mut times: ResMut<AckTimes>,
    mut sent: MessageWriter<Outgoing>,
    mut out: Announce,
) {
    let now = time.elapsed_secs_f64();
    let after = give_up.after_s;
    // Every pending change has a deadline, and only those (a few dozen at
    // most: compared whole each frame). Changes restored from disk start
    // their wait when the wall does.
    let pending = fleet.0.engine().pending();
    let same = pending.len() == give_up.due.len()
        && pending.iter().all(|p| give_up.due.contains_key(&p.mutation().mutation_id));
    if !same {
        let live: std::collections::HashSet<&str> = pending.iter().map(|p| p.mutation().mutation_id.as_str()).collect();
        give_up.due.retain(|id, _| live.contains(id.as_str()));
        for id in live {
            if !give_up.due.contains_key(id) {
                give_up.due.insert(id.to_owned(), now + after);
            }
        }
    }
    let expired: Vec<String> = give_up.due.iter().filter(|(_, t)| now >= **t).map(|(id, _)| id.clone()).collect();
    for id in expired {
        give_up.due.remove(&id);
        let acked = fleet.0.engine().pending().iter().any(|p| p.mutation().mutation_id == id && p.is_acked());
        if acked {
            continue;
        }
        // A late ack for it is no confirmation: it was shown as failed.
        times.sent.remove(&id);
        let ch = fleet.0.withdraw(&id, &format!("failed: not delivered within {after:.0} s (withdrawn)"));
        out.send(ch);
        sent.write(Outgoing(Control::Withdraw { mutation_id: id }));
    }
}

fn apply_operator_actions(
    mut fleet: ResMut<Fleet>,
    who: Res<Identity>,
    mut actions: MessageReader<OperatorAction>,
    mut sent: MessageWriter<Outgoing>,
    mut times: ResMut<AckTimes>,
    mut out: Announce,
) {
    for a in actions.read() {
        let id = ulid::Ulid::generate().to_string();
        let mutation = Mutation {
            mutation_id: id.clone(),
            client_id: who.client_id.clone(),
            target: a.target.clone(),
            base_rev: a.base_rev,
            op: a.op.clone(),
        };
        let ctx =
            ApplyCtx { org: who.org.clone(), role: who.role, sub: who.sub.clone(), new_id: format!("local-{id}") };
        match fleet.0.mutate(mutation.clone(), ctx.clone()) {
            Ok(ch) => {
                out.send(ch);
                let target = a.target.clone().unwrap_or_else(|| "new".into());
                times.sent.insert(id, (std::time::Instant::now(), a.op.kind_name(), target));
                sent.write(Outgoing(Control::Mutate { mutation, ctx }));
            }
            Err(r) => {
                out.notices.write(FleetNotice::Refused { kind: a.op.kind_name(), reason: r.message });
            }
        }
    }
}
