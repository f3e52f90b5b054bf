//! The Vizora realtime gateway: Socket.IO v4 over axum + engineioxide, JWT
//! auth, a durable per-org ordered log with replay, player status and alerts.
//!
//! [`serve`] runs it on a listener until a shutdown future resolves;
//! [`Embedded`] runs it on its own thread (the demo and tests use that).
//!
//! Inside, data flows one way:
//! - [`socket`] (Engine.IO sessions, auth, rate limits, decoding: sessions
//!   that open a WebSocket at once run on this crate's own transport,
//!   `websocket.rs`; long-polling ones, and their upgrades, on engineioxide) and
//!   [`api`] (HTTP) send [`sequencer::Cmd`]s to the sequencer thread that
//!   owns the org;
//! - the [`sequencer`] decides, writes to a [`store::LogStore`] (SQLite on
//!   one node, [`cluster::ClusterStore`] on NATS JetStream), and only then
//!   answers and fans out, through [`peer::Peer`]: a narrow outbound
//!   interface (send an encoded packet without waiting, close, ask whether
//!   the session is still on an org's `/wall`) that the socket layer
//!   implements. The sequencer never sees the transport, and what other
//!   nodes wrote reaches subscribers through the same fan-out as local
//!   commits (`sequencer/commit.rs` `deliver`).

pub mod api;
pub mod auth;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod metrics;
mod pace;
pub mod peer;
pub mod sequencer;
pub mod session;
pub mod shared_log;
pub mod socket;
pub mod status;
pub mod store;
mod websocket;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Request, StatusCode, Uri, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::serve::ListenerExt;
use engineioxide::config::EngineIoConfig;
use engineioxide::layer::EngineIoLayer;
use tokio::net::TcpListener;

pub use auth::Auth;
pub use clock::{Clock, ManualClock, SharedClock, SystemClock};
pub use config::GatewayConfig;
pub use store::FailSwitch;

use crate::metrics::Counters;
use crate::sequencer::Cmd;
use crate::socket::SioHandler;

/// What a gateway runs with besides its config: the clock and the store's
/// failure switch (tests drive both; the defaults are the real ones).
#[derive(Debug, Clone)]
pub struct Hooks {
    /// Time for the sequencer, status derivation and token expiry.
    pub clock: SharedClock,
    /// Makes the store fail writes while on (the disk-full drill).
    pub store_fault: FailSwitch,
    /// Time for the Engine.IO heartbeat of WebSocket sessions (pings,
    /// their timeout, stalled writes). Its own clock, so that a test can
    /// move the sequencer's clock by minutes without timing out every
    /// socket, or drive pings without moving the sequencer's.
    pub heartbeat_clock: SharedClock,
}

impl Default for Hooks {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            store_fault: FailSwitch::default(),
            heartbeat_clock: Arc::new(SystemClock),
        }
    }
}

/// Runs the gateway on `listener` until `shutdown` resolves, then flushes,
/// closes every socket (clients reconnect at once) and returns.
pub async fn serve(
    listener: TcpListener,
    cfg: GatewayConfig,
    auth: Auth,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    serve_with(listener, cfg, auth, Hooks::default(), shutdown).await
}

/// [`serve`] with an injected clock and store failure switch.
pub async fn serve_with(
    listener: TcpListener,
    cfg: GatewayConfig,
    auth: Auth,
    hooks: Hooks,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    cfg.validate().map_err(|(f, m)| anyhow::anyhow!("config: {f}: {m}"))?;
    let cfg = Arc::new(cfg);
    let auth = auth.with_issuer_audience(cfg.jwt_issuer.as_deref(), cfg.jwt_audience.as_deref());
    let (stores, shared_log): (Vec<Box<dyn store::LogStore>>, _) = match &cfg.nats {
        None => {
            let first = store::SqliteStore::open_with(&cfg.data_dir, hooks.store_fault.clone())?;
            let mut more = Vec::new();
            for _ in 1..cfg.sequencer_threads() {
                more.push(Box::new(first.another()?) as Box<dyn store::LogStore>);
            }
            more.insert(0, Box::new(first));
            (more, None)
        }
        Some(n) => {
            let nats = cluster::connect(n).await?;
            let copy = store::SqliteStore::open_copy(&cfg.data_dir, hooks.store_fault.clone())?;
            let store = cluster::ClusterStore::new(copy, nats.clone(), tokio::runtime::Handle::current())?;
            let from = store.followed_pos();
            (vec![Box::new(store) as Box<dyn store::LogStore>], Some((nats, from)))
        }
    };
    let counters = Arc::new(Counters::default());
    let relay = shared_log.as_ref().map(|(nats, _): &(cluster::Nats, u64)| {
        // Names this node in relays: its listen address and a random part.
        let node =
            format!("{}-{}", listener.local_addr().map(|a| a.to_string()).unwrap_or_default(), ulid::Ulid::generate());
        Box::new(nats.relay(node)) as Box<dyn cluster::Relay>
    });
    let (sequencer, sequencer_threads) = sequencer::spawn(cfg.clone(), stores, relay, counters.clone(), hooks.clock)?;
    let stop_streams = tokio_util::sync::CancellationToken::new();
    tokio::spawn(pace::run(counters.clone(), stop_streams.clone()));
    if let Some((nats, from)) = shared_log {
        // Ready once what the log held at start is applied.
        let last = nats.last_seq().await?;
        sequencer.shared.followed.fetch_max(from, std::sync::atomic::Ordering::Relaxed);
        sequencer.shared.catch_up_to.store(last, std::sync::atomic::Ordering::Relaxed);
        tracing::info!(from, last, "following the shared log");
        tokio::spawn(cluster::follow_live(nats.clone(), sequencer.clone(), stop_streams.clone()));
        tokio::spawn(cluster::follow(nats, from + 1, sequencer.clone(), stop_streams.clone()));
    }
    let rate = api::CallerRate { per_s: cfg.rate_per_s, burst: cfg.rate_burst };
    let api = api::router(sequencer.clone(), auth.clone(), rate, stop_streams.clone());
    let handler = Arc::new(SioHandler::new(auth, sequencer.clone(), counters.clone(), &cfg));
    let ws = Arc::new(websocket::WsTransport::new(
        handler.clone(),
        websocket::WsConfig {
            ping_interval_ms: cfg.ping_interval_ms,
            ping_timeout_ms: cfg.ping_timeout_ms,
            max_payload: usize::try_from(cfg.max_payload).unwrap_or(usize::MAX),
            queue: cfg.socket_buffer,
            read_buffer: WS_READ_BUFFER,
        },
        hooks.heartbeat_clock,
        stop_streams.clone(),
    ));
    let eio = EngineIoConfig::builder()
        .req_path("/socket.io")
        .ping_interval(Duration::from_millis(cfg.ping_interval_ms))
        .ping_timeout(Duration::from_millis(cfg.ping_timeout_ms))
        .max_payload(cfg.max_payload)
        // engineioxide applies `max_payload` to long-polling only; WebSocket
        // frames have their own limits (64 MiB by default).
        .ws_max_message_size(usize::try_from(cfg.max_payload).unwrap_or(usize::MAX))
        .ws_max_frame_size(usize::try_from(cfg.max_payload).unwrap_or(usize::MAX))
        .max_buffer_size(cfg.socket_buffer)
        // What walls and players send is small (pongs, subscribes,
        // mutations); tungstenite zero-fills and keeps this buffer per
        // socket, and reads a larger frame in more steps.
        .ws_read_buffer_size(WS_READ_BUFFER)
        .build();
    let metrics_counters = counters.clone();
    let metrics_clock = sequencer.shared.clock.clone();
    let metrics_token = cfg.metrics_token.clone().map(|t| format!("Bearer {t}"));
    let shared = sequencer.shared.clone();
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || {
                let shared = shared.clone();
                async move {
                    match shared.ready() {
                        Ok(()) => (StatusCode::OK, "ready".to_owned()),
                        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {why}")),
                    }
                }
            }),
        )
        .route(
            "/metrics",
            get(move |headers: HeaderMap| {
                let c = metrics_counters.clone();
                let want = metrics_token.clone();
                let now_ms = metrics_clock.now_ms();
                async move {
                    let given = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
                    match want {
                        Some(w) if given != Some(w.as_str()) => {
                            (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], String::new())
                                .into_response()
                        }
                        _ => c.render(now_ms).into_response(),
                    }
                }
            }),
        )
        .merge(api)
        .layer(EngineIoLayer::from_config(handler, eio))
        .layer(axum::middleware::map_request(detach_head))
        // Sessions that open a WebSocket at once: this crate's transport.
        .layer(axum::middleware::from_fn_with_state(ws, websocket::intercept));
    let addr = listener.local_addr()?;
    tracing::info!(%addr, data_dir = %cfg.data_dir.display(), "gateway listening");
    let stop_sequencer = sequencer.clone();
    // Small frames leave at once (no Nagle delay waiting on the peer's
    // delayed ACK), as Node's HTTP server does by default. Peer addresses
    // reach the socket layer (the per-IP cap) as ConnectInfo.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(cause = %e, "TCP_NODELAY not set");
        }
    });
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down: flushing and closing sockets");
            stop_streams.cancel();
            stop_sequencer.send(Cmd::Shutdown);
        })
        .await?;
    let _ = tokio::task::spawn_blocking(move || sequencer_threads.into_iter().for_each(|t| drop(t.join()))).await;
    Ok(())
}

/// A gateway on its own thread and runtime, on a loopback port.
#[derive(Debug)]
pub struct Embedded {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The signing keys, to mint tokens for local players and walls.
    pub auth: Auth,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Embedded {
    /// Starts on `cfg.listen` (use port 0 for a free one).
    pub fn start(cfg: GatewayConfig, auth: Auth) -> anyhow::Result<Self> {
        Self::start_with(cfg, auth, Hooks::default())
    }

    /// [`Embedded::start`] with an injected clock and store failure switch.
    pub fn start_with(cfg: GatewayConfig, auth: Auth, hooks: Hooks) -> anyhow::Result<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("vizora-gateway")
            .enable_all()
            .build()?;
        let listener = rt.block_on(TcpListener::bind(&cfg.listen))?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let a = auth.clone();
        let thread = std::thread::Builder::new().name("vizora-gateway".into()).spawn(move || {
            let result = rt.block_on(serve_with(listener, cfg, a, hooks, async move {
                let _ = stopped.await;
            }));
            if let Err(e) = result {
                tracing::error!(cause = %e, "embedded gateway failed");
            }
        })?;
        Ok(Self { addr, auth, stop: Some(stop), thread: Some(thread) })
    }

    /// `ws://` base URL.
    pub fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// Stops and waits.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Embedded {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Bytes each WebSocket reads at a time (tungstenite's buffer, per socket).
const WS_READ_BUFFER: usize = 1024;

/// Copies the request's URI and headers out of hyper's read buffer. hyper
/// parses them as slices of that buffer (16 KiB per connection), and
/// engineioxide keeps the request head for a socket's whole life: without
/// the copy every open WebSocket pins the whole buffer, half of what an
/// idle wall cost (measured with heaptrack, BENCHMARKS.md).
async fn detach_head(req: Request<Body>) -> Request<Body> {
    let (mut parts, body) = req.into_parts();
    let mut headers = HeaderMap::with_capacity(parts.headers.len());
    for (name, value) in &parts.headers {
        let (Ok(name), Ok(mut v)) =
            (HeaderName::from_bytes(name.as_str().as_bytes()), HeaderValue::from_bytes(value.as_bytes()))
        else {
            continue;
        };
        v.set_sensitive(value.is_sensitive());
        headers.append(name, v);
    }
    parts.headers = headers;
    if let Ok(uri) = Uri::try_from(parts.uri.to_string()) {
        parts.uri = uri;
    }
    Request::from_parts(parts, body)
}
