//! A model server (the shared `apply` deciding against its own state and
//! log, remembering decided ids, retaining a bounded log, resetting its
//! epoch) and one client engine, driven through random interleavings of
//! local and remote mutations, server-made events, acks in either order,
//! lost and repeated batches, disconnects and resubscribes, and crashes:
//! the client keeps its outbox and, now and then, its confirmed state in a
//! [`vizora_sync::ClientStore`] file; a crash drops the engine and the store
//! handle, and the restart restores from the file and resubscribes.
//!
//! After everything is delivered the client's view equals the server's
//! state and every local mutation was decided exactly once: refused
//! locally, confirmed applied, or rolled back, as the server decided it.
//! After every step the incrementally kept view equals a from-scratch
//! replay and `Changes::changed` lists exactly what moved.

mod disk;
mod server;
mod spec;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use proptest::prelude::*;
use vizora_protocol::{
    AlertState, ApplyCtx, EntityKind, Event, LogEntry, Mutation, MutationAck, OrgState, Position, RejectCode, Role,
    apply,
};
use vizora_sync::{AckOutcome, Changes, SyncEngine};

use disk::Disk;
use server::{Down, Server, alert};
use spec::{Spec, build, spec};

const ORG: &str = "o1";
const ME: &str = "wall-1";
const OTHER: &str = "wall-2";

#[derive(Debug, Clone)]
enum Step {
    Local(Spec),
    Remote(Spec),
    ServerEvent(u8, u8),
    /// The server handles the next mutation sent: ack first or events first, maybe rate-limited.
    Process {
        ack_first: bool,
        rate_limited: bool,
    },
    Deliver,
    /// The last delivered `events` batch arrives again.
    Redeliver,
    /// The next non-empty `events` batch is lost (only if a later one will reveal the gap).
    DropNext,
    Disconnect,
    Reconnect,
    /// The server loses its log: a new epoch. A restart drops the client;
    /// otherwise the next entry, in the new epoch, tells it.
    ResetLog {
        restart: bool,
    },
    /// The client saves its confirmed state: all of it, or what moved since the last save.
    Save {
        whole: bool,
    },
    /// The client process dies and restarts from its disk.
    Crash,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        12 => spec().prop_map(Step::Local),
        6 => spec().prop_map(Step::Remote),
        4 => (0u8..4, any::<u8>()).prop_map(|(k, v)| Step::ServerEvent(k, v)),
        12 => (any::<bool>(), prop::bool::weighted(0.1)).prop_map(|(ack_first, rate_limited)| Step::Process { ack_first, rate_limited }),
        16 => Just(Step::Deliver),
        2 => Just(Step::Redeliver),
        2 => Just(Step::DropNext),
        2 => Just(Step::Disconnect),
        4 => Just(Step::Reconnect),
        1 => any::<bool>().prop_map(|restart| Step::ResetLog { restart }),
        3 => any::<bool>().prop_map(|whole| Step::Save { whole }),
        2 => Just(Step::Crash),
    ]
}

#[derive(Default)]
struct Tally {
    refused_locally: BTreeSet<String>,
    confirmed: BTreeMap<String, u32>,
    rolled_back: BTreeMap<String, (u32, Option<RejectCode>)>,
}

struct World {
    server: Server,
    engine: SyncEngine,
    role: Role,
    connected: bool,
    uplink: VecDeque<Mutation>,
    downlink: VecDeque<Down>,
    last_events: Option<(String, Vec<LogEntry>)>,
    disk: Disk,
    /// Local mutations the engine took, in the order they were made.
    sent: Vec<String>,
    tally: Tally,
    next: u64,
    locals: usize,
}

impl World {
    fn ctx(&self, new_id: String) -> ApplyCtx {
        ApplyCtx { org: ORG.into(), role: self.role, sub: "me".into(), new_id }
    }

    fn broadcast(&mut self, entries: Vec<LogEntry>) {
        if self.connected && !entries.is_empty() {
            self.downlink.push_back(Down::Events(self.server.epoch(), entries));
        }
    }

    /// Tallies what the engine decided; decided mutations leave the disk.
    fn record(&mut self, changes: &Changes) {
        for id in &changes.confirmed {
            *self.tally.confirmed.entry(id.clone()).or_default() += 1;
            self.disk.remove(id);
        }
        for rb in &changes.rollbacks {
            let e = self.tally.rolled_back.entry(rb.mutation.mutation_id.clone()).or_default();
            (e.0, e.1) = (e.0 + 1, rb.code);
            self.disk.remove(&rb.mutation.mutation_id);
        }
    }

    fn decided(&self, id: &str) -> bool {
        self.tally.confirmed.contains_key(id) || self.tally.rolled_back.contains_key(id)
    }

    fn step(&mut self, step: &Step, allow_rate_limit: bool) -> Option<Changes> {
        match step {
            Step::Local(s) => {
                self.next += 1;
                self.locals += 1;
                let m = build(s, self.engine.view(), ME, format!("m{}", self.next));
                let ctx = self.ctx(format!("local{}", self.next));
                match self.engine.mutate(m.clone(), ctx) {
                    Ok(changes) => {
                        self.disk.push(self.engine.pending().last().expect("just queued"));
                        self.sent.push(m.mutation_id.clone());
                        if self.connected {
                            self.uplink.push_back(m);
                        }
                        return Some(changes);
                    }
                    Err(_) => drop(self.tally.refused_locally.insert(m.mutation_id)),
                }
            }
            Step::Remote(s) => {
                self.next += 1;
                let m = build(s, &self.server.state, OTHER, format!("r{}", self.next));
                let (_, entries) = self.server.mutate(&m, Role::Admin, "them", false);
                self.broadcast(entries);
            }
            Step::ServerEvent(k, v) => {
                let entries = self.server.event(*k, *v).into_iter().collect();
                self.broadcast(entries);
            }
            Step::Process { ack_first, rate_limited } => {
                let m = self.uplink.pop_front()?;
                let (ack, entries) = self.server.mutate(&m, self.role, "me", *rate_limited && allow_rate_limit);
                let ack = Down::Ack(m.mutation_id.clone(), ack);
                if *ack_first {
                    self.downlink.push_back(ack);
                    self.broadcast(entries);
                } else {
                    self.broadcast(entries);
                    self.downlink.push_back(ack);
                }
            }
            Step::Deliver => return self.deliver(),
            Step::Redeliver => {
                let (epoch, items) = self.last_events.clone()?;
                self.downlink.push_back(Down::Events(epoch, items));
            }
            Step::DropNext => {
                // Lost only where a later batch will reveal it, as a live log would.
                let last = |d: &Down| match d {
                    Down::Events(epoch, items) => items.last().map(|e| (epoch.clone(), e.seq)),
                    _ => None,
                };
                let first = self.downlink.iter().position(|d| last(d).is_some())?;
                let (epoch, seq) = last(&self.downlink[first])?;
                // A later batch reveals the loss if it is further on in the same epoch, or in the
                // server's current epoch when the lost one was older. A stale batch of an old epoch
                // (a redelivery) reveals nothing: the client would rightly skip it.
                let now = self.server.epoch();
                let revealed = self
                    .downlink
                    .iter()
                    .skip(first + 1)
                    .filter_map(last)
                    .any(|(e, s)| (e == epoch && s > seq) || (e != epoch && e == now));
                if revealed {
                    self.downlink.remove(first);
                }
            }
            Step::Disconnect => {
                self.connected = false;
                self.uplink.clear();
                self.downlink.clear();
            }
            Step::Reconnect if !self.connected => {
                self.connected = true;
                let answer = self.server.subscribe(self.engine.position());
                self.downlink.push_back(answer);
                self.uplink.extend(self.engine.unacked().cloned());
            }
            Step::Reconnect => {}
            Step::ResetLog { restart } => {
                self.server.reset_log();
                if *restart {
                    return self.step(&Step::Disconnect, allow_rate_limit);
                }
                let raised = format!("reset{}", self.server.epoch);
                let entry = self.server.append(Event::AlertUpserted(alert(&raised, 1, AlertState::Open)));
                self.broadcast(vec![entry]);
            }
            Step::Save { whole } => self.disk.save(&self.engine, *whole),
            Step::Crash => {
                self.step(&Step::Disconnect, allow_rate_limit);
                self.engine = self.disk.crash_and_restore();
                let pending: Vec<&str> =
                    self.engine.pending().iter().map(|p| p.mutation().mutation_id.as_str()).collect();
                let undecided: Vec<&str> =
                    self.sent.iter().filter(|id| !self.decided(id)).map(String::as_str).collect();
                assert_eq!(pending, undecided, "every undecided mutation is back, in order");
                return self.step(&Step::Reconnect, allow_rate_limit);
            }
        }
        None
    }

    fn deliver(&mut self) -> Option<Changes> {
        let changes = match self.downlink.pop_front()? {
            Down::Events(epoch, items) => {
                let changes = self.engine.apply_entries(&epoch, &items);
                self.last_events = Some((epoch, items));
                if changes.resubscribe.is_some() {
                    let answer = self.server.subscribe(self.engine.position());
                    self.downlink.push_back(answer);
                }
                changes
            }
            Down::Snapshot(epoch, seq, items) => self.engine.apply_snapshot(&epoch, seq, items),
            Down::Ack(id, ack) => match self.engine.ack(&id, &ack) {
                AckOutcome::Confirmed(c) | AckOutcome::RolledBack(c) => c,
                AckOutcome::Retry => {
                    let m = self
                        .engine
                        .pending()
                        .iter()
                        .find(|p| p.mutation().mutation_id == id)
                        .map(|p| p.mutation().clone());
                    self.uplink.extend(m);
                    Changes::default()
                }
                AckOutcome::Waiting | AckOutcome::Unknown => Changes::default(),
            },
        };
        self.record(&changes);
        Some(changes)
    }
}

/// The view rebuilt from scratch: confirmed state plus every pending mutation that applies.
fn replayed(engine: &SyncEngine) -> OrgState {
    let mut view = engine.confirmed().clone();
    for p in engine.pending() {
        if let Ok(Some(e)) = apply(&view, p.mutation(), p.ctx()).map(|a| a.event) {
            view.apply_event(&e);
        }
    }
    view
}

fn changed_keys(a: &OrgState, b: &OrgState) -> Vec<(EntityKind, String)> {
    let keys: BTreeSet<(EntityKind, String)> =
        a.entities().chain(b.entities()).map(|e| (e.kind(), e.id().to_owned())).collect();
    keys.into_iter().filter(|(k, id)| !a.same_at(b, *k, id)).collect()
}

fn run(steps: &[Step], role: Role, retain: usize) -> Result<(), TestCaseError> {
    let mut w = World {
        server: Server::new(retain),
        engine: SyncEngine::new(),
        role,
        connected: false,
        uplink: VecDeque::new(),
        downlink: VecDeque::new(),
        last_events: None,
        disk: Disk::new(),
        sent: Vec::new(),
        tally: Tally::default(),
        next: 0,
        locals: 0,
    };
    let check = |w: &World, before: &OrgState, changes: Option<Changes>| -> Result<(), TestCaseError> {
        prop_assert_eq!(w.engine.view(), &replayed(&w.engine), "incremental view = full replay");
        if let Some(c) = changes {
            prop_assert_eq!(c.changed, changed_keys(before, w.engine.view()), "Changes::changed is exactly what moved");
        }
        Ok(())
    };
    for s in steps {
        let before = w.engine.view().clone();
        let changes = w.step(s, true);
        check(&w, &before, changes)?;
    }
    // Deliver everything: reconnect, then drain both directions, no more rate limiting.
    let before = w.engine.view().clone();
    let changes = w.step(&Step::Reconnect, false);
    check(&w, &before, changes)?;
    for _ in 0..10_000 {
        let before = w.engine.view().clone();
        let changes = if !w.downlink.is_empty() {
            w.step(&Step::Deliver, false)
        } else if !w.uplink.is_empty() {
            w.step(&Step::Process { ack_first: false, rate_limited: false }, false)
        } else {
            break;
        };
        check(&w, &before, changes)?;
    }
    prop_assert!(w.downlink.is_empty() && w.uplink.is_empty(), "the drain ends");

    prop_assert_eq!(w.engine.position(), Some(&Position { epoch: w.server.epoch(), seq: w.server.head }));
    prop_assert!(w.engine.pending().is_empty(), "pending left: {:?}", w.engine.pending());
    prop_assert_eq!(w.engine.confirmed(), &w.server.state);
    prop_assert_eq!(w.engine.view(), &w.server.state);

    let t = &w.tally;
    prop_assert_eq!(
        t.refused_locally.len() + w.sent.len(),
        w.locals,
        "every local mutation was either sent or refused"
    );
    for id in &w.sent {
        let confirmed = t.confirmed.get(id).copied().unwrap_or(0);
        let rolled_back = t.rolled_back.get(id).map_or(0, |r| r.0);
        prop_assert_eq!(confirmed + rolled_back, 1, "{} decided exactly once", id);
        match w.server.decided.get(&(ME.to_owned(), id.clone())) {
            Some(MutationAck::Applied { .. }) => prop_assert_eq!(confirmed, 1, "{} applied on the server", id),
            Some(MutationAck::Rejected { code, .. }) => {
                let got = t.rolled_back.get(id).and_then(|r| r.1);
                prop_assert!(got.is_none() || got == Some(*code), "{} rolled back with the server's reason", id);
                prop_assert_eq!(rolled_back, 1);
            }
            other => prop_assert!(false, "{} was never decided: {:?}", id, other),
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn the_client_converges_on_the_server_and_decides_each_mutation_once(
        steps in prop::collection::vec(step(), 1..120),
        admin in any::<bool>(),
        retain in 2usize..40,
    ) {
        run(&steps, if admin { Role::Admin } else { Role::Operator }, retain)?;
    }
}
