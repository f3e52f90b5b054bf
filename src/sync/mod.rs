//! The data layer: the bridge to the client IO thread ([`net`]), the sync
//! plugin that keeps the fleet current and applies operator changes
//! optimistically ([`fleet`]), and the metrics history ([`history`]). It
//! emits facts as messages and resources; it never draws.

pub mod fleet;
pub mod history;
pub mod net;
