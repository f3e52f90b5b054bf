//! engineioxide's sessions (HTTP long-polling, and sessions upgraded from
//! it to WebSocket) as this layer's [`Session`]s and the sequencer's
//! [`Peer`]s, and the Socket.IO layer as engineioxide's handler.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use engineioxide::handler::EngineIoHandler;
use engineioxide::socket::DisconnectReason;
use engineioxide::{Socket, Str};
use tokio::sync::mpsc::error::TrySendError;

use super::{Session, SioHandler};
use crate::peer::{Close, Packet, Peer, PeerId};
use crate::session::ConnData;

impl Session for Socket<ConnData> {
    fn data(&self) -> &ConnData {
        &self.data
    }

    fn sid(&self) -> String {
        self.id.to_string()
    }

    fn emit(&self, packet: String) {
        let _ = Socket::emit(self, packet);
    }

    fn end(&self) {
        Socket::close(self, DisconnectReason::TransportClose);
    }

    fn is_closed(&self) -> bool {
        Socket::is_closed(self)
    }

    fn remote_ip(&self) -> Option<IpAddr> {
        self.req_parts.extensions.get::<axum::extract::ConnectInfo<SocketAddr>>().map(|c| c.0.ip())
    }
}

impl Peer for Socket<ConnData> {
    fn id(&self) -> PeerId {
        self.data.id
    }

    #[expect(unsafe_code, reason = "engineioxide builds a Str from Bytes only unchecked; a Packet's bytes are UTF-8")]
    fn send(&self, packet: Packet) -> Result<(), Packet> {
        // The packet moves into the queue whole: no copy of it may stay
        // here, or dropping that copy after the writer took the packet
        // would run its owner's drop (an outbox's bookkeeping) on this
        // thread, inside the caller's lock.
        // SAFETY: a Packet is made from a String or from the bytes of one (`Packet::owned_by`), so it is UTF-8.
        let text = unsafe { Str::from_bytes_unchecked(packet.into_utf8_bytes()) };
        self.emit(text).map_err(|e| {
            let (TrySendError::Full(back) | TrySendError::Closed(back)) = e;
            Packet::from_utf8_bytes(back.into()).unwrap_or_else(|| Packet::from(String::new()))
        })
    }

    fn close(&self, why: Close) {
        Socket::close(
            self,
            match why {
                Close::Refused => DisconnectReason::TransportClose,
                Close::TooSlow => DisconnectReason::TransportError,
                Close::ServerClosing => DisconnectReason::ClosingServer,
            },
        );
    }

    fn on_wall_of(&self, org: &str) -> bool {
        self.data.on_wall_of(org)
    }
}

impl EngineIoHandler for SioHandler {
    type Data = ConnData;

    fn on_connect(self: Arc<Self>, sock: Arc<Socket<ConnData>>) {
        self.opened(sock);
    }

    fn on_disconnect(&self, sock: Arc<Socket<ConnData>>, reason: DisconnectReason) {
        self.closed(sock, reason);
    }

    fn on_message(self: &Arc<Self>, msg: Str, sock: Arc<Socket<ConnData>>) {
        self.message(msg.as_str(), sock);
    }

    fn on_binary(self: &Arc<Self>, _data: bytes::Bytes, sock: Arc<Socket<ConnData>>) {
        self.binary(sock);
    }
}
