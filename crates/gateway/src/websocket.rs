//! Engine.IO 4 over WebSocket: this crate's own transport for clients that
//! open a WebSocket at once (`/socket.io/?EIO=4&transport=websocket`, no
//! `sid`), which is what Vizora's walls, players, simulator and load
//! generator do. Sessions that start with HTTP long-polling (stock
//! Socket.IO clients with default options), and their upgrade to
//! WebSocket, stay with engineioxide; both kinds reach the same Socket.IO
//! layer ([`crate::socket::Session`]).
//!
//! Why not engineioxide's for these too (measured, BENCHMARKS.md, issue 11):
//! it gives each socket three tasks (reader, writer, heartbeat), a bounded
//! channel whose first block is allocated up front, and it copies every
//! packet into a new `String` before tungstenite copies it again. Here a
//! session is one task: it reads frames, writes what its queue holds as one
//! flush, and keeps the heartbeat on the gateway's injected clock
//! ([`crate::Hooks::heartbeat_clock`]), so tests drive pings by hand. A
//! queued [`Packet`] already is the Engine.IO message (`4` and the Socket.IO
//! packet): it is framed without another copy.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::Poll;

use axum::body::Body;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use axum::middleware::Next;
use futures_util::task::AtomicWaker;
use futures_util::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_util::sync::CancellationToken;

use crate::clock::SharedClock;
use crate::peer::{Close, Packet, Peer, PeerId};
use crate::session::ConnData;
use crate::socket::{Session, SioHandler, Sock};

/// What the transport runs with.
#[derive(Debug, Clone)]
pub(crate) struct WsConfig {
    /// Engine.IO `pingInterval` and `pingTimeout`, ms.
    pub ping_interval_ms: u64,
    pub ping_timeout_ms: u64,
    /// Engine.IO `maxPayload`: a larger frame closes the connection.
    pub max_payload: usize,
    /// Packets a session's queue holds; past it, sends are refused.
    pub queue: usize,
    /// Bytes each socket reads at a time.
    pub read_buffer: usize,
}

/// The transport: answers WebSocket handshakes on the Engine.IO path and
/// runs each session.
#[derive(Debug)]
pub(crate) struct WsTransport {
    handler: Arc<SioHandler>,
    cfg: WsConfig,
    clock: SharedClock,
    /// Cancelled at shutdown: every session closes.
    stop: CancellationToken,
    /// The open sessions, to close them at shutdown.
    live: Arc<Mutex<HashMap<PeerId, Weak<WsSession>>>>,
}

impl WsTransport {
    /// The transport; at `stop` it closes every session (needs a runtime).
    pub(crate) fn new(handler: Arc<SioHandler>, cfg: WsConfig, clock: SharedClock, stop: CancellationToken) -> Self {
        let live: Arc<Mutex<HashMap<PeerId, Weak<WsSession>>>> = Arc::default();
        let (all, stopped) = (live.clone(), stop.clone());
        tokio::spawn(async move {
            stopped.cancelled().await;
            let open: Vec<_> =
                all.lock().unwrap_or_else(|p| p.into_inner()).values().filter_map(Weak::upgrade).collect();
            open.iter().for_each(|s| s.kill());
        });
        Self { handler, cfg, clock, stop, live }
    }

    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<PeerId, Weak<WsSession>>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// axum middleware in front of engineioxide: takes the requests that open
/// an Engine.IO session over WebSocket directly, and passes on the rest.
pub(crate) async fn intercept(State(t): State<Arc<WsTransport>>, mut req: Request<Body>, next: Next) -> Response<Body> {
    if !is_direct_websocket(&req) {
        return next.run(req).await;
    }
    let Some(key) = req.headers().get(header::SEC_WEBSOCKET_KEY).cloned() else {
        return next.run(req).await;
    };
    let ip = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        match upgrade.await {
            Ok(io) => t.run(TokioIo::new(io), ip).await,
            Err(e) => tracing::debug!(cause = %e, "websocket upgrade failed"),
        }
    });
    let mut res = Response::new(Body::empty());
    *res.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = res.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(accept) = HeaderValue::from_str(&derive_accept_key(key.as_bytes())) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    res
}

/// `GET /socket.io/?EIO=4&transport=websocket` without a `sid`, asking for
/// a WebSocket (version 13).
fn is_direct_websocket(req: &Request<Body>) -> bool {
    if req.method() != Method::GET || !matches!(req.uri().path(), "/socket.io/" | "/socket.io") {
        return false;
    }
    let Ok(Query(q)) = Query::<std::collections::HashMap<String, String>>::try_from_uri(req.uri()) else {
        return false;
    };
    let has = |h: &HeaderMap, name, want: &str| {
        h.get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(want))
    };
    q.get("EIO").map(String::as_str) == Some("4")
        && q.get("transport").map(String::as_str) == Some("websocket")
        && !q.contains_key("sid")
        && has(req.headers(), header::UPGRADE, "websocket")
        && has(req.headers(), header::CONNECTION, "upgrade")
        && has(req.headers(), header::SEC_WEBSOCKET_VERSION, "13")
}

/// Why a session ended (logged through `Debug`).
#[derive(Debug)]
#[expect(dead_code, reason = "read only by the Debug impl, in the log line")]
enum Ended {
    /// The client closed the WebSocket, or sent Engine.IO `close`.
    ClientClosed,
    /// Reading or writing failed (a frame over `maxPayload` included).
    Transport(tokio_tungstenite::tungstenite::Error),
    /// No pong within `pingTimeout`.
    PingTimeout,
    /// A write did not finish within `pingInterval + pingTimeout`.
    WriteStalled,
    /// Not an Engine.IO packet a client sends.
    BadPacket,
    /// This gateway closed it (refused, too slow, no namespace joined).
    Closed,
    /// The gateway is shutting down.
    ServerClosing,
}

/// One session: what the Socket.IO layer and the sequencer hold.
#[derive(Debug)]
pub(crate) struct WsSession {
    data: ConnData,
    sid: String,
    ip: Option<IpAddr>,
    cap: usize,
    queue: Mutex<Queue>,
    /// Set, and the session's task woken, when the queue goes from empty
    /// to not (cheaper than a `Notify`: one waiter, no waiter list).
    queued: AtomicBool,
    wake: AtomicWaker,
    /// Set, and the task woken, when the gateway closes the session.
    killed: AtomicBool,
}

/// What woke a session's task.
enum Signal {
    Queued,
    Killed,
}

#[derive(Debug, Default)]
struct Queue {
    packets: VecDeque<Packet>,
    closed: bool,
}

impl WsSession {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Everything queued. Dropping a packet can re-enter an outbox (and
    /// this session): the caller drops them, never under the lock.
    fn take(&self) -> VecDeque<Packet> {
        std::mem::take(&mut self.lock().packets)
    }

    /// Resolves once the session is to close, or something was queued
    /// since it last resolved.
    fn signal(&self) -> impl Future<Output = Signal> + '_ {
        std::future::poll_fn(|cx| {
            self.wake.register(cx.waker());
            if self.killed.load(Ordering::Acquire) {
                Poll::Ready(Signal::Killed)
            } else if self.queued.swap(false, Ordering::AcqRel) {
                Poll::Ready(Signal::Queued)
            } else {
                Poll::Pending
            }
        })
    }

    /// Resolves once the session is to close.
    fn killed(&self) -> impl Future<Output = ()> + '_ {
        std::future::poll_fn(|cx| {
            self.wake.register(cx.waker());
            if self.killed.load(Ordering::Acquire) { Poll::Ready(()) } else { Poll::Pending }
        })
    }

    fn kill(&self) {
        if !self.killed.swap(true, Ordering::AcqRel) {
            self.wake.wake();
        }
    }

    /// Nothing more is queued.
    fn shut(&self) {
        let left = {
            let mut q = self.lock();
            q.closed = true;
            std::mem::take(&mut q.packets)
        };
        drop(left);
    }
}

impl Peer for WsSession {
    fn id(&self) -> PeerId {
        self.data.id
    }

    fn send(&self, packet: Packet) -> Result<(), Packet> {
        let first = {
            let mut q = self.lock();
            if q.closed || q.packets.len() >= self.cap {
                return Err(packet);
            }
            q.packets.push_back(packet);
            q.packets.len() == 1
        };
        if first {
            self.queued.store(true, Ordering::Release);
            self.wake.wake();
        }
        Ok(())
    }

    fn close(&self, why: Close) {
        tracing::debug!(sid = %self.sid, ?why, "closing session");
        self.kill();
    }

    fn on_wall_of(&self, org: &str) -> bool {
        self.data.on_wall_of(org)
    }
}

impl Session for WsSession {
    fn data(&self) -> &ConnData {
        &self.data
    }

    fn sid(&self) -> String {
        self.sid.clone()
    }

    fn emit(&self, packet: String) {
        let _ = Peer::send(self, Packet::from(packet));
    }

    fn end(&self) {
        self.kill();
    }

    fn is_closed(&self) -> bool {
        self.killed.load(Ordering::Acquire)
    }

    fn remote_ip(&self) -> Option<IpAddr> {
        self.ip
    }
}

/// The WebSocket message carrying `p` (its bytes are the Engine.IO message).
#[expect(unsafe_code, reason = "tungstenite builds text from Bytes only unchecked or by validating again")]
fn message(p: Packet) -> Message {
    // SAFETY: a Packet is `4` followed by a String's bytes (or a slice of
    // one, `Packet::owned_by`), so it is UTF-8.
    Message::Text(unsafe { Utf8Bytes::from_bytes_unchecked(p.into_message_bytes()) })
}

impl WsTransport {
    async fn run<S>(self: Arc<Self>, io: S, ip: Option<IpAddr>)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let ws_cfg = WebSocketConfig::default()
            .read_buffer_size(self.cfg.read_buffer)
            .max_message_size(Some(self.cfg.max_payload))
            .max_frame_size(Some(self.cfg.max_payload));
        let mut ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(ws_cfg)).await;
        let sess = Arc::new(WsSession {
            data: ConnData::default(),
            sid: ulid::Ulid::generate().to_string(),
            ip,
            cap: self.cfg.queue,
            queue: Mutex::default(),
            queued: AtomicBool::new(false),
            wake: AtomicWaker::new(),
            killed: AtomicBool::new(false),
        });
        // Only the text lives on: a `json!` value held across the awaits
        // below would stay in this task for the session's life (0.6 KiB).
        let open = format!(
            "0{}",
            serde_json::json!({
                "sid": sess.sid,
                "upgrades": [],
                "pingInterval": self.cfg.ping_interval_ms,
                "pingTimeout": self.cfg.ping_timeout_ms,
                "maxPayload": self.cfg.max_payload,
            })
        );
        if ws.send(Message::text(open)).await.is_err() {
            return;
        }
        // Registered only once it is a session: one that failed its OPEN
        // leaves nothing behind.
        self.live().insert(sess.data.id, Arc::downgrade(&sess));
        if self.stop.is_cancelled() {
            sess.kill();
        }
        let sock: Sock = sess.clone();
        self.handler.opened(sock.clone());
        let ended = self.serve(&sess, &mut ws).await;
        sess.kill();
        sess.shut();
        self.live().remove(&sess.data.id);
        tracing::debug!(sid = %sess.sid, ?ended, "websocket session ended");
        self.handler.closed(sock, &ended);
        if !matches!(ended, Ended::Transport(_) | Ended::WriteStalled) {
            let bye = ws.close(None);
            let _ = tokio::time::timeout(std::time::Duration::from_secs(1), bye).await;
        }
    }

    fn why_killed(&self) -> Ended {
        if self.stop.is_cancelled() { Ended::ServerClosing } else { Ended::Closed }
    }

    /// Reads, writes and keeps the heartbeat until the session ends.
    async fn serve<S>(&self, sess: &Arc<WsSession>, ws: &mut WebSocketStream<S>) -> Ended
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (interval, timeout) = (self.cfg.ping_interval_ms, self.cfg.ping_timeout_ms);
        // As the reference server: the first ping one interval after the
        // handshake; after each ping, a pong within the timeout; the next
        // ping one interval after that pong.
        let mut awaiting_pong = false;
        let mut beat = self.clock.sleep_until(self.clock.now_ms().saturating_add(interval));
        loop {
            tokio::select! {
                biased;
                signal = sess.signal() => match signal {
                    Signal::Killed => return self.why_killed(),
                    Signal::Queued => {
                        if let Err(e) = self.write(sess, ws, None).await {
                            return e;
                        }
                    }
                },
                _ = &mut beat => {
                    if awaiting_pong {
                        return Ended::PingTimeout;
                    }
                    awaiting_pong = true;
                    beat = self.clock.sleep_until(self.clock.now_ms().saturating_add(timeout));
                    if let Err(e) = self.write(sess, ws, Some(Message::text("2"))).await {
                        return e;
                    }
                }
                msg = ws.next() => match msg {
                    None => return Ended::ClientClosed,
                    Some(Err(e)) => return Ended::Transport(e),
                    Some(Ok(Message::Text(text))) => match text.as_bytes().first() {
                        Some(b'4') => self.handler.message(&text[1..], sess.clone()),
                        // A pong (or a client's ping, which also shows it lives).
                        Some(b'3' | b'2') => {
                            if awaiting_pong {
                                awaiting_pong = false;
                                beat = self.clock.sleep_until(self.clock.now_ms().saturating_add(interval));
                            }
                        }
                        Some(b'1') => return Ended::ClientClosed,
                        Some(b'6') => {}
                        _ => return Ended::BadPacket,
                    },
                    Some(Ok(Message::Binary(_))) => self.handler.binary(sess.clone()),
                    Some(Ok(Message::Close(_))) => return Ended::ClientClosed,
                    // WebSocket pings are answered by tungstenite.
                    Some(Ok(_)) => {}
                },
            }
        }
    }

    /// Writes `first` and then everything queued, and flushes once. A write
    /// that cannot finish at once waits at most `pingInterval +
    /// pingTimeout`, and ends when the session or the gateway closes.
    async fn write<S>(&self, sess: &WsSession, ws: &mut WebSocketStream<S>, first: Option<Message>) -> Result<(), Ended>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let mut batch = sess.take();
        if first.is_none() && batch.is_empty() {
            return Ok(());
        }
        let joined = sess.data.joined();
        batch.retain(|p| ConnData::may_send(p.as_bytes(), joined));
        let mut work = pin!(async move {
            if let Some(m) = first {
                ws.feed(m).await?;
            }
            for p in batch {
                ws.feed(message(p)).await?;
            }
            ws.flush().await
        });
        // Most writes finish at once: no timer for them.
        let now = std::future::poll_fn(|cx| Poll::Ready(work.as_mut().poll(cx))).await;
        let done = match now {
            Poll::Ready(r) => r,
            Poll::Pending => {
                let limit = self.cfg.ping_interval_ms.saturating_add(self.cfg.ping_timeout_ms);
                let stall = self.clock.sleep_until(self.clock.now_ms().saturating_add(limit));
                tokio::select! {
                    r = &mut work => r,
                    _ = sess.killed() => return Err(self.why_killed()),
                    _ = stall => return Err(Ended::WriteStalled),
                }
            }
        };
        done.map_err(Ended::Transport)
    }
}
