//! Socket.IO 5 on top of Engine.IO 4 sessions (this crate's WebSocket
//! transport, `websocket.rs`, or engineioxide's, `engineio.rs`): namespaces,
//! CONNECT with JWT auth and the normative CONNECT_ERROR `data.code`, events
//! and acks. socketioxide cannot send `data` in CONNECT_ERROR (PROTOCOL.md
//! §2), so this thin layer replaces it and hands work to the sequencer.

mod engineio;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::value::RawValue;
use tokio_util::sync::CancellationToken;
use vizora_protocol::codec::{
    SioBody, SioPacket, encode_connect, encode_connect_error, encode_disconnect, encode_event,
};
use vizora_protocol::device::{Heartbeat, Playback};
use vizora_protocol::{
    AuthErrorCode, Claims, ConnectErrorPayload, ErrorCode, ErrorMsg, MutationAck, NS_DEVICE, NS_WALL, RejectCode, Role,
    ScheduleExecuted, Subscribe, bounds,
};

use crate::auth::Auth;
use crate::config::GatewayConfig;
use crate::metrics::Counters;
use crate::peer::{Peer, PeerRef};
use crate::sequencer::{Cmd, Replier, SequencerHandle, mutation_cmd};
use crate::session::{Bucket, ConnData, Left};

/// An Engine.IO session as this layer uses it: one of this crate's own
/// WebSocket transport ([`crate::websocket`]), or one of engineioxide's
/// (HTTP long-polling, and sessions upgraded from it to WebSocket).
pub trait Session: Peer {
    /// What this layer keeps for the session.
    fn data(&self) -> &ConnData;
    /// The Engine.IO session id.
    fn sid(&self) -> String;
    /// Queues an encoded Socket.IO packet without waiting (dropped when the
    /// session's queue is full or it closed).
    fn emit(&self, packet: String);
    /// Closes the session.
    fn end(&self);
    /// Whether it closed.
    fn is_closed(&self) -> bool;
    /// The peer's IP address, when the listener told it.
    fn remote_ip(&self) -> Option<IpAddr>;
}

/// An Engine.IO session of this layer.
pub(crate) type Sock = Arc<dyn Session>;

/// The session as the sequencer sees it.
fn peer(sock: &Sock) -> PeerRef {
    sock.clone()
}

/// `subscribe` per connection: each one can cost a whole-org snapshot, so
/// it has its own, smaller bucket, far above what a client does (it
/// re-subscribes on a gap or a reconnect, not in a loop). Over it, as over
/// the event bucket (PROTOCOL.md §8): `error rate_limited`, at most one a
/// second, and no ack.
const SUBSCRIBE_RATE_PER_S: f64 = 1.0;
const SUBSCRIBE_BURST: f64 = 20.0;
/// CONNECT and DISCONNECT packets per connection: a client joins two
/// namespaces at most and re-joins on a token refresh, never in a loop.
const CONNECT_RATE_PER_S: f64 = 5.0;
const CONNECT_BURST: f64 = 20.0;

/// The Socket.IO layer.
#[derive(Debug, Clone)]
pub struct SioHandler {
    auth: Auth,
    sequencer: SequencerHandle,
    counters: Arc<Counters>,
    rate: f64,
    burst: f64,
    max_sessions: u64,
    connect_timeout: Duration,
    per_ip_max: usize,
    per_ip_exempt_loopback: bool,
    per_ip: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl SioHandler {
    /// A handler verifying with `auth` and feeding `sequencer`.
    pub fn new(auth: Auth, sequencer: SequencerHandle, counters: Arc<Counters>, cfg: &GatewayConfig) -> Self {
        Self {
            auth,
            sequencer,
            counters,
            rate: cfg.rate_per_s,
            burst: cfg.rate_burst,
            max_sessions: cfg.max_connections as u64,
            connect_timeout: Duration::from_millis(cfg.connect_timeout_ms),
            per_ip_max: cfg.max_connections_per_ip,
            per_ip_exempt_loopback: cfg.per_ip_exempt_loopback,
            per_ip: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Counts a session against its IP's cap; false when over it.
    fn admit_ip(&self, sock: &Sock) -> bool {
        let Some(ip) = sock.remote_ip() else { return true };
        if self.per_ip_max == 0 || (self.per_ip_exempt_loopback && ip.is_loopback()) {
            return true;
        }
        let mut m = self.per_ip.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.entry(ip).or_default();
        if *n >= self.per_ip_max {
            return false;
        }
        *n += 1;
        drop(m);
        sock.data().state.lock().unwrap_or_else(|p| p.into_inner()).ip = Some(ip);
        true
    }

    fn send_error(&self, sock: &Sock, ns: &str, code: ErrorCode, message: impl Into<String>) {
        if code == ErrorCode::BadRequest {
            self.counters.bad_requests.fetch_add(1, Relaxed);
        }
        // The message may quote what was sent: at most 256 characters (§8).
        let msg = ErrorMsg { code, message: bounds::clip(message.into()) };
        sock.emit(encode_event(ns, None, "error", &msg));
    }

    /// Takes one token; false when over the limit.
    fn admit(&self, sock: &Sock) -> bool {
        let now = self.sequencer.shared.clock.now_ms();
        let mut st = sock.data().state.lock().unwrap_or_else(|p| p.into_inner());
        Bucket::take(&mut st.bucket, now, self.rate, self.burst)
    }

    /// Sends `error rate_limited` (saying `why`) at most once a second.
    fn rate_error(&self, sock: &Sock, ns: &str, why: &str) {
        let now = self.sequencer.shared.clock.now_ms();
        let mut st = sock.data().state.lock().unwrap_or_else(|p| p.into_inner());
        let due = st.last_rate_error_ms.is_none_or(|t| now.saturating_sub(t) >= 1000);
        if due {
            st.last_rate_error_ms = Some(now);
            drop(st);
            self.send_error(sock, ns, ErrorCode::RateLimited, why);
        }
    }

    fn connect(&self, sock: Sock, ns: &str, auth: Option<&RawValue>) {
        let refuse = |code: AuthErrorCode| {
            self.counters.auth_failures.fetch_add(1, Relaxed);
            sock.emit(encode_connect_error(ns, &ConnectErrorPayload::unauthorized(code)));
        };
        if ns != NS_WALL && ns != NS_DEVICE {
            return refuse(AuthErrorCode::WrongNamespace);
        }
        #[derive(serde::Deserialize)]
        struct TokenOnly {
            token: Option<String>,
        }
        let token = auth.and_then(|a| serde_json::from_str::<TokenOnly>(a.get()).ok()).and_then(|t| t.token);
        let Some(token) = token else { return refuse(AuthErrorCode::TokenMissing) };
        let claims = match self.auth.verify(&token) {
            Ok(c) => c,
            Err(code) => return refuse(code),
        };
        if (ns == NS_DEVICE) != (claims.role == Role::Device) {
            return refuse(AuthErrorCode::WrongNamespace);
        }
        let iat_ms = claims.iat_ms();
        if ns == NS_DEVICE
            && let Some(removed_ms) = self.sequencer.shared.removed_at(&claims.org, &claims.sub)
            && iat_ms < removed_ms
        {
            return refuse(AuthErrorCode::TokenRevoked);
        }
        let expiry = sock.data().closed.child_token();
        // A CONNECT on a namespace already joined (a token refresh) is
        // answered like the first, as the reference server does: the new
        // token's claims and expiry replace the old ones.
        let old = {
            let mut guard = sock.data().state.lock().unwrap_or_else(|p| p.into_inner());
            let st = &mut *guard;
            let (slot, timer) = if ns == NS_WALL {
                (&mut st.wall, &mut st.wall_expiry)
            } else {
                (&mut st.device, &mut st.device_expiry)
            };
            if let Some(t) = timer.replace(expiry.clone()) {
                t.cancel();
            }
            let old = slot.replace(claims.clone());
            if old.is_none() {
                st.joins += 1;
            }
            old
        };
        match &old {
            None => {
                let counter = if ns == NS_WALL { &self.counters.wall_sessions } else { &self.counters.device_sessions };
                counter.fetch_add(1, Relaxed);
            }
            // Another org (or, on /device, another device) than before: what
            // the old token joined is left first (a subscription, a player's
            // registration). Within one org a wall's subscription goes on: it
            // is the org's, and the claims are read afresh for each event.
            Some(o) if ns == NS_WALL && o.org != claims.org => {
                self.sequencer.send(Cmd::Unsubscribe { org: o.org.clone(), sid: sock.data().id });
            }
            Some(o) if ns == NS_DEVICE && (o.org != claims.org || o.sub != claims.sub) => {
                self.sequencer.send(Cmd::DeviceGone {
                    org: o.org.clone(),
                    device_id: o.sub.clone(),
                    sid: sock.data().id,
                });
            }
            Some(_) => {}
        }
        #[derive(serde::Serialize)]
        struct Sid {
            sid: String,
        }
        sock.emit(encode_connect(ns, Some(&Sid { sid: sock.sid() })));
        if ns == NS_DEVICE {
            self.sequencer.send(Cmd::DeviceConnected {
                org: claims.org.clone(),
                device_id: claims.sub.clone(),
                iat_ms,
                sock: peer(&sock),
            });
        }
        self.expire_later(sock, ns, claims, expiry);
    }

    /// Ends the namespace session when the token expires; the timer ends
    /// with the session (or the namespace session) instead.
    fn expire_later(&self, sock: Sock, ns: &str, claims: Claims, cancel: CancellationToken) {
        let now = self.sequencer.shared.clock.now_ms();
        let left = claims.exp.saturating_mul(1000).saturating_sub(now);
        let ns = ns.to_owned();
        let sequencer = self.sequencer.clone();
        let counters = self.counters.clone();
        let Ok(rt) = tokio::runtime::Handle::try_current() else { return };
        rt.spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(left)) => {}
                _ = cancel.cancelled() => return,
            }
            if sock.is_closed() {
                return;
            }
            let still = {
                let mut st = sock.data().state.lock().unwrap_or_else(|p| p.into_inner());
                let slot = if ns == NS_WALL { &st.wall } else { &st.device };
                // Refreshed meanwhile (a repeated CONNECT): not this token's to end.
                if slot.as_ref() == Some(&claims) {
                    sock.data().left.store(true, std::sync::atomic::Ordering::Release);
                    st.leave(ns == NS_WALL)
                } else {
                    None
                }
            };
            if let Some(left) = still {
                let msg = ErrorMsg { code: ErrorCode::TokenExpired, message: "token expired".into() };
                sock.emit(encode_event(&ns, None, "error", &msg));
                sock.emit(encode_disconnect(&ns));
                end_session(&sequencer, &counters, &sock, &ns, left);
            }
        });
    }

    fn on_event(&self, sock: Sock, ns: &str, name: &str, args: &[Box<RawValue>], ack: Option<u64>) {
        let claims = {
            let st = sock.data().state.lock().unwrap_or_else(|p| p.into_inner());
            if ns == NS_WALL {
                st.wall.clone()
            } else if ns == NS_DEVICE {
                st.device.clone()
            } else {
                None
            }
        };
        let Some(claims) = claims else {
            // Nothing is ever sent on a namespace the client has not joined
            // (PROTOCOL.md §2): the event is ignored.
            tracing::debug!(sid = %sock.sid(), ns, event = name, "event on a namespace not joined; ignored");
            self.counters.bad_requests.fetch_add(1, Relaxed);
            return;
        };
        if !self.admit(&sock) {
            if let (NS_WALL, "mutate", Some(id)) = (ns, name, ack) {
                self.counters.mutations_rate_limited.fetch_add(1, Relaxed);
                let reply = MutationAck::rejected(RejectCode::RateLimited, "over the event rate limit; retry later");
                Replier::Socket { sock: peer(&sock), ack: id }.send(&reply);
                return;
            }
            return self.rate_error(&sock, ns, "over the event rate limit");
        }
        let arg = args.first().map(|a| a.get()).unwrap_or("null");
        let org = claims.org.clone();
        match (ns, name) {
            (NS_WALL, "subscribe") => {
                let sub = serde_json::from_str::<Subscribe>(arg).ok().filter(|s| {
                    s.since
                        .as_ref()
                        .is_none_or(|p| bounds::id("epoch", &p.epoch).is_ok() && p.seq <= bounds::MAX_SAFE_INT)
                });
                let (Some(ack), Some(sub)) = (ack, sub) else {
                    return self.send_error(
                        &sock,
                        ns,
                        ErrorCode::BadRequest,
                        "subscribe needs an ack and {\"since\": position|null}",
                    );
                };
                let allowed = {
                    let now = self.sequencer.shared.clock.now_ms();
                    let mut st = sock.data().state.lock().unwrap_or_else(|p| p.into_inner());
                    Bucket::take(&mut st.subscribes, now, SUBSCRIBE_RATE_PER_S, SUBSCRIBE_BURST)
                };
                if !allowed {
                    return self.rate_error(&sock, ns, "subscribe: too often; not subscribed");
                }
                if !self.sequencer.send(Cmd::Subscribe { org, sock: peer(&sock), ack, since: sub.since }) {
                    sock.end();
                }
            }
            (NS_WALL, "mutate") => {
                let Some(ack) = ack else {
                    return self.send_error(
                        &sock,
                        ns,
                        ErrorCode::BadRequest,
                        "mutate needs an ack id; nothing was applied",
                    );
                };
                let value: serde_json::Value = match serde_json::from_str(arg) {
                    Ok(v) => v,
                    Err(e) => return self.send_error(&sock, ns, ErrorCode::BadRequest, format!("mutate: {e}")),
                };
                let Some(cmd) = mutation_cmd(claims, &value, Replier::Socket { sock: peer(&sock), ack }) else {
                    return;
                };
                if !self.sequencer.send(cmd) {
                    let reply = MutationAck::rejected(RejectCode::RateLimited, "gateway busy; retry later");
                    Replier::Socket { sock: peer(&sock), ack }.send(&reply);
                }
            }
            // A report that breaks a bound changes nothing (PROTOCOL.md §8 Bounds).
            (NS_DEVICE, "heartbeat") => match serde_json::from_str::<Heartbeat>(arg) {
                Ok(hb) => match hb.check() {
                    Ok(()) => drop(self.sequencer.send(Cmd::Heartbeat { org, device_id: claims.sub, hb })),
                    Err(e) => self.send_error(&sock, ns, ErrorCode::BadRequest, format!("heartbeat: {e}")),
                },
                Err(e) => self.send_error(&sock, ns, ErrorCode::BadRequest, format!("heartbeat: {e}")),
            },
            (NS_DEVICE, "playback") => match serde_json::from_str::<Playback>(arg) {
                Ok(pb) => match pb.check() {
                    // Lossy metrics: dropped when the sequencer is behind.
                    Ok(()) => drop(self.sequencer.send(Cmd::Playback { org, pb })),
                    Err(e) => self.send_error(&sock, ns, ErrorCode::BadRequest, format!("playback: {e}")),
                },
                Err(e) => self.send_error(&sock, ns, ErrorCode::BadRequest, format!("playback: {e}")),
            },
            (NS_DEVICE, "schedule.executed") => match serde_json::from_str::<ScheduleExecuted>(arg) {
                Ok(ev) if ev.device_id != claims.sub => {
                    self.send_error(&sock, ns, ErrorCode::BadRequest, "device_id: must be the token's device")
                }
                Ok(ev) => match ev.check() {
                    Ok(()) => {
                        if !self.sequencer.send(Cmd::ScheduleExecuted { org, ev }) {
                            self.rate_error(&sock, ns, "gateway busy; schedule.executed not recorded");
                        }
                    }
                    Err(e) => self.send_error(&sock, ns, ErrorCode::BadRequest, format!("schedule.executed: {e}")),
                },
                Err(e) => self.send_error(&sock, ns, ErrorCode::BadRequest, format!("schedule.executed: {e}")),
            },
            _ => self.send_error(&sock, ns, ErrorCode::BadRequest, format!("unknown event `{name}` on {ns}")),
        }
    }
}

/// Closes the session if it joins no namespace within `timeout` (PROTOCOL.md
/// §2): armed when it opens and whenever it leaves its last namespace; the
/// timer ends with the session.
fn close_if_unjoined(sock: Sock, timeout: Duration, counters: Arc<Counters>) {
    let armed_at = sock.data().state.lock().unwrap_or_else(|p| p.into_inner()).joins;
    let Ok(rt) = tokio::runtime::Handle::try_current() else { return };
    rt.spawn(async move {
        tokio::select! {
            _ = tokio::time::sleep(timeout) => {}
            _ = sock.data().closed.cancelled() => return,
        }
        let idle = {
            let st = sock.data().state.lock().unwrap_or_else(|p| p.into_inner());
            st.wall.is_none() && st.device.is_none() && st.joins == armed_at
        };
        if idle && !sock.is_closed() {
            tracing::debug!(sid = %sock.sid(), "no namespace joined in time; closing");
            counters.connect_timeouts.fetch_add(1, Relaxed);
            sock.end();
        }
    });
}

/// After `ns` was left ([`ConnState::leave`]): its timer stops, the
/// sequencer forgets the subscription or the player's socket.
fn end_session(sequencer: &SequencerHandle, counters: &Arc<Counters>, sock: &Sock, ns: &str, left: Left) {
    let (claims, timer) = left;
    if let Some(t) = timer {
        t.cancel();
    }
    let unjoined = {
        let st = sock.data().state.lock().unwrap_or_else(|p| p.into_inner());
        st.wall.is_none() && st.device.is_none()
    };
    if unjoined && !sock.is_closed() {
        close_if_unjoined(sock.clone(), sequencer.connect_timeout(), counters.clone());
    }
    if ns == NS_WALL {
        counters.wall_sessions.fetch_sub(1, Relaxed);
        sequencer.send(Cmd::Unsubscribe { org: claims.org.clone(), sid: sock.data().id });
    } else {
        counters.device_sessions.fetch_sub(1, Relaxed);
        sequencer.send(Cmd::DeviceGone { org: claims.org.clone(), device_id: claims.sub.clone(), sid: sock.data().id });
    }
}

impl SioHandler {
    /// A session opened.
    pub(crate) fn opened(&self, sock: Sock) {
        let n = self.counters.sessions.fetch_add(1, Relaxed) + 1;
        if n > self.max_sessions {
            tracing::warn!(sessions = n, "connection cap reached; refusing session");
            sock.end();
            return;
        }
        if !self.admit_ip(&sock) {
            tracing::warn!(sid = %sock.sid(), "per-IP connection cap reached; refusing session");
            self.counters.per_ip_refused.fetch_add(1, Relaxed);
            sock.end();
            return;
        }
        // A session that joins no namespace in time holds no slot for long.
        close_if_unjoined(sock, self.connect_timeout, self.counters.clone());
    }

    /// A session closed.
    pub(crate) fn closed(&self, sock: Sock, reason: impl std::fmt::Debug) {
        tracing::debug!(sid = %sock.sid(), ?reason, "engine.io session closed");
        sock.data().closed.cancel();
        self.counters.sessions.fetch_sub(1, Relaxed);
        let ip = sock.data().state.lock().unwrap_or_else(|p| p.into_inner()).ip.take();
        if let Some(ip) = ip {
            let mut m = self.per_ip.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(n) = m.get_mut(&ip) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    m.remove(&ip);
                }
            }
        }
        let (wall, device) = {
            let mut st = sock.data().state.lock().unwrap_or_else(|p| p.into_inner());
            (st.leave(true), st.leave(false))
        };
        if let Some(left) = wall {
            end_session(&self.sequencer, &self.counters, &sock, NS_WALL, left);
        }
        if let Some(left) = device {
            end_session(&self.sequencer, &self.counters, &sock, NS_DEVICE, left);
        }
    }

    /// An Engine.IO message (a Socket.IO packet) arrived.
    pub(crate) fn message(&self, msg: &str, sock: Sock) {
        let packet = match SioPacket::decode(msg) {
            Ok(p) => p,
            Err(e) => {
                tracing::debug!(sid = %sock.sid(), cause = %e, "malformed socket.io packet");
                self.counters.bad_requests.fetch_add(1, Relaxed);
                // Say so on every namespace the client is in, so it hears it.
                let (w, d) = {
                    let st = sock.data().state.lock().unwrap_or_else(|p| p.into_inner());
                    (st.wall.is_some(), st.device.is_some())
                };
                for (on, ns) in [(w, NS_WALL), (d, NS_DEVICE)] {
                    if on {
                        self.send_error(&sock, ns, ErrorCode::BadRequest, e.to_string());
                    }
                }
                if !w && !d {
                    sock.end();
                }
                return;
            }
        };
        // CONNECT and DISCONNECT are rate limited too, in their own bucket.
        let connect_flood = matches!(packet.body, SioBody::Connect(_) | SioBody::Disconnect) && {
            let now = self.sequencer.shared.clock.now_ms();
            let mut st = sock.data().state.lock().unwrap_or_else(|p| p.into_inner());
            !Bucket::take(&mut st.connects, now, CONNECT_RATE_PER_S, CONNECT_BURST)
        };
        if connect_flood {
            tracing::warn!(sid = %sock.sid(), "CONNECT/DISCONNECT flood; closing the session");
            sock.end();
            return;
        }
        match packet.body {
            SioBody::Connect(auth) => self.connect(sock, &packet.ns, auth.as_deref()),
            SioBody::Disconnect => {
                let left = {
                    let mut st = sock.data().state.lock().unwrap_or_else(|p| p.into_inner());
                    sock.data().left.store(true, std::sync::atomic::Ordering::Release);
                    match packet.ns.as_str() {
                        NS_WALL => st.leave(true),
                        NS_DEVICE => st.leave(false),
                        _ => None,
                    }
                };
                if let Some(left) = left {
                    end_session(&self.sequencer, &self.counters, &sock, &packet.ns, left);
                }
            }
            SioBody::Event { name, args, ack } => self.on_event(sock, &packet.ns, &name, &args, ack),
            SioBody::Ack { id, args } if packet.ns == NS_DEVICE => {
                let org = {
                    let st = sock.data().state.lock().unwrap_or_else(|p| p.into_inner());
                    st.device.as_ref().map(|c| c.org.clone())
                };
                // An ack on /device from a session not joined there answers nothing.
                if let Some(org) = org {
                    let reply = args.first().map(|a| a.get().to_owned()).unwrap_or_else(|| "null".into());
                    self.sequencer.send(Cmd::CommandAcked { org, sid: sock.data().id, ack: id, reply });
                }
            }
            SioBody::Ack { .. } => {}
            SioBody::ConnectError(_) => {
                let joined = {
                    let st = sock.data().state.lock().unwrap_or_else(|p| p.into_inner());
                    (packet.ns == NS_WALL && st.wall.is_some()) || (packet.ns == NS_DEVICE && st.device.is_some())
                };
                if joined {
                    self.send_error(&sock, &packet.ns, ErrorCode::BadRequest, "clients do not send CONNECT_ERROR")
                }
            }
        }
    }

    /// A binary message arrived (not part of the protocol).
    pub(crate) fn binary(&self, sock: Sock) {
        let (w, d) = {
            let st = sock.data().state.lock().unwrap_or_else(|p| p.into_inner());
            (st.wall.is_some(), st.device.is_some())
        };
        for (on, ns) in [(w, NS_WALL), (d, NS_DEVICE)] {
            if on {
                self.send_error(&sock, ns, ErrorCode::BadRequest, "binary frames are not part of the protocol");
            }
        }
    }
}
