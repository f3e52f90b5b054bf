//! Socket.IO 5 on top of engineioxide's Engine.IO 4: namespaces, CONNECT
//! with JWT auth and the normative CONNECT_ERROR `data.code`, events and
//! acks. socketioxide cannot send `data` in CONNECT_ERROR (PROTOCOL.md §2),
//! so this thin layer replaces it and hands work to the sequencer.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use engineioxide::handler::EngineIoHandler;
use engineioxide::socket::DisconnectReason;
use engineioxide::{Socket, Str};
use serde_json::value::RawValue;
use vizora_protocol::codec::{
    SioBody, SioPacket, encode_ack, encode_connect, encode_connect_error, encode_disconnect, encode_event,
};
use vizora_protocol::device::{Heartbeat, Playback};
use vizora_protocol::{
    AuthErrorCode, Claims, ConnectErrorPayload, ErrorCode, ErrorMsg, Mutation, MutationAck, NS_DEVICE, NS_WALL,
    RejectCode, Role, ScheduleExecuted, Subscribe, now_ms,
};

use crate::auth::Auth;
use crate::config::GatewayConfig;
use crate::engine::{Cmd, EngineHandle, Sock};
use crate::metrics::Counters;

/// Per-connection state.
#[derive(Debug, Default)]
pub struct ConnData {
    state: Mutex<ConnState>,
}

#[derive(Debug, Default)]
struct ConnState {
    wall: Option<Claims>,
    device: Option<Claims>,
    bucket: Option<Bucket>,
    last_rate_error: Option<Instant>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The Socket.IO layer.
#[derive(Debug, Clone)]
pub struct SioHandler {
    auth: Auth,
    engine: EngineHandle,
    counters: Arc<Counters>,
    rate: f64,
    burst: f64,
    max_sessions: u64,
}

impl SioHandler {
    /// A handler verifying with `auth` and feeding `engine`.
    pub fn new(auth: Auth, engine: EngineHandle, counters: Arc<Counters>, cfg: &GatewayConfig) -> Self {
        Self {
            auth,
            engine,
            counters,
            rate: cfg.rate_per_s,
            burst: cfg.rate_burst,
            max_sessions: cfg.max_connections as u64,
        }
    }

    fn send_error(&self, sock: &Sock, ns: &str, code: ErrorCode, message: impl Into<String>) {
        if code == ErrorCode::BadRequest {
            self.counters.bad_requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let msg = ErrorMsg { code, message: message.into() };
        let _ = sock.emit(encode_event(ns, None, "error", &msg));
    }

    /// Takes one token; false when over the limit.
    fn admit(&self, sock: &Sock) -> bool {
        let mut st = sock.data.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let b = st.bucket.get_or_insert(Bucket { tokens: self.burst, at: now });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * self.rate).min(self.burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn connect(&self, sock: Sock, ns: &str, auth: Option<&RawValue>) {
        let refuse = |code: AuthErrorCode| {
            self.counters.auth_failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let _ = sock.emit(encode_connect_error(ns, &ConnectErrorPayload::unauthorized(code)));
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
        {
            let mut st = sock.data.state.lock().unwrap_or_else(|p| p.into_inner());
            let slot = if ns == NS_WALL { &mut st.wall } else { &mut st.device };
            if slot.is_some() {
                return; // duplicate CONNECT: already connected, ignore
            }
            *slot = Some(claims.clone());
        }
        #[derive(serde::Serialize)]
        struct Sid {
            sid: String,
        }
        let _ = sock.emit(encode_connect(ns, Some(&Sid { sid: sock.id.to_string() })));
        let counter = if ns == NS_WALL { &self.counters.wall_sessions } else { &self.counters.device_sessions };
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if ns == NS_DEVICE {
            self.engine.send(Cmd::DeviceConnected {
                org: claims.org.clone(),
                device_id: claims.sub.clone(),
                sock: sock.clone(),
            });
        }
        self.expire_later(sock, ns, claims);
    }

    /// Ends the namespace session when the token expires.
    fn expire_later(&self, sock: Sock, ns: &str, claims: Claims) {
        let left = claims.exp.saturating_mul(1000).saturating_sub(now_ms());
        let ns = ns.to_owned();
        let engine = self.engine.clone();
        let counters = self.counters.clone();
        let Ok(rt) = tokio::runtime::Handle::try_current() else { return };
        rt.spawn(async move {
            tokio::time::sleep(Duration::from_millis(left)).await;
            if sock.is_closed() {
                return;
            }
            let still = {
                let mut st = sock.data.state.lock().unwrap_or_else(|p| p.into_inner());
                let slot = if ns == NS_WALL { &mut st.wall } else { &mut st.device };
                if slot.as_ref() == Some(&claims) { slot.take() } else { None }
            };
            if let Some(c) = still {
                let msg = ErrorMsg { code: ErrorCode::TokenExpired, message: "token expired".into() };
                let _ = sock.emit(encode_event(&ns, None, "error", &msg));
                let _ = sock.emit(encode_disconnect(&ns));
                end_session(&engine, &counters, &sock, &ns, &c);
            }
        });
    }

    fn on_event(&self, sock: Sock, ns: &str, name: &str, args: &[Box<RawValue>], ack: Option<u64>) {
        let claims = {
            let st = sock.data.state.lock().unwrap_or_else(|p| p.into_inner());
            if ns == NS_WALL {
                st.wall.clone()
            } else if ns == NS_DEVICE {
                st.device.clone()
            } else {
                None
            }
        };
        let Some(claims) = claims else {
            return self.send_error(&sock, ns, ErrorCode::BadRequest, "not connected to this namespace");
        };
        if !self.admit(&sock) {
            if let (NS_WALL, "mutate", Some(id)) = (ns, name, ack) {
                self.counters.mutations_rate_limited.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let reply = MutationAck::rejected(RejectCode::RateLimited, "over the event rate limit; retry later");
                let _ = sock.emit(encode_ack(ns, id, &reply));
                return;
            }
            let mut st = sock.data.state.lock().unwrap_or_else(|p| p.into_inner());
            let due = st.last_rate_error.is_none_or(|t| t.elapsed() >= Duration::from_secs(1));
            if due {
                st.last_rate_error = Some(Instant::now());
                drop(st);
                self.send_error(&sock, ns, ErrorCode::RateLimited, "over the event rate limit");
            }
            return;
        }
        let arg = args.first().map(|a| a.get()).unwrap_or("null");
        let org = claims.org.clone();
        match (ns, name) {
            (NS_WALL, "subscribe") => {
                let (Some(ack), Ok(sub)) = (ack, serde_json::from_str::<Subscribe>(arg)) else {
                    return self.send_error(
                        &sock,
                        ns,
                        ErrorCode::BadRequest,
                        "subscribe needs an ack and {\"since\": position|null}",
                    );
                };
                if !self.engine.send(Cmd::Subscribe { org, sock: sock.clone(), ack, since: sub.since }) {
                    sock.close(DisconnectReason::TransportError);
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
                let cmd = match Mutation::decode(&value) {
                    Ok(mutation) => Cmd::Mutate { claims, sock: sock.clone(), ack, mutation: Box::new(mutation) },
                    Err(e) => {
                        let ids = (
                            value.get("client_id").and_then(|v| v.as_str()),
                            value.get("mutation_id").and_then(|v| v.as_str()),
                        );
                        let reply = MutationAck::invalid(&e);
                        match ids {
                            // Decided: remembered, so a retry answers `duplicate`.
                            (Some(c), Some(m)) if !c.is_empty() && !m.is_empty() => Cmd::Decided {
                                org: claims.org,
                                sock: sock.clone(),
                                ack,
                                client_id: c.to_owned(),
                                mutation_id: m.to_owned(),
                                reply,
                            },
                            _ => {
                                let _ = sock.emit(encode_ack(ns, ack, &reply));
                                return;
                            }
                        }
                    }
                };
                if !self.engine.send(cmd) {
                    let reply = MutationAck::rejected(RejectCode::RateLimited, "gateway busy; retry later");
                    let _ = sock.emit(encode_ack(ns, ack, &reply));
                }
            }
            (NS_DEVICE, "heartbeat") => match serde_json::from_str::<Heartbeat>(arg) {
                Ok(hb) => {
                    self.engine.send(Cmd::Heartbeat { org, device_id: claims.sub, hb });
                }
                Err(e) => self.send_error(&sock, ns, ErrorCode::BadRequest, format!("heartbeat: {e}")),
            },
            (NS_DEVICE, "playback") => match serde_json::from_str::<Playback>(arg) {
                Ok(pb) => {
                    self.engine.send(Cmd::Playback { org, pb });
                }
                Err(e) => self.send_error(&sock, ns, ErrorCode::BadRequest, format!("playback: {e}")),
            },
            (NS_DEVICE, "schedule.executed") => match serde_json::from_str::<ScheduleExecuted>(arg) {
                Ok(ev) if ev.device_id == claims.sub => {
                    self.engine.send(Cmd::ScheduleExecuted { org, ev });
                }
                Ok(_) => self.send_error(&sock, ns, ErrorCode::BadRequest, "device_id: must be the token's device"),
                Err(e) => self.send_error(&sock, ns, ErrorCode::BadRequest, format!("schedule.executed: {e}")),
            },
            _ => self.send_error(&sock, ns, ErrorCode::BadRequest, format!("unknown event `{name}` on {ns}")),
        }
    }
}

fn end_session(engine: &EngineHandle, counters: &Counters, sock: &Sock, ns: &str, claims: &Claims) {
    use std::sync::atomic::Ordering::Relaxed;
    if ns == NS_WALL {
        counters.wall_sessions.fetch_sub(1, Relaxed);
        engine.send(Cmd::Unsubscribe { org: claims.org.clone(), sid: sock.id });
    } else {
        counters.device_sessions.fetch_sub(1, Relaxed);
        engine.send(Cmd::DeviceGone { org: claims.org.clone(), device_id: claims.sub.clone(), sid: sock.id });
    }
}

impl EngineIoHandler for SioHandler {
    type Data = ConnData;

    fn on_connect(self: Arc<Self>, sock: Arc<Socket<ConnData>>) {
        let n = self.counters.sessions.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        if n > self.max_sessions {
            tracing::warn!(sessions = n, "connection cap reached; refusing session");
            sock.close(DisconnectReason::ClosingServer);
        }
    }

    fn on_disconnect(&self, sock: Arc<Socket<ConnData>>, reason: DisconnectReason) {
        tracing::debug!(sid = %sock.id, ?reason, "engine.io session closed");
        self.counters.sessions.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        let (wall, device) = {
            let mut st = sock.data.state.lock().unwrap_or_else(|p| p.into_inner());
            (st.wall.take(), st.device.take())
        };
        if let Some(c) = wall {
            end_session(&self.engine, &self.counters, &sock, NS_WALL, &c);
        }
        if let Some(c) = device {
            end_session(&self.engine, &self.counters, &sock, NS_DEVICE, &c);
        }
    }

    fn on_message(self: &Arc<Self>, msg: Str, sock: Arc<Socket<ConnData>>) {
        let packet = match SioPacket::decode(msg.as_str()) {
            Ok(p) => p,
            Err(e) => {
                tracing::debug!(sid = %sock.id, cause = %e, "malformed socket.io packet");
                self.counters.bad_requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                // Say so on every namespace the client is in, so it hears it.
                let (w, d) = {
                    let st = sock.data.state.lock().unwrap_or_else(|p| p.into_inner());
                    (st.wall.is_some(), st.device.is_some())
                };
                for (on, ns) in [(w, NS_WALL), (d, NS_DEVICE)] {
                    if on {
                        self.send_error(&sock, ns, ErrorCode::BadRequest, e.to_string());
                    }
                }
                if !w && !d {
                    sock.close(DisconnectReason::PacketParsingError);
                }
                return;
            }
        };
        match packet.body {
            SioBody::Connect(auth) => self.connect(sock, &packet.ns, auth.as_deref()),
            SioBody::Disconnect => {
                let claims = {
                    let mut st = sock.data.state.lock().unwrap_or_else(|p| p.into_inner());
                    match packet.ns.as_str() {
                        NS_WALL => st.wall.take(),
                        NS_DEVICE => st.device.take(),
                        _ => None,
                    }
                };
                if let Some(c) = claims {
                    end_session(&self.engine, &self.counters, &sock, &packet.ns, &c);
                }
            }
            SioBody::Event { name, args, ack } => self.on_event(sock, &packet.ns, &name, &args, ack),
            SioBody::Ack { id, args } if packet.ns == NS_DEVICE => {
                let reply = args.first().map(|a| a.get().to_owned()).unwrap_or_else(|| "null".into());
                self.engine.send(Cmd::CommandAcked { sid: sock.id, ack: id, reply });
            }
            SioBody::Ack { .. } => {}
            SioBody::ConnectError(_) => {
                self.send_error(&sock, &packet.ns, ErrorCode::BadRequest, "clients do not send CONNECT_ERROR")
            }
        }
    }

    fn on_binary(self: &Arc<Self>, _data: bytes::Bytes, sock: Arc<Socket<ConnData>>) {
        let (w, d) = {
            let st = sock.data.state.lock().unwrap_or_else(|p| p.into_inner());
            (st.wall.is_some(), st.device.is_some())
        };
        for (on, ns) in [(w, NS_WALL), (d, NS_DEVICE)] {
            if on {
                self.send_error(&sock, ns, ErrorCode::BadRequest, "binary frames are not part of the protocol");
            }
        }
    }
}
