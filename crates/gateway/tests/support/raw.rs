//! A raw Engine.IO peer over tokio-tungstenite, for checks that must see the
//! exact frames (CONNECT_ERROR text, pings, closes), and a plain HTTP GET.

use std::io::{Read, Write};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use vizora_client::transport::engine_url;
use vizora_protocol::codec::{SioBody, SioPacket};

/// What the server did next.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// An Engine.IO ping (`2`).
    Ping,
    /// A Socket.IO packet (the text after Engine.IO's `4`).
    Packet(String),
    /// The server closed the WebSocket or sent Engine.IO close.
    Closed,
}

/// One Engine.IO session, driven frame by frame.
pub struct Raw {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// The OPEN packet's JSON.
    pub open: Value,
    /// Answer pings with pongs (a well-behaved client does).
    pub auto_pong: bool,
    closed: bool,
}

impl Raw {
    /// Opens a WebSocket to `base` and reads the OPEN packet.
    pub async fn open(base: &str) -> Self {
        let (ws, _) = tokio_tungstenite::connect_async(engine_url(base)).await.expect("websocket connects");
        let mut raw = Raw { ws, open: Value::Null, auto_pong: true, closed: false };
        match raw.text(Duration::from_secs(10)).await {
            Some(t) if t.starts_with('0') => raw.open = serde_json::from_str(&t[1..]).expect("OPEN json"),
            other => panic!("expected Engine.IO OPEN, got {other:?}"),
        }
        raw
    }

    /// Sends one Engine.IO text frame as is.
    pub async fn send(&mut self, frame: &str) {
        self.ws.send(Message::Text(frame.to_owned().into())).await.expect("send frame");
    }

    /// Sends a Socket.IO packet inside an Engine.IO message.
    pub async fn send_sio(&mut self, packet: &str) {
        self.send(&format!("4{packet}")).await;
    }

    /// Sends a binary frame.
    pub async fn send_binary(&mut self, data: Vec<u8>) {
        self.ws.send(Message::Binary(data.into())).await.expect("send binary");
    }

    /// Tries to send; false when the connection is gone.
    pub async fn try_send_sio(&mut self, packet: &str) -> bool {
        self.ws.send(Message::Text(format!("4{packet}").into())).await.is_ok()
    }

    async fn text(&mut self, within: Duration) -> Option<String> {
        loop {
            match tokio::time::timeout(within, self.ws.next()).await.ok()? {
                Some(Ok(Message::Text(t))) => return Some(t.to_string()),
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    self.closed = true;
                    return Some("1".into());
                }
                Some(Ok(_)) => continue,
            }
        }
    }

    /// The next ping, packet or close within `within`; `None` on timeout.
    /// Pings are answered when `auto_pong` and still reported.
    pub async fn frame(&mut self, within: Duration) -> Option<Frame> {
        if self.closed {
            return Some(Frame::Closed);
        }
        let t = self.text(within).await?;
        Some(match t.as_bytes().first() {
            Some(b'2') => {
                if self.auto_pong {
                    let _ = self.ws.send(Message::Text(format!("3{}", &t[1..]).into())).await;
                }
                Frame::Ping
            }
            Some(b'4') => Frame::Packet(t[1..].to_owned()),
            Some(b'1') => Frame::Closed,
            _ => panic!("unexpected Engine.IO frame {t:.80}"),
        })
    }

    /// The next Socket.IO packet (skipping pings), `None` once closed; panics
    /// when nothing comes within `within`.
    pub async fn packet(&mut self, within: Duration) -> Option<String> {
        let end = tokio::time::Instant::now() + within;
        loop {
            let left = end.saturating_duration_since(tokio::time::Instant::now());
            match self.frame(left).await {
                Some(Frame::Packet(p)) => return Some(p),
                Some(Frame::Closed) => return None,
                Some(Frame::Ping) => continue,
                None => panic!("no packet within {within:?}"),
            }
        }
    }

    /// Waits until the server closes the connection; false if it has not
    /// within `within`. Packets meanwhile are returned for inspection.
    pub async fn closed_within(&mut self, within: Duration) -> (bool, Vec<String>) {
        let end = tokio::time::Instant::now() + within;
        let mut seen = Vec::new();
        loop {
            let left = end.saturating_duration_since(tokio::time::Instant::now());
            match self.frame(left).await {
                Some(Frame::Closed) => return (true, seen),
                Some(Frame::Packet(p)) => seen.push(p),
                Some(Frame::Ping) => {}
                None => return (false, seen),
            }
        }
    }

    /// Sends CONNECT for `ns` with `auth`; returns the server's answer and
    /// every other packet that came before it (the CONNECT is a fence: the
    /// server handles a session's packets in order).
    pub async fn connect_ns_seen(&mut self, ns: &str, auth: Option<&Value>) -> (String, Vec<String>) {
        let head = if ns == "/" { "0".to_owned() } else { format!("0{ns},") };
        let packet = match auth {
            Some(a) => format!("{head}{a}"),
            None => head,
        };
        self.send_sio(&packet).await;
        let mut seen = Vec::new();
        loop {
            let p = self.packet(Duration::from_secs(10)).await.expect("connection open");
            let answer = SioPacket::decode(&p)
                .is_ok_and(|d| d.ns == ns && matches!(d.body, SioBody::Connect(_) | SioBody::ConnectError(_)));
            if answer {
                return (p, seen);
            }
            seen.push(p);
        }
    }

    /// Like [`Raw::open`], but `None` when the server refuses the session:
    /// it closes the connection before or instead of its OPEN.
    pub async fn try_open(base: &str) -> Option<Self> {
        let (ws, _) = tokio_tungstenite::connect_async(engine_url(base)).await.ok()?;
        let mut raw = Raw { ws, open: Value::Null, auto_pong: true, closed: false };
        match raw.text(Duration::from_secs(10)).await {
            Some(t) if t.starts_with('0') => {
                raw.open = serde_json::from_str(&t[1..]).ok()?;
                Some(raw)
            }
            Some(_) => None,
            None => panic!("neither an Engine.IO OPEN nor a close within 10 s"),
        }
    }

    /// Sends CONNECT for `ns` with `auth`; the server's answer for that
    /// namespace, or `None` once the connection is closed instead.
    pub async fn try_connect_ns(&mut self, ns: &str, auth: Option<&Value>) -> Option<String> {
        if !self.try_send_sio(&connect_packet(ns, auth)).await {
            return None;
        }
        loop {
            match self.frame(Duration::from_secs(10)).await {
                Some(Frame::Packet(p)) => {
                    let answer = SioPacket::decode(&p)
                        .is_ok_and(|d| d.ns == ns && matches!(d.body, SioBody::Connect(_) | SioBody::ConnectError(_)));
                    if answer {
                        return Some(p);
                    }
                }
                Some(Frame::Ping) => {}
                Some(Frame::Closed) => return None,
                None => panic!("no answer to CONNECT {ns} and no close within 10 s"),
            }
        }
    }

    /// Closes the WebSocket as a polite client does.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }

    /// Sends CONNECT for `ns` with `auth` and returns the server's answer
    /// for that namespace (CONNECT or CONNECT_ERROR packet text).
    pub async fn connect_ns(&mut self, ns: &str, auth: Option<&Value>) -> String {
        let head = if ns == "/" { "0".to_owned() } else { format!("0{ns},") };
        let packet = match auth {
            Some(a) => format!("{head}{a}"),
            None => head,
        };
        self.send_sio(&packet).await;
        loop {
            let p = self.packet(Duration::from_secs(10)).await.expect("connection open");
            let answer = SioPacket::decode(&p)
                .is_ok_and(|d| d.ns == ns && matches!(d.body, SioBody::Connect(_) | SioBody::ConnectError(_)));
            if answer {
                return p;
            }
        }
    }
}

/// A Socket.IO EVENT's name and first argument, if `packet` is one.
pub fn event(packet: &str) -> Option<(String, Value)> {
    match SioPacket::decode(packet).ok()?.body {
        SioBody::Event { name, args, .. } => {
            let arg = args.first().map(|a| serde_json::from_str(a.get()).unwrap_or(Value::Null)).unwrap_or(Value::Null);
            Some((name, arg))
        }
        _ => None,
    }
}

/// The CONNECT packet text for `ns` with an optional auth payload.
fn connect_packet(ns: &str, auth: Option<&Value>) -> String {
    let head = if ns == "/" { "0".to_owned() } else { format!("0{ns},") };
    match auth {
        Some(a) => format!("{head}{a}"),
        None => head,
    }
}

/// An ACK's id and first argument, if `packet` is one.
pub fn ack(packet: &str) -> Option<(u64, Value)> {
    match SioPacket::decode(packet).ok()?.body {
        SioBody::Ack { id, args } => {
            let arg = args.first().map(|a| serde_json::from_str(a.get()).unwrap_or(Value::Null)).unwrap_or(Value::Null);
            Some((id, arg))
        }
        _ => None,
    }
}

/// Whether `packet` is an ACK (of any id).
pub fn is_ack(packet: &str) -> bool {
    matches!(SioPacket::decode(packet).map(|p| p.body), Ok(SioBody::Ack { .. }))
}

/// `GET path` over a fresh TCP connection: (status, body).
pub fn http_get(addr: &str, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Ok((status, body))
}

/// The value of one Prometheus sample line, e.g. `vizora_connections{namespace="/wall"}`.
pub fn sample(metrics: &str, name: &str) -> Option<f64> {
    metrics.lines().find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
}

/// `GET path` with extra request headers (e.g. `Authorization`): (status, body).
pub fn http_get_with(addr: &str, path: &str, headers: &[(&str, &str)]) -> std::io::Result<(u16, String)> {
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let extra: String = headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Connection: close\r\n\r\n")?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Ok((status, body))
}
