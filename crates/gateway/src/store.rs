//! Durable store: entities, the per-org log with its epoch, and decided
//! mutation ids, in SQLite (WAL, `synchronous=FULL`). One transaction per
//! batch: a batch is on disk before anything in it is acknowledged or sent.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};
use vizora_protocol::EntityKind;

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite said no (disk full, corrupt file, …).
    #[error("store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The data directory could not be created.
    #[error("store: {path}: {source}")]
    Dir {
        /// Directory.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
}

/// One org as found on disk at startup.
#[derive(Debug, Clone)]
pub struct StoredOrg {
    /// Org id.
    pub org: String,
    /// Log epoch.
    pub epoch: String,
    /// Last written seq.
    pub head: u64,
    /// Every entity, as `(kind, JSON)`.
    pub entities: Vec<(EntityKind, String)>,
    /// Decided mutations `(client_id, mutation_id, ack JSON, decided_ms)`.
    pub decided: Vec<(String, String, String, u64)>,
}

/// What one org changes in one transaction.
#[derive(Debug, Default, Clone)]
pub struct OrgBatch {
    /// Org id.
    pub org: String,
    /// Its epoch (written when the org is new).
    pub epoch: String,
    /// Head after this batch.
    pub head: u64,
    /// New log entries `(seq, ts_ms, entry JSON)`, ascending.
    pub entries: Vec<(u64, u64, String)>,
    /// Entity writes: `(kind, id, Some(JSON))` upserts, `None` deletes.
    pub entities: Vec<(EntityKind, String, Option<String>)>,
    /// Decided mutations `(client_id, mutation_id, ack JSON, decided_ms)`.
    pub decided: Vec<(String, String, String, u64)>,
}

/// What the sequencer needs from durable storage. The one write, `commit`,
/// is atomic: a batch's entries, entity writes, decided mutation ids and new
/// head land together or not at all, and only then is anything acknowledged
/// or sent. SQLite implements it here; a shared store for several gateway
/// nodes implements the same interface.
pub trait LogStore: Send {
    /// Every org with its entities and decided mutation ids.
    fn load(&self) -> Result<Vec<StoredOrg>, StoreError>;
    /// Writes batches atomically and durably.
    fn commit(&mut self, batches: &[OrgBatch]) -> Result<(), StoreError>;
    /// Entry JSON texts with `seq > after`, ascending, at most `limit`.
    fn read_log(&self, org: &str, after: u64, limit: usize) -> Result<Vec<(u64, String)>, StoreError>;
    /// Lowest retained seq of an org.
    fn oldest_seq(&self, org: &str) -> Result<Option<u64>, StoreError>;
    /// Drops entries both older than `before_ts_ms` and below `below_seq`.
    fn prune(&mut self, org: &str, below_seq: u64, before_ts_ms: u64) -> Result<usize, StoreError>;
    /// Forgets decided mutation ids older than `before_ms`.
    fn prune_decided(&mut self, before_ms: u64) -> Result<usize, StoreError>;
}

/// The SQLite store.
pub struct Store {
    conn: Connection,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS orgs (org TEXT PRIMARY KEY, epoch TEXT NOT NULL, head INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS log (
    org TEXT NOT NULL, seq INTEGER NOT NULL, ts_ms INTEGER NOT NULL, entry TEXT NOT NULL,
    PRIMARY KEY (org, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS entities (
    org TEXT NOT NULL, kind TEXT NOT NULL, id TEXT NOT NULL, json TEXT NOT NULL,
    PRIMARY KEY (org, kind, id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS decided (
    org TEXT NOT NULL, client_id TEXT NOT NULL, mutation_id TEXT NOT NULL, ack TEXT NOT NULL, ts_ms INTEGER NOT NULL,
    PRIMARY KEY (org, client_id, mutation_id)) WITHOUT ROWID;
";

fn kind_from(s: &str) -> Option<EntityKind> {
    EntityKind::ALL.into_iter().find(|k| k.as_str() == s)
}

impl Store {
    /// Opens (creating) `dir/vizora.db`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Dir { path: dir.display().to_string(), source })?;
        let conn = Connection::open(dir.join("vizora.db"))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // FULL: an acknowledged change survives power loss, not just kill -9.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self { conn })
    }
}

impl LogStore for Store {
    /// Loads every org with its entities.
    fn load(&self) -> Result<Vec<StoredOrg>, StoreError> {
        let mut orgs = Vec::new();
        let mut stmt = self.conn.prepare("SELECT org, epoch, head FROM orgs ORDER BY org")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?)))?;
        for row in rows {
            let (org, epoch, head) = row?;
            orgs.push(StoredOrg { org, epoch, head: head as u64, entities: Vec::new(), decided: Vec::new() });
        }
        let mut stmt = self.conn.prepare("SELECT kind, json FROM entities WHERE org = ?1")?;
        for o in &mut orgs {
            let rows = stmt.query_map([&o.org], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
            for row in rows {
                let (kind, json) = row?;
                if let Some(k) = kind_from(&kind) {
                    o.entities.push((k, json));
                }
            }
        }
        let mut stmt = self.conn.prepare("SELECT client_id, mutation_id, ack, ts_ms FROM decided WHERE org = ?1")?;
        for o in &mut orgs {
            let rows = stmt.query_map([&o.org], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, i64>(3)? as u64))
            })?;
            for row in rows {
                o.decided.push(row?);
            }
        }
        Ok(orgs)
    }

    /// Forgets decided mutation ids older than `before_ms`.
    fn prune_decided(&mut self, before_ms: u64) -> Result<usize, StoreError> {
        Ok(self.conn.execute("DELETE FROM decided WHERE ts_ms < ?1", [before_ms as i64])?)
    }

    /// Writes batches in one transaction and syncs.
    fn commit(&mut self, batches: &[OrgBatch]) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        {
            let mut org_stmt = tx.prepare_cached(
                "INSERT INTO orgs (org, epoch, head) VALUES (?1, ?2, ?3)
                 ON CONFLICT(org) DO UPDATE SET head = excluded.head",
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
            for b in batches {
                org_stmt.execute(params![b.org, b.epoch, b.head as i64])?;
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

    /// Entry JSON texts with `seq > after`, ascending, at most `limit`.
    fn read_log(&self, org: &str, after: u64, limit: usize) -> Result<Vec<(u64, String)>, StoreError> {
        let mut stmt =
            self.conn.prepare_cached("SELECT seq, entry FROM log WHERE org = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3")?;
        let rows = stmt.query_map(params![org, after as i64, limit as i64], |r| {
            Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Lowest retained seq of an org.
    fn oldest_seq(&self, org: &str) -> Result<Option<u64>, StoreError> {
        let v: Option<i64> =
            self.conn.query_row("SELECT MIN(seq) FROM log WHERE org = ?1", [org], |r| r.get(0)).optional()?.flatten();
        Ok(v.map(|s| s as u64))
    }

    /// Drops entries that are both older than `before_ts_ms` and below `below_seq`.
    fn prune(&mut self, org: &str, below_seq: u64, before_ts_ms: u64) -> Result<usize, StoreError> {
        Ok(self.conn.execute(
            "DELETE FROM log WHERE org = ?1 AND seq < ?2 AND ts_ms < ?3",
            params![org, below_seq as i64, before_ts_ms as i64],
        )?)
    }
}
