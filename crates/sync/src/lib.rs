//! The client sync engine's pure parts: where a client stands in an org's
//! log, what to do with each arriving entry, and the optimistic view
//! (confirmed state + pending local mutations). No IO, no tokio, no Bevy.

pub mod changes;
pub mod cursor;
pub mod engine;

pub use changes::{AckOutcome, Changes, EntityKey, Resubscribe, Rollback, Stats};
pub use cursor::{Accept, Cursor};
pub use engine::{Pending, SyncEngine};
