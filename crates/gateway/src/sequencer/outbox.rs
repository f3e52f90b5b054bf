//! One `/wall` consumer's outbox. Live entries leave at once while the
//! consumer's socket writer has taken every frame it was given; while it
//! still holds one (the socket is behind, or the writer has not run yet),
//! new commits wait here and leave together as one `events` frame (split
//! only at the packet bound of PROTOCOL.md §8) the moment it takes that
//! frame. Frames per entry fall as load rises, and at low load nothing is
//! delayed. `telemetry` and `metrics` wait latest-wins. What waits, and what
//! was handed over and not yet taken, is counted in bytes: past the budget
//! the consumer is disconnected, to resume by replay.
//!
//! This is how Centrifugo's client writer merges its queue into one frame,
//! with the writer's progress as the clock instead of a timer. "Taken" is
//! observed without a task per consumer: each frame handed to the peer
//! owns a guard that tells the outbox when the peer's writer drops it
//! (engineioxide's does once it has copied the frame out of its queue).

use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, Weak};

use super::packets::events_packets;
use crate::metrics::Counters;
use crate::peer::{Close, Packet, PacketOwner, Peer, PeerRef};

/// The entries of one commit of one org, shared by every consumer.
pub(crate) struct Block {
    epoch: Arc<str>,
    /// Each entry's JSON, in seq order.
    items: Vec<String>,
    /// The same as `events` packets, for a consumer that is not behind.
    packets: Vec<Packet>,
    bytes: usize,
}

impl Block {
    pub(crate) fn new(epoch: &Arc<str>, items: Vec<String>, packet_bytes: usize) -> Arc<Self> {
        let packets = events_packets(epoch, items.iter().map(String::as_str), packet_bytes);
        let bytes = packets.iter().map(|p| p.len()).sum();
        Arc::new(Self { epoch: epoch.clone(), items, packets, bytes })
    }
}

/// The lossy streams, one latest-wins slot each.
#[derive(Clone, Copy)]
pub(crate) enum Lossy {
    Telemetry = 0,
    Metrics = 1,
}

/// Why a push did not queue.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Over the byte budget: the consumer was disconnected.
    TooSlow,
    /// The outbox or its socket is closed.
    Closed,
}

pub(crate) struct Outbox {
    sock: Weak<dyn Peer>,
    budget: usize,
    packet_bytes: usize,
    counters: Arc<Counters>,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    blocks: Vec<Arc<Block>>,
    lossy: [Option<Arc<Vec<Packet>>>; 2],
    /// Bytes of `blocks` and `lossy`.
    queued_bytes: usize,
    /// Frames handed to the socket that its writer has not taken, and their bytes.
    in_flight: usize,
    in_flight_bytes: usize,
    /// A replay is being sent: live entries wait behind it.
    paused: bool,
    closed: bool,
}

impl Inner {
    fn has_work(&self) -> bool {
        !self.blocks.is_empty() || self.lossy.iter().any(Option::is_some)
    }
}

/// What to drop only once the lock is released: dropping a tracked frame,
/// or the last handle on a socket (which drops its queue), re-enters the outbox.
#[derive(Default)]
struct Graveyard {
    frames: Vec<Packet>,
    sock: Option<PeerRef>,
}

impl Outbox {
    pub(crate) fn new(
        sock: &PeerRef,
        budget: usize,
        packet_bytes: usize,
        counters: Arc<Counters>,
        paused: bool,
    ) -> Arc<Self> {
        let inner = Inner { paused, ..Inner::default() };
        Arc::new(Self { sock: Arc::downgrade(sock), budget, packet_bytes, counters, inner: Mutex::new(inner) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues one commit's entries; sends them now if nothing is waiting.
    pub(crate) fn push(self: &Arc<Self>, block: &Arc<Block>) -> Result<(), Refused> {
        let mut grave = Graveyard::default();
        let r = {
            let mut g = self.lock();
            if g.closed {
                Err(Refused::Closed)
            } else if g.queued_bytes + g.in_flight_bytes > 0
                && g.queued_bytes + g.in_flight_bytes + block.bytes > self.budget
            {
                // Only a backlog counts: one block larger than the budget
                // still goes to a consumer that is keeping up.
                self.close_locked(&mut g);
                Err(Refused::TooSlow)
            } else {
                g.queued_bytes += block.bytes;
                g.blocks.push(block.clone());
                self.drain_locked(&mut g, &mut grave);
                // The socket's own queue was full (or it closed) meanwhile.
                if g.closed { Err(Refused::Closed) } else { Ok(()) }
            }
        };
        if r == Err(Refused::TooSlow)
            && let Some(s) = self.sock.upgrade()
        {
            s.close(Close::TooSlow);
        }
        drop(grave);
        r
    }

    /// Replaces what waits of a lossy stream; sends it now if nothing is waiting.
    pub(crate) fn push_lossy(self: &Arc<Self>, slot: Lossy, packets: &Arc<Vec<Packet>>) {
        let mut grave = Graveyard::default();
        {
            let mut g = self.lock();
            if g.closed {
                return;
            }
            let size: usize = packets.iter().map(|p| p.len()).sum();
            if let Some(old) = g.lossy[slot as usize].replace(packets.clone()) {
                g.queued_bytes -= old.iter().map(|p| p.len()).sum::<usize>();
            }
            g.queued_bytes += size;
            self.drain_locked(&mut g, &mut grave);
        }
        drop(grave);
    }

    /// The replay went out: what waited follows it.
    pub(crate) fn resume(self: &Arc<Self>) {
        let mut grave = Graveyard::default();
        {
            let mut g = self.lock();
            g.paused = false;
            self.drain_locked(&mut g, &mut grave);
        }
        drop(grave);
    }

    /// Sends a replay packet straight to the socket, unless this outbox was
    /// closed (the consumer subscribed again or left): a replay never
    /// follows a newer subscribe's ack. `false` when it did not go.
    pub(crate) fn emit_replay(&self, packet: Packet) -> bool {
        let g = self.lock();
        if g.closed {
            return false;
        }
        let Some(sock) = self.sock.upgrade() else { return false };
        // An untracked packet: a refused one is dropped here harmlessly.
        let sent = sock.send(packet).is_ok();
        drop(g);
        drop(sock);
        sent
    }

    /// Nothing more goes out (the consumer subscribed again or left).
    pub(crate) fn close(&self) {
        let mut g = self.lock();
        self.close_locked(&mut g);
    }

    fn close_locked(&self, g: &mut Inner) {
        g.closed = true;
        g.blocks.clear();
        g.lossy = [None, None];
        g.queued_bytes = 0;
    }

    /// The writer took a frame of `bytes`.
    fn taken(self: &Arc<Self>, bytes: usize) {
        let mut grave = Graveyard::default();
        {
            let mut g = self.lock();
            g.in_flight -= 1;
            g.in_flight_bytes -= bytes;
            self.drain_locked(&mut g, &mut grave);
        }
        drop(grave);
    }

    /// Sends everything waiting as few frames as the bound allows, if the
    /// writer has taken all it was given.
    fn drain_locked(self: &Arc<Self>, g: &mut Inner, grave: &mut Graveyard) {
        if g.closed || g.paused || g.in_flight > 0 || !g.has_work() {
            return;
        }
        let Some(sock) = self.sock.upgrade() else {
            self.close_locked(g);
            return;
        };
        let blocks = std::mem::take(&mut g.blocks);
        let mut frames: Vec<Packet> = Vec::new();
        if let [only] = blocks.as_slice() {
            frames.extend(only.packets.iter().cloned());
        } else {
            let mut rest = blocks.as_slice();
            while let Some(first) = rest.first() {
                // One epoch per packet: a new epoch starts a new run.
                let n = rest.iter().take_while(|b| b.epoch == first.epoch).count();
                let items = rest[..n].iter().flat_map(|b| b.items.iter().map(String::as_str));
                frames.extend(events_packets(&first.epoch, items, self.packet_bytes));
                rest = &rest[n..];
            }
        }
        let entries: usize = blocks.iter().map(|b| b.items.len()).sum();
        if !blocks.is_empty() {
            self.counters.wall_event_frames.fetch_add(frames.len() as u64, Relaxed);
            self.counters.wall_event_entries.fetch_add(entries as u64, Relaxed);
        }
        for slot in &mut g.lossy {
            if let Some(p) = slot.take() {
                frames.extend(p.iter().cloned());
            }
        }
        g.queued_bytes = 0;
        for f in frames {
            let len = f.len();
            g.in_flight += 1;
            g.in_flight_bytes += len;
            if let Err(back) = sock.send(Packet::owned_by(Tracked { frame: f, outbox: Arc::downgrade(self) })) {
                // Its queue of packets is full too (or it closed): cut it;
                // it resumes by replay.
                grave.frames.push(back);
                self.close_locked(g);
                sock.close(Close::TooSlow);
                break;
            }
        }
        grave.sock = Some(sock);
    }
}

/// A frame that tells its outbox when the peer's writer has taken it.
struct Tracked {
    frame: Packet,
    outbox: Weak<Outbox>,
}

impl PacketOwner for Tracked {
    fn packet(&self) -> &Packet {
        &self.frame
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if let Some(o) = self.outbox.upgrade() {
            o.taken(self.frame.len());
        }
    }
}
