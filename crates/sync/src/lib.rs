//! The client sync engine's pure parts: where a client stands in an org's
//! log and what to do with each arriving entry. No IO, no tokio, no Bevy.

pub mod cursor;

pub use cursor::{Accept, Cursor};
