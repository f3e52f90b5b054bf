//! Engine.IO 4 and Socket.IO 5 text framing (no binary attachments).
//!
//! Engine.IO: `<type digit><data>`: 0 open, 1 close, 2 ping, 3 pong,
//! 4 message, 5 upgrade, 6 noop. A Socket.IO packet rides in a message:
//! `<type digit>[<attachments>-][<nsp>,][<ack id>][JSON]`, namespace omitted
//! for `/`. Decoding never panics and borrows from the input.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::fmt::Write as _;

/// Why a frame could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Empty frame.
    #[error("empty packet")]
    Empty,
    /// Unknown type digit.
    #[error("unknown packet type {0:?}")]
    UnknownType(char),
    /// Binary attachments are not part of this protocol.
    #[error("binary packets are not supported")]
    Binary,
    /// Bad namespace or ack id.
    #[error("malformed header: {0}")]
    Header(&'static str),
    /// The JSON payload does not parse or has the wrong shape.
    #[error("bad payload: {0}")]
    Payload(String),
}

/// The Engine.IO OPEN handshake payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenPacket {
    /// Session id.
    pub sid: String,
    /// Transports the client may upgrade to.
    #[serde(default)]
    pub upgrades: Vec<String>,
    /// Server ping period, ms.
    pub ping_interval: u64,
    /// How long the server waits for a pong, ms.
    pub ping_timeout: u64,
    /// Largest accepted frame, bytes (1 MiB when the server leaves it out).
    #[serde(default = "default_max_payload")]
    pub max_payload: u64,
}

fn default_max_payload() -> u64 {
    1 << 20
}

/// An Engine.IO packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EioPacket<'a> {
    /// Handshake.
    Open(OpenPacket),
    /// Close the session.
    Close,
    /// Ping (server → client in EIO4), optional probe data.
    Ping(&'a str),
    /// Pong, echoing the ping's data.
    Pong(&'a str),
    /// A message: carries one Socket.IO packet.
    Message(&'a str),
    /// Transport upgrade.
    Upgrade,
    /// No-op.
    Noop,
}

impl<'a> EioPacket<'a> {
    /// Decodes one Engine.IO text frame.
    pub fn decode(frame: &'a str) -> Result<Self, DecodeError> {
        let mut chars = frame.chars();
        let t = chars.next().ok_or(DecodeError::Empty)?;
        let rest = chars.as_str();
        Ok(match t {
            '0' => EioPacket::Open(serde_json::from_str(rest).map_err(|e| DecodeError::Payload(e.to_string()))?),
            '1' => EioPacket::Close,
            '2' => EioPacket::Ping(rest),
            '3' => EioPacket::Pong(rest),
            '4' => EioPacket::Message(rest),
            '5' => EioPacket::Upgrade,
            '6' => EioPacket::Noop,
            c => return Err(DecodeError::UnknownType(c)),
        })
    }

    /// Encodes to one Engine.IO text frame.
    pub fn encode(&self) -> String {
        match self {
            EioPacket::Open(o) => format!("0{}", serde_json::to_string(o).unwrap_or_default()),
            EioPacket::Close => "1".into(),
            EioPacket::Ping(d) => format!("2{d}"),
            EioPacket::Pong(d) => format!("3{d}"),
            EioPacket::Message(m) => format!("4{m}"),
            EioPacket::Upgrade => "5".into(),
            EioPacket::Noop => "6".into(),
        }
    }
}

/// What a Socket.IO packet carries.
#[derive(Debug, Clone)]
pub enum SioBody {
    /// CONNECT, with the auth payload (client → server) or `{"sid"}` (server → client).
    Connect(Option<Box<RawValue>>),
    /// DISCONNECT.
    Disconnect,
    /// EVENT `[name, args...]`, with an ack id if the sender wants one.
    Event {
        /// Event name.
        name: String,
        /// Arguments after the name, raw JSON.
        args: Vec<Box<RawValue>>,
        /// Ack id.
        ack: Option<u64>,
    },
    /// ACK of an earlier event.
    Ack {
        /// The event's ack id.
        id: u64,
        /// Ack arguments, raw JSON.
        args: Vec<Box<RawValue>>,
    },
    /// CONNECT_ERROR with its payload.
    ConnectError(Box<RawValue>),
}

impl PartialEq for SioBody {
    fn eq(&self, other: &Self) -> bool {
        fn raw(v: &[Box<RawValue>]) -> Vec<&str> {
            v.iter().map(|r| r.get()).collect()
        }
        match (self, other) {
            (Self::Connect(a), Self::Connect(b)) => a.as_ref().map(|r| r.get()) == b.as_ref().map(|r| r.get()),
            (Self::Disconnect, Self::Disconnect) => true,
            (Self::Event { name: n1, args: a1, ack: k1 }, Self::Event { name: n2, args: a2, ack: k2 }) => {
                n1 == n2 && raw(a1) == raw(a2) && k1 == k2
            }
            (Self::Ack { id: i1, args: a1 }, Self::Ack { id: i2, args: a2 }) => i1 == i2 && raw(a1) == raw(a2),
            (Self::ConnectError(a), Self::ConnectError(b)) => a.get() == b.get(),
            _ => false,
        }
    }
}

/// A Socket.IO packet in a namespace.
#[derive(Debug, Clone, PartialEq)]
pub struct SioPacket {
    /// Namespace, `/` by default.
    pub ns: String,
    /// Contents.
    pub body: SioBody,
}

fn payload_err(e: serde_json::Error) -> DecodeError {
    DecodeError::Payload(e.to_string())
}

impl SioPacket {
    /// Decodes the Socket.IO packet inside an Engine.IO message.
    pub fn decode(text: &str) -> Result<Self, DecodeError> {
        let bytes = text.as_bytes();
        let t = *bytes.first().ok_or(DecodeError::Empty)?;
        let mut i = 1;
        if matches!(t, b'5' | b'6') {
            return Err(DecodeError::Binary);
        }
        if !(b'0'..=b'4').contains(&t) {
            let c = text.chars().next().unwrap_or('?');
            return Err(DecodeError::UnknownType(c));
        }
        let mut ns = "/";
        if bytes.get(i) == Some(&b'/') {
            let end = text[i..].find(',').map(|p| i + p).unwrap_or(text.len());
            ns = &text[i..end];
            i = (end + 1).min(text.len());
        }
        let digits = bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        let ack = if digits > 0 {
            let id = text[i..i + digits].parse::<u64>().map_err(|_| DecodeError::Header("ack id too large"))?;
            i += digits;
            Some(id)
        } else {
            None
        };
        let data = &text[i..];
        let body = match t {
            b'0' => {
                if data.is_empty() {
                    SioBody::Connect(None)
                } else {
                    let raw: Box<RawValue> = serde_json::from_str(data).map_err(payload_err)?;
                    if !raw.get().starts_with('{') {
                        return Err(DecodeError::Payload("CONNECT payload must be an object".into()));
                    }
                    SioBody::Connect(Some(raw))
                }
            }
            b'1' => SioBody::Disconnect,
            b'2' => {
                let mut items: Vec<Box<RawValue>> = serde_json::from_str(data).map_err(payload_err)?;
                if items.is_empty() {
                    return Err(DecodeError::Payload("EVENT needs a name".into()));
                }
                let name: String = serde_json::from_str(items[0].get())
                    .map_err(|_| DecodeError::Payload("EVENT name must be a string".into()))?;
                items.remove(0);
                SioBody::Event { name, args: items, ack }
            }
            b'3' => {
                let id = ack.ok_or(DecodeError::Header("ACK without id"))?;
                let args: Vec<Box<RawValue>> = serde_json::from_str(data).map_err(payload_err)?;
                SioBody::Ack { id, args }
            }
            _ => {
                // Socket.IO 5: `{"message", "data"?}`. Anything else would
                // not survive re-encoding (`4 5` would come back as `45`).
                let raw: Box<RawValue> = serde_json::from_str(data).map_err(payload_err)?;
                if !raw.get().starts_with('{') {
                    return Err(DecodeError::Payload("CONNECT_ERROR payload must be an object".into()));
                }
                SioBody::ConnectError(raw)
            }
        };
        if ack.is_some() && !matches!(body, SioBody::Event { .. } | SioBody::Ack { .. }) {
            return Err(DecodeError::Header("ack id on a packet that takes none"));
        }
        Ok(SioPacket { ns: ns.to_owned(), body })
    }

    /// Encodes to Socket.IO text (without the Engine.IO `4`).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let t = match &self.body {
            SioBody::Connect(_) => '0',
            SioBody::Disconnect => '1',
            SioBody::Event { .. } => '2',
            SioBody::Ack { .. } => '3',
            SioBody::ConnectError(_) => '4',
        };
        out.push(t);
        push_ns(&mut out, &self.ns);
        match &self.body {
            SioBody::Connect(Some(raw)) => out.push_str(raw.get()),
            SioBody::Connect(None) | SioBody::Disconnect => {}
            SioBody::Event { name, args, ack } => {
                if let Some(id) = ack {
                    let _ = write!(out, "{id}");
                }
                out.push('[');
                out.push_str(&serde_json::to_string(name).unwrap_or_default());
                for a in args {
                    out.push(',');
                    out.push_str(a.get());
                }
                out.push(']');
            }
            SioBody::Ack { id, args } => {
                let _ = write!(out, "{id}[");
                for (k, a) in args.iter().enumerate() {
                    if k > 0 {
                        out.push(',');
                    }
                    out.push_str(a.get());
                }
                out.push(']');
            }
            SioBody::ConnectError(raw) => out.push_str(raw.get()),
        }
        out
    }
}

fn push_ns(out: &mut String, ns: &str) {
    if ns != "/" && !ns.is_empty() {
        out.push_str(ns);
        out.push(',');
    }
}

/// Encodes an EVENT with one argument: `2[/ns,][ack]["name",arg]`.
pub fn encode_event<T: Serialize + ?Sized>(ns: &str, ack: Option<u64>, name: &str, arg: &T) -> String {
    let mut out = String::with_capacity(64);
    out.push('2');
    push_ns(&mut out, ns);
    if let Some(id) = ack {
        let _ = write!(out, "{id}");
    }
    out.push('[');
    out.push_str(&serde_json::to_string(name).unwrap_or_default());
    out.push(',');
    out.push_str(&serde_json::to_string(arg).unwrap_or_else(|_| "null".into()));
    out.push(']');
    out
}

/// Encodes an EVENT whose argument is already JSON text.
pub fn encode_event_raw(ns: &str, name: &str, arg_json: &str) -> String {
    let mut out = String::with_capacity(arg_json.len() + ns.len() + name.len() + 8);
    out.push('2');
    push_ns(&mut out, ns);
    out.push('[');
    out.push_str(&serde_json::to_string(name).unwrap_or_default());
    out.push(',');
    out.push_str(arg_json);
    out.push(']');
    out
}

/// Encodes an ACK with one argument: `3[/ns,]id[arg]`.
pub fn encode_ack<T: Serialize + ?Sized>(ns: &str, id: u64, arg: &T) -> String {
    let mut out = String::with_capacity(64);
    out.push('3');
    push_ns(&mut out, ns);
    let _ = write!(out, "{id}[");
    out.push_str(&serde_json::to_string(arg).unwrap_or_else(|_| "null".into()));
    out.push(']');
    out
}

/// Encodes a CONNECT with an optional payload.
pub fn encode_connect<T: Serialize + ?Sized>(ns: &str, payload: Option<&T>) -> String {
    let mut out = String::from("0");
    push_ns(&mut out, ns);
    if let Some(p) = payload {
        out.push_str(&serde_json::to_string(p).unwrap_or_default());
    }
    out
}

/// Encodes a CONNECT_ERROR.
pub fn encode_connect_error<T: Serialize + ?Sized>(ns: &str, payload: &T) -> String {
    let mut out = String::from("4");
    push_ns(&mut out, ns);
    out.push_str(&serde_json::to_string(payload).unwrap_or_default());
    out
}

/// Encodes a DISCONNECT.
pub fn encode_disconnect(ns: &str) -> String {
    let mut out = String::from("1");
    push_ns(&mut out, ns);
    out
}

/// Decodes one raw JSON argument into a type.
pub fn arg<'a, T: Deserialize<'a>>(raw: &'a RawValue) -> Result<T, serde_json::Error> {
    serde_json::from_str(raw.get())
}

#[cfg(test)]
mod tests;
