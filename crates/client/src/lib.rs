//! The IO side of a Vizora client: one OS thread with a tokio runtime that
//! keeps a `/wall` session alive (reconnect with backoff, subscribe with
//! `since`, gap detection) and hands everything to the caller through
//! bounded crossbeam channels. The caller never blocks on IO.
//!
//! It also delivers the caller's mutations (PROTOCOL.md §6): each is on disk
//! in the outbox before it is reported [`Update::Queued`], is sent again
//! with its original id after every reconnect and every ack timeout, and
//! leaves the outbox only when the server decides it ([`Update::Acked`]).
//! With a store file, the last confirmed state survives a restart too
//! ([`Update::Restored`]) and the client resumes from its position.

pub mod backoff;
mod cache;
pub mod cli;
mod outbox;
mod run;
pub mod transport;

use std::path::PathBuf;
use std::time::Duration;

use crossbeam_channel::Receiver;
use vizora_protocol::{
    ApplyCtx, AuthErrorCode, Entity, ErrorMsg, LogEntry, Metrics, Mutation, MutationAck, Position, SubscribeMode,
    Telemetry,
};
pub use vizora_sync::{ConfirmedState, QueuedMutation};

/// How to reach the gateway.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Gateway base URLs (`ws://host:port`), tried in turn.
    pub servers: Vec<String>,
    /// JWT for `/wall` (unused when `token_file` is set).
    pub token: String,
    /// Resume point from an earlier run; a confirmed state restored from
    /// `store_path` takes precedence (its position matches its entities).
    pub since: Option<Position>,
    /// Longest wait between reconnect attempts.
    pub backoff_cap: Duration,
    /// Capacity of the update channel.
    pub update_capacity: usize,
    /// Give up on a connect attempt after this long.
    pub connect_timeout: Duration,
    /// The outbox and state cache file; `None` keeps the outbox in memory
    /// only (lost with the process) and caches no state.
    pub store_path: Option<PathBuf>,
    /// Most unacknowledged mutations the outbox holds; beyond it new ones
    /// are refused ([`Update::OutboxFull`]).
    pub outbox_capacity: usize,
    /// A mutation not acked within this is sent again with the same id.
    pub ack_timeout: Duration,
    /// How often the confirmed state is saved to the store file (when it moved).
    pub state_save_interval: Duration,
    /// A file holding the token (whitespace trimmed), read before every
    /// connect: rotate tokens by rewriting it. Overrides `token`.
    pub token_file: Option<PathBuf>,
    /// PEM file of a private CA to trust for `wss://` (besides the public roots).
    pub ca_file: Option<PathBuf>,
}

impl ClientConfig {
    /// Defaults for one server and a token.
    pub fn new(server: impl Into<String>, token: impl Into<String>) -> Self {
        Self {
            servers: vec![server.into()],
            token: token.into(),
            since: None,
            backoff_cap: Duration::from_secs(10),
            update_capacity: 4096,
            connect_timeout: Duration::from_secs(5),
            store_path: None,
            outbox_capacity: vizora_sync::DEFAULT_OUTBOX_CAPACITY,
            ack_timeout: Duration::from_secs(10),
            state_save_interval: Duration::from_secs(5),
            token_file: None,
            ca_file: None,
        }
    }
}

/// Connection state, as the caller should show it.
#[derive(Debug, Clone, PartialEq)]
pub enum ConnectionState {
    /// Dialling `server` (attempt n, from 1).
    Connecting {
        /// URL.
        server: String,
        /// Attempt number since the last success.
        attempt: u32,
    },
    /// Subscribed and receiving.
    Live {
        /// URL.
        server: String,
        /// How the server caught us up.
        mode: SubscribeMode,
    },
    /// Lost; next attempt after `retry_in`.
    Reconnecting {
        /// Why.
        reason: String,
        /// Wait before the next attempt.
        retry_in: Duration,
    },
    /// The server refused the token; no more retries until told
    /// ([`Control::Reconnect`]). An expired token is retried instead when
    /// it comes from `token_file`, which is read again.
    Refused(AuthErrorCode),
    /// Shut down.
    Stopped,
}

/// What the IO thread tells the caller.
#[derive(Debug, Clone)]
pub enum Update {
    /// Connection state changed.
    Connection(ConnectionState),
    /// A complete snapshot (all five kinds), consistent as of `seq`: replace everything.
    Snapshot {
        /// Epoch.
        epoch: String,
        /// Position.
        seq: u64,
        /// Every entity.
        entities: Vec<Entity>,
    },
    /// Log entries, in order, without gaps or duplicates.
    Entries {
        /// Epoch.
        epoch: String,
        /// Entries.
        items: Vec<LogEntry>,
    },
    /// Latest device health (lossy).
    Telemetry(Telemetry),
    /// Fleet metrics (lossy).
    Metrics(Metrics),
    /// The server said we did something wrong.
    ServerError(ErrorMsg),
    /// First update of every run: what the store kept from the last one.
    /// Seed the sync engine with it ([`vizora_sync::SyncEngine::restore`]);
    /// the client resumes from `confirmed`'s position and delivers `pending`.
    Restored {
        /// Mutations still in the outbox, in the order they were made.
        pending: Vec<QueuedMutation>,
        /// The last saved confirmed state (none without a store file or before the first save).
        confirmed: Option<ConfirmedState>,
    },
    /// A [`Control::Mutate`] is on disk in the outbox; it will be delivered.
    Queued {
        /// Its id.
        mutation_id: String,
    },
    /// A [`Control::Mutate`] was refused: the outbox holds `capacity`
    /// undecided mutations. Nothing queued was dropped.
    OutboxFull {
        /// The refused mutation's id.
        mutation_id: String,
        /// The configured capacity.
        capacity: usize,
    },
    /// The server decided a queued mutation (`applied`, `rejected` or
    /// `duplicate`, never `rate_limited`); it left the outbox. Pass it to
    /// [`vizora_sync::SyncEngine::ack`].
    Acked {
        /// Its id.
        mutation_id: String,
        /// The server's answer.
        ack: MutationAck,
    },
    /// The store failed. With `mutation_id`, that mutation was not queued;
    /// without, the state cache or the store file is unusable (the outbox
    /// then lives in memory only).
    StoreFailed {
        /// The mutation that was not queued, if any.
        mutation_id: Option<String>,
        /// What went wrong, for the user.
        message: String,
    },
}

/// Requests to the IO thread.
#[derive(Debug, Clone)]
#[expect(clippy::large_enum_variant, reason = "controls are few; boxing would only burden callers")]
pub enum Control {
    /// Queue a mutation durably and deliver it; answered by [`Update::Queued`]
    /// (or [`Update::OutboxFull`] / [`Update::StoreFailed`]), later [`Update::Acked`].
    Mutate {
        /// The mutation, with a fresh `mutation_id`.
        mutation: Mutation,
        /// The context the caller's engine applied it with, kept with it for replays after a restart.
        ctx: ApplyCtx,
    },
    /// Drop the session and reconnect now.
    Reconnect,
    /// Close and stop the thread.
    Shutdown,
}

/// The caller's end: updates out, controls in.
#[derive(Debug)]
pub struct ClientHandle {
    /// Updates from the IO thread.
    pub updates: Receiver<Update>,
    // Unbounded on purpose: a mutation must never be dropped on the way in;
    // they come at the pace of user actions and the IO thread drains them at once.
    control: tokio::sync::mpsc::UnboundedSender<Control>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ClientHandle {
    /// Sends a control request (never blocks; ignored once the IO thread has stopped).
    pub fn control(&self, c: Control) {
        let _ = self.control.send(c);
    }

    /// Shuts the IO thread down and waits for it.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let _ = self.control.send(Control::Shutdown);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for ClientHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts the IO thread.
pub fn spawn(cfg: ClientConfig) -> std::io::Result<ClientHandle> {
    let (up_tx, up_rx) = crossbeam_channel::bounded(cfg.update_capacity.max(16));
    let (ctl_tx, ctl_rx) = tokio::sync::mpsc::unbounded_channel();
    let thread = std::thread::Builder::new().name("vizora-client-io".into()).spawn(move || {
        let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                tracing::error!(cause = %e, "client runtime failed to start");
                return;
            }
        };
        rt.block_on(run::run(cfg, up_tx, ctl_rx));
    })?;
    Ok(ClientHandle { updates: up_rx, control: ctl_tx, thread: Some(thread) })
}
