//! The IO side of a Vizora client: one OS thread with a tokio runtime that
//! keeps a `/wall` session alive (reconnect with backoff, subscribe with
//! `since`, gap detection) and hands everything to the caller through
//! bounded crossbeam channels. The caller never blocks on IO.

pub mod backoff;
mod run;
pub mod transport;

use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use vizora_protocol::{AuthErrorCode, Entity, ErrorMsg, LogEntry, Metrics, Position, SubscribeMode, Telemetry};

/// How to reach the gateway.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Gateway base URLs (`ws://host:port`), tried in turn.
    pub servers: Vec<String>,
    /// JWT for `/wall`.
    pub token: String,
    /// Resume point from an earlier run.
    pub since: Option<Position>,
    /// Longest wait between reconnect attempts.
    pub backoff_cap: Duration,
    /// Capacity of the update channel.
    pub update_capacity: usize,
    /// Give up on a connect attempt after this long.
    pub connect_timeout: Duration,
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
    /// The server refused the token; no more retries until told.
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
}

/// Requests to the IO thread.
#[derive(Debug, Clone)]
pub enum Control {
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
    control: Sender<Control>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ClientHandle {
    /// Sends a control request (never blocks).
    pub fn control(&self, c: Control) {
        let _ = self.control.try_send(c);
    }

    /// Shuts the IO thread down and waits for it.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let _ = self.control.try_send(Control::Shutdown);
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
    let (ctl_tx, ctl_rx) = crossbeam_channel::bounded(64);
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
