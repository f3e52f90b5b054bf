//! Mutations (PROTOCOL.md §6): decide once with the shared
//! `vizora_protocol::apply`, log the change and `mutation.applied`,
//! remember the outcome, relay device commands.

use serde_json::json;
use std::sync::atomic::Ordering::Relaxed;
use vizora_protocol::apply::{ApplyCtx, apply};
use vizora_protocol::device::CommandKind;

use vizora_protocol::{Claims, Event, Mutation, MutationAck, MutationOp};

use super::Sequencer;
use super::org::{DecidedKey, Effect, duplicate};

impl Sequencer {
    /// Decides a mutation. The reply goes out after the batch is on disk.
    pub(crate) fn mutate(&mut self, claims: &Claims, m: Mutation) -> MutationAck {
        let now = self.now();
        let (failing, cap) = (self.store_failing, self.cfg.decided_per_org_max);
        let key = (m.client_id.clone(), m.mutation_id.clone());
        let counters = self.counters.clone();
        // A known decided id answers `duplicate` even while the store fails.
        if let Some(dup) = self.decided_before(&claims.org, &key) {
            if matches!(dup, MutationAck::Duplicate { .. }) {
                counters.mutations_duplicate.fetch_add(1, Relaxed);
            }
            return dup;
        }
        let org = self.org(&claims.org);
        if failing {
            counters.refused_while_failing.fetch_add(1, Relaxed);
            return super::commit::unavailable();
        }
        let ctx = ApplyCtx {
            org: claims.org.clone(),
            role: claims.role,
            sub: claims.sub.clone(),
            new_id: ulid::Ulid::generate().to_string().to_lowercase(),
        };
        let reply = match apply(&org.state, &m, &ctx) {
            Ok(applied) => {
                let (kind, id, rev) = (applied.kind, applied.id.clone(), applied.rev);
                let mut first_seq = None;
                for event in applied.into_events(&m) {
                    let seq = if matches!(event, Event::MutationApplied(_)) {
                        org.append(now, event)
                    } else {
                        org.record(now, event)
                    };
                    first_seq.get_or_insert(seq);
                }
                let seq = first_seq.unwrap_or(org.head);
                tracing::debug!(org = %claims.org, kind = m.op.kind_name(), %id, seq, rev, "mutation applied");
                let _ = kind;
                self.after_applied(&claims.org, &m, &id);
                self.counters.mutations_applied.fetch_add(1, Relaxed);
                MutationAck::Applied { seq, rev }
            }
            Err(rej) => {
                self.counters.mutations_rejected.fetch_add(1, Relaxed);
                rej.to_ack()
            }
        };
        // Every outcome but rate_limited and unavailable is decided and remembered.
        if reply.is_decided() {
            self.org(&claims.org).remember(key, &reply, now, cap);
        }
        reply
    }

    /// The answer to a repeat of `key` if it was decided: from memory, or,
    /// past the memory cap, from disk (decided ids are kept 24 hours, §6).
    /// A disk that cannot be read answers `unavailable`: applying twice is
    /// worse than a retry.
    fn decided_before(&mut self, org_id: &str, key: &DecidedKey) -> Option<MutationAck> {
        let org = self.org(org_id);
        if let Some(dup) = org.duplicate_of(key) {
            return Some(dup);
        }
        org.decided_spilled_ms?;
        match self.store.decided(org_id, &key.0, &key.1) {
            Ok(None) => None,
            Ok(Some((json, _))) => match serde_json::from_str::<MutationAck>(&json) {
                Ok(first) => Some(duplicate(&first)),
                Err(e) => {
                    tracing::error!(org = org_id, cause = %e, "unreadable decided row; answering unavailable");
                    Some(super::commit::unavailable())
                }
            },
            Err(e) => {
                tracing::warn!(org = org_id, cause = %e, "decided lookup failed; answering unavailable");
                Some(super::commit::unavailable())
            }
        }
    }

    /// Records an outcome decided outside `apply`; a repeat gets `duplicate`.
    pub(crate) fn remember(
        &mut self,
        org_id: &str,
        client_id: String,
        mutation_id: String,
        reply: MutationAck,
    ) -> MutationAck {
        let now = self.now();
        let (failing, cap) = (self.store_failing, self.cfg.decided_per_org_max);
        let counters = self.counters.clone();
        let key = (client_id, mutation_id);
        if let Some(dup) = self.decided_before(org_id, &key) {
            return dup;
        }
        let org = self.org(org_id);
        counters.mutations_rejected.fetch_add(1, Relaxed);
        // While the store fails the outcome is answered, not remembered: a
        // retry is judged again and gets the same answer.
        if !failing {
            org.remember(key, &reply, now, cap);
        }
        reply
    }

    /// Side effects on players of an applied mutation: decided now, done
    /// when the batch is on disk (see `Effect`).
    fn after_applied(&mut self, org: &str, m: &Mutation, id: &str) {
        match &m.op {
            MutationOp::DeviceRestart => self.org(org).effects.push(Effect::Command {
                device: id.to_owned(),
                kind: CommandKind::Restart,
                args: json!({}),
            }),
            MutationOp::DeviceAssignPlaylist { playlist_id } => self.org(org).effects.push(Effect::Command {
                device: id.to_owned(),
                kind: CommandKind::AssignPlaylist,
                args: json!({ "playlist_id": playlist_id }),
            }),
            MutationOp::DeviceRemove => self.forget_device(org, id),
            // A later `device.create` of a removed id registers it again (PROTOCOL.md §2).
            MutationOp::DeviceCreate { .. } => {
                let o = self.org(org);
                if o.removed.contains_key(id) {
                    o.batch.removed.push((id.to_owned(), None));
                }
            }
            _ => {}
        }
    }
}
