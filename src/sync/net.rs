//! NetPlugin: the bridge from the client IO thread into the ECS. One system
//! in `PreUpdate` drains the channel with `try_iter` and turns updates into
//! messages; the link state is a `States` enum changed only there.

use std::time::Duration;

use bevy::prelude::*;
use crossbeam_channel::Receiver;
use vizora_client::{ClientHandle, ConnectionState, Control, Update};
use vizora_protocol::{Entity, ErrorMsg, LogEntry, Metrics, SubscribeMode, Telemetry};

/// Link to the gateway as the wall shows it.
#[derive(States, Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LinkState {
    /// Dialling.
    #[default]
    Connecting,
    /// Subscribed and receiving.
    Live,
    /// Lost; retrying.
    Reconnecting,
    /// The gateway refused our token.
    Refused,
    /// Fixture data, no gateway.
    Offline,
}

/// Systems of this plugin.
#[derive(SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
pub enum NetSystems {
    /// Drains the IO channel.
    Receive,
}

/// Details behind [`LinkState`] for the badge and overlay.
#[derive(Resource, Debug, Default, Clone)]
pub struct LinkInfo {
    /// Server URL, when known.
    pub server: Option<String>,
    /// Why the link is down.
    pub reason: Option<String>,
    /// Next retry in.
    pub retry_in: Option<Duration>,
    /// How the last subscribe caught up.
    pub mode: Option<SubscribeMode>,
    /// Reconnects since start.
    pub reconnects: u64,
    /// Entries received since start.
    pub entries: u64,
    /// Snapshots received since start.
    pub snapshots: u64,
    /// Telemetry messages received.
    pub telemetry: u64,
    /// The fleet on screen came from the saved state, current as of this time.
    pub restored_as_of_ms: Option<u64>,
    /// When the link went down (none while live).
    pub down_since_ms: Option<u64>,
}

/// A complete snapshot arrived.
#[derive(Message, Debug, Clone)]
pub struct SnapshotReceived {
    /// Epoch.
    pub epoch: String,
    /// Position.
    pub seq: u64,
    /// Every entity.
    pub entities: Vec<Entity>,
}

/// What the client store kept from the last run: the confirmed state (if
/// saved) and the operator changes still in the outbox.
#[derive(Message, Debug, Clone)]
pub struct RestoredReceived {
    /// Last saved confirmed state.
    pub confirmed: Option<vizora_sync::ConfirmedState>,
    /// Undelivered changes, in order.
    pub pending: Vec<vizora_sync::QueuedMutation>,
}

/// Log entries arrived, in order and without gaps.
#[derive(Message, Debug, Clone)]
pub struct EntriesReceived {
    /// Epoch.
    pub epoch: String,
    /// Entries.
    pub items: Vec<LogEntry>,
}

/// Device telemetry arrived (lossy).
#[derive(Message, Debug, Clone)]
pub struct TelemetryReceived(pub Telemetry);

/// Fleet metrics arrived (lossy).
#[derive(Message, Debug, Clone)]
pub struct MetricsReceived(pub Metrics);

/// The server reported an error.
#[derive(Message, Debug, Clone)]
pub struct ServerErrorReceived(pub ErrorMsg);

/// Something the gateway sent could not be read; the rest of the view was kept.
#[derive(Message, Debug, Clone)]
pub struct UndecodableReceived {
    /// Entity kind or event type.
    pub kind: String,
    /// Its id, when readable.
    pub id: Option<String>,
    /// Its log position, for an entry.
    pub seq: Option<u64>,
    /// Why it could not be read.
    pub error: String,
}

/// The outbox of operator changes moved (see `vizora_client::Update`).
#[derive(Message, Debug, Clone)]
pub enum OutboxChanged {
    /// The last run left these many undelivered changes; they are being delivered.
    Restored {
        /// Undelivered changes.
        pending: usize,
    },
    /// A change is on disk and will be delivered.
    Queued(String),
    /// A change was refused: the outbox is full.
    Full {
        /// The refused change.
        mutation_id: String,
        /// Outbox capacity.
        capacity: usize,
    },
    /// The gateway decided a change.
    Acked {
        /// The change.
        mutation_id: String,
        /// The decision.
        ack: vizora_protocol::MutationAck,
    },
    /// The client store failed.
    StoreFailed {
        /// The change not queued, if any.
        mutation_id: Option<String>,
        /// What went wrong.
        message: String,
    },
}

/// The channel from the IO thread, and where controls go back to it.
#[derive(Resource)]
pub struct NetLink {
    updates: Receiver<Update>,
    controls: Controls,
}

enum Controls {
    /// The IO thread (dropping the handle shuts it down).
    Client(ClientHandle),
    /// A test's channel.
    Channel(crossbeam_channel::Sender<Control>),
    /// Fixture data: nothing to send to.
    None,
}

impl NetLink {
    /// A link to a running client.
    pub fn from_client(handle: ClientHandle) -> Self {
        Self { updates: handle.updates.clone(), controls: Controls::Client(handle) }
    }

    /// A link fed by any channel, with nowhere to send (fixtures).
    pub fn from_channel(updates: Receiver<Update>) -> Self {
        Self { updates, controls: Controls::None }
    }

    /// A link over a channel pair (tests): updates in, controls out.
    pub fn from_channels(updates: Receiver<Update>, controls: crossbeam_channel::Sender<Control>) -> Self {
        Self { updates, controls: Controls::Channel(controls) }
    }

    /// Whether controls reach a client (operator changes can be delivered).
    pub fn can_send(&self) -> bool {
        !matches!(self.controls, Controls::None)
    }

    fn send(&self, c: Control) {
        match &self.controls {
            Controls::Client(h) => h.control(c),
            Controls::Channel(tx) => drop(tx.send(c)),
            Controls::None => {}
        }
    }
}

/// A request for the IO thread, sent in `PostUpdate`.
#[derive(Message, Debug, Clone)]
pub struct Outgoing(pub Control);

/// Drains the client channel once per frame.
#[derive(Default)]
pub struct NetPlugin {
    /// Start in [`LinkState::Offline`] (fixture data only).
    pub offline: bool,
}

impl Plugin for NetPlugin {
    fn build(&self, app: &mut App) {
        app.insert_state(if self.offline { LinkState::Offline } else { LinkState::Connecting })
            .init_resource::<LinkInfo>()
            .add_message::<SnapshotReceived>()
            .add_message::<EntriesReceived>()
            .add_message::<TelemetryReceived>()
            .add_message::<MetricsReceived>()
            .add_message::<ServerErrorReceived>()
            .add_message::<UndecodableReceived>()
            .add_message::<OutboxChanged>()
            .add_message::<Outgoing>()
            .add_message::<RestoredReceived>()
            .add_systems(PreUpdate, drain_net_inbox.in_set(NetSystems::Receive))
            .add_systems(PostUpdate, send_controls);
    }
}

/// Upper bound of updates taken per frame, so a flood cannot stall a frame;
/// the rest wait in the channel for the next one.
const MAX_UPDATES_PER_FRAME: usize = 4096;

#[expect(clippy::too_many_arguments, reason = "one writer per message type keeps the drain a flat match")]
fn drain_net_inbox(
    link: Option<Res<NetLink>>,
    mut info: ResMut<LinkInfo>,
    mut next: ResMut<NextState<LinkState>>,
    mut snapshots: MessageWriter<SnapshotReceived>,
    mut entries: MessageWriter<EntriesReceived>,
    mut telemetry: MessageWriter<TelemetryReceived>,
    mut metrics: MessageWriter<MetricsReceived>,
    mut errors: MessageWriter<ServerErrorReceived>,
    mut undecodable: MessageWriter<UndecodableReceived>,
    mut outbox: MessageWriter<OutboxChanged>,
    mut restored: MessageWriter<RestoredReceived>,
) {
    let Some(link) = link else { return };
    for update in link.updates.try_iter().take(MAX_UPDATES_PER_FRAME) {
        match update {
            Update::Connection(state) => apply_connection(state, &mut info, &mut next),
            Update::Snapshot { epoch, seq, entities } => {
                info.snapshots += 1;
                snapshots.write(SnapshotReceived { epoch, seq, entities });
            }
            Update::Entries { epoch, items } => {
                info.entries += items.len() as u64;
                entries.write(EntriesReceived { epoch, items });
            }
            Update::Telemetry(t) => {
                info.telemetry += 1;
                telemetry.write(TelemetryReceived(t));
            }
            Update::Metrics(m) => {
                metrics.write(MetricsReceived(m));
            }
            Update::ServerError(e) => {
                warn!(code = e.code.as_str(), message = %e.message, "gateway reported an error");
                errors.write(ServerErrorReceived(e));
            }
            Update::Restored { pending, confirmed } => {
                // Offline-first boot: show the last known state (and the changes
                // still waiting) until the gateway answers.
                if let Some(c) = &confirmed {
                    info.restored_as_of_ms = Some(c.as_of_ms);
                    info!(epoch = %c.position.epoch, seq = c.position.seq, as_of_ms = c.as_of_ms, "starting from the saved state");
                }
                outbox.write(OutboxChanged::Restored { pending: pending.len() });
                restored.write(RestoredReceived { confirmed, pending });
            }
            Update::Queued { mutation_id } => {
                outbox.write(OutboxChanged::Queued(mutation_id));
            }
            Update::OutboxFull { mutation_id, capacity } => {
                outbox.write(OutboxChanged::Full { mutation_id, capacity });
            }
            Update::Acked { mutation_id, ack } => {
                outbox.write(OutboxChanged::Acked { mutation_id, ack });
            }
            Update::Undecodable { kind, id, seq, error } => {
                warn!(%kind, ?id, ?seq, %error, "could not read something the gateway sent; kept the rest");
                undecodable.write(UndecodableReceived { kind, id, seq, error });
            }
            Update::StoreFailed { mutation_id, message } => {
                error!(%message, "client store failed");
                outbox.write(OutboxChanged::StoreFailed { mutation_id, message });
            }
        }
    }
}

fn send_controls(link: Option<Res<NetLink>>, mut out: MessageReader<Outgoing>) {
    let Some(link) = link else { return };
    for Outgoing(c) in out.read() {
        link.send(c.clone());
    }
}

fn apply_connection(state: ConnectionState, info: &mut LinkInfo, next: &mut NextState<LinkState>) {
    match state {
        ConnectionState::Connecting { server, .. } => {
            info.server = Some(server);
            next.set(LinkState::Connecting);
        }
        ConnectionState::Live { server, mode } => {
            info.restored_as_of_ms = None;
            info.down_since_ms = None;
            info.server = Some(server);
            info.mode = Some(mode);
            info.reason = None;
            info.retry_in = None;
            next.set(LinkState::Live);
        }
        ConnectionState::Reconnecting { reason, retry_in } => {
            info.reconnects += 1;
            info.down_since_ms.get_or_insert_with(vizora_protocol::now_ms);
            info.reason = Some(reason);
            info.retry_in = Some(retry_in);
            next.set(LinkState::Reconnecting);
        }
        ConnectionState::Refused(code) => {
            info.reason = Some(format!("refused: {}", code.as_str()));
            info.down_since_ms.get_or_insert_with(vizora_protocol::now_ms);
            next.set(LinkState::Refused);
        }
        ConnectionState::Misconfigured { server, reason } => {
            info.reason = Some(format!("{server}: {reason}"));
            info.server = Some(server);
            info.down_since_ms.get_or_insert_with(vizora_protocol::now_ms);
            next.set(LinkState::Refused);
        }
        ConnectionState::Stopped => next.set(LinkState::Offline),
    }
}
