//! The Vizora wire contract (`PROTOCOL.md`, version 1) as serde types, plus the
//! Engine.IO 4 / Socket.IO 5 text codec and the mutation argument rules that
//! client and gateway share. No IO lives here.

pub mod apply;
pub mod auth;
pub mod bounds;
pub mod codec;
pub mod device;
pub mod entity;
pub mod event;
pub mod mutation;
pub mod org_state;
pub mod schedule;
pub mod stream;

pub use apply::{Applied, ApplyCtx, Rejection, apply, lookups};
pub use auth::{AuthErrorCode, Claims, ConnectErrorData, ConnectErrorPayload, Role};
pub use entity::{
    Alert, AlertState, Content, ContentKind, Device, DeviceStatus, Entity, EntityKind, Health, Playing, Playlist,
    PlaylistItem, Schedule, ScheduleTarget, Severity,
};
pub use event::{DeviceStatusData, Event, ExecutionOutcome, LogEntry, MutationApplied, Removed, ScheduleExecuted};
pub use mutation::{ArgError, Mutation, MutationAck, MutationOp, RejectCode};
pub use org_state::OrgState;
pub use stream::{
    ErrorCode, ErrorMsg, Events, Metrics, Position, SnapshotPage, Subscribe, SubscribeAck, SubscribeMode, Telemetry,
    TelemetryDevice, TopContent,
};

/// Namespace for dashboards and wallboards.
pub const NS_WALL: &str = "/wall";
/// Namespace for signage players.
pub const NS_DEVICE: &str = "/device";

/// Current time in Unix milliseconds, the unit of every `*_ms` field.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}
