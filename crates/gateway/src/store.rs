//! Durable store: entities, the per-org log with its epoch, and decided
//! mutation ids, in SQLite (WAL, `synchronous=FULL`). One transaction per
//! batch: a batch is on disk before anything in it is acknowledged or sent.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

mod write;
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
    /// Another process holds the data directory.
    #[error("store: {path} is in use by another gateway (its LOCK file is held)")]
    Locked {
        /// The lock file.
        path: String,
    },
    /// A stored row that cannot be read: startup stops rather than skip it.
    #[error("store: unreadable row {row}: {message}")]
    Corrupt {
        /// Which row (table and key).
        row: String,
        /// Why.
        message: String,
    },
    /// The org's log on disk is not where the batch starts: another writer
    /// got there first. Nothing of the transaction was written.
    #[error("store: org {org}: the batch starts after {expected}, the log is at {found}")]
    Conflict {
        /// The org.
        org: String,
        /// Head the batch was built on.
        expected: u64,
        /// Head on disk.
        found: u64,
    },
    /// The shared log (several nodes, NATS JetStream) refused or did not answer.
    #[error("shared log: {0}")]
    Shared(String),
    /// A failure switched on by a test or an operator drill ([`FailSwitch`]).
    #[error("store: injected failure (disk full drill)")]
    Injected,
}

/// Makes a [`SqliteStore`] fail every write while on: the disk-full drill, in
/// tests and on a running gateway alike.
#[derive(Debug, Clone, Default)]
pub struct FailSwitch(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl FailSwitch {
    /// Starts or stops failing.
    pub fn set(&self, failing: bool) {
        self.0.store(failing, std::sync::atomic::Ordering::SeqCst);
    }

    fn on(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
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
    /// Decided mutations `(client_id, mutation_id, ack JSON, decided_ms)`,
    /// oldest first: the newest the sequencer keeps in memory.
    pub decided: Vec<(String, String, String, u64)>,
    /// When the newest decided id left out of `decided` was decided: it is
    /// still on disk, and looked up there ([`LogStore::decided`]).
    pub decided_spilled_ms: Option<u64>,
    /// Removed devices `(device_id, removed_ms)`.
    pub removed: Vec<(String, u64)>,
    /// Several nodes: the shared log's sequence of the org's last message
    /// this copy holds (0 when none, and on one node).
    pub shared_seq: u64,
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
    /// Device removals `(device_id, Some(removed_ms))`, or `None` when the
    /// device registered again.
    pub removed: Vec<(String, Option<u64>)>,
    /// Several nodes: what the batch's mutations do to players, for the node
    /// each player is connected to.
    pub effects: Vec<Effect>,
    /// Several nodes: the shared log's sequence of the org's last message
    /// the batch was built on (the write is refused if the log moved on).
    pub shared_after: u64,
    /// Several nodes: where the batch is in the shared log, once it is
    /// there (set by the store on publish; set already for a batch another
    /// node wrote, which is only copied locally).
    pub shared_seq: Option<u64>,
}

/// A side effect of an applied mutation on a player, done once its batch is
/// durable (never for a change the store refused), by the node the player
/// is connected to.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// Relay a command to the player's socket (if it is connected then).
    Command {
        /// Device id.
        device: String,
        /// What to do.
        kind: vizora_protocol::device::CommandKind,
        /// Its arguments.
        args: serde_json::Value,
    },
    /// The device was removed: drop its connection and runtime state.
    Disconnect {
        /// Device id.
        device: String,
    },
}

/// Batches a [`LogStore::commit`] did not write; every other batch of the
/// call is durable.
#[derive(Debug)]
pub struct Unwritten {
    /// Why (the first failure).
    pub cause: StoreError,
    /// Orgs whose batch did not land, or may not have: the store is failing.
    pub failed: Vec<String>,
    /// Orgs whose shared log moved on under the batch (another node wrote
    /// first): nothing of theirs was written; catch up, then decide again.
    pub conflicts: Vec<String>,
}

impl Unwritten {
    /// Every batch failed for `cause`.
    pub fn all(cause: StoreError, batches: &[OrgBatch]) -> Self {
        Self { cause, failed: batches.iter().map(|b| b.org.clone()).collect(), conflicts: Vec::new() }
    }
}

impl OrgBatch {
    /// Whether the batch writes anything.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.entities.is_empty() && self.decided.is_empty() && self.removed.is_empty()
    }
}

/// What the sequencer needs from durable storage. The one write, `commit`,
/// is atomic: a batch's entries, entity writes, decided mutation ids and new
/// head land together or not at all, and only then is anything acknowledged
/// or sent. SQLite implements it here; a shared store for several gateway
/// nodes implements the same interface.
pub trait LogStore: Send {
    /// Every org with its entities and its newest `decided_max` decided
    /// mutation ids (the others stay on disk, see [`LogStore::decided`]).
    fn load(&self, decided_max: usize) -> Result<Vec<StoredOrg>, StoreError>;
    /// A decided mutation on disk: `(ack JSON, decided_ms)`. PROTOCOL.md §6
    /// keeps decided ids 24 hours; past the memory cap they are found here.
    fn decided(&self, org: &str, client_id: &str, mutation_id: &str) -> Result<Option<(String, u64)>, StoreError>;
    /// Writes batches durably, each atomically (on one node all of them in
    /// one transaction). A shared store fills in each batch's `shared_seq`.
    fn commit(&mut self, batches: &mut [OrgBatch]) -> Result<(), Unwritten>;
    /// Entry JSON texts with `seq > after`, ascending, at most `limit`.
    fn read_log(&self, org: &str, after: u64, limit: usize) -> Result<Vec<(u64, String)>, StoreError>;
    /// Lowest retained seq of an org.
    fn oldest_seq(&self, org: &str) -> Result<Option<u64>, StoreError>;
    /// Drops entries both older than `before_ts_ms` and below `below_seq`.
    fn prune(&mut self, org: &str, below_seq: u64, before_ts_ms: u64) -> Result<usize, StoreError>;
    /// Forgets decided mutation ids older than `before_ms`.
    fn prune_decided(&mut self, before_ms: u64) -> Result<usize, StoreError>;
    /// Checks that a write goes through (a failing store is probed until it does).
    fn probe(&mut self) -> Result<(), StoreError>;
    /// A read-only view of the log for another thread (replays run there,
    /// not on the sequencer); it sees every committed entry.
    fn reader(&self) -> Result<Box<dyn LogRead>, StoreError>;
    /// Several nodes: every message of the shared log up to `pos` was
    /// applied (kept with the next write, to resume from after a restart).
    fn followed(&mut self, _pos: u64) {}
    /// Whether the store can go on serving (several nodes: the local copy
    /// of the log has not missed a write).
    fn healthy(&self) -> bool {
        true
    }
    /// Several nodes: keeps `checkpoint` (JSON of a `Checkpoint` at
    /// `shared_seq`) for nodes that have not followed the org, and lets the
    /// org's messages before it go. Never blocks the caller.
    fn save_checkpoint(&mut self, _org: &str, _checkpoint: Vec<u8>, _shared_seq: u64) {}
    /// Several nodes: the org as its latest checkpoint holds it.
    fn load_checkpoint(&self, _org: &str) -> Result<Option<StoredOrg>, StoreError> {
        Ok(None)
    }
    /// Replaces all the store holds of an org by `org` (a checkpoint's
    /// state); its log starts again after the checkpoint's head.
    fn reset_org(&mut self, _org: &StoredOrg) -> Result<(), StoreError> {
        Ok(())
    }
    /// The epoch a new org's log gets, when the store fixes it (several
    /// nodes must agree on it before the org's first write); `None`: a
    /// random one.
    fn new_epoch(&self) -> Option<String> {
        None
    }
}

/// Reads the log from another thread than the sequencer's.
pub trait LogRead: Send {
    /// Entry JSON texts with `seq > after`, ascending, at most `limit`.
    fn read_log(&mut self, org: &str, after: u64, limit: usize) -> Result<Vec<(u64, String)>, StoreError>;
}

/// A read-only SQLite connection to the store (WAL: reads never block the writer).
struct Reader(Connection);

impl LogRead for Reader {
    fn read_log(&mut self, org: &str, after: u64, limit: usize) -> Result<Vec<(u64, String)>, StoreError> {
        read_log(&self.0, org, after, limit)
    }
}

fn read_log(conn: &Connection, org: &str, after: u64, limit: usize) -> Result<Vec<(u64, String)>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT seq, entry FROM log WHERE org = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3")?;
    let rows = stmt.query_map(params![org, after as i64, limit as i64], |r| {
        Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The SQLite store.
pub struct SqliteStore {
    conn: Connection,
    path: std::path::PathBuf,
    fail: FailSwitch,
    synchronous: &'static str,
    /// Held for the store's life: one gateway per data directory.
    _lock: Arc<std::fs::File>,
    /// Taken around every write: the connections of one gateway (one per
    /// sequencer thread) write one at a time, and a waiting writer wakes as
    /// soon as the lock is free (SQLite's own busy wait sleeps in steps).
    writing: Arc<Mutex<()>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteStore")
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
CREATE INDEX IF NOT EXISTS decided_by_age ON decided (ts_ms);
CREATE TABLE IF NOT EXISTS removed_devices (
    org TEXT NOT NULL, device TEXT NOT NULL, removed_ms INTEGER NOT NULL,
    PRIMARY KEY (org, device)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS probe (k INTEGER PRIMARY KEY, at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS shared_pos (org TEXT PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID;
";

/// The row of `shared_pos` that holds how far the shared log was followed
/// (no org has an empty id).
const FOLLOWED_ROW: &str = "";

fn kind_from(s: &str) -> Option<EntityKind> {
    EntityKind::ALL.into_iter().find(|k| k.as_str() == s)
}

impl SqliteStore {
    /// Opens (creating) `dir/vizora.db`, holding `dir/LOCK` exclusively.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Self::open_with(dir, FailSwitch::default())
    }

    /// [`SqliteStore::open`] with a switch that makes writes fail on demand.
    pub fn open_with(dir: &Path, fail: FailSwitch) -> Result<Self, StoreError> {
        Self::open_sync(dir, fail, "FULL")
    }

    /// A node's local copy of the shared log (several nodes): everything in
    /// it can be read again from the shared log, so a write is not synced
    /// to disk before it is acknowledged (`synchronous=NORMAL`).
    pub fn open_copy(dir: &Path, fail: FailSwitch) -> Result<Self, StoreError> {
        Self::open_sync(dir, fail, "NORMAL")
    }

    /// How far this copy followed the shared log (0: from its start).
    pub fn followed_pos(&self) -> Result<u64, StoreError> {
        let v: Option<i64> = self
            .conn
            .query_row("SELECT seq FROM shared_pos WHERE org = ?1", [FOLLOWED_ROW], |r| r.get(0))
            .optional()?;
        Ok(v.map_or(0, |s| s as u64))
    }

    /// Records how far the shared log was followed.
    pub fn set_followed(&mut self, pos: u64) -> Result<(), StoreError> {
        let _w = Self::write_lock(&self.writing);
        self.conn.execute(
            "INSERT OR REPLACE INTO shared_pos (org, seq) VALUES (?1, ?2)",
            params![FOLLOWED_ROW, pos as i64],
        )?;
        Ok(())
    }

    /// Another connection to the same store, for another sequencer thread:
    /// it shares the directory lock, the failure switch and the write lock.
    pub fn another(&self) -> Result<Self, StoreError> {
        let conn = Self::connect(&self.path, self.synchronous)?;
        Ok(Self {
            conn,
            path: self.path.clone(),
            fail: self.fail.clone(),
            synchronous: self.synchronous,
            _lock: self._lock.clone(),
            writing: self.writing.clone(),
        })
    }

    fn connect(path: &Path, synchronous: &str) -> Result<Connection, StoreError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // FULL: an acknowledged change survives power loss, not just kill -9.
        conn.pragma_update(None, "synchronous", synchronous)?;
        // Writers of one gateway take `writing` first; this covers anything else.
        conn.busy_timeout(Duration::from_secs(10))?;
        Ok(conn)
    }

    /// Held while writing (see `writing`).
    fn write_lock(writing: &Mutex<()>) -> MutexGuard<'_, ()> {
        writing.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn open_sync(dir: &Path, fail: FailSwitch, synchronous: &'static str) -> Result<Self, StoreError> {
        let dir_err = |source| StoreError::Dir { path: dir.display().to_string(), source };
        std::fs::create_dir_all(dir).map_err(dir_err)?;
        let lock_path = dir.join("LOCK");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|source| StoreError::Dir { path: lock_path.display().to_string(), source })?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StoreError::Locked { path: lock_path.display().to_string() });
            }
            Err(std::fs::TryLockError::Error(source)) => {
                return Err(StoreError::Dir { path: lock_path.display().to_string(), source });
            }
        }
        let path = dir.join("vizora.db");
        let conn = Self::connect(&path, synchronous)?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self { conn, path, fail, synchronous, _lock: Arc::new(lock), writing: Arc::new(Mutex::new(())) })
    }
}

impl LogStore for SqliteStore {
    /// Loads every org with its entities.
    fn load(&self, decided_max: usize) -> Result<Vec<StoredOrg>, StoreError> {
        let mut orgs = Vec::new();
        let mut stmt = self.conn.prepare("SELECT org, epoch, head FROM orgs ORDER BY org")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?)))?;
        for row in rows {
            let (org, epoch, head) = row?;
            orgs.push(StoredOrg {
                org,
                epoch,
                head: head as u64,
                entities: Vec::new(),
                decided: Vec::new(),
                decided_spilled_ms: None,
                removed: Vec::new(),
                shared_seq: 0,
            });
        }
        let mut stmt = self.conn.prepare("SELECT seq FROM shared_pos WHERE org = ?1")?;
        for o in &mut orgs {
            let seq: Option<i64> = stmt.query_row([&o.org], |r| r.get(0)).optional()?;
            o.shared_seq = seq.map_or(0, |s| s as u64);
        }
        let mut stmt = self.conn.prepare("SELECT kind, id, json FROM entities WHERE org = ?1")?;
        for o in &mut orgs {
            let rows = stmt.query_map([&o.org], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?))
            })?;
            for row in rows {
                let (kind, id, json) = row?;
                let Some(k) = kind_from(&kind) else {
                    return Err(StoreError::Corrupt {
                        row: format!("entities ({}, {kind}, {id})", o.org),
                        message: format!("unknown kind `{kind}`"),
                    });
                };
                o.entities.push((k, json));
            }
        }
        let mut stmt = self.conn.prepare("SELECT device, removed_ms FROM removed_devices WHERE org = ?1")?;
        for o in &mut orgs {
            let rows = stmt.query_map([&o.org], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64)))?;
            for row in rows {
                o.removed.push(row?);
            }
        }
        // The newest `decided_max`, and when the newest one left on disk was decided.
        let mut stmt = self.conn.prepare(
            "SELECT client_id, mutation_id, ack, ts_ms FROM decided WHERE org = ?1 ORDER BY ts_ms DESC LIMIT ?2",
        )?;
        let mut spilled =
            self.conn.prepare("SELECT ts_ms FROM decided WHERE org = ?1 ORDER BY ts_ms DESC LIMIT 1 OFFSET ?2")?;
        let limit = i64::try_from(decided_max).unwrap_or(i64::MAX);
        for o in &mut orgs {
            let rows = stmt.query_map(rusqlite::params![&o.org, limit], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, i64>(3)? as u64))
            })?;
            for row in rows {
                o.decided.push(row?);
            }
            o.decided.reverse();
            let ts: Option<i64> = spilled.query_row(rusqlite::params![&o.org, limit], |r| r.get(0)).optional()?;
            o.decided_spilled_ms = ts.map(|t| t as u64);
        }
        Ok(orgs)
    }

    fn decided(&self, org: &str, client_id: &str, mutation_id: &str) -> Result<Option<(String, u64)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT ack, ts_ms FROM decided WHERE org = ?1 AND client_id = ?2 AND mutation_id = ?3")?;
        Ok(stmt
            .query_row([org, client_id, mutation_id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64)))
            .optional()?)
    }

    /// Forgets decided mutation ids older than `before_ms`.
    fn prune_decided(&mut self, before_ms: u64) -> Result<usize, StoreError> {
        if self.fail.on() {
            return Err(StoreError::Injected);
        }
        let _w = Self::write_lock(&self.writing);
        Ok(self.conn.execute("DELETE FROM decided WHERE ts_ms < ?1", [before_ms as i64])?)
    }

    fn probe(&mut self) -> Result<(), StoreError> {
        if self.fail.on() {
            return Err(StoreError::Injected);
        }
        let now = vizora_protocol::now_ms() as i64;
        let _w = Self::write_lock(&self.writing);
        self.conn.execute("INSERT OR REPLACE INTO probe (k, at) VALUES (1, ?1)", [now])?;
        Ok(())
    }

    fn commit(&mut self, batches: &mut [OrgBatch]) -> Result<(), Unwritten> {
        self.write(batches.iter()).map_err(|e| Unwritten::all(e, batches))
    }

    /// Entry JSON texts with `seq > after`, ascending, at most `limit`.
    fn read_log(&self, org: &str, after: u64, limit: usize) -> Result<Vec<(u64, String)>, StoreError> {
        read_log(&self.conn, org, after, limit)
    }

    fn reader(&self) -> Result<Box<dyn LogRead>, StoreError> {
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        Ok(Box::new(Reader(Connection::open_with_flags(&self.path, flags)?)))
    }

    /// Lowest retained seq of an org.
    fn oldest_seq(&self, org: &str) -> Result<Option<u64>, StoreError> {
        let v: Option<i64> =
            self.conn.query_row("SELECT MIN(seq) FROM log WHERE org = ?1", [org], |r| r.get(0)).optional()?.flatten();
        Ok(v.map(|s| s as u64))
    }

    /// Drops entries that are both older than `before_ts_ms` and below `below_seq`.
    fn prune(&mut self, org: &str, below_seq: u64, before_ts_ms: u64) -> Result<usize, StoreError> {
        if self.fail.on() {
            return Err(StoreError::Injected);
        }
        let _w = Self::write_lock(&self.writing);
        Ok(self.conn.execute(
            "DELETE FROM log WHERE org = ?1 AND seq < ?2 AND ts_ms < ?3",
            params![org, below_seq as i64, before_ts_ms as i64],
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(org: &str, seqs: std::ops::RangeInclusive<u64>) -> OrgBatch {
        OrgBatch {
            org: org.into(),
            epoch: "e1".into(),
            head: *seqs.end(),
            entries: seqs.map(|s| (s, 1_000 + s, format!("{{\"seq\":{s}}}"))).collect(),
            ..OrgBatch::default()
        }
    }

    #[test]
    fn a_batch_that_does_not_continue_the_log_on_disk_is_a_conflict_and_writes_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = SqliteStore::open(dir.path()).expect("open");
        store.write(&[batch("a", 1..=2)]).expect("first batch");
        // Another writer's view: it thinks the log is at 1 (and b is new).
        let stale = [batch("b", 1..=1), batch("a", 2..=3)];
        match store.write(&stale) {
            Err(StoreError::Conflict { org, expected, found }) => {
                assert_eq!((org.as_str(), expected, found), ("a", 1, 2))
            }
            other => panic!("expected a conflict, got {other:?}"),
        }
        assert_eq!(store.read_log("a", 0, 10).expect("read").len(), 2, "a unchanged");
        assert!(store.read_log("b", 0, 10).expect("read").is_empty(), "b not written either: one transaction");
        store.write(&[batch("a", 3..=3), batch("b", 1..=1)]).expect("a batch from the head applies");
        assert_eq!(store.read_log("a", 0, 10).expect("read").len(), 3);
    }
}
