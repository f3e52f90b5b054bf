//! The client sync engine's pure parts: where a client stands in an org's
//! log, what to do with each arriving entry, and the optimistic view
//! (confirmed state + pending local mutations), and its durable outbox and
//! state cache (SQLite). No sockets, no tokio, no Bevy.

pub mod changes;
pub mod cursor;
pub mod engine;
mod fold;
mod keys;
pub mod store;

pub use changes::{AckOutcome, Changes, EntityKey, Resubscribe, Rollback, Stats};
pub use cursor::{Accept, Cursor};
pub use engine::{Pending, SyncEngine};
pub use store::{ClientStore, ConfirmedState, DEFAULT_OUTBOX_CAPACITY, QueuedMutation, StoreError};
