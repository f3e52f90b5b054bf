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
//!
//! It assumes nothing of the server: an entity or log entry it cannot decode
//! is left out and reported ([`Update::Undecodable`]) while the rest is kept;
//! snapshots are held to a size and a time ([`ClientConfig::max_snapshot_entities`],
//! [`ClientConfig::snapshot_timeout`]); a server that keeps breaking the
//! protocol is retried ever more slowly; and a URL it cannot or must not use
//! (a token in the clear to another host) fails at once
//! ([`ConnectionState::Misconfigured`]).

pub mod backoff;
mod cache;
pub mod cli;
mod outbox;
mod run;
pub mod state_file;
mod tolerant;
pub mod transport;

use std::path::PathBuf;
use std::time::Duration;

use crossbeam_channel::Receiver;
pub use state_file::StateFile;
use vizora_protocol::{
    ApplyCtx, AuthErrorCode, Entity, ErrorMsg, LogEntry, Metrics, Mutation, MutationAck, Position, SubscribeMode,
    Telemetry,
};
pub use vizora_sync::{ConfirmedState, QueuedMutation};

/// How to reach the gateway.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Gateway base URLs (`ws[s]://host:port`, or `http[s]://` as Socket.IO
    /// clients take them), tried in turn.
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
    /// A mutation not acked within this is sent again with the same id; a
    /// subscribe not acked within this ends the session (resumed on a new one).
    pub ack_timeout: Duration,
    /// How often the confirmed state is saved to the store file (when it moved).
    pub state_save_interval: Duration,
    /// A file holding the token (whitespace trimmed), read before every
    /// connect: rotate tokens by rewriting it. Overrides `token`.
    pub token_file: Option<PathBuf>,
    /// PEM file of a private CA to trust for `wss://` (besides the public roots).
    pub ca_file: Option<PathBuf>,
    /// Allow sending the token over plain `ws://`/`http://` to a host that is
    /// not loopback (`--insecure`); without it such a server is refused
    /// ([`ConnectionState::Misconfigured`]).
    pub insecure: bool,
    /// A snapshot with more entities than this ends the session (then the
    /// normal backoff).
    pub max_snapshot_entities: usize,
    /// A snapshot not complete this long after the subscribe ack ends the session.
    pub snapshot_timeout: Duration,
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
            insecure: false,
            max_snapshot_entities: 1_000_000,
            snapshot_timeout: Duration::from_secs(120),
        }
    }

    /// Checks every server URL before anything is dialled: a scheme the
    /// client speaks, a host, and no token in the clear (`ws://`, `http://`)
    /// to a host that is not loopback unless [`Self::insecure`]. The IO
    /// thread does this first ([`ConnectionState::Misconfigured`]); a caller
    /// may do it earlier, while validating its own configuration.
    pub fn check_servers(&self) -> Result<(), UnusableServer> {
        let sends_token = !self.token.is_empty() || self.token_file.is_some();
        for server in &self.servers {
            let refuse = |reason: String| UnusableServer { server: server.clone(), reason };
            let url = transport::ServerUrl::parse(server).map_err(|e| match e {
                transport::TransportError::Url { problem, .. } => refuse(problem),
                other => refuse(other.to_string()),
            })?;
            if sends_token && !url.tls && !self.insecure && !url.is_loopback() {
                let host = &url.host;
                return Err(refuse(format!(
                    "refusing to send the token unencrypted to {host}: use wss:// or https://, or pass --insecure"
                )));
            }
        }
        Ok(())
    }
}

/// A server URL this configuration cannot or must not use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot use {server}: {reason}")]
pub struct UnusableServer {
    /// The URL as configured.
    pub server: String,
    /// Why, for the user.
    pub reason: String,
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
    /// `server` cannot or must not be used as configured (an unsupported
    /// URL, or a token that would travel unencrypted); found before dialling,
    /// and not retried until told ([`Control::Reconnect`] checks again).
    Misconfigured {
        /// URL.
        server: String,
        /// Why, for the user.
        reason: String,
    },
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
    /// Something the server sent could not be decoded and was left out; the
    /// rest of its snapshot or batch was kept. A log entry left out makes
    /// the client resync from a fresh snapshot. Lossy, like telemetry.
    Undecodable {
        /// The entity kind of a snapshot item (`"playlist"`) or the `type` of
        /// a log entry (`"playlist.upserted"`), as far as it could be read.
        kind: String,
        /// The entity's id, when it could be read.
        id: Option<String>,
        /// The log entry's seq (`None` for a snapshot item).
        seq: Option<u64>,
        /// What was wrong, for the user.
        error: String,
    },
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
    /// Give a queued mutation up: it is no longer sent and leaves the
    /// durable outbox (the caller shows it as failed). One already sent may
    /// still have been applied: the log then shows it.
    Withdraw {
        /// Its id.
        mutation_id: String,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn check(server: &str, token: &str, insecure: bool) -> Result<(), UnusableServer> {
        let mut cfg = ClientConfig::new(server, token);
        cfg.insecure = insecure;
        cfg.check_servers()
    }

    #[test]
    fn a_token_goes_in_the_clear_only_to_loopback_or_with_insecure() {
        let refused = check("ws://192.0.2.1:7700", "jwt", false).expect_err("plain ws:// to another host");
        assert_eq!(refused.server, "ws://192.0.2.1:7700");
        assert!(refused.reason.contains("192.0.2.1") && refused.reason.contains("--insecure"), "{refused}");
        assert!(check("http://192.0.2.1", "jwt", false).is_err(), "http:// is as plain as ws://");
        assert!(check("ws://192.0.2.1:7700", "jwt", true).is_ok(), "--insecure allows it");
        assert!(check("wss://192.0.2.1", "jwt", false).is_ok());
        assert!(check("https://192.0.2.1", "jwt", false).is_ok());
        for local in ["ws://127.0.0.1:7700", "ws://localhost:7700", "http://[::1]:7700"] {
            assert!(check(local, "jwt", false).is_ok(), "{local}");
        }
        assert!(check("ws://192.0.2.1", "", false).is_ok(), "no token, nothing to leak");
    }

    #[test]
    fn every_server_is_checked_and_a_bad_scheme_is_named() {
        let mut cfg = ClientConfig::new("ws://127.0.0.1:1", "jwt");
        cfg.servers.push("ftp://127.0.0.1:2".into());
        let e = cfg.check_servers().expect_err("the second server is unusable");
        assert_eq!(e.server, "ftp://127.0.0.1:2");
        assert!(e.reason.contains("ftp"), "{e}");
    }
}
