//! The SQLite store's writes: a commit of batches in one transaction, and
//! an org replaced whole by a checkpoint (several nodes).

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::{OrgBatch, SqliteStore, StoreError, StoredOrg};

impl SqliteStore {
    /// Replaces everything held of `o.org` by `o` (a checkpoint's state),
    /// but for decided ids: those held stay (a checkpoint carries only the
    /// ones its node had in memory, and ids are kept 24 hours).
    pub fn replace_org(&mut self, o: &StoredOrg) -> Result<(), StoreError> {
        let _w = Self::write_lock(&self.writing);
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        for table in ["orgs", "log", "entities", "removed_devices", "shared_pos"] {
            tx.execute(&format!("DELETE FROM {table} WHERE org = ?1"), [&o.org])?;
        }
        tx.execute("INSERT INTO orgs (org, epoch, head) VALUES (?1, ?2, ?3)", params![o.org, o.epoch, o.head as i64])?;
        tx.execute("INSERT INTO shared_pos (org, seq) VALUES (?1, ?2)", params![o.org, o.shared_seq as i64])?;
        {
            let mut put = tx.prepare_cached("INSERT INTO entities (org, kind, id, json) VALUES (?1, ?2, ?3, ?4)")?;
            for (kind, json) in &o.entities {
                let id = serde_json::from_str::<serde_json::Value>(json)
                    .ok()
                    .and_then(|v| v["id"].as_str().map(str::to_owned))
                    .unwrap_or_default();
                put.execute(params![o.org, kind.as_str(), id, json])?;
            }
            let mut dec = tx.prepare_cached(
                "INSERT OR REPLACE INTO decided (org, client_id, mutation_id, ack, ts_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for (client, mid, ack, ts) in &o.decided {
                dec.execute(params![o.org, client, mid, ack, *ts as i64])?;
            }
            let mut rem =
                tx.prepare_cached("INSERT INTO removed_devices (org, device, removed_ms) VALUES (?1, ?2, ?3)")?;
            for (device, ms) in &o.removed {
                rem.execute(params![o.org, device, *ms as i64])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Writes batches in one transaction and syncs (as `synchronous` says).
    pub fn write<'a>(&mut self, batches: impl IntoIterator<Item = &'a OrgBatch>) -> Result<(), StoreError> {
        if self.fail.on() {
            return Err(StoreError::Injected);
        }
        let _w = Self::write_lock(&self.writing);
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut org_stmt = tx.prepare_cached(
                "INSERT INTO orgs (org, epoch, head) VALUES (?1, ?2, ?3)
                 ON CONFLICT(org) DO UPDATE SET head = excluded.head, epoch = excluded.epoch",
            )?;
            let mut log_stmt = tx.prepare_cached("INSERT INTO log (org, seq, ts_ms, entry) VALUES (?1, ?2, ?3, ?4)")?;
            let mut put = tx.prepare_cached(
                "INSERT INTO entities (org, kind, id, json) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(org, kind, id) DO UPDATE SET json = excluded.json",
            )?;
            let mut del = tx.prepare_cached("DELETE FROM entities WHERE org = ?1 AND kind = ?2 AND id = ?3")?;
            let mut dec = tx.prepare_cached(
                "INSERT OR REPLACE INTO decided (org, client_id, mutation_id, ack, ts_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            let mut removed = tx.prepare_cached(
                "INSERT OR REPLACE INTO removed_devices (org, device, removed_ms) VALUES (?1, ?2, ?3)",
            )?;
            let mut registered = tx.prepare_cached("DELETE FROM removed_devices WHERE org = ?1 AND device = ?2")?;
            let mut head_stmt = tx.prepare_cached("SELECT head FROM orgs WHERE org = ?1")?;
            let mut shared = tx.prepare_cached("INSERT OR REPLACE INTO shared_pos (org, seq) VALUES (?1, ?2)")?;
            for b in batches {
                // The batch must continue the log on disk (one writer per
                // org today; the check is what a second writer would hit).
                let found: u64 = head_stmt
                    .query_row(params![b.org], |r| r.get::<_, i64>(0))
                    .optional()?
                    .map_or(0, |h| u64::try_from(h).unwrap_or(0));
                let expected = b.entries.first().map_or(b.head, |e| e.0.saturating_sub(1));
                if found != expected {
                    return Err(StoreError::Conflict { org: b.org.clone(), expected, found });
                }
                org_stmt.execute(params![b.org, b.epoch, b.head as i64])?;
                if let Some(seq) = b.shared_seq {
                    shared.execute(params![b.org, seq as i64])?;
                }
                for (device, at) in &b.removed {
                    match at {
                        Some(ms) => removed.execute(params![b.org, device, *ms as i64])?,
                        None => registered.execute(params![b.org, device])?,
                    };
                }
                for (seq, ts, entry) in &b.entries {
                    log_stmt.execute(params![b.org, *seq as i64, *ts as i64, entry])?;
                }
                for (client, mid, ack, ts) in &b.decided {
                    dec.execute(params![b.org, client, mid, ack, *ts as i64])?;
                }
                for (kind, id, json) in &b.entities {
                    match json {
                        Some(j) => put.execute(params![b.org, kind.as_str(), id, j])?,
                        None => del.execute(params![b.org, kind.as_str(), id])?,
                    };
                }
            }
        }
        tx.commit()?;
        Ok(())
    }
}
