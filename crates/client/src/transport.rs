//! One Socket.IO session over a WebSocket: Engine.IO handshake, heartbeat
//! answers and liveness, CONNECT to a namespace with a token, events and acks.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use vizora_protocol::codec::{EioPacket, OpenPacket, SioBody, SioPacket, encode_connect, encode_event};
use vizora_protocol::{AuthErrorCode, ConnectErrorPayload};

/// Why a session could not be opened or ended.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// TCP/WebSocket failure.
    #[error("websocket: {0}")]
    Ws(#[from] tokio_tungstenite::tungstenite::Error),
    /// The server refused the CONNECT.
    #[error("refused: {0:?}")]
    Refused(AuthErrorCode),
    /// The peer broke the protocol.
    #[error("protocol: {0}")]
    Protocol(String),
    /// No ping within pingInterval + pingTimeout, or no answer in time.
    #[error("timed out: {0}")]
    Timeout(&'static str),
    /// The server closed the session.
    #[error("closed by server")]
    Closed,
    /// A CA file for `wss://` could not be used.
    #[error("TLS roots: {0}")]
    Tls(String),
}

/// Trust for `wss://`: the Mozilla roots (webpki-roots) plus, optionally,
/// the certificates of a private CA.
#[derive(Clone)]
pub struct Tls(std::sync::Arc<rustls::ClientConfig>);

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls")
    }
}

impl Tls {
    /// Public roots plus every certificate in the PEM file `ca_file`.
    pub fn with_ca_file(ca_file: &std::path::Path) -> Result<Self, TransportError> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        let certs = CertificateDer::pem_file_iter(ca_file)
            .map_err(|e| TransportError::Tls(format!("{}: {e}", ca_file.display())))?;
        let mut added = 0;
        for cert in certs {
            let cert = cert.map_err(|e| TransportError::Tls(format!("{}: {e}", ca_file.display())))?;
            roots.add(cert).map_err(|e| TransportError::Tls(format!("{}: {e}", ca_file.display())))?;
            added += 1;
        }
        if added == 0 {
            return Err(TransportError::Tls(format!("{}: no certificate in the file", ca_file.display())));
        }
        let cfg = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
        Ok(Self(std::sync::Arc::new(cfg)))
    }
}

/// Something the server sent in our namespace.
#[derive(Debug)]
pub enum Incoming {
    /// An event with its raw JSON arguments.
    Event {
        /// Name.
        name: String,
        /// First argument, raw JSON (`null` when absent).
        arg: String,
        /// Ack id, when the server wants an answer.
        ack: Option<u64>,
    },
    /// An ack of one of our events.
    Ack {
        /// Our ack id.
        id: u64,
        /// First argument, raw JSON.
        arg: String,
    },
    /// The server ended our namespace session.
    Disconnected,
}

/// An open Socket.IO namespace session.
pub struct Session {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    ns: String,
    open: OpenPacket,
    next_ack: u64,
    deadline: Instant,
    /// A ping was read and its pong not yet handed to the socket. Kept across
    /// cancelled `recv` calls so a pong is never lost.
    pong_due: Option<String>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("ns", &self.ns).field("sid", &self.open.sid).finish()
    }
}

/// Turns `ws://host:port` (or a full URL) into the Engine.IO WebSocket URL.
pub fn engine_url(base: &str) -> String {
    if base.contains("/socket.io/") {
        return base.to_owned();
    }
    format!("{}/socket.io/?EIO=4&transport=websocket", base.trim_end_matches('/'))
}

impl Session {
    /// Connects to `base` (`ws://` or `wss://` with public roots), then
    /// CONNECTs to `ns` with `{"token": token}`.
    pub async fn connect(base: &str, ns: &str, token: &str, timeout: Duration) -> Result<Self, TransportError> {
        Self::connect_tls(base, ns, token, timeout, None).await
    }

    /// As [`Session::connect`], with 8 KiB socket buffers instead of
    /// tungstenite's 128 KiB: for many connections that carry small messages
    /// (simulated players), where the default read buffer, allocated up
    /// front, is most of each connection's memory.
    pub async fn connect_lean(base: &str, ns: &str, token: &str, timeout: Duration) -> Result<Self, TransportError> {
        let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
            .read_buffer_size(8 * 1024)
            .write_buffer_size(8 * 1024);
        Self::dial(base, ns, token, timeout, None, Some(config)).await
    }

    /// As [`Session::connect`], trusting `tls` for `wss://`.
    pub async fn connect_tls(
        base: &str,
        ns: &str,
        token: &str,
        timeout: Duration,
        tls: Option<&Tls>,
    ) -> Result<Self, TransportError> {
        Self::dial(base, ns, token, timeout, tls, None).await
    }

    async fn dial(
        base: &str,
        ns: &str,
        token: &str,
        timeout: Duration,
        tls: Option<&Tls>,
        config: Option<tokio_tungstenite::tungstenite::protocol::WebSocketConfig>,
    ) -> Result<Self, TransportError> {
        let fut = async {
            let connector = tls.map(|t| tokio_tungstenite::Connector::Rustls(t.0.clone()));
            let (ws, _) =
                tokio_tungstenite::connect_async_tls_with_config(engine_url(base), config, true, connector).await?;
            let mut s = Session {
                ws,
                ns: ns.to_owned(),
                open: OpenPacket {
                    sid: String::new(),
                    upgrades: vec![],
                    ping_interval: 25_000,
                    ping_timeout: 20_000,
                    max_payload: 0,
                },
                next_ack: 0,
                deadline: Instant::now() + timeout,
                pong_due: None,
            };
            let first = s.next_text().await?;
            match EioPacket::decode(&first) {
                Ok(EioPacket::Open(open)) => s.open = open,
                _ => return Err(TransportError::Protocol(format!("expected Engine.IO OPEN, got {first:.60}"))),
            }
            s.bump_deadline();
            #[derive(Serialize)]
            struct Auth<'a> {
                token: &'a str,
            }
            s.send_raw(&encode_connect(ns, Some(&Auth { token }))).await?;
            loop {
                let text = s.next_text().await?;
                if let Some(data) = text.strip_prefix('2') {
                    // The server may ping right after OPEN: answer, or it drops us pingTimeout later.
                    s.bump_deadline();
                    s.ws.send(Message::Text(format!("3{data}").into())).await?;
                    continue;
                }
                let Some(msg) = s.message(&text)? else { continue };
                let p = SioPacket::decode(msg).map_err(|e| TransportError::Protocol(e.to_string()))?;
                if p.ns != ns {
                    continue;
                }
                match p.body {
                    SioBody::Connect(_) => return Ok(s),
                    SioBody::ConnectError(raw) => {
                        let code = serde_json::from_str::<ConnectErrorPayload>(raw.get())
                            .map(|p| p.data.code)
                            .map_err(|_| TransportError::Protocol(format!("CONNECT_ERROR {}", raw.get())))?;
                        return Err(TransportError::Refused(code));
                    }
                    _ => continue,
                }
            }
        };
        tokio::time::timeout(timeout, fut).await.map_err(|_| TransportError::Timeout("connect"))?
    }

    /// The server's Engine.IO parameters.
    pub fn open(&self) -> &OpenPacket {
        &self.open
    }

    fn bump_deadline(&mut self) {
        self.deadline = Instant::now() + Duration::from_millis(self.open.ping_interval + self.open.ping_timeout);
    }

    async fn send_raw(&mut self, sio: &str) -> Result<(), TransportError> {
        if let Some(pong) = self.pong_due.take() {
            self.ws.feed(Message::Text(pong.into())).await?;
        }
        let mut frame = String::with_capacity(sio.len() + 1);
        frame.push('4');
        frame.push_str(sio);
        self.ws.send(Message::Text(frame.into())).await?;
        Ok(())
    }

    /// Emits an event without ack.
    pub async fn emit<T: Serialize + ?Sized>(&mut self, name: &str, arg: &T) -> Result<(), TransportError> {
        let text = encode_event(&self.ns, None, name, arg);
        self.send_raw(&text).await
    }

    /// Emits an event asking for an ack; returns the ack id.
    pub async fn emit_with_ack<T: Serialize + ?Sized>(&mut self, name: &str, arg: &T) -> Result<u64, TransportError> {
        let id = self.next_ack;
        self.next_ack += 1;
        let text = encode_event(&self.ns, Some(id), name, arg);
        self.send_raw(&text).await?;
        Ok(id)
    }

    /// Answers a server event's ack.
    pub async fn ack<T: Serialize + ?Sized>(&mut self, id: u64, arg: &T) -> Result<(), TransportError> {
        let text = vizora_protocol::codec::encode_ack(&self.ns, id, arg);
        self.send_raw(&text).await
    }

    /// Next text frame, answering pings; fails when the link is dead.
    async fn next_text(&mut self) -> Result<String, TransportError> {
        loop {
            let msg = tokio::time::timeout_at(self.deadline, self.ws.next())
                .await
                .map_err(|_| TransportError::Timeout("no ping within pingInterval + pingTimeout"))?;
            match msg {
                None => return Err(TransportError::Closed),
                Some(Err(e)) => return Err(e.into()),
                Some(Ok(Message::Text(t))) => return Ok(t.to_string()),
                Some(Ok(Message::Close(_))) => return Err(TransportError::Closed),
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Unwraps an Engine.IO frame; handles ping/close. `None` for non-messages.
    fn message<'a>(&mut self, text: &'a str) -> Result<Option<&'a str>, TransportError> {
        match EioPacket::decode(text).map_err(|e| TransportError::Protocol(e.to_string()))? {
            EioPacket::Message(m) => Ok(Some(m)),
            EioPacket::Close => Err(TransportError::Closed),
            _ => Ok(None),
        }
    }

    /// Waits for the next event or ack in our namespace. Cancel-safe: a
    /// pong owed when the call is dropped is sent by the next call.
    pub async fn recv(&mut self) -> Result<Incoming, TransportError> {
        loop {
            if let Some(pong) = &self.pong_due {
                self.ws.send(Message::Text(pong.clone().into())).await?;
                self.pong_due = None;
            }
            let text = self.next_text().await?;
            if let Some(data) = text.strip_prefix('2') {
                self.bump_deadline();
                self.pong_due = Some(format!("3{data}"));
                continue;
            }
            let Some(msg) = self.message(&text)? else { continue };
            let p = match SioPacket::decode(msg) {
                Ok(p) => p,
                Err(e) => return Err(TransportError::Protocol(e.to_string())),
            };
            if p.ns != self.ns {
                continue;
            }
            let first = |args: &[Box<serde_json::value::RawValue>]| {
                args.first().map(|a| a.get().to_owned()).unwrap_or_else(|| "null".into())
            };
            return Ok(match p.body {
                SioBody::Event { name, args, ack } => Incoming::Event { arg: first(&args), name, ack },
                SioBody::Ack { id, args } => Incoming::Ack { id, arg: first(&args) },
                SioBody::Disconnect => Incoming::Disconnected,
                _ => continue,
            });
        }
    }

    /// Closes politely.
    pub async fn close(mut self) {
        let _ = self.send_raw(&vizora_protocol::codec::encode_disconnect(&self.ns)).await;
        let _ = self.ws.close(None).await;
    }
}
