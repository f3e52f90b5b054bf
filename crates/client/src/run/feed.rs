//! What the stream brings, applied: snapshot pages gathered into one
//! snapshot (held to a size and a time) and `events` batches checked
//! against the cursor, each decoded item by item so that what cannot be
//! decoded is left out and reported rather than costing the rest.

use std::collections::BTreeSet;

use tokio::time::Instant;
use vizora_protocol::{Entity, EntityKind};
use vizora_sync::{Accept, Cursor};

use super::{Exit, Io, deliver};
use crate::Update;
use crate::tolerant::{self, Skipped};

/// Most undecodable entities of one snapshot reported one by one; the rest are counted.
const SNAPSHOT_REPORTS: usize = 100;

/// A snapshot being gathered page by page.
pub(super) struct Snapshot {
    epoch: String,
    seq: u64,
    done: BTreeSet<EntityKind>,
    entities: Vec<Entity>,
    /// Items received, readable or not; held to `max_snapshot_entities`.
    received: usize,
    /// When the snapshot must be complete.
    pub(super) deadline: Instant,
    /// Items left out, reported once the snapshot is delivered.
    skipped: Vec<Skipped>,
    /// Items left out beyond [`SNAPSHOT_REPORTS`].
    unreported: usize,
}

impl Snapshot {
    pub(super) fn new(epoch: String, seq: u64, deadline: Instant) -> Self {
        let (done, entities, skipped) = (BTreeSet::new(), Vec::new(), Vec::new());
        Self { epoch, seq, done, entities, received: 0, deadline, skipped, unreported: 0 }
    }
}

impl Io {
    pub(super) fn snapshot_overdue(&self) -> String {
        format!("snapshot not complete within {:?} of the subscribe ack", self.cfg.snapshot_timeout)
    }

    pub(super) async fn on_snapshot(&mut self, arg: &str, snap: &mut Option<Snapshot>) -> Result<(), Exit> {
        let page = tolerant::snapshot_page(arg).map_err(Exit::Violation)?;
        let Some(s) = snap.as_mut() else { return Ok(()) };
        if page.epoch != s.epoch || page.seq != s.seq {
            return Err(Exit::Violation("snapshot page from another position".into()));
        }
        if Instant::now() >= s.deadline {
            return Err(Exit::Violation(self.snapshot_overdue()));
        }
        s.received = s.received.saturating_add(page.received);
        if s.received > self.cfg.max_snapshot_entities {
            return Err(Exit::Violation(format!("snapshot larger than {} entities", self.cfg.max_snapshot_entities)));
        }
        if page.last
            && let Some(kind) = page.kind
        {
            s.done.insert(kind);
        }
        for skipped in page.skipped {
            if s.skipped.len() < SNAPSHOT_REPORTS {
                s.skipped.push(skipped);
            } else {
                s.unreported += 1;
            }
        }
        s.entities.extend(page.items);
        if s.done.len() == EntityKind::ALL.len() {
            let Some(s) = snap.take() else { return Ok(()) };
            if let Some(cache) = self.cache.as_mut() {
                cache.snapshot(&s.epoch, s.seq, &s.entities);
            }
            let (epoch, seq) = (s.epoch.clone(), s.seq);
            deliver(&self.tx, Update::Snapshot { epoch: s.epoch, seq: s.seq, entities: s.entities }).await?;
            self.cursor.reset(&epoch, seq);
            // After the snapshot, so that they describe what it left out.
            for skipped in s.skipped {
                self.report(skipped);
            }
            if s.unreported > 0 {
                let error = format!("{} more undecodable entities left out", s.unreported);
                self.report(Skipped { kind: "snapshot".into(), id: None, seq: None, error });
            }
        }
        Ok(())
    }

    /// Applies an `events` batch; `Ok(false)` means re-subscribe: from the
    /// last applied position after a gap, a `seq` that went back or a new
    /// epoch, from a fresh
    /// snapshot after an entry that cannot be decoded.
    pub(super) async fn on_events(&mut self, arg: &str) -> Result<bool, Exit> {
        let batch = tolerant::events_batch(arg).map_err(Exit::Violation)?;
        let mut next = self.cursor.clone();
        let mut items = Vec::with_capacity(batch.items.len());
        let mut resubscribe = false;
        let mut undecodable = None;
        for item in batch.items {
            match next.accept(&batch.epoch, item.seq) {
                Accept::Apply => match item.entry {
                    Ok(entry) => items.push(entry),
                    Err(skipped) => {
                        undecodable = Some(skipped);
                        break;
                    }
                },
                // §5: a client that sees `seq` go back re-subscribes from
                // its last applied position, as after a gap (a server never
                // sends an entry twice on one subscription).
                Accept::Duplicate => {
                    let have = next.position().map_or(0, |p| p.seq);
                    tracing::warn!(have, got = item.seq, "the log went back; re-subscribing");
                    resubscribe = true;
                    break;
                }
                Accept::Gap { have, got } => {
                    tracing::warn!(have, got, "gap in the log; re-subscribing");
                    resubscribe = true;
                    break;
                }
                Accept::NewEpoch => {
                    resubscribe = true;
                    break;
                }
            }
        }
        if !items.is_empty() {
            // The cache may run ahead of the cursor if delivery fails; the
            // entries then come again, and applying an entry twice leaves
            // the state as applying it once (each writes whole values).
            if let Some(cache) = self.cache.as_mut() {
                cache.entries(&batch.epoch, &items);
            }
            deliver(&self.tx, Update::Entries { epoch: batch.epoch, items }).await?;
        }
        self.cursor = next;
        if let Some(skipped) = undecodable {
            // The caller's engine keeps its own cursor: an entry left out
            // here would be a gap it could never get past. A fresh snapshot
            // moves both past it and keeps every entity that can be decoded.
            self.report(skipped);
            self.cursor = Cursor::at(None);
            return Ok(false);
        }
        match batch.broken {
            Some(why) if !resubscribe => Err(Exit::Violation(why)),
            _ => Ok(!resubscribe),
        }
    }

    /// Tells the log and the caller what was left out.
    fn report(&self, s: Skipped) {
        tracing::warn!(kind = %s.kind, id = ?s.id, seq = ?s.seq, error = %s.error, "left out: cannot decode it");
        // Lossy: a full channel means the caller is behind; the log keeps the report.
        let _ = self.tx.try_send(Update::Undecodable { kind: s.kind, id: s.id, seq: s.seq, error: s.error });
    }
}
