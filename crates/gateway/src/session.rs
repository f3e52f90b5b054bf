//! What the gateway keeps per Engine.IO session: the namespace sessions it
//! joined with their claims and timers, its rate-limit buckets, its IP.
//! The socket layer writes it; the sequencer only names the type.

use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use tokio_util::sync::CancellationToken;
use vizora_protocol::Claims;

/// Per-connection state.
#[derive(Debug, Default)]
pub struct ConnData {
    pub(crate) state: Mutex<ConnState>,
    /// Cancelled when the session closes: ends its timers with it.
    pub(crate) closed: CancellationToken,
}

#[derive(Debug, Default)]
pub(crate) struct ConnState {
    pub(crate) wall: Option<Claims>,
    pub(crate) device: Option<Claims>,
    /// Cancels the token-expiry timer of each namespace session.
    pub(crate) wall_expiry: Option<CancellationToken>,
    pub(crate) device_expiry: Option<CancellationToken>,
    pub(crate) bucket: Option<Bucket>,
    pub(crate) subscribes: Option<Bucket>,
    /// CONNECT and DISCONNECT packets have their own bucket.
    pub(crate) connects: Option<Bucket>,
    /// Bumped on every namespace join: an armed "joined nothing" timer
    /// fires only if no join happened since it was armed.
    pub(crate) joins: u64,
    pub(crate) last_rate_error: Option<Instant>,
    /// Counted against the per-IP cap.
    pub(crate) ip: Option<IpAddr>,
}

#[derive(Debug)]
pub(crate) struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    /// Takes one token from a bucket of `burst` refilled at `rate`/s.
    pub(crate) fn take(slot: &mut Option<Bucket>, rate: f64, burst: f64) -> bool {
        let now = Instant::now();
        let b = slot.get_or_insert(Bucket { tokens: burst, at: now });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * rate).min(burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}
