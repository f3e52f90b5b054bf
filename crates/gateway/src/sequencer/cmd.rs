//! The commands the sequencer takes from the socket layer, the HTTP API
//! and the follower of the shared log.

use vizora_protocol::device::{Heartbeat, Playback};
use vizora_protocol::{MutationAck, Position, ScheduleExecuted};

use super::{ReadCtx, Replier};
use crate::peer::PeerId;
use crate::peer::PeerRef;

/// Work for the sequencer.
pub enum Cmd {
    /// A player passed auth on `/device`.
    DeviceConnected {
        /// Org.
        org: String,
        /// Device id (token `sub`).
        device_id: String,
        /// The token's `iat` in milliseconds, rounded down (0 when absent).
        iat_ms: u64,
        /// Its socket.
        sock: PeerRef,
    },
    /// A player's `/device` session ended.
    DeviceGone {
        /// Org.
        org: String,
        /// Device id.
        device_id: String,
        /// The socket that ended (a newer one may have replaced it).
        sid: PeerId,
    },
    /// Heartbeats are waiting in the coalescing map.
    Heartbeats,
    /// `heartbeat`.
    Heartbeat {
        /// Org.
        org: String,
        /// Device id.
        device_id: String,
        /// Payload.
        hb: Heartbeat,
    },
    /// `playback`.
    Playback {
        /// Org.
        org: String,
        /// Payload.
        pb: Playback,
    },
    /// A player acknowledged a `command`.
    CommandAcked {
        /// The player's org.
        org: String,
        /// The player's socket.
        sid: PeerId,
        /// The ack id the command was sent with.
        ack: u64,
        /// The ack's first argument, raw JSON.
        reply: String,
    },
    /// `schedule.executed` from a player (device id already checked).
    ScheduleExecuted {
        /// Org.
        org: String,
        /// Payload.
        ev: ScheduleExecuted,
    },
    /// `subscribe` on `/wall`.
    Subscribe {
        /// Org.
        org: String,
        /// Subscriber.
        sock: PeerRef,
        /// Ack id to answer.
        ack: u64,
        /// Resume point.
        since: Option<Position>,
    },
    /// `mutate` on `/wall`, or a change through the HTTP API (args
    /// already decoded and validated).
    Mutate {
        /// Who sent it.
        claims: vizora_protocol::Claims,
        /// Where the outcome goes, once it is on disk.
        to: Replier,
        /// The request.
        mutation: Box<vizora_protocol::Mutation>,
    },
    /// A mutation decided before reaching the sequencer (invalid args), to remember.
    Decided {
        /// Org.
        org: String,
        /// Where the outcome goes.
        to: Replier,
        /// Client id.
        client_id: String,
        /// Mutation id.
        mutation_id: String,
        /// The outcome.
        reply: MutationAck,
    },
    /// A `/wall` session ended.
    Unsubscribe {
        /// Org.
        org: String,
        /// Socket id.
        sid: PeerId,
    },
    /// A subscriber's replay was sent (`ok`), or failed.
    CaughtUp {
        /// Org.
        org: String,
        /// Socket id.
        sid: PeerId,
        /// Which subscribe of that socket it answered.
        round: u64,
        /// Whether every entry went out.
        ok: bool,
    },
    /// A read of an org's committed state (the HTTP API): runs on the
    /// sequencer after a flush, so it sees exactly what is on disk.
    Read {
        /// Org.
        org: String,
        /// The read; it answers through its own channel.
        read: Box<dyn FnOnce(ReadCtx<'_>) + Send>,
    },
    /// Several nodes: a message of the shared log (a batch some node wrote).
    Shared {
        /// Org.
        org: String,
        /// Its sequence in the shared log.
        seq: u64,
        /// The batch, as written.
        payload: bytes::Bytes,
    },
    /// Several nodes: another node's live relay (its players' live fields and plays).
    Live {
        /// Org.
        org: String,
        /// A `LiveRelay`, as sent.
        payload: bytes::Bytes,
    },
    /// Flush, close every socket, stop.
    Shutdown,
}

impl Cmd {
    /// The org the command is about: it goes to the sequencer thread that
    /// owns that org. `None`: every thread (`Shutdown`, `Heartbeats`).
    pub fn org(&self) -> Option<&str> {
        match self {
            Cmd::DeviceConnected { org, .. }
            | Cmd::DeviceGone { org, .. }
            | Cmd::Heartbeat { org, .. }
            | Cmd::Playback { org, .. }
            | Cmd::CommandAcked { org, .. }
            | Cmd::ScheduleExecuted { org, .. }
            | Cmd::Subscribe { org, .. }
            | Cmd::Decided { org, .. }
            | Cmd::Unsubscribe { org, .. }
            | Cmd::CaughtUp { org, .. }
            | Cmd::Read { org, .. }
            | Cmd::Shared { org, .. }
            | Cmd::Live { org, .. } => Some(org),
            Cmd::Mutate { claims, .. } => Some(&claims.org),
            Cmd::Heartbeats | Cmd::Shutdown => None,
        }
    }
}
