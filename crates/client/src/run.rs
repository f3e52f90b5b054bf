//! The IO thread's state machine: connect → subscribe → stream, and back
//! off and reconnect on any failure, resuming from the last delivered seq.
//! It owns the outbox (mutations are persisted, sent after every subscribe
//! and again until decided) and the state cache. A server that breaks the
//! protocol ends its session as an [`Exit::Violation`], which does not reset
//! the backoff, so one that keeps doing it is retried ever more slowly.

use std::time::Duration;

use crossbeam_channel::{Sender, TrySendError};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::mpsc::error::TryRecvError;
use tokio::time::Instant;
use vizora_protocol::bounds::MAX_SAFE_INT;
use vizora_protocol::{
    AuthErrorCode, ErrorCode, ErrorMsg, Metrics, Subscribe, SubscribeAck, SubscribeMode, Telemetry, now_ms,
};
use vizora_sync::{ClientStore, Cursor, QueuedMutation};

use crate::backoff::{Backoff, Burst};
use crate::cache::StateCache;
use crate::outbox::Outbox;
use crate::transport::{Incoming, Session, TransportError, deadline_after};
use crate::{ClientConfig, ConnectionState, Control, Update};

use self::feed::Snapshot;

mod feed;

/// How long state may wait for a slow caller before the session is dropped
/// (and resumed from the last delivered position).
const STATE_BACKPRESSURE_LIMIT: Duration = Duration::from_secs(2);

/// Most mutations persisted in one transaction.
const MUTATE_BATCH: usize = 4096;

/// More re-subscribes (gap, new epoch, undecodable entry) than this within
/// [`RESUBSCRIBE_WINDOW`] end the session: the server keeps contradicting
/// itself, and reconnecting goes through the backoff.
const RESUBSCRIBE_LIMIT: usize = 3;
/// See [`RESUBSCRIBE_LIMIT`].
const RESUBSCRIBE_WINDOW: Duration = Duration::from_secs(10);

enum Exit {
    Shutdown,
    Reconnect,
    Failed(String),
    /// The server broke the protocol or a bound: reconnect without
    /// resetting the backoff.
    Violation(String),
    Refused(AuthErrorCode),
    /// This server cannot be used as configured: no retries until told.
    Misconfigured(String),
}

struct Io {
    cfg: ClientConfig,
    tx: Sender<Update>,
    ctl: UnboundedReceiver<Control>,
    cursor: Cursor,
    backoff: Backoff,
    outbox: Outbox,
    /// Only with a store file.
    cache: Option<StateCache>,
    /// The current session got a subscribe ack.
    went_live: bool,
}

pub(crate) async fn run(cfg: ClientConfig, tx: Sender<Update>, ctl: UnboundedReceiver<Control>) {
    if let Some(mut io) = Io::start(cfg, tx.clone(), ctl).await {
        io.run().await;
    }
    state(&tx, ConnectionState::Stopped);
}

impl Io {
    /// Opens the store and reports [`Update::Restored`]; `None` when the
    /// caller is gone or not even an in-memory outbox can be made.
    async fn start(cfg: ClientConfig, tx: Sender<Update>, ctl: UnboundedReceiver<Control>) -> Option<Self> {
        let mut failures = Vec::new();
        let file = cfg.store_path.as_ref().and_then(|path| match ClientStore::open(path, cfg.outbox_capacity) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::error!(cause = %e, "client store unusable; the outbox lives in memory only");
                failures.push(e.to_string());
                None
            }
        });
        let durable = file.is_some();
        let store = match file {
            Some(s) => s,
            None => match ClientStore::in_memory(cfg.outbox_capacity) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(cause = %e, "no outbox at all; stopping");
                    let _ =
                        deliver_reliably(&tx, Update::StoreFailed { mutation_id: None, message: e.to_string() }).await;
                    return None;
                }
            },
        };
        let confirmed = match store.load_confirmed() {
            Ok(c) => c.filter(|_| durable),
            Err(e) => {
                failures.push(e.to_string());
                None
            }
        };
        let (outbox, pending) = Outbox::new(store, cfg.ack_timeout);
        let pending = pending.unwrap_or_else(|e| {
            failures.push(e.to_string());
            Vec::new()
        });
        let since = confirmed.as_ref().map(|c| c.position.clone()).or_else(|| cfg.since.clone());
        let cache = durable.then(|| StateCache::new(confirmed.as_ref(), cfg.state_save_interval));
        tracing::info!(pending = pending.len(), ?since, "client starting");
        deliver_reliably(&tx, Update::Restored { pending, confirmed }).await.ok()?;
        for message in failures {
            deliver_reliably(&tx, Update::StoreFailed { mutation_id: None, message }).await.ok()?;
        }
        Some(Self {
            cursor: Cursor::at(since),
            backoff: Backoff::new(Duration::from_millis(500), cfg.backoff_cap),
            cfg,
            tx,
            ctl,
            outbox,
            cache,
            went_live: false,
        })
    }

    async fn run(&mut self) {
        let servers =
            if self.cfg.servers.is_empty() { vec!["ws://127.0.0.1:7700".to_owned()] } else { self.cfg.servers.clone() };
        // A URL the client cannot or must not use fails now, not after rounds of retries.
        while let Err(e) = self.cfg.check_servers() {
            tracing::error!(server = %e.server, reason = %e.reason, "cannot use this server; not retrying");
            state(&self.tx, ConnectionState::Misconfigured { server: e.server, reason: e.reason });
            if !matches!(self.idle(None).await, Some(Exit::Reconnect)) {
                return;
            }
        }
        let mut idx = 0usize;
        loop {
            let server = servers[idx % servers.len()].clone();
            state(
                &self.tx,
                ConnectionState::Connecting { server: server.clone(), attempt: self.backoff.attempt() + 1 },
            );
            let exit = self.session(&server).await;
            // What the session brought is worth keeping before any wait.
            self.save_state(true);
            // A session that went live earns a fresh backoff, unless the server broke the protocol.
            if std::mem::take(&mut self.went_live) && !matches!(exit, Exit::Violation(_)) {
                self.backoff.reset();
            }
            let reason = match exit {
                Exit::Shutdown => break,
                Exit::Reconnect => {
                    self.backoff.reset();
                    continue;
                }
                Exit::Refused(AuthErrorCode::TokenExpired) if self.cfg.token_file.is_some() => {
                    "token expired; reading the token file again".to_owned()
                }
                Exit::Refused(code) => {
                    tracing::error!(code = code.as_str(), "gateway refused the token; not retrying until told to");
                    state(&self.tx, ConnectionState::Refused(code));
                    match self.idle(None).await {
                        Some(Exit::Reconnect) => continue,
                        _ => break,
                    }
                }
                Exit::Misconfigured(reason) => {
                    tracing::error!(%server, %reason, "cannot use this server; not retrying until told to");
                    state(&self.tx, ConnectionState::Misconfigured { server: server.clone(), reason });
                    match self.idle(None).await {
                        Some(Exit::Reconnect) => continue,
                        _ => break,
                    }
                }
                Exit::Failed(reason) | Exit::Violation(reason) => reason,
            };
            idx += 1;
            let delay = self.backoff.next_delay();
            tracing::info!(%reason, retry_in_ms = delay.as_millis() as u64, "connection lost");
            state(&self.tx, ConnectionState::Reconnecting { reason, retry_in: delay });
            match self.idle(Some(delay)).await {
                Some(Exit::Shutdown) => break,
                _ => continue,
            }
        }
    }

    /// The token to connect with: the file's, re-read every time, else the configured one.
    fn token(&self) -> Result<String, String> {
        match &self.cfg.token_file {
            None => Ok(self.cfg.token.clone()),
            Some(path) => std::fs::read_to_string(path)
                .map(|t| t.trim().to_owned())
                .map_err(|e| format!("token file {}: {e}", path.display())),
        }
    }

    /// Serves controls while not connected, until `limit` passes (`None` = until told).
    async fn idle(&mut self, limit: Option<Duration>) -> Option<Exit> {
        let end = limit.map(deadline_after);
        loop {
            let c = match end {
                Some(end) => tokio::time::timeout_at(end, self.ctl.recv()).await.ok()?,
                None => self.ctl.recv().await,
            };
            if let Some(exit) = self.on_control(c).await {
                return Some(exit);
            }
        }
    }

    /// Handles `first` and whatever else is already waiting: mutations are
    /// persisted together (one transaction) and reported, in order.
    async fn on_control(&mut self, first: Option<Control>) -> Option<Exit> {
        let Some(mut next) = first else { return Some(Exit::Shutdown) };
        let mut batch = Vec::new();
        let mut withdrawn = Vec::new();
        let exit = loop {
            match next {
                Control::Mutate { mutation, ctx } => batch.push(QueuedMutation { mutation, ctx }),
                Control::Withdraw { mutation_id } => withdrawn.push(mutation_id),
                Control::Reconnect => break Some(Exit::Reconnect),
                Control::Shutdown => break Some(Exit::Shutdown),
            }
            if batch.len() >= MUTATE_BATCH {
                break None;
            }
            next = match self.ctl.try_recv() {
                Ok(c) => c,
                Err(TryRecvError::Empty) => break None,
                Err(TryRecvError::Disconnected) => break Some(Exit::Shutdown),
            };
        };
        if !batch.is_empty() {
            for u in self.outbox.queue(batch) {
                if deliver_reliably(&self.tx, u).await.is_err() {
                    return Some(Exit::Shutdown);
                }
            }
        }
        // After the batch: a withdrawal may name a mutation queued with it.
        for id in withdrawn {
            if let Err(e) = self.outbox.withdraw(&id) {
                tracing::error!(cause = %e, mutation_id = %id, "could not remove a withdrawn mutation");
                let u = Update::StoreFailed { mutation_id: None, message: e.to_string() };
                if deliver_reliably(&self.tx, u).await.is_err() {
                    return Some(Exit::Shutdown);
                }
            }
        }
        exit
    }

    fn save_state(&mut self, force: bool) {
        let Some(cache) = self.cache.as_mut() else { return };
        if let Err(e) = cache.save(self.outbox.store_mut(), Instant::now(), force) {
            tracing::error!(cause = %e, "could not save the confirmed state");
            let _ = self.tx.try_send(Update::StoreFailed { mutation_id: None, message: e.to_string() });
        }
    }

    async fn session(&mut self, server: &str) -> Exit {
        let token = match self.token() {
            Ok(t) => t,
            Err(reason) => return Exit::Failed(reason),
        };
        let tls = match &self.cfg.ca_file {
            Some(path) => match crate::transport::Tls::with_ca_file(path) {
                Ok(t) => Some(t),
                Err(e) => return Exit::Failed(e.to_string()),
            },
            None => None,
        };
        let connect =
            Session::connect_tls(server, vizora_protocol::NS_WALL, &token, self.cfg.connect_timeout, tls.as_ref());
        tokio::pin!(connect);
        // Mutations are queued (and shutdown heard) while dialling too.
        let connected = loop {
            tokio::select! {
                r = &mut connect => break r,
                c = self.ctl.recv() => if let Some(exit) = self.on_control(c).await {
                    return exit;
                },
            }
        };
        let mut s = match connected {
            Ok(s) => s,
            Err(TransportError::Refused(code)) => return Exit::Refused(code),
            Err(e @ TransportError::Url { .. }) => return Exit::Misconfigured(e.to_string()),
            Err(e) => return Exit::Failed(e.to_string()),
        };
        self.outbox.new_session();
        let exit = self.stream(&mut s, server).await;
        if matches!(exit, Exit::Shutdown | Exit::Reconnect) {
            s.close().await;
        }
        exit
    }

    /// Sends what the outbox lets go now.
    async fn send_mutations(&mut self, s: &mut Session) -> Result<(), Exit> {
        let now = Instant::now();
        while let Some((ord, m)) = self.outbox.next_to_send(now) {
            let ack_id = s.emit_with_ack("mutate", m).await.map_err(|e| Exit::Failed(e.to_string()))?;
            self.outbox.sent(ord, ack_id, now);
        }
        Ok(())
    }

    async fn stream(&mut self, s: &mut Session, server: &str) -> Exit {
        let mut sub_id = match subscribe(s, &self.cursor).await {
            Ok(id) => id,
            Err(e) => return e,
        };
        // The ack of our latest subscribe comes before anything it brings
        // (PROTOCOL.md §8): entries and pages before it belong to the
        // subscription it replaced, and are ignored. A server that refuses
        // a subscribe answers `error` and no ack (§8), and one may answer
        // nothing: either way the session is given up within `ack_timeout`
        // and resumed on a new one, not left waiting while pings flow.
        let mut awaiting_ack = true;
        let mut ack_due = Some(deadline_after(self.cfg.ack_timeout));
        // Mutations wait for the subscribe ack: the replay first, then ours, in order.
        let mut live = false;
        let mut snapshot: Option<Snapshot> = None;
        let mut resubscribes = Burst::new(RESUBSCRIBE_LIMIT, RESUBSCRIBE_WINDOW);
        loop {
            if live && let Err(exit) = self.send_mutations(s).await {
                return exit;
            }
            let far = Instant::now() + Duration::from_secs(3600);
            let cache_due = self.cache.as_ref().and_then(StateCache::next_save);
            let snapshot_due = snapshot.as_ref().map(|p| p.deadline);
            let wake = self
                .outbox
                .next_deadline()
                .into_iter()
                .chain(cache_due)
                .chain(snapshot_due)
                .chain(ack_due)
                .min()
                .unwrap_or(far);
            let incoming = tokio::select! {
                r = s.recv() => r,
                c = self.ctl.recv() => match self.on_control(c).await {
                    Some(exit) => return exit,
                    None => continue,
                },
                _ = tokio::time::sleep_until(wake) => {
                    if snapshot.as_ref().is_some_and(|p| Instant::now() >= p.deadline) {
                        return Exit::Violation(self.snapshot_overdue());
                    }
                    if ack_due.is_some_and(|d| Instant::now() >= d) {
                        return Exit::Failed(format!("no subscribe ack within {:?}", self.cfg.ack_timeout));
                    }
                    self.outbox.tick(Instant::now());
                    self.save_state(false);
                    continue;
                }
            };
            if live
                && snapshot.is_none()
                && let Some(cache) = self.cache.as_mut()
            {
                cache.touch(now_ms());
            }
            let (name, arg) = match incoming {
                Err(e) => return Exit::Failed(e.to_string()),
                Ok(Incoming::Disconnected) => return Exit::Failed("server ended the session".into()),
                Ok(Incoming::Ack { id, arg }) if id == sub_id => {
                    let SubscribeAck { mode, epoch, head_seq, .. } = match serde_json::from_str::<SubscribeAck>(&arg) {
                        Ok(ack) if ack.head_seq <= MAX_SAFE_INT => ack,
                        Ok(ack) => {
                            let head = ack.head_seq;
                            return Exit::Violation(format!("subscribe ack: head_seq {head} is beyond 2^53 - 1"));
                        }
                        Err(_) => return Exit::Violation(format!("bad subscribe ack: {arg:.80}")),
                    };
                    // A replay ack also drops a snapshot an earlier subscribe left unfinished.
                    snapshot = (mode == SubscribeMode::Snapshot)
                        .then(|| Snapshot::new(epoch, head_seq, deadline_after(self.cfg.snapshot_timeout)));
                    awaiting_ack = false;
                    ack_due = None;
                    self.went_live = true;
                    live = true;
                    state(&self.tx, ConnectionState::Live { server: server.to_owned(), mode });
                    continue;
                }
                Ok(Incoming::Ack { id, arg }) => {
                    for u in self.outbox.on_ack(id, &arg, Instant::now()) {
                        if let Err(exit) = deliver_reliably(&self.tx, u).await {
                            return exit;
                        }
                    }
                    continue;
                }
                Ok(Incoming::Event { name, arg, .. }) => (name, arg),
            };
            let result = match name.as_str() {
                "snapshot" | "events" if awaiting_ack => Ok(()),
                "snapshot" => self.on_snapshot(&arg, &mut snapshot).await,
                "events" => match self.on_events(&arg).await {
                    Ok(true) => Ok(()),
                    Ok(false) if resubscribes.note(std::time::Instant::now()) => Err(Exit::Violation(format!(
                        "the log had a gap, a new epoch or an undecodable entry more than \
                         {RESUBSCRIBE_LIMIT} times within {RESUBSCRIBE_WINDOW:?}"
                    ))),
                    Ok(false) => {
                        snapshot = None;
                        subscribe(s, &self.cursor).await.map(|id| {
                            sub_id = id;
                            awaiting_ack = true;
                            ack_due = Some(deadline_after(self.cfg.ack_timeout));
                        })
                    }
                    Err(e) => Err(e),
                },
                "telemetry" => {
                    // Lossy by contract; one with an impossible timestamp is dropped.
                    if let Ok(t) = serde_json::from_str::<Telemetry>(&arg)
                        && t.ts_ms <= MAX_SAFE_INT
                    {
                        let _ = self.tx.try_send(Update::Telemetry(t));
                    }
                    Ok(())
                }
                "metrics" => {
                    if let Ok(m) = serde_json::from_str::<Metrics>(&arg)
                        && m.ts_ms <= MAX_SAFE_INT
                    {
                        let _ = self.tx.try_send(Update::Metrics(m));
                    }
                    Ok(())
                }
                "error" => match serde_json::from_str::<ErrorMsg>(&arg) {
                    Ok(e) if e.code == ErrorCode::TokenExpired => Err(Exit::Refused(AuthErrorCode::TokenExpired)),
                    // Our subscribe refused (`rate_limited`, `bad_request`):
                    // shown, and tried again on a new session after a backoff.
                    Ok(e) if awaiting_ack => {
                        let why = format!("subscribe refused: {} {}", e.code.as_str(), e.message);
                        deliver(&self.tx, Update::ServerError(e)).await.and(Err(Exit::Failed(why)))
                    }
                    Ok(e) => deliver(&self.tx, Update::ServerError(e)).await,
                    Err(_) => {
                        tracing::debug!(error = %arg.chars().take(120).collect::<String>(), "undecodable error event");
                        Ok(())
                    }
                },
                other => {
                    tracing::debug!(event = other, "ignoring unknown event");
                    Ok(())
                }
            };
            if let Err(exit) = result {
                return exit;
            }
        }
    }
}

fn state(tx: &Sender<Update>, s: ConnectionState) {
    // Connection state is small and latest-wins for display; a full channel
    // means the caller is behind and will see a later state.
    let _ = tx.try_send(Update::Connection(s));
}

/// Delivers state; waits a bounded time for a slow caller (then the session
/// is dropped and resumed from the last delivered position).
async fn deliver(tx: &Sender<Update>, u: Update) -> Result<(), Exit> {
    send_until(tx, u, Some(Instant::now() + STATE_BACKPRESSURE_LIMIT)).await
}

/// Delivers an update that nothing would bring again (restored state,
/// outbox results): waits for the caller as long as it takes.
async fn deliver_reliably(tx: &Sender<Update>, u: Update) -> Result<(), Exit> {
    send_until(tx, u, None).await
}

async fn send_until(tx: &Sender<Update>, mut u: Update, deadline: Option<Instant>) -> Result<(), Exit> {
    loop {
        match tx.try_send(u) {
            Ok(()) => return Ok(()),
            Err(TrySendError::Disconnected(_)) => return Err(Exit::Shutdown),
            Err(TrySendError::Full(back)) => {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Err(Exit::Failed("caller too slow; resyncing".into()));
                }
                u = back;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    }
}

async fn subscribe(s: &mut Session, cursor: &Cursor) -> Result<u64, Exit> {
    let sub = Subscribe { since: cursor.position().cloned() };
    s.emit_with_ack("subscribe", &sub).await.map_err(|e| Exit::Failed(e.to_string()))
}
