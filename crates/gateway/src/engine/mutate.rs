//! Mutations (PROTOCOL.md §6): decide once with the shared
//! `vizora_protocol::apply`, log the change and `mutation.applied`,
//! remember the outcome, relay device commands.

use serde_json::json;
use vizora_protocol::apply::{ApplyCtx, apply};
use vizora_protocol::device::CommandKind;
use vizora_protocol::{Claims, Event, Mutation, MutationAck, MutationOp, RejectCode, now_ms};

use super::Engine;

impl Engine {
    /// Decides a mutation. The reply goes out after the batch is on disk.
    pub(crate) fn mutate(&mut self, claims: &Claims, m: Mutation) -> MutationAck {
        let now = now_ms();
        let key = (m.client_id.clone(), m.mutation_id.clone());
        let counters = self.counters.clone();
        let org = self.org(&claims.org);
        if let Some((first, _)) = org.decided.get(&key) {
            counters.mutations_duplicate.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return match first {
                MutationAck::Applied { seq, rev } => MutationAck::Duplicate { seq: Some(*seq), rev: Some(*rev) },
                _ => MutationAck::Duplicate { seq: None, rev: None },
            };
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
                self.counters.mutations_applied.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                MutationAck::Applied { seq, rev }
            }
            Err(rej) => {
                self.counters.mutations_rejected.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                rej.to_ack()
            }
        };
        // Every outcome but rate_limited is decided and remembered.
        if !matches!(reply, MutationAck::Rejected { code: RejectCode::RateLimited, .. }) {
            let org = self.org(&claims.org);
            let json = serde_json::to_string(&reply).unwrap_or_default();
            org.batch.decided.push((key.0.clone(), key.1.clone(), json, now));
            org.decided.insert(key, (reply.clone(), now));
        }
        reply
    }

    /// Records an outcome decided outside `apply`; a repeat gets `duplicate`.
    pub(crate) fn remember(
        &mut self,
        org_id: &str,
        client_id: String,
        mutation_id: String,
        reply: MutationAck,
    ) -> MutationAck {
        let now = now_ms();
        let counters = self.counters.clone();
        let org = self.org(org_id);
        let key = (client_id, mutation_id);
        if let Some((first, _)) = org.decided.get(&key) {
            return match first {
                MutationAck::Applied { seq, rev } => MutationAck::Duplicate { seq: Some(*seq), rev: Some(*rev) },
                _ => MutationAck::Duplicate { seq: None, rev: None },
            };
        }
        counters.mutations_rejected.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let json = serde_json::to_string(&reply).unwrap_or_default();
        org.batch.decided.push((key.0.clone(), key.1.clone(), json, now));
        org.decided.insert(key, (reply.clone(), now));
        reply
    }

    /// Side effects on players of an applied mutation.
    fn after_applied(&mut self, org: &str, m: &Mutation, id: &str) {
        match &m.op {
            MutationOp::DeviceRestart => self.send_command(org, id, CommandKind::Restart, json!({})),
            MutationOp::DeviceAssignPlaylist { playlist_id } => {
                self.send_command(org, id, CommandKind::AssignPlaylist, json!({ "playlist_id": playlist_id }))
            }
            MutationOp::DeviceRemove => self.forget_device(org, id),
            _ => {}
        }
    }
}
