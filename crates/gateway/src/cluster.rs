//! Several gateway nodes on NATS JetStream (`nats` in the config).
//!
//! Each org's log is one subject of one stream (`vizora.log.<org>`), one
//! message per batch a node wrote: its entries with their seqs, the
//! mutation outcomes it decided, removals and player side effects. A node
//! writes a batch only if the org's last message is still the one its state
//! was built on (`Nats-Expected-Last-Subject-Sequence`), so the log stays
//! gap-free with the same `epoch:seq` everywhere; when another node wrote
//! first the batch is refused whole, and the node catches up and decides
//! again (`sequencer/shared.rs`). A change is acknowledged only once
//! JetStream has it (R3 by default: a majority of the NATS nodes).
//!
//! Every node follows the whole stream with an ordered consumer and applies
//! what the others wrote. Its `--data-dir` holds a copy of the log and state
//! (SQLite, the single-node schema): reads, replays and snapshots are served
//! from it, and after a restart the node reads the stream only from where
//! its copy ends. The copy can be deleted; it is rebuilt from the stream and
//! the org checkpoints (an object store beside it).

use std::time::Duration;

use async_nats::jetstream::{self, context::PublishErrorKind, stream::StorageType};
use futures_util::StreamExt;

use crate::config::NatsConfig;
use crate::sequencer::{Cmd, SequencerHandle};
pub use crate::shared_log::{LiveDevice, LiveRelay, Relay, SharedBatch};
use crate::store::{LogRead, LogStore, OrgBatch, SqliteStore, StoreError, StoredOrg, Unwritten};

/// Subjects of the org logs: `vizora.log.<org>`.
const SUBJECT_PREFIX: &str = "vizora.log.";
/// Subjects of the live relay between nodes (core NATS, not stored).
const LIVE_PREFIX: &str = "vizora.live.";

/// The live relay over core NATS.
#[derive(Debug)]
pub struct NatsRelay {
    client: async_nats::Client,
    node: String,
}

impl Relay for NatsRelay {
    fn node(&self) -> &str {
        &self.node
    }

    fn publish(&self, org: &str, payload: Vec<u8>) {
        let client = self.client.clone();
        let subject = format!("{LIVE_PREFIX}{}", token(org));
        tokio::spawn(async move {
            if let Err(e) = client.publish(subject, payload.into()).await {
                tracing::debug!(cause = %e, "live relay not sent");
            }
        });
    }
}

/// Hands every other node's live relay to the sequencer (on its bounded
/// lane: a relay that finds it full is dropped, the next one follows in a second).
pub async fn follow_live(nats: Nats, seq: SequencerHandle, stop: tokio_util::sync::CancellationToken) {
    loop {
        match nats.client.subscribe(format!("{LIVE_PREFIX}>")).await {
            Ok(mut sub) => loop {
                let m = tokio::select! {
                    m = sub.next() => m,
                    () = stop.cancelled() => return,
                };
                let Some(m) = m else { break };
                let Some(org) = m.subject.as_str().strip_prefix(LIVE_PREFIX).and_then(org_of_token) else { continue };
                seq.send(Cmd::Live { org, payload: m.payload });
            },
            Err(e) => tracing::warn!(cause = %e, "cannot follow the live relay; trying again"),
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(500)) => {}
            () = stop.cancelled() => return,
        }
    }
}

/// Whether other nodes need `b`: entity writes of live fields, retention
/// and the decided-id cap are each node's own.
fn for_everyone(b: &OrgBatch) -> bool {
    !b.entries.is_empty() || !b.decided.is_empty() || !b.removed.is_empty()
}

/// Whether a refused write was refused because the org's log moved on
/// (servers since 2.12 answer with the "constant" variant of the code).
fn log_moved_on(e: &jetstream::context::PublishError) -> bool {
    use jetstream::ErrorCode;
    if e.kind() == PublishErrorKind::WrongLastSequence {
        return true;
    }
    let code = std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<jetstream::Error>())
        .map(jetstream::Error::error_code);
    matches!(code, Some(ErrorCode::STREAM_WRONG_LAST_SEQUENCE | ErrorCode::STREAM_WRONG_LAST_SEQUENCE_CONSTANT))
}

/// The subject of `org`'s log. Org ids that are not one subject token
/// (dots, wildcards, spaces, …) are written in hex after a `~`.
pub fn subject(org: &str) -> String {
    format!("{SUBJECT_PREFIX}{}", token(org))
}

/// `org` as one subject token.
fn token(org: &str) -> String {
    let plain = !org.is_empty() && org.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if plain {
        org.to_owned()
    } else {
        let hex: String = org.bytes().map(|b| format!("{b:02x}")).collect();
        format!("~{hex}")
    }
}

/// The org whose log `subject` is.
pub fn org_of(subject: &str) -> Option<String> {
    org_of_token(subject.strip_prefix(SUBJECT_PREFIX)?)
}

fn org_of_token(token: &str) -> Option<String> {
    // One subject per org: a token `token()` would not write is refused.
    decode_token(token).filter(|org| self::token(org) == token)
}

fn decode_token(token: &str) -> Option<String> {
    match token.strip_prefix('~') {
        None => Some(token.to_owned()),
        Some(hex) => {
            if hex.len() % 2 != 0 {
                return None;
            }
            let bytes: Option<Vec<u8>> =
                (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()).collect();
            String::from_utf8(bytes?).ok()
        }
    }
}

/// A connection to NATS with the log stream in place.
#[derive(Clone)]
pub struct Nats {
    client: async_nats::Client,
    js: jetstream::Context,
    stream: String,
    /// Checkpoints of org state, one object per org (`<stream>_CHECKPOINTS`).
    checkpoints: jetstream::object_store::ObjectStore,
    /// The epoch of every org log begun in this stream: made from the
    /// stream's creation time, so every node agrees on it before an org's
    /// first write, and a stream made anew starts new epochs.
    epoch: String,
}

/// Connects to NATS and makes sure the log stream exists (file storage,
/// `replicas` copies).
pub async fn connect(cfg: &NatsConfig) -> anyhow::Result<Nats> {
    use anyhow::Context as _;
    let mut opts = async_nats::ConnectOptions::new()
        .name("vizora-gateway")
        .retry_on_initial_connect()
        .connection_timeout(Duration::from_secs(5))
        .require_tls(cfg.tls_required);
    if let Some(creds) = &cfg.creds {
        opts = opts.credentials_file(creds).await.with_context(|| format!("nats.creds: {}", creds.display()))?;
    }
    if let Some(ca) = &cfg.tls_ca {
        opts = opts.add_root_certificates(ca.clone());
    }
    let servers: Vec<async_nats::ServerAddr> = cfg
        .servers
        .iter()
        .map(|s| s.parse().with_context(|| format!("nats.servers: `{s}` is not a NATS URL")))
        .collect::<anyhow::Result<_>>()?;
    let client = opts.connect(servers).await.context("cannot reach NATS")?;
    let js = jetstream::ContextBuilder::new().timeout(Duration::from_millis(cfg.ack_timeout_ms)).build(client.clone());
    let config = jetstream::stream::Config {
        name: cfg.stream.clone(),
        subjects: vec![format!("{SUBJECT_PREFIX}>")],
        storage: StorageType::File,
        num_replicas: cfg.replicas,
        // No age limit: an org's messages go when a checkpoint covers them
        // (`save_checkpoint` purges them), never before.
        max_age: Duration::ZERO,
        allow_direct: true,
        ..Default::default()
    };
    // Creating the stream can race with another node, and waits for a
    // JetStream leader while the cluster forms: retry for a while.
    let mut tries = 0;
    let mut stream = loop {
        match js.get_or_create_stream(config.clone()).await {
            Ok(s) => break s,
            Err(e) if tries < 30 => {
                tries += 1;
                tracing::info!(cause = %e, "waiting for JetStream");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(e).context("cannot create the JetStream stream"),
        }
    };
    let created = stream.info().await.context("cannot read the JetStream stream")?.created;
    let bucket = format!("{}_CHECKPOINTS", cfg.stream);
    let checkpoints = match js.get_object_store(&bucket).await {
        Ok(b) => b,
        Err(_) => js
            .create_object_store(jetstream::object_store::Config {
                bucket: bucket.clone(),
                description: Some("vizora-gateway: org state checkpoints".into()),
                num_replicas: cfg.replicas,
                storage: StorageType::File,
                ..Default::default()
            })
            .await
            .with_context(|| format!("cannot create the object store {bucket}"))?,
    };
    let nanos = created.unix_timestamp_nanos();
    let epoch = ulid::Ulid::from_parts((nanos / 1_000_000) as u64, nanos as u128).to_string();
    Ok(Nats { client, js, stream: cfg.stream.clone(), checkpoints, epoch })
}

impl std::fmt::Debug for Nats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nats").field("stream", &self.stream).field("epoch", &self.epoch).finish_non_exhaustive()
    }
}

impl Nats {
    /// The live relay of this node, named `node`.
    pub fn relay(&self, node: String) -> NatsRelay {
        NatsRelay { client: self.client.clone(), node }
    }

    /// The stream's last sequence (0 when empty).
    pub async fn last_seq(&self) -> anyhow::Result<u64> {
        let mut stream = self.js.get_stream(&self.stream).await?;
        Ok(stream.info().await?.state.last_sequence)
    }
}

/// The store of a node among several: JetStream for what must survive,
/// the local SQLite copy for everything it serves.
pub struct ClusterStore {
    copy: SqliteStore,
    nats: Nats,
    rt: tokio::runtime::Handle,
    /// How far the shared log was applied, and what the copy says of it.
    followed: u64,
    followed_written: u64,
    /// The copy failed a write: it is behind the shared log.
    copy_failed: bool,
}

impl std::fmt::Debug for ClusterStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterStore")
    }
}

impl ClusterStore {
    /// Wraps a node's local copy; `rt` runs the NATS calls.
    pub fn new(copy: SqliteStore, nats: Nats, rt: tokio::runtime::Handle) -> Result<Self, StoreError> {
        let followed = copy.followed_pos()?;
        Ok(Self { copy, nats, rt, followed, followed_written: followed, copy_failed: false })
    }

    /// How far the local copy followed the shared log.
    pub fn followed_pos(&self) -> u64 {
        self.followed
    }

    /// Publishes the batches other nodes need, all at once; fills in their
    /// `shared_seq`, or says which were refused and why.
    fn publish(&self, batches: &mut [OrgBatch]) -> Result<(), Unwritten> {
        let js = &self.nats.js;
        let todo: Vec<usize> =
            (0..batches.len()).filter(|&i| batches[i].shared_seq.is_none() && for_everyone(&batches[i])).collect();
        if todo.is_empty() {
            return Ok(());
        }
        let outcomes = self.rt.block_on(async {
            let mut acks = Vec::with_capacity(todo.len());
            for &i in &todo {
                let b = &batches[i];
                let payload = match serde_json::to_vec(&SharedBatch::of(b)) {
                    Ok(p) => p,
                    Err(e) => {
                        acks.push(Err(e.to_string()));
                        continue;
                    }
                };
                let publish = jetstream::message::PublishMessage::build()
                    .payload(payload.into())
                    .expected_last_subject_sequence(b.shared_after);
                acks.push(js.send_publish(subject(&b.org), publish).await.map_err(|e| e.to_string()));
            }
            let mut out = Vec::with_capacity(acks.len());
            for a in acks {
                out.push(match a {
                    Ok(fut) => match fut.await {
                        Ok(ack) => Ok(Some(ack.sequence)),
                        Err(e) if log_moved_on(&e) => Ok(None),
                        Err(e) => Err(e.to_string()),
                    },
                    Err(e) => Err(e),
                });
            }
            out
        });
        let mut unwritten = Unwritten { cause: StoreError::Injected, failed: Vec::new(), conflicts: Vec::new() };
        let mut cause = None;
        for (&i, outcome) in todo.iter().zip(outcomes) {
            match outcome {
                Ok(Some(seq)) => batches[i].shared_seq = Some(seq),
                Ok(None) => unwritten.conflicts.push(batches[i].org.clone()),
                Err(e) => {
                    cause.get_or_insert(e);
                    unwritten.failed.push(batches[i].org.clone());
                }
            }
        }
        if unwritten.failed.is_empty() && unwritten.conflicts.is_empty() {
            return Ok(());
        }
        unwritten.cause = match cause {
            Some(e) => StoreError::Shared(e),
            None => StoreError::Shared("another node wrote first".into()),
        };
        Err(unwritten)
    }
}

impl LogStore for ClusterStore {
    fn load(&self, decided_max: usize) -> Result<Vec<StoredOrg>, StoreError> {
        self.copy.load(decided_max)
    }

    fn decided(&self, org: &str, client_id: &str, mutation_id: &str) -> Result<Option<(String, u64)>, StoreError> {
        self.copy.decided(org, client_id, mutation_id)
    }

    fn commit(&mut self, batches: &mut [OrgBatch]) -> Result<(), Unwritten> {
        let refused = self.publish(batches).err();
        let refused_org =
            |org: &str| refused.as_ref().is_some_and(|u| u.failed.iter().chain(&u.conflicts).any(|o| o == org));
        // What is in the shared log (or only this node's) goes to the copy.
        let keep = batches.iter().filter(|b| !(b.shared_seq.is_none() && refused_org(&b.org)));
        if let Err(e) = self.copy.write(keep) {
            tracing::error!(cause = %e, "the local copy of the log failed a write; it is behind the shared log");
            self.copy_failed = true;
        }
        // Once the copy missed a write, a restart must read from before it.
        if self.followed > self.followed_written && !self.copy_failed {
            match self.copy.set_followed(self.followed) {
                Ok(()) => self.followed_written = self.followed,
                Err(e) => tracing::warn!(cause = %e, "cannot record how far the shared log was followed"),
            }
        }
        match refused {
            Some(u) => Err(u),
            None => Ok(()),
        }
    }

    fn read_log(&self, org: &str, after: u64, limit: usize) -> Result<Vec<(u64, String)>, StoreError> {
        self.copy.read_log(org, after, limit)
    }

    fn oldest_seq(&self, org: &str) -> Result<Option<u64>, StoreError> {
        self.copy.oldest_seq(org)
    }

    fn prune(&mut self, org: &str, below_seq: u64, before_ts_ms: u64) -> Result<usize, StoreError> {
        self.copy.prune(org, below_seq, before_ts_ms)
    }

    fn prune_decided(&mut self, before_ms: u64) -> Result<usize, StoreError> {
        self.copy.prune_decided(before_ms)
    }

    /// JetStream answers for the stream (a leader and a quorum), and the copy writes.
    fn probe(&mut self) -> Result<(), StoreError> {
        let js = self.nats.js.clone();
        let name = self.nats.stream.clone();
        self.rt
            .block_on(async move {
                let mut s = js.get_stream(&name).await.map_err(|e| e.to_string())?;
                s.info().await.map(|_| ()).map_err(|e| e.to_string())
            })
            .map_err(StoreError::Shared)?;
        self.copy.probe()
    }

    fn reader(&self) -> Result<Box<dyn LogRead>, StoreError> {
        self.copy.reader()
    }

    fn save_checkpoint(&mut self, org: &str, checkpoint: Vec<u8>, shared_seq: u64) {
        let nats = self.nats.clone();
        let org = org.to_owned();
        self.rt.spawn(async move {
            let name = token(&org);
            if let Err(e) = nats.checkpoints.put(name.as_str(), &mut checkpoint.as_slice()).await {
                tracing::warn!(org, cause = %e, "checkpoint not saved");
                return;
            }
            // The org's messages before the checkpoint are no longer needed.
            let purged = match nats.js.get_stream(&nats.stream).await {
                Ok(stream) => stream
                    .purge()
                    .filter(subject(&org))
                    .sequence(shared_seq)
                    .await
                    .map(|p| p.purged)
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match purged {
                Ok(n) => tracing::info!(org, shared_seq, purged = n, "checkpoint saved"),
                Err(e) => tracing::warn!(org, cause = %e, "checkpoint saved, old messages not purged"),
            }
        });
    }

    fn load_checkpoint(&self, org: &str) -> Result<Option<StoredOrg>, StoreError> {
        use tokio::io::AsyncReadExt;
        let nats = self.nats.clone();
        let name = token(org);
        let bytes = self.rt.block_on(async move {
            let mut object = match nats.checkpoints.get(name.as_str()).await {
                Ok(o) => o,
                Err(e) if e.kind() == jetstream::object_store::GetErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e.to_string()),
            };
            let mut buf = Vec::new();
            object.read_to_end(&mut buf).await.map_err(|e| e.to_string())?;
            Ok(Some(buf))
        });
        match bytes.map_err(StoreError::Shared)? {
            None => Ok(None),
            Some(b) => serde_json::from_slice::<crate::shared_log::Checkpoint>(&b)
                .map_err(|e| e.to_string())
                .and_then(|cp| cp.into_stored(org))
                .map(Some)
                .map_err(|message| StoreError::Corrupt { row: format!("checkpoint of {org}"), message }),
        }
    }

    fn reset_org(&mut self, org: &StoredOrg) -> Result<(), StoreError> {
        self.copy.replace_org(org)
    }

    fn followed(&mut self, pos: u64) {
        self.followed = self.followed.max(pos);
    }

    fn healthy(&self) -> bool {
        !self.copy_failed
    }

    fn new_epoch(&self) -> Option<String> {
        Some(self.nats.epoch.clone())
    }
}

/// Follows the whole stream from `from` (inclusive) and hands each message
/// to the sequencer, until `stop`. An ordered consumer: no acks, and it
/// recreates itself on a gap; on an error it starts again from the next
/// sequence it has not handed over.
pub async fn follow(nats: Nats, from: u64, seq: SequencerHandle, stop: tokio_util::sync::CancellationToken) {
    let mut next = from.max(1);
    loop {
        let run = follow_from(&nats, &mut next, &seq);
        let err = tokio::select! {
            r = run => r.err(),
            (applied, last) = stalled(&nats, &seq) => {
                Some(anyhow::anyhow!("no message applied for {} s while the log is at {last} and this node at {applied}", 3 * STALL_CHECK.as_secs()))
            }
            () = stop.cancelled() => return,
        };
        if let Some(e) = err {
            tracing::warn!(cause = %e, next, "following the shared log failed; trying again");
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(500)) => {}
            () = stop.cancelled() => return,
        }
    }
}

/// How often the follower's progress is checked against the log's end.
const STALL_CHECK: Duration = Duration::from_secs(2);

/// Resolves once the log has moved past what this node applied and three
/// checks in a row saw nothing more applied: a consumer that stopped
/// delivering without an error (the follower then starts a new one). Never
/// while NATS cannot say where the log ends.
async fn stalled(nats: &Nats, seq: &SequencerHandle) -> (u64, u64) {
    use std::sync::atomic::Ordering::Relaxed;
    let mut was = seq.shared.followed.load(Relaxed);
    let mut still = 0;
    loop {
        tokio::time::sleep(STALL_CHECK).await;
        let applied = seq.shared.followed.load(Relaxed);
        let last = nats.last_seq().await.unwrap_or(0);
        still = if applied < last && applied == was { still + 1 } else { 0 };
        was = applied;
        if still >= 3 {
            return (applied, last);
        }
    }
}

async fn follow_from(nats: &Nats, next: &mut u64, seq: &SequencerHandle) -> anyhow::Result<()> {
    use jetstream::consumer::{DeliverPolicy, pull::OrderedConfig};
    let stream = nats.js.get_stream(&nats.stream).await?;
    let consumer = stream
        .create_consumer(OrderedConfig {
            filter_subject: format!("{SUBJECT_PREFIX}>"),
            deliver_policy: DeliverPolicy::ByStartSequence { start_sequence: *next },
            ..Default::default()
        })
        .await?;
    let mut messages = consumer.messages().await?;
    while let Some(m) = messages.next().await {
        let m = m?;
        let stream_seq = m.info().map_err(|e| anyhow::anyhow!("{e}"))?.stream_sequence;
        match org_of(m.subject.as_str()) {
            Some(org) => {
                if !seq.send(Cmd::Shared { org, seq: stream_seq, payload: m.payload.clone() }) {
                    anyhow::bail!("the sequencer stopped");
                }
            }
            None => tracing::warn!(subject = %m.subject, "message on an unknown subject in the log stream: skipped"),
        }
        *next = stream_seq + 1;
    }
    anyhow::bail!("the consumer ended")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn org_ids_map_to_one_subject_token_and_back() {
        for org in ["acme", "a-b_c9", "with.dot", "sp ace", "*", ">", "ünï", "a~b"] {
            let s = subject(org);
            let token = s.strip_prefix(SUBJECT_PREFIX).expect("prefix");
            assert!(!token.contains(['.', '*', '>', ' ']), "{org} → {s}");
            assert_eq!(org_of(&s).as_deref(), Some(org), "{s}");
        }
        assert_eq!(org_of("vizora.log.~zz"), None);
        assert_eq!(org_of("vizora.log.~61"), None, "`a` has one subject, not its hex too");
        assert_eq!(org_of("other.acme"), None);
    }
}
