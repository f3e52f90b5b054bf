//! A WebSocket proxy on loopback between clients and the real gateway that
//! can drop one `events` frame on its way to a `/wall` subscriber: a fault
//! injected on the wire, with no hook in the gateway.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

/// What the proxy did.
#[derive(Debug, Default)]
pub struct ProxyStats {
    /// `events` frames seen on the way to clients.
    pub events_frames: AtomicUsize,
    /// Entries in the frame it dropped (0: nothing dropped).
    pub dropped_entries: AtomicU64,
}

/// Starts a proxy to `upstream` (`ws://host:port`); with `drop_nth`, the
/// n-th `events` frame (1-based, over all connections) never reaches its client.
pub async fn start(upstream: String, drop_nth: Option<usize>) -> (String, Arc<ProxyStats>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy binds");
    let url = format!("ws://{}", listener.local_addr().expect("addr"));
    let stats = Arc::new(ProxyStats::default());
    let st = stats.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(relay(tcp, upstream.clone(), drop_nth, st.clone()));
        }
    });
    (url, stats)
}

async fn relay(tcp: TcpStream, upstream: String, drop_nth: Option<usize>, stats: Arc<ProxyStats>) {
    let mut path = String::new();
    #[expect(clippy::result_large_err, reason = "the signature tungstenite's handshake callback requires")]
    let capture = |req: &Request, resp: Response| {
        path = req.uri().path_and_query().map(|p| p.to_string()).unwrap_or_default();
        Ok(resp)
    };
    let Ok(client) = tokio_tungstenite::accept_hdr_async(tcp, capture).await else { return };
    let Ok((server, _)) = tokio_tungstenite::connect_async(format!("{upstream}{path}")).await else { return };
    let (mut to_client, mut from_client) = client.split();
    let (mut to_server, mut from_server) = server.split();
    let up = async {
        while let Some(Ok(m)) = from_client.next().await {
            if to_server.send(m).await.is_err() {
                break;
            }
        }
        let _ = to_server.close().await;
    };
    let down = async {
        while let Some(Ok(m)) = from_server.next().await {
            if let Message::Text(t) = &m
                && let Some(rest) = t.strip_prefix("42/wall,")
                && rest.starts_with("[\"events\"")
            {
                let n = stats.events_frames.fetch_add(1, Ordering::SeqCst) + 1;
                if Some(n) == drop_nth {
                    let v: serde_json::Value = serde_json::from_str(rest).expect("events frame is JSON");
                    let items = v[1]["items"].as_array().map_or(0, Vec::len) as u64;
                    stats.dropped_entries.store(items, Ordering::SeqCst);
                    continue;
                }
            }
            if to_client.send(m).await.is_err() {
                break;
            }
        }
        let _ = to_client.close().await;
    };
    tokio::select! {
        _ = up => {}
        _ = down => {}
    }
}
