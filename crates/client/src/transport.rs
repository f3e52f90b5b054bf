//! One Socket.IO session over a WebSocket: Engine.IO handshake, heartbeat
//! answers and liveness, CONNECT to a namespace with a token, events and acks.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
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
    /// The server URL cannot be used (scheme, host); nothing was dialled.
    #[error("server URL `{url}`: {problem}")]
    Url {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        problem: String,
    },
}

/// Each of the server's `pingInterval` and `pingTimeout` is held to
/// `PING_MIN_MS..=PING_MAX_MS` for the liveness deadline: a broken or hostile
/// OPEN can neither make a healthy link look dead at once nor push the
/// deadline out of reach (or past what `Instant` can hold).
const PING_MIN_MS: u64 = 1_000;
/// See [`PING_MIN_MS`].
const PING_MAX_MS: u64 = 300_000;

/// How long a link may stay silent before it counts as dead:
/// `pingInterval + pingTimeout`, each held to [`PING_MIN_MS`]..=[`PING_MAX_MS`].
fn liveness(open: &OpenPacket) -> Duration {
    let bounded = |ms: u64| ms.clamp(PING_MIN_MS, PING_MAX_MS);
    Duration::from_millis(bounded(open.ping_interval) + bounded(open.ping_timeout))
}

/// `now + d`, where `d` is held to a year so that no configured or received
/// duration can overflow `Instant`.
pub(crate) fn deadline_after(d: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(365 * 86_400);
    Instant::now() + d.min(FAR)
}

/// A server URL checked before anything is dialled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUrl {
    /// The Engine.IO WebSocket URL to dial.
    pub engine: String,
    /// The host, without port or IPv6 brackets.
    pub host: String,
    /// Whether the link is encrypted (`wss://`, `https://`).
    pub tls: bool,
}

impl ServerUrl {
    /// Accepts `ws[s]://` and, as Socket.IO clients do (PROTOCOL.md §1),
    /// `http[s]://`, which is dialled as `ws[s]://` on the same host, port
    /// and path. Any other scheme, or no host, is an error here, at once.
    pub fn parse(base: &str) -> Result<Self, TransportError> {
        let bad = |problem: String| TransportError::Url { url: base.to_owned(), problem };
        let (scheme, rest) = base
            .split_once("://")
            .ok_or_else(|| bad("no scheme; expected ws://, wss://, http:// or https://".into()))?;
        let tls = match scheme.to_ascii_lowercase().as_str() {
            "ws" | "http" => false,
            "wss" | "https" => true,
            other => {
                return Err(bad(format!("scheme `{other}` is not supported; use ws://, wss://, http:// or https://")));
            }
        };
        let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let host = match host_port.strip_prefix('[') {
            Some(v6) => v6.split_once(']').map(|(h, _)| h).ok_or_else(|| bad("unclosed `[` in the host".into()))?,
            None => host_port.split(':').next().unwrap_or_default(),
        };
        if host.is_empty() {
            return Err(bad("no host".into()));
        }
        // The path is a prefix (a reverse proxy's) unless it already ends
        // in the Engine.IO path; a query goes on with the Engine.IO one (as
        // Socket.IO clients send theirs), whose own keys are ours; a
        // fragment is never sent.
        let rest = rest.split_once('#').map_or(rest, |(r, _)| r);
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let path = path.trim_end_matches('/');
        let path = path.strip_suffix("/socket.io").unwrap_or(path);
        let extra: String = query
            .split('&')
            .filter(|kv| !kv.is_empty() && !matches!(kv.split('=').next(), Some("EIO" | "transport")))
            .map(|kv| format!("&{kv}"))
            .collect();
        let scheme = if tls { "wss" } else { "ws" };
        let engine = format!("{scheme}://{path}/socket.io/?EIO=4&transport=websocket{extra}");
        engine.parse::<tokio_tungstenite::tungstenite::http::Uri>().map_err(|e| bad(e.to_string()))?;
        Ok(Self { engine, host: host.to_owned(), tls })
    }

    /// Whether the host is this machine: `localhost`, 127.0.0.0/8 or `::1`.
    pub fn is_loopback(&self) -> bool {
        use std::net::IpAddr;
        if self.host.eq_ignore_ascii_case("localhost") {
            return true;
        }
        match self.host.parse::<IpAddr>() {
            Ok(IpAddr::V4(a)) => a.is_loopback(),
            Ok(IpAddr::V6(a)) => a.is_loopback() || a.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
            Err(_) => false,
        }
    }
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
    /// Fires at the liveness deadline: one timer for the session, reset on each ping,
    /// not one per read (a timer per frame cost the load generator more
    /// than its JSON).
    timer: std::pin::Pin<Box<tokio::time::Sleep>>,
    /// `42/ns,["events",`: how an `events` packet of this namespace starts.
    events_prefix: String,
    /// Silence allowed before the link counts as dead (from the OPEN, bounded).
    liveness: Duration,
    /// A ping was read and its pong not yet handed to the socket. Kept across
    /// cancelled `recv` calls so a pong is never lost.
    pong_due: Option<String>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("ns", &self.ns).field("sid", &self.open.sid).finish()
    }
}

/// tungstenite's defaults, but a 16 KiB read buffer instead of 128 KiB:
/// tungstenite zero-fills the whole free buffer before every read, so with
/// frames of a few KiB the default spends more time in `memset` than in the
/// read (frames larger than the buffer are still read whole).
fn default_ws_config() -> tokio_tungstenite::tungstenite::protocol::WebSocketConfig {
    tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default().read_buffer_size(16 * 1024)
}

/// Turns `ws[s]://host:port` or `http[s]://host:port` (or a full URL) into
/// the Engine.IO WebSocket URL; a URL that [`ServerUrl::parse`] refuses is returned as is.
pub fn engine_url(base: &str) -> String {
    ServerUrl::parse(base).map(|u| u.engine).unwrap_or_else(|_| base.to_owned())
}

impl Session {
    /// Connects to `base` (`ws://` or `wss://` with public roots; `http[s]://`
    /// as its WebSocket twin), then CONNECTs to `ns` with `{"token": token}`.
    /// A URL [`ServerUrl::parse`] refuses fails at once with [`TransportError::Url`].
    pub async fn connect(base: &str, ns: &str, token: &str, timeout: Duration) -> Result<Self, TransportError> {
        Self::connect_tls(base, ns, token, timeout, None).await
    }

    /// As [`Session::connect`], with 4 KiB socket buffers instead of
    /// tungstenite's 128 KiB: for many connections that carry small messages
    /// (simulated players, the load generator's walls), where the default
    /// read buffer, allocated up front, is most of each connection's memory,
    /// and zero-filled before every read (8 KiB cost the load generator 9 %
    /// of its CPU in `memset`; a larger frame is still read whole).
    pub async fn connect_lean(base: &str, ns: &str, token: &str, timeout: Duration) -> Result<Self, TransportError> {
        let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
            .read_buffer_size(4 * 1024)
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
        Self::dial(base, ns, token, timeout, tls, Some(default_ws_config())).await
    }

    async fn dial(
        base: &str,
        ns: &str,
        token: &str,
        timeout: Duration,
        tls: Option<&Tls>,
        config: Option<tokio_tungstenite::tungstenite::protocol::WebSocketConfig>,
    ) -> Result<Self, TransportError> {
        let url = ServerUrl::parse(base)?;
        let fut = async {
            let connector = tls.map(|t| tokio_tungstenite::Connector::Rustls(t.0.clone()));
            let (ws, _) = tokio_tungstenite::connect_async_tls_with_config(url.engine, config, true, connector).await?;
            let open = OpenPacket {
                sid: String::new(),
                upgrades: vec![],
                ping_interval: 25_000,
                ping_timeout: 20_000,
                max_payload: 0,
            };
            let mut s = Session {
                ws,
                ns: ns.to_owned(),
                liveness: liveness(&open),
                open,
                next_ack: 0,
                timer: Box::pin(tokio::time::sleep_until(deadline_after(timeout))),
                events_prefix: format!("42{},[\"events\",", if ns == "/" { "" } else { ns }),
                pong_due: None,
            };
            let first = s.next_text().await?;
            match EioPacket::decode(&first) {
                Ok(EioPacket::Open(open)) => {
                    s.liveness = liveness(&open);
                    s.open = open;
                }
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

    /// The server's Engine.IO parameters, as sent (the liveness deadline
    /// uses them bounded to 1 s..=5 min each).
    pub fn open(&self) -> &OpenPacket {
        &self.open
    }

    fn bump_deadline(&mut self) {
        self.timer.as_mut().reset(Instant::now() + self.liveness);
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
    async fn next_text(&mut self) -> Result<Utf8Bytes, TransportError> {
        loop {
            let msg = tokio::select! {
                biased;
                msg = self.ws.next() => msg,
                () = self.timer.as_mut() => {
                    return Err(TransportError::Timeout("no ping within pingInterval + pingTimeout"));
                }
            };
            match msg {
                None => return Err(TransportError::Closed),
                Some(Err(e)) => return Err(e.into()),
                Some(Ok(Message::Text(t))) => return Ok(t),
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
            if let Some(m) = self.recv_inner(None).await? {
                return Ok(m);
            }
        }
    }

    /// As [`Session::recv`], except that an `events` packet of our
    /// namespace is not parsed: its payload text (`{"epoch":…,"items":[…]}`)
    /// goes to `events` and the call returns `None`. For a reader that only
    /// counts entries (the load generator), one pass over each frame instead
    /// of three.
    pub async fn recv_or_events(
        &mut self,
        events: &mut (dyn FnMut(&str) + Send),
    ) -> Result<Option<Incoming>, TransportError> {
        self.recv_inner(Some(events)).await
    }

    async fn recv_inner(
        &mut self,
        mut events: Option<&mut (dyn FnMut(&str) + Send)>,
    ) -> Result<Option<Incoming>, TransportError> {
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
            if let Some(events) = events.as_mut()
                && let Some(payload) = text.strip_prefix(self.events_prefix.as_str()).and_then(|t| t.strip_suffix(']'))
            {
                events(payload);
                return Ok(None);
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
            return Ok(Some(match p.body {
                SioBody::Event { name, args, ack } => Incoming::Event { arg: first(&args), name, ack },
                SioBody::Ack { id, args } => Incoming::Ack { id, arg: first(&args) },
                SioBody::Disconnect => Incoming::Disconnected,
                _ => continue,
            }));
        }
    }

    /// Closes politely.
    pub async fn close(mut self) {
        let _ = self.send_raw(&vizora_protocol::codec::encode_disconnect(&self.ns)).await;
        let _ = self.ws.close(None).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EIO: &str = "/socket.io/?EIO=4&transport=websocket";

    #[test]
    fn http_urls_are_dialled_as_websockets_on_the_same_host_port_and_path() {
        let cases = [
            ("http://gw.example:7700", "ws://gw.example:7700", false),
            ("HTTPS://gw.example/vizora/", "wss://gw.example/vizora", true),
            ("ws://127.0.0.1:7700/", "ws://127.0.0.1:7700", false),
            ("wss://[::1]:443", "wss://[::1]:443", true),
        ];
        for (given, base, tls) in cases {
            let u = ServerUrl::parse(given).expect(given);
            assert_eq!(u.engine, format!("{base}{EIO}"), "{given}");
            assert_eq!(u.tls, tls, "{given}");
        }
        // A query travels with the Engine.IO one; a fragment is dropped.
        for (given, engine) in [
            ("http://h:1?site=lobby", format!("ws://h:1{EIO}&site=lobby")),
            ("http://h:1/?a=1&b=2#top", format!("ws://h:1{EIO}&a=1&b=2")),
            ("https://h/vizora/#x", format!("wss://h/vizora{EIO}")),
            // The Engine.IO path given, with or without its query or slash.
            ("ws://h:1/socket.io/", format!("ws://h:1{EIO}")),
            ("ws://h:1/socket.io", format!("ws://h:1{EIO}")),
            ("ws://h:1/socket.io/?EIO=4&transport=websocket", format!("ws://h:1{EIO}")),
            ("http://h:1/proxy/socket.io/?EIO=3&x=1", format!("ws://h:1/proxy{EIO}&x=1")),
        ] {
            assert_eq!(ServerUrl::parse(given).expect(given).engine, engine, "{given}");
        }
        assert_eq!(engine_url("http://h:1"), format!("ws://h:1{EIO}"));
    }

    #[test]
    fn other_schemes_and_hostless_urls_are_refused_naming_the_problem() {
        for (given, problem) in [
            ("ftp://gw.example", "scheme `ftp`"),
            ("gw.example:7700", "no scheme"),
            ("ws://", "no host"),
            ("ws://:7700", "no host"),
            ("ws://[::1", "unclosed"),
        ] {
            let e = ServerUrl::parse(given).expect_err(given).to_string();
            assert!(e.contains(given) && e.contains(problem), "{given}: {e}");
        }
    }

    #[test]
    fn loopback_is_localhost_127_slash_8_and_ipv6_one() {
        for host in ["ws://localhost:1", "ws://LOCALHOST", "ws://127.0.0.1", "ws://127.8.9.10:5", "ws://[::1]:1"] {
            assert!(ServerUrl::parse(host).expect(host).is_loopback(), "{host}");
        }
        for host in ["ws://192.0.2.1", "ws://localhost.example", "ws://[2001:db8::1]", "ws://10.0.0.1"] {
            assert!(!ServerUrl::parse(host).expect(host).is_loopback(), "{host}");
        }
    }

    #[test]
    fn ping_settings_are_bounded_each() {
        let open = |ping_interval, ping_timeout| OpenPacket {
            sid: String::new(),
            upgrades: vec![],
            ping_interval,
            ping_timeout,
            max_payload: 0,
        };
        assert_eq!(liveness(&open(10_000, 5_000)), Duration::from_millis(15_000));
        assert_eq!(liveness(&open(0, 0)), Duration::from_secs(2));
        assert_eq!(liveness(&open(u64::MAX, u64::MAX)), Duration::from_secs(600));
    }
}
