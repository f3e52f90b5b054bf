//! What the gateway keeps per Engine.IO session: the namespace sessions it
//! joined with their claims and timers, its rate-limit buckets, its IP.
//! The socket layer writes it; the sequencer only names the type.

use std::net::IpAddr;
use std::sync::Mutex;

use tokio_util::sync::CancellationToken;
use vizora_protocol::Claims;

/// Per-connection state.
#[derive(Debug)]
pub struct ConnData {
    /// The session's id as the sequencer knows it.
    pub(crate) id: crate::peer::PeerId,
    pub(crate) state: Mutex<ConnState>,
    /// Cancelled when the session closes: ends its timers with it.
    pub(crate) closed: CancellationToken,
    /// Set once a namespace was left (DISCONNECT, an expired token): only
    /// then do writes look at which namespaces are joined ([`ConnData::joined`]).
    pub(crate) left: std::sync::atomic::AtomicBool,
}

impl ConnData {
    /// Whether an outgoing Socket.IO packet may go out now: an ACK, or an
    /// EVENT other than `error`, of `/wall` or `/device` only while that
    /// namespace is joined, so nothing handed off before a DISCONNECT was
    /// handled follows it (PROTOCOL.md §2). `error` stays: a token that
    /// expires is told so as its namespace is left. `joined` is `(wall,
    /// device)`, read once per write.
    pub(crate) fn may_send(packet: &[u8], joined: (bool, bool)) -> bool {
        let Some((&kind, rest)) = packet.split_first() else { return true };
        let (ns_joined, rest) = if let Some(r) = rest.strip_prefix(b"/wall,") {
            (joined.0, r)
        } else if let Some(r) = rest.strip_prefix(b"/device,") {
            (joined.1, r)
        } else {
            return true;
        };
        let args = &rest[rest.iter().take_while(|b| b.is_ascii_digit()).count()..];
        match kind {
            b'3' => ns_joined,
            b'2' => ns_joined || args.starts_with(b"[\"error\""),
            _ => true,
        }
    }

    /// `(joined /wall, joined /device)` now, as far as writes need to know:
    /// a session that never left a namespace is sent only what its joined
    /// ones produce, so the lock (a cache miss per write) is skipped.
    pub(crate) fn joined(&self) -> (bool, bool) {
        if !self.left.load(std::sync::atomic::Ordering::Acquire) {
            return (true, true);
        }
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        (st.wall.is_some(), st.device.is_some())
    }

    /// Whether the session is joined to `/wall` of `org`.
    pub(crate) fn on_wall_of(&self, org: &str) -> bool {
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.wall.as_ref().is_some_and(|c| c.org == org)
    }
}

impl Default for ConnData {
    fn default() -> Self {
        Self {
            id: crate::peer::PeerId::next(),
            state: Mutex::default(),
            closed: CancellationToken::new(),
            left: std::sync::atomic::AtomicBool::new(false),
        }
    }
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
    /// When the last `error rate_limited` went out (clock ms).
    pub(crate) last_rate_error_ms: Option<u64>,
    /// Counted against the per-IP cap.
    pub(crate) ip: Option<IpAddr>,
}

/// What leaving a namespace takes: its claims and its expiry timer.
pub(crate) type Left = (Claims, Option<CancellationToken>);

impl ConnState {
    /// Leaves `/wall` (`wall`) or `/device`: its claims and its expiry
    /// timer, taken in one step, so a CONNECT that joins it again right
    /// after keeps its own timer.
    pub(crate) fn leave(&mut self, wall: bool) -> Option<Left> {
        let (slot, timer) =
            if wall { (&mut self.wall, &mut self.wall_expiry) } else { (&mut self.device, &mut self.device_expiry) };
        let claims = slot.take()?;
        Some((claims, timer.take()))
    }
}

#[derive(Debug)]
pub(crate) struct Bucket {
    tokens: f64,
    /// Clock ms of the last refill.
    at_ms: u64,
}

impl Bucket {
    /// Whether the bucket would be full at `now_ms` (its owner is idle).
    pub(crate) fn is_full(&self, now_ms: u64, rate: f64, burst: f64) -> bool {
        self.tokens + now_ms.saturating_sub(self.at_ms) as f64 / 1000.0 * rate >= burst
    }

    /// Whole seconds until the bucket holds a token again (at least 1; an
    /// hour when it never refills).
    pub(crate) fn wait_s(&self, rate: f64) -> u64 {
        if rate <= 0.0 || !rate.is_finite() {
            return 3600;
        }
        (((1.0 - self.tokens) / rate).ceil() as u64).clamp(1, 3600)
    }

    /// Takes one token from a bucket of `burst` refilled at `rate`/s.
    /// `now_ms` comes from the gateway's clock (a manual one in tests); a
    /// clock that went back refills nothing.
    pub(crate) fn take(slot: &mut Option<Bucket>, now_ms: u64, rate: f64, burst: f64) -> bool {
        let b = slot.get_or_insert(Bucket { tokens: burst, at_ms: now_ms });
        let elapsed_s = now_ms.saturating_sub(b.at_ms) as f64 / 1000.0;
        b.tokens = (b.tokens + elapsed_s * rate).min(burst);
        b.at_ms = b.at_ms.max(now_ms);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_caller_is_told_when_a_token_comes_back() {
        let mut slot = None;
        assert!(Bucket::take(&mut slot, 1_000, 0.5, 1.0));
        assert!(!Bucket::take(&mut slot, 1_000, 0.5, 1.0));
        let b = slot.as_ref().expect("bucket");
        assert_eq!(b.wait_s(0.5), 2, "half a token a second: two seconds");
        assert_eq!(b.wait_s(1000.0), 1, "never less than a second");
        assert_eq!(b.wait_s(0.0), 3600, "a bucket that never refills");
        assert!(!Bucket::take(&mut slot, 2_500, 0.5, 1.0), "1.5 s: 0.75 of a token");
        assert!(Bucket::take(&mut slot, 3_000, 0.5, 1.0), "2 s: a token");
    }

    #[test]
    fn only_events_and_acks_of_a_namespace_left_are_held_back() {
        let left = (false, false);
        for p in ["2/wall,[\"events\",{}]", "3/wall,4[{}]", "2/device,7[\"command\",{}]", "3/device,2[]"] {
            assert!(!ConnData::may_send(p.as_bytes(), left), "{p}");
            assert!(ConnData::may_send(p.as_bytes(), (true, true)), "{p}");
        }
        for p in ["2/wall,[\"error\",{\"code\":\"token_expired\"}]", "1/wall,", "4/device,{}", "0/wall,{}", "2", ""] {
            assert!(ConnData::may_send(p.as_bytes(), left), "{p}");
        }
        assert!(!ConnData::may_send(b"2/wall,[\"events\"]", (false, true)), "each namespace on its own");
        assert!(ConnData::may_send(b"2/device,[\"command\"]", (false, true)));
    }
}
