//! Committing batches to the store, then fanning them out; log pruning.

use engineioxide::Str;
use engineioxide::socket::DisconnectReason;
use tokio::sync::mpsc::error::TrySendError as TrySendError2;
use vizora_protocol::codec::encode_ack;
use vizora_protocol::{NS_WALL, now_ms};

use super::packets::events_packet;
use super::{DECIDED_RETENTION_MS, Engine};
use crate::store::OrgBatch;

impl Engine {
    /// Writes every pending batch in one transaction, then fans out.
    pub(super) fn flush(&mut self) {
        // Take each pending batch out (no copy); put it back if the commit fails.
        let mut batches: Vec<OrgBatch> = Vec::new();
        for org in self.orgs.values_mut().filter(|o| o.has_pending()) {
            let mut b = std::mem::take(&mut org.batch);
            b.org = org.id.clone();
            b.epoch = org.epoch.clone();
            b.head = org.head;
            batches.push(b);
        }
        if !batches.is_empty()
            && let Err(e) = self.store.commit(&batches)
        {
            // Nothing is sent or acknowledged until it is on disk; retry next round.
            tracing::error!(cause = %e, "store commit failed; will retry");
            for b in batches {
                if let Some(org) = self.orgs.get_mut(&b.org) {
                    org.batch = b;
                }
            }
            return;
        }
        for batch in batches {
            let Some(org) = self.orgs.get_mut(&batch.org) else { continue };
            org.persist_org = false;
            // Acks only now: what they confirm is on disk.
            for a in org.acks.drain(..) {
                let _ = a.sock.emit(encode_ack(NS_WALL, a.ack, &a.reply));
            }
            if batch.entries.is_empty() {
                continue;
            }
            self.counters.entries.fetch_add(batch.entries.len() as u64, std::sync::atomic::Ordering::Relaxed);
            self.counters.set_head(&org.id, org.head);
            let items: Vec<&str> = batch.entries.iter().map(|e| e.2.as_str()).collect();
            let text: Str = events_packet(&org.epoch, &items).into();
            org.subs.retain(|s| match s.sock.emit(text.clone()) {
                Ok(()) => true,
                Err(TrySendError2::Full(_)) => {
                    // Too far behind on state: disconnect; it resumes by replay.
                    tracing::warn!(org = %org.id, sid = %s.sid, "slow /wall consumer disconnected");
                    s.sock.close(DisconnectReason::TransportError);
                    false
                }
                Err(TrySendError2::Closed(_)) => false,
            });
            // Append → committed → handed to every subscriber's socket.
            if let Some(since) = org.batch_since.take() {
                self.counters.observe_delivery(since.elapsed(), batch.entries.len() as u64);
            }
        }
    }

    pub(super) fn prune(&mut self) {
        let keep = self.cfg.history_entries;
        let before = now_ms().saturating_sub(self.cfg.history_secs * 1000);
        let decided_before = now_ms().saturating_sub(DECIDED_RETENTION_MS);
        for org in self.orgs.values_mut() {
            org.decided.retain(|_, (_, ts)| *ts >= decided_before);
        }
        if let Err(e) = self.store.prune_decided(decided_before) {
            tracing::error!(cause = %e, "pruning decided mutation ids failed");
        }
        for org in self.orgs.values() {
            if org.head > keep
                && let Err(e) = self.store.prune(&org.id, org.head - keep, before)
            {
                tracing::error!(org = %org.id, cause = %e, "log prune failed");
            }
        }
    }
}
