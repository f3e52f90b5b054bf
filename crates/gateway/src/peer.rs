//! What the sequencer sees of a connected client: a [`Peer`]. The socket
//! layer implements it for its Engine.IO sessions; the sequencer only hands
//! it whole, encoded Socket.IO packets without waiting, closes it, and asks
//! whether it is still on an org's `/wall`. It never sees the transport.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

/// A peer's id, unique for the process's life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PeerId(pub u64);

impl PeerId {
    /// A fresh id.
    pub fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Self(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

impl std::fmt::Display for PeerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "peer-{}", self.0)
    }
}

/// One encoded Socket.IO packet: UTF-8 text, shared (a clone copies no
/// bytes). It is held as the Engine.IO message that carries it (`4` and the
/// packet), so a WebSocket writer frames it without copying it again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet(Bytes);

/// Engine.IO's message packet type, before every Socket.IO packet.
const MESSAGE: u8 = b'4';

impl Packet {
    /// A packet from an Engine.IO message (`4` and the Socket.IO packet), as
    /// the sequencer's packet builders write them.
    pub fn from_message(message: String) -> Self {
        if message.as_bytes().first() == Some(&MESSAGE) { Self(Bytes::from(message)) } else { Self::from(message) }
    }

    /// The Socket.IO packet's length in bytes.
    pub fn len(&self) -> usize {
        self.0.len() - 1
    }

    /// Whether it is empty (no packet is).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The Socket.IO packet's bytes (UTF-8).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0[1..]
    }

    /// The packet `owner` holds, with `owner` kept alive until the last
    /// clone of the result is dropped: how a sender learns that a peer's
    /// writer has taken a packet off its queue.
    pub fn owned_by<T: PacketOwner>(owner: T) -> Self {
        Self(Bytes::from_owner(Owned(owner)))
    }

    /// The Socket.IO packet's bytes, which are UTF-8 (every packet is made
    /// from a `String`).
    pub fn into_utf8_bytes(self) -> Bytes {
        self.0.slice(1..)
    }

    /// The Engine.IO message carrying it (`4` and the packet), UTF-8.
    pub fn into_message_bytes(self) -> Bytes {
        self.0
    }

    /// A packet back from a transport that was given [`Packet::into_utf8_bytes`].
    pub fn from_utf8_bytes(bytes: Bytes) -> Option<Self> {
        let text = std::str::from_utf8(&bytes).ok()?;
        Some(Self::from(text.to_owned()))
    }
}

impl From<String> for Packet {
    /// A packet from a Socket.IO packet's text.
    fn from(s: String) -> Self {
        let mut m = Vec::with_capacity(s.len() + 1);
        m.push(MESSAGE);
        m.extend_from_slice(s.as_bytes());
        Self(Bytes::from(m))
    }
}

/// Something that holds a packet (see [`Packet::owned_by`]).
pub trait PacketOwner: Send + 'static {
    /// The packet.
    fn packet(&self) -> &Packet;
}

struct Owned<T>(T);

impl<T: PacketOwner> AsRef<[u8]> for Owned<T> {
    fn as_ref(&self) -> &[u8] {
        &self.0.packet().0
    }
}

/// Why the sequencer closes a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Close {
    /// Refused or replaced (a removed device; a newer session of the same player).
    Refused,
    /// It fell too far behind, or its queue was full: it resumes by replay.
    TooSlow,
    /// The gateway is shutting down (or its state was rebuilt): reconnect.
    ServerClosing,
}

/// A connected client, as the sequencer uses it.
pub trait Peer: Send + Sync + std::fmt::Debug {
    /// Its id.
    fn id(&self) -> PeerId;
    /// Queues a packet without waiting; gives it back when the peer's
    /// queue is full or the peer is gone. Keeps no copy of a packet it
    /// queued (see [`Packet::owned_by`]: the owner is dropped wherever the
    /// last copy is).
    fn send(&self, packet: Packet) -> Result<(), Packet>;
    /// Closes the connection.
    fn close(&self, why: Close);
    /// Whether the session is joined to `/wall` of `org` (it left, or its
    /// token expired: not).
    fn on_wall_of(&self, org: &str) -> bool;
}

/// A shared handle on a peer.
pub type PeerRef = Arc<dyn Peer>;
