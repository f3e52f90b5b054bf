//! How requests from outside the sequencer get their answers: a mutation's
//! outcome goes to a socket ack or a waiting HTTP request (`Replier`); a
//! read sees one org's committed state (`ReadCtx`).

use vizora_protocol::MutationAck;

use super::Cmd;
use crate::peer::PeerRef;
use crate::store::LogStore;

/// The command that decides a `mutate` payload, from a socket or the HTTP
/// API alike: `Mutate`; or, for a malformed one whose ids are well formed,
/// `Decided` (remembered, so a retry answers `duplicate`). A malformed one
/// with ids out of bounds is answered at once, never stored: `None`.
pub fn mutation_cmd(claims: vizora_protocol::Claims, value: &serde_json::Value, to: Replier) -> Option<Cmd> {
    match vizora_protocol::Mutation::decode(value) {
        Ok(mutation) => Some(Cmd::Mutate { claims, to, mutation: Box::new(mutation) }),
        Err(e) => {
            let reply = MutationAck::invalid(&e);
            let id =
                |f: &str| value.get(f).and_then(|v| v.as_str()).filter(|i| vizora_protocol::bounds::id(f, i).is_ok());
            match (id("client_id"), id("mutation_id")) {
                (Some(c), Some(m)) => Some(Cmd::Decided {
                    org: claims.org,
                    to,
                    client_id: c.to_owned(),
                    mutation_id: m.to_owned(),
                    reply,
                }),
                _ => {
                    to.send(&reply);
                    None
                }
            }
        }
    }
}

/// What a [`Cmd::Read`] sees: one org's committed state and its log.
pub struct ReadCtx<'a> {
    /// The org's epoch.
    pub epoch: &'a str,
    /// Its head seq (committed).
    pub head: u64,
    /// Its entities.
    pub state: &'a vizora_protocol::OrgState,
    /// The oldest seq still in the log, if any.
    pub oldest: Option<u64>,
    /// Opens a reader of the log (its own read-only connection).
    pub store: &'a dyn LogStore,
}

/// Where a mutation's outcome goes.
#[derive(Debug)]
pub enum Replier {
    /// An ack on a `/wall` socket.
    Socket {
        /// The socket.
        sock: PeerRef,
        /// The ack id.
        ack: u64,
    },
    /// A waiting HTTP request.
    Channel(tokio::sync::oneshot::Sender<MutationAck>),
}

/// Writes an ack on a `/wall` socket: the one place acks are written
/// (mutation outcomes through [`Replier`], subscribe answers). `false` when
/// the socket is full or closed.
pub(crate) fn write_ack<T: serde::Serialize + ?Sized>(sock: &PeerRef, ack: u64, reply: &T) -> bool {
    sock.send(vizora_protocol::codec::encode_ack(vizora_protocol::NS_WALL, ack, reply).into()).is_ok()
}

impl Replier {
    /// Sends the outcome (a peer that left is not an error).
    pub(crate) fn send(self, reply: &MutationAck) {
        match self {
            Self::Socket { sock, ack } => {
                write_ack(&sock, ack, reply);
            }
            Self::Channel(tx) => {
                let _ = tx.send(reply.clone());
            }
        }
    }
}
