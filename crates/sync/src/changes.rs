//! What a step of the sync engine changed, for the UI and the IO side.

use vizora_protocol::{Entity, EntityKind, Mutation, Position, RejectCode};

/// An entity's kind and id.
pub type EntityKey = (EntityKind, String);

/// A local mutation the server refused: it left the pending list and the view
/// rolled back. The user should be told why.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollback {
    /// The mutation as it was sent.
    pub mutation: Mutation,
    /// The server's reason; `None` for a `duplicate` ack without `seq`, which
    /// answers a mutation rejected earlier whose rejection never arrived.
    pub code: Option<RejectCode>,
    /// The server's text (for `invalid` it names the field).
    pub message: String,
    /// The entity now, on `conflict`.
    pub current: Option<Entity>,
}

/// The engine must re-subscribe (PROTOCOL.md §5) with `since` = [`crate::SyncEngine::position`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resubscribe {
    /// `seq` jumped: entries are missing after `since`; the server can replay them.
    Gap {
        /// The last applied position.
        since: Position,
        /// The seq that arrived instead of `since.seq + 1`.
        got: u64,
    },
    /// Entries of another epoch, or entries before any snapshot: the server
    /// will answer with a snapshot.
    NewEpoch {
        /// The epoch the entries carried.
        epoch: String,
    },
}

/// What one call changed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    /// Entities whose value in the view changed (appeared, changed or went), sorted.
    pub changed: Vec<EntityKey>,
    /// Ids of local mutations the log now holds: they left the pending list, applied.
    pub confirmed: Vec<String>,
    /// Local mutations the server refused: they left the pending list.
    pub rollbacks: Vec<Rollback>,
    /// Set when the rest of the entries could not be applied.
    pub resubscribe: Option<Resubscribe>,
    /// Log entries applied.
    pub entries_applied: usize,
    /// Log entries skipped as already applied.
    pub entries_skipped: usize,
}

impl Changes {
    /// Whether nothing at all happened.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// What an ack did to a pending mutation.
#[derive(Debug, Clone, PartialEq)]
pub enum AckOutcome {
    /// Applied; it stays pending (and visible) until the log brings its change.
    Waiting,
    /// Applied, and nothing is left to wait for: it left the pending list. For
    /// `applied` the confirmed state holds it; for `duplicate` (decided on an
    /// earlier connection, its `seq` maybe of an earlier epoch) the log holds
    /// it or is bringing it.
    Confirmed(Changes),
    /// Refused: it left the pending list and the view rolled back
    /// ([`Changes::rollbacks`] says why).
    RolledBack(Changes),
    /// `rate_limited`: still pending and undecided; send it again later.
    Retry,
    /// No pending mutation has this id (its entry already confirmed it, or it never was).
    Unknown,
}

/// Running totals since the engine was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Log entries applied.
    pub entries_applied: u64,
    /// Log entries skipped as duplicates.
    pub entries_skipped: u64,
    /// Gaps seen.
    pub gaps: u64,
    /// Batches refused for another epoch (or no position).
    pub new_epochs: u64,
    /// Snapshots applied.
    pub snapshots: u64,
    /// Local mutations confirmed applied.
    pub confirmed: u64,
    /// Local mutations rolled back.
    pub rolled_back: u64,
}
