//! The IO thread's state machine: connect → subscribe → stream, and back
//! off and reconnect on any failure, resuming from the last delivered seq.

use std::collections::BTreeSet;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use vizora_protocol::{
    AuthErrorCode, Entity, EntityKind, ErrorCode, ErrorMsg, Events, Metrics, SnapshotPage,
    Subscribe, SubscribeAck, SubscribeMode, Telemetry,
};
use vizora_sync::{Accept, Cursor};

use crate::backoff::Backoff;
use crate::transport::{Incoming, Session, TransportError};
use crate::{ClientConfig, ConnectionState, Control, Update};

/// How long state may wait for a slow caller before the session is dropped
/// (and resumed from the last delivered position).
const STATE_BACKPRESSURE_LIMIT: Duration = Duration::from_secs(2);

enum Exit {
    Shutdown,
    Reconnect,
    Failed(String),
    Refused(AuthErrorCode),
}

struct Snapshot {
    epoch: String,
    seq: u64,
    done: BTreeSet<EntityKind>,
    entities: Vec<Entity>,
}

pub(crate) async fn run(cfg: ClientConfig, tx: Sender<Update>, ctl: Receiver<Control>) {
    let mut cursor = Cursor::at(cfg.since.clone());
    let mut backoff = Backoff::new(Duration::from_millis(500), cfg.backoff_cap);
    let mut idx = 0usize;
    let servers = if cfg.servers.is_empty() { vec!["ws://127.0.0.1:7700".to_owned()] } else { cfg.servers.clone() };
    loop {
        let server = servers[idx % servers.len()].clone();
        state(&tx, ConnectionState::Connecting { server: server.clone(), attempt: backoff.attempt() + 1 });
        let exit = session(&cfg, &server, &mut cursor, &tx, &ctl, &mut backoff).await;
        let reason = match exit {
            Exit::Shutdown => break,
            Exit::Reconnect => {
                backoff.reset();
                continue;
            }
            Exit::Refused(code @ (AuthErrorCode::TokenInvalid | AuthErrorCode::WrongNamespace | AuthErrorCode::TokenMissing)) => {
                tracing::error!(?code, "gateway refused the token; not retrying until told to");
                state(&tx, ConnectionState::Refused(code));
                match wait_control(&ctl, None).await {
                    Some(Control::Reconnect) => continue,
                    _ => break,
                }
            }
            Exit::Refused(code) => format!("refused: {}", code.as_str()),
            Exit::Failed(reason) => reason,
        };
        idx += 1;
        let delay = backoff.next_delay();
        tracing::info!(%reason, retry_in_ms = delay.as_millis() as u64, "connection lost");
        state(&tx, ConnectionState::Reconnecting { reason, retry_in: delay });
        match wait_control(&ctl, Some(delay)).await {
            Some(Control::Shutdown) => break,
            _ => continue,
        }
    }
    state(&tx, ConnectionState::Stopped);
}

/// Waits for a control message, or until `limit` passes (`None` = forever).
async fn wait_control(ctl: &Receiver<Control>, limit: Option<Duration>) -> Option<Control> {
    let end = limit.map(|d| tokio::time::Instant::now() + d);
    loop {
        match ctl.try_recv() {
            Ok(c) => return Some(c),
            Err(crossbeam_channel::TryRecvError::Disconnected) => return Some(Control::Shutdown),
            Err(crossbeam_channel::TryRecvError::Empty) => {}
        }
        if end.is_some_and(|e| tokio::time::Instant::now() >= e) {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn state(tx: &Sender<Update>, s: ConnectionState) {
    // Connection state is small and latest-wins for display; a full channel
    // means the caller is behind and will see a later state.
    let _ = tx.try_send(Update::Connection(s));
}

/// Delivers state; waits a bounded time for a slow caller.
async fn deliver(tx: &Sender<Update>, mut u: Update) -> Result<(), Exit> {
    let deadline = tokio::time::Instant::now() + STATE_BACKPRESSURE_LIMIT;
    loop {
        match tx.try_send(u) {
            Ok(()) => return Ok(()),
            Err(TrySendError::Disconnected(_)) => return Err(Exit::Shutdown),
            Err(TrySendError::Full(back)) => {
                if tokio::time::Instant::now() >= deadline {
                    return Err(Exit::Failed("caller too slow; resyncing".into()));
                }
                u = back;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    }
}

async fn session(
    cfg: &ClientConfig,
    server: &str,
    cursor: &mut Cursor,
    tx: &Sender<Update>,
    ctl: &Receiver<Control>,
    backoff: &mut Backoff,
) -> Exit {
    let mut s = match Session::connect(server, vizora_protocol::NS_WALL, &cfg.token, cfg.connect_timeout).await {
        Ok(s) => s,
        Err(TransportError::Refused(code)) => return Exit::Refused(code),
        Err(e) => return Exit::Failed(e.to_string()),
    };
    let exit = stream(&mut s, server, cursor, tx, ctl, backoff).await;
    if matches!(exit, Exit::Shutdown | Exit::Reconnect) {
        s.close().await;
    }
    exit
}

async fn subscribe(s: &mut Session, cursor: &Cursor) -> Result<u64, Exit> {
    let sub = Subscribe { since: cursor.position().cloned() };
    s.emit_with_ack("subscribe", &sub).await.map_err(|e| Exit::Failed(e.to_string()))
}

async fn stream(
    s: &mut Session,
    server: &str,
    cursor: &mut Cursor,
    tx: &Sender<Update>,
    ctl: &Receiver<Control>,
    backoff: &mut Backoff,
) -> Exit {
    let mut sub_id = match subscribe(s, cursor).await {
        Ok(id) => id,
        Err(e) => return e,
    };
    let mut snapshot: Option<Snapshot> = None;
    let mut poll = tokio::time::interval(Duration::from_millis(25));
    loop {
        let incoming = tokio::select! {
            r = s.recv() => r,
            _ = poll.tick() => {
                match ctl.try_recv() {
                    Ok(Control::Shutdown) | Err(crossbeam_channel::TryRecvError::Disconnected) => return Exit::Shutdown,
                    Ok(Control::Reconnect) => return Exit::Reconnect,
                    Err(crossbeam_channel::TryRecvError::Empty) => continue,
                }
            }
        };
        let (name, arg) = match incoming {
            Err(e) => return Exit::Failed(e.to_string()),
            Ok(Incoming::Disconnected) => return Exit::Failed("server ended the session".into()),
            Ok(Incoming::Ack { id, arg }) if id == sub_id => {
                let Ok(ack) = serde_json::from_str::<SubscribeAck>(&arg) else {
                    return Exit::Failed(format!("bad subscribe ack: {arg:.80}"));
                };
                if ack.mode == SubscribeMode::Snapshot {
                    snapshot = Some(Snapshot { epoch: ack.epoch, seq: ack.head_seq, done: BTreeSet::new(), entities: Vec::new() });
                }
                backoff.reset();
                state(tx, ConnectionState::Live { server: server.to_owned(), mode: ack.mode });
                continue;
            }
            Ok(Incoming::Ack { .. }) => continue,
            Ok(Incoming::Event { name, arg, .. }) => (name, arg),
        };
        let result = match name.as_str() {
            "snapshot" => on_snapshot(&arg, &mut snapshot, cursor, tx).await,
            "events" => match on_events(&arg, cursor, tx).await {
                Ok(true) => Ok(()),
                Ok(false) => match subscribe(s, cursor).await {
                    Ok(id) => {
                        sub_id = id;
                        Ok(())
                    }
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            },
            "telemetry" => {
                if let Ok(t) = serde_json::from_str::<Telemetry>(&arg) {
                    let _ = tx.try_send(Update::Telemetry(t)); // lossy by contract
                }
                Ok(())
            }
            "metrics" => {
                if let Ok(m) = serde_json::from_str::<Metrics>(&arg) {
                    let _ = tx.try_send(Update::Metrics(m));
                }
                Ok(())
            }
            "error" => match serde_json::from_str::<ErrorMsg>(&arg) {
                Ok(e) if e.code == ErrorCode::TokenExpired => Err(Exit::Refused(AuthErrorCode::TokenExpired)),
                Ok(e) => deliver(tx, Update::ServerError(e)).await,
                Err(_) => Ok(()),
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

async fn on_snapshot(arg: &str, snap: &mut Option<Snapshot>, cursor: &mut Cursor, tx: &Sender<Update>) -> Result<(), Exit> {
    let page: SnapshotPage = serde_json::from_str(arg).map_err(|e| Exit::Failed(format!("bad snapshot page: {e}")))?;
    let Some(s) = snap.as_mut() else { return Ok(()) };
    if page.epoch != s.epoch || page.seq != s.seq {
        return Err(Exit::Failed("snapshot page from another position".into()));
    }
    if page.last {
        s.done.insert(page.kind);
    }
    s.entities.extend(page.items);
    if s.done.len() == EntityKind::ALL.len() {
        let Some(s) = snap.take() else { return Ok(()) };
        let (epoch, seq) = (s.epoch.clone(), s.seq);
        deliver(tx, Update::Snapshot { epoch: s.epoch, seq: s.seq, entities: s.entities }).await?;
        cursor.reset(&epoch, seq);
    }
    Ok(())
}

/// Applies an `events` batch; `Ok(false)` means re-subscribe (gap or new epoch).
async fn on_events(arg: &str, cursor: &mut Cursor, tx: &Sender<Update>) -> Result<bool, Exit> {
    let ev: Events = serde_json::from_str(arg).map_err(|e| Exit::Failed(format!("bad events: {e}")))?;
    let mut next = cursor.clone();
    let mut items = Vec::with_capacity(ev.items.len());
    let mut resubscribe = false;
    for entry in ev.items {
        match next.accept(&ev.epoch, entry.seq) {
            Accept::Apply => items.push(entry),
            Accept::Duplicate => {}
            Accept::Gap { have, got } => {
                tracing::warn!(have, got, "gap in the log; re-subscribing");
                resubscribe = true;
                break;
            }
            Accept::NewEpoch => {
                resubscribe = true;
                break;
            }
        }
    }
    if !items.is_empty() {
        deliver(tx, Update::Entries { epoch: ev.epoch, items }).await?;
    }
    *cursor = next;
    Ok(!resubscribe)
}
