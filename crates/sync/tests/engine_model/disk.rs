//! The client's disk: a [`ClientStore`] file holding the outbox (each
//! mutation from when it is made until the engine decides it) and the
//! confirmed state saved now and then, whole or as what moved since the
//! last save, as the client's state cache writes it. A crash drops the
//! engine and the store handle; the restart reopens the file and restores.

use std::path::{Path, PathBuf};

use tempfile::TempDir;
use vizora_protocol::{OrgState, Position};
use vizora_sync::{ClientStore, DEFAULT_OUTBOX_CAPACITY, Pending, QueuedMutation, SyncEngine};

use crate::changed_keys;

pub struct Disk {
    path: PathBuf,
    store: Option<ClientStore>,
    /// What the file holds as confirmed state, as far as the client knows.
    saved: Option<(Position, OrgState)>,
    saves: u64,
    _dir: TempDir,
}

/// A directory in memory where there is one: a process crash loses
/// nothing the page cache holds, and the outbox's fsync per mutation would
/// make the run tens of seconds on a busy disk instead of one or two.
fn scratch() -> TempDir {
    let shm = Path::new("/dev/shm");
    let dir = if shm.is_dir() { tempfile::tempdir_in(shm) } else { tempfile::tempdir() };
    dir.or_else(|_| tempfile::tempdir()).expect("tempdir")
}

impl Disk {
    pub fn new() -> Self {
        let dir = scratch();
        let path = dir.path().join("client.db");
        let store = ClientStore::open(&path, DEFAULT_OUTBOX_CAPACITY).expect("store opens");
        Disk { path, store: Some(store), saved: None, saves: 0, _dir: dir }
    }

    fn store(&mut self) -> &mut ClientStore {
        self.store.as_mut().expect("open between crashes")
    }

    /// Queues a mutation the engine took.
    pub fn push(&mut self, p: &Pending) {
        let q = QueuedMutation { mutation: p.mutation().clone(), ctx: p.ctx().clone() };
        self.store().push(&q).expect("queued on disk");
    }

    /// Drops a decided mutation; it must have been queued, and only once.
    pub fn remove(&mut self, mutation_id: &str) {
        let was_queued = self.store().remove(mutation_id).expect("removed from disk");
        assert!(was_queued, "{mutation_id} decided but not queued (decided twice?)");
    }

    /// Saves the engine's confirmed state: all of it, or what moved since the last save.
    pub fn save(&mut self, engine: &SyncEngine, whole: bool) {
        let Some(position) = engine.position().cloned() else { return };
        self.saves += 1;
        let (state, as_of_ms) = (engine.confirmed(), self.saves);
        let store = self.store.as_mut().expect("open between crashes");
        match self.saved.as_ref().filter(|_| !whole) {
            Some((_, before)) => {
                let keys = changed_keys(before, state);
                let (present, gone): (Vec<_>, Vec<_>) = keys.iter().partition(|(k, id)| state.contains(*k, id));
                let upserts = present.into_iter().filter_map(|(k, id)| state.get(*k, id));
                store.update_confirmed(&position, as_of_ms, upserts, gone).expect("saved");
            }
            None => store.save_confirmed(&position, as_of_ms, state.entities()).expect("saved"),
        }
        self.saved = Some((position, state.clone()));
    }

    /// The process dies and starts again: the store is reopened and an
    /// engine restored from what it holds.
    pub fn crash_and_restore(&mut self) -> SyncEngine {
        drop(self.store.take());
        let store = ClientStore::open(&self.path, DEFAULT_OUTBOX_CAPACITY).expect("store reopens after a crash");
        let confirmed = store.load_confirmed().expect("confirmed state loads");
        let pending = store.pending().expect("outbox loads");
        let expected = self.saved.as_ref().map(|(p, s)| (p.clone(), s.clone()));
        let got = confirmed.as_ref().map(|c| (c.position.clone(), OrgState::from_entities(c.entities.iter().cloned())));
        assert_eq!(got, expected, "the confirmed state comes back as last saved");
        self.store = Some(store);
        SyncEngine::restore(confirmed, pending)
    }
}
