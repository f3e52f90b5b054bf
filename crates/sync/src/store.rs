//! The client's durable half (DESIGN.md, "Durable where a user would lose
//! work"): the outbox of mutations the server has not decided yet, in the
//! order they were made, and the last confirmed state with its log position.
//!
//! SQLite in WAL mode: every call that writes is one transaction, so a crash
//! leaves either all of a call's writes or none. A push is synced
//! (`synchronous=FULL`) before it returns: a mutation reported queued
//! survives a power cut. Removals and state saves are not synced on their
//! own (the next push syncs them): losing one to a power cut only means a
//! decided mutation is sent again and answered `duplicate`, or an older
//! state is restored and caught up by replay. That keeps an ack from costing
//! an fsync on the IO thread. The file is opened exclusively: two clients
//! sharing an outbox would deliver it twice, out of order.

use std::borrow::Borrow;
use std::path::Path;

use rusqlite::{Connection, ErrorCode, OptionalExtension, params};
use vizora_protocol::{ApplyCtx, Entity, EntityKind, Mutation, Position, Role};

use crate::changes::EntityKey;

/// Outbox capacity when none is configured.
pub const DEFAULT_OUTBOX_CAPACITY: usize = 100_000;

/// The on-disk format this code writes (`PRAGMA user_version`).
const FORMAT: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS outbox (
    ord INTEGER PRIMARY KEY AUTOINCREMENT,
    mutation_id TEXT NOT NULL UNIQUE,
    mutation TEXT NOT NULL,
    org TEXT NOT NULL, role TEXT NOT NULL, sub TEXT NOT NULL, new_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS confirmed_position (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    epoch TEXT NOT NULL, seq INTEGER NOT NULL, as_of_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS confirmed_entities (
    kind TEXT NOT NULL, id TEXT NOT NULL, json TEXT NOT NULL,
    PRIMARY KEY (kind, id)) WITHOUT ROWID;
";

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The outbox holds `capacity` mutations; the new one was not queued and nothing was dropped.
    #[error(
        "outbox full: {capacity} mutations are waiting for the server (the configured capacity); \
         this change was not saved and nothing queued was dropped"
    )]
    Full {
        /// The configured capacity.
        capacity: usize,
    },
    /// A mutation with this id is already queued.
    #[error("mutation `{0}` is already in the outbox")]
    DuplicateId(String),
    /// Another process has the store open.
    #[error("client store {path}: in use by another process")]
    Locked {
        /// The file.
        path: String,
    },
    /// SQLite failed (disk full, unreadable file, …).
    #[error("client store {path}: {source}")]
    Sqlite {
        /// The file.
        path: String,
        /// Cause.
        source: rusqlite::Error,
    },
    /// A row does not decode: the file was written by something else.
    #[error("client store {path}: {what}")]
    Corrupt {
        /// The file.
        path: String,
        /// What does not decode.
        what: String,
    },
}

/// A mutation waiting in the outbox, with the context it is replayed with
/// (so a create shows under the same id after a restart).
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedMutation {
    /// The mutation as it is sent.
    pub mutation: Mutation,
    /// Org, role, sub and the id a create gets locally.
    pub ctx: ApplyCtx,
}

/// The last confirmed state on disk.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfirmedState {
    /// The log position it is consistent with: the `since` to resume from.
    pub position: Position,
    /// When it was last known to be current (Unix ms): how stale it is.
    pub as_of_ms: u64,
    /// Every entity, in kind then id order.
    pub entities: Vec<Entity>,
}

/// The durable outbox and state cache of one client.
pub struct ClientStore {
    conn: Connection,
    path: String,
    capacity: usize,
    len: usize,
    /// A file (not memory), whose commits can be synced.
    durable: bool,
    /// `synchronous` is FULL now (else NORMAL).
    synced: bool,
}

impl std::fmt::Debug for ClientStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientStore").field("path", &self.path).field("len", &self.len).finish()
    }
}

impl ClientStore {
    /// Opens (or creates) the store at `path`; the outbox refuses mutations
    /// beyond `capacity`.
    pub fn open(path: &Path, capacity: usize) -> Result<Self, StoreError> {
        let name = path.display().to_string();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Corrupt {
                path: name.clone(),
                what: format!("cannot create {}: {e}", dir.display()),
            })?;
        }
        let conn = Connection::open(path).map_err(|source| StoreError::Sqlite { path: name.clone(), source })?;
        Self::init(conn, name, capacity, true)
    }

    /// A store that lives only as long as this value (no durability).
    pub fn in_memory(capacity: usize) -> Result<Self, StoreError> {
        let name = ":memory:".to_owned();
        let conn = Connection::open_in_memory().map_err(|source| StoreError::Sqlite { path: name.clone(), source })?;
        Self::init(conn, name, capacity, false)
    }

    fn init(conn: Connection, path: String, capacity: usize, durable: bool) -> Result<Self, StoreError> {
        let mut s = Self { conn, path, capacity, len: 0, durable, synced: durable };
        let pragmas = if durable {
            "PRAGMA busy_timeout = 0; PRAGMA locking_mode = EXCLUSIVE; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
        } else {
            "PRAGMA journal_mode = MEMORY;"
        };
        s.conn.execute_batch(pragmas).map_err(|e| s.err(e))?;
        let version: i64 = s.conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(|e| s.err(e))?;
        if version > FORMAT {
            return Err(s.corrupt(format!("written by a newer Vizora (format {version}, this one reads {FORMAT})")));
        }
        s.conn.execute_batch(SCHEMA).map_err(|e| s.err(e))?;
        s.conn.pragma_update(None, "user_version", FORMAT).map_err(|e| s.err(e))?;
        let len: i64 = s.conn.query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get(0)).map_err(|e| s.err(e))?;
        s.len = usize::try_from(len).unwrap_or(usize::MAX);
        Ok(s)
    }

    /// Makes the next commits synced (`true`) or not.
    fn sync(&mut self, full: bool) -> Result<(), StoreError> {
        if self.durable && self.synced != full {
            let mode = if full { "FULL" } else { "NORMAL" };
            self.conn.pragma_update(None, "synchronous", mode).map_err(|e| self.err(e))?;
            self.synced = full;
        }
        Ok(())
    }

    fn err(&self, source: rusqlite::Error) -> StoreError {
        let busy = matches!(source.sqlite_error_code(), Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked));
        if busy {
            StoreError::Locked { path: self.path.clone() }
        } else {
            StoreError::Sqlite { path: self.path.clone(), source }
        }
    }

    fn corrupt(&self, what: String) -> StoreError {
        StoreError::Corrupt { path: self.path.clone(), what }
    }

    /// Where it lives (`:memory:` for [`Self::in_memory`]).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Mutations in the outbox.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the outbox is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Most mutations the outbox holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Queues one mutation; it is on disk when this returns `Ok`.
    pub fn push(&mut self, q: &QueuedMutation) -> Result<(), StoreError> {
        match self.push_all(std::slice::from_ref(q))? {
            0 => Err(StoreError::Full { capacity: self.capacity }),
            _ => Ok(()),
        }
    }

    /// Queues as many of `items`, in order, as fit, in one transaction;
    /// returns how many (the rest did not fit and are not queued). Fails as a
    /// whole, queueing none, on a disk error or an id already queued.
    pub fn push_all(&mut self, items: &[QueuedMutation]) -> Result<usize, StoreError> {
        let fit = items.len().min(self.capacity.saturating_sub(self.len));
        if fit == 0 {
            return Ok(0);
        }
        self.sync(true)?;
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(|source| StoreError::Sqlite { path: path.clone(), source })?;
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO outbox (mutation_id, mutation, org, role, sub, new_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(|source| StoreError::Sqlite { path: path.clone(), source })?;
            for q in &items[..fit] {
                let json = serde_json::to_string(&q.mutation)
                    .map_err(|e| StoreError::Corrupt { path: path.clone(), what: format!("mutation: {e}") })?;
                let c = &q.ctx;
                insert
                    .execute(params![q.mutation.mutation_id, json, c.org, c.role.as_str(), c.sub, c.new_id])
                    .map_err(|source| match source.sqlite_error_code() {
                        Some(ErrorCode::ConstraintViolation) => StoreError::DuplicateId(q.mutation.mutation_id.clone()),
                        _ => StoreError::Sqlite { path: path.clone(), source },
                    })?;
            }
        }
        tx.commit().map_err(|e| self.err(e))?;
        self.len += fit;
        Ok(fit)
    }

    /// Removes a decided mutation; `false` when it was not queued. Not
    /// synced on its own (see the module docs).
    pub fn remove(&mut self, mutation_id: &str) -> Result<bool, StoreError> {
        self.sync(false)?;
        let n =
            self.conn.execute("DELETE FROM outbox WHERE mutation_id = ?1", [mutation_id]).map_err(|e| self.err(e))?;
        self.len = self.len.saturating_sub(n);
        Ok(n > 0)
    }

    /// Every queued mutation, in the order it was made.
    pub fn pending(&self) -> Result<Vec<QueuedMutation>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT mutation, org, role, sub, new_id FROM outbox ORDER BY ord")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get(1)?, r.get::<_, String>(2)?, r.get(3)?, r.get(4)?)))
            .map_err(|e| self.err(e))?;
        let mut out = Vec::with_capacity(self.len);
        for row in rows {
            let (json, org, role, sub, new_id) = row.map_err(|e| self.err(e))?;
            let mutation = serde_json::from_str::<serde_json::Value>(&json)
                .map_err(|e| e.to_string())
                .and_then(|v| Mutation::decode(&v).map_err(|e| e.to_string()))
                .map_err(|e| self.corrupt(format!("outbox mutation: {e}")))?;
            let role = serde_json::from_value::<Role>(serde_json::Value::String(role))
                .map_err(|e| self.corrupt(format!("outbox role: {e}")))?;
            out.push(QueuedMutation { mutation, ctx: ApplyCtx { org, role, sub, new_id } });
        }
        Ok(out)
    }

    /// Replaces the stored confirmed state with `entities` at `position`
    /// (not synced on its own).
    pub fn save_confirmed(
        &mut self,
        position: &Position,
        as_of_ms: u64,
        entities: impl IntoIterator<Item = impl Borrow<Entity>>,
    ) -> Result<(), StoreError> {
        self.write_confirmed(position, as_of_ms, true, entities, std::iter::empty::<&EntityKey>())
    }

    /// Moves the stored confirmed state to `position`: writes `upserts`,
    /// deletes `removed`, leaves every other entity as stored (not synced on its own).
    pub fn update_confirmed<'a>(
        &mut self,
        position: &Position,
        as_of_ms: u64,
        upserts: impl IntoIterator<Item = impl Borrow<Entity>>,
        removed: impl IntoIterator<Item = &'a EntityKey>,
    ) -> Result<(), StoreError> {
        self.write_confirmed(position, as_of_ms, false, upserts, removed)
    }

    fn write_confirmed<'a>(
        &mut self,
        position: &Position,
        as_of_ms: u64,
        replace: bool,
        upserts: impl IntoIterator<Item = impl Borrow<Entity>>,
        removed: impl IntoIterator<Item = &'a EntityKey>,
    ) -> Result<(), StoreError> {
        self.sync(false)?;
        let path = self.path.clone();
        let sql = |source| StoreError::Sqlite { path: path.clone(), source };
        let tx = self.conn.transaction().map_err(sql)?;
        if replace {
            tx.execute("DELETE FROM confirmed_entities", []).map_err(sql)?;
        }
        {
            let mut put = tx
                .prepare_cached("INSERT OR REPLACE INTO confirmed_entities (kind, id, json) VALUES (?1, ?2, ?3)")
                .map_err(sql)?;
            for e in upserts {
                let e = e.borrow();
                let json = serde_json::to_string(e)
                    .map_err(|err| StoreError::Corrupt { path: path.clone(), what: format!("entity: {err}") })?;
                put.execute(params![e.kind().as_str(), e.id(), json]).map_err(sql)?;
            }
            let mut del =
                tx.prepare_cached("DELETE FROM confirmed_entities WHERE kind = ?1 AND id = ?2").map_err(sql)?;
            for (kind, id) in removed {
                del.execute(params![kind.as_str(), id]).map_err(sql)?;
            }
        }
        let seq = i64::try_from(position.seq)
            .map_err(|_| StoreError::Corrupt { path: path.clone(), what: "seq out of range".into() })?;
        let as_of = i64::try_from(as_of_ms).unwrap_or(i64::MAX);
        tx.execute(
            "INSERT OR REPLACE INTO confirmed_position (id, epoch, seq, as_of_ms) VALUES (0, ?1, ?2, ?3)",
            params![position.epoch, seq, as_of],
        )
        .map_err(sql)?;
        tx.commit().map_err(|e| self.err(e))
    }

    /// The stored confirmed state, if one was ever saved.
    pub fn load_confirmed(&self) -> Result<Option<ConfirmedState>, StoreError> {
        let pos = self
            .conn
            .query_row("SELECT epoch, seq, as_of_ms FROM confirmed_position WHERE id = 0", [], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
            })
            .optional()
            .map_err(|e| self.err(e))?;
        let Some((epoch, seq, as_of)) = pos else { return Ok(None) };
        let mut stmt = self.conn.prepare("SELECT kind, id, json FROM confirmed_entities").map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))
            .map_err(|e| self.err(e))?;
        let mut entities = Vec::new();
        for row in rows {
            let (kind, id, json) = row.map_err(|e| self.err(e))?;
            let kind = serde_json::from_value::<EntityKind>(serde_json::Value::String(kind))
                .map_err(|e| self.corrupt(format!("entity kind: {e}")))?;
            let entity =
                Entity::from_json(kind, &json).map_err(|e| self.corrupt(format!("{} `{id}`: {e}", kind.as_str())))?;
            entities.push(entity);
        }
        entities.sort_by(|a, b| (a.kind(), a.id()).cmp(&(b.kind(), b.id())));
        Ok(Some(ConfirmedState {
            position: Position { epoch, seq: u64::try_from(seq).unwrap_or(0) },
            as_of_ms: u64::try_from(as_of).unwrap_or(0),
            entities,
        }))
    }
}

#[cfg(test)]
mod tests;
