//! The Vizora realtime gateway: Socket.IO v4 over axum + engineioxide, JWT
//! auth, a durable per-org ordered log with replay, player status and alerts.
//!
//! [`serve`] runs it on a listener until a shutdown future resolves;
//! [`Embedded`] runs it on its own thread (the demo and tests use that).

pub mod auth;
pub mod config;
pub mod engine;
pub mod metrics;
pub mod socket;
pub mod status;
pub mod store;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use engineioxide::config::EngineIoConfig;
use engineioxide::layer::EngineIoLayer;
use tokio::net::TcpListener;

pub use auth::Auth;
pub use config::GatewayConfig;

use crate::engine::Cmd;
use crate::metrics::Counters;
use crate::socket::SioHandler;

/// Runs the gateway on `listener` until `shutdown` resolves, then flushes,
/// closes every socket (clients reconnect at once) and returns.
pub async fn serve(
    listener: TcpListener,
    cfg: GatewayConfig,
    auth: Auth,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    cfg.validate().map_err(|(f, m)| anyhow::anyhow!("config: {f}: {m}"))?;
    let cfg = Arc::new(cfg);
    let store = store::Store::open(&cfg.data_dir)?;
    let counters = Arc::new(Counters::default());
    let (engine, engine_thread) = engine::spawn(cfg.clone(), Box::new(store), counters.clone())?;
    let handler = Arc::new(SioHandler::new(auth, engine.clone(), counters.clone(), &cfg));
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
        .build();
    let metrics_counters = counters.clone();
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(|| async { "ready" }))
        .route(
            "/metrics",
            get(move || {
                let c = metrics_counters.clone();
                async move { c.render() }
            }),
        )
        .layer(EngineIoLayer::from_config(handler, eio));
    let addr = listener.local_addr()?;
    tracing::info!(%addr, data_dir = %cfg.data_dir.display(), "gateway listening");
    let stop_engine = engine.clone();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down: flushing and closing sockets");
            stop_engine.send(Cmd::Shutdown);
        })
        .await?;
    let _ = tokio::task::spawn_blocking(move || engine_thread.join()).await;
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
            let result = rt.block_on(serve(listener, cfg, a, async move {
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
