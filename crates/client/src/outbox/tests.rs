//! Delivery bookkeeping without sockets: order, window, resends, rate limits,
//! final answers and what reaches the store.

use serde_json::json;
use vizora_protocol::{ApplyCtx, Role};

use super::*;

fn queued(i: usize) -> QueuedMutation {
    let v = json!({
        "mutation_id": format!("m{i}"), "client_id": "wall-1", "kind": "playlist.create",
        "args": { "id": format!("pl{i}"), "name": "P" },
    });
    QueuedMutation {
        mutation: Mutation::decode(&v).expect("valid"),
        ctx: ApplyCtx { org: "o1".into(), role: Role::Operator, sub: "u".into(), new_id: format!("n{i}") },
    }
}

fn outbox(capacity: usize) -> Outbox {
    let store = ClientStore::in_memory(capacity).expect("store");
    let (o, pending) = Outbox::new(store, Duration::from_secs(10));
    assert_eq!(pending.expect("readable").len(), 0);
    o
}

/// Sends everything the outbox lets go; returns the mutation ids, ack ids from `first_ack`.
fn send_all(o: &mut Outbox, first_ack: u64, now: Instant) -> Vec<String> {
    let mut sent = Vec::new();
    let mut ack = first_ack;
    while let Some((ord, m)) = o.next_to_send(now) {
        sent.push(m.mutation_id.clone());
        o.sent(ord, ack, now);
        ack += 1;
    }
    sent
}

const APPLIED: &str = r#"{"status":"applied","seq":4,"rev":1}"#;
const LIMITED: &str = r#"{"status":"rejected","code":"rate_limited","message":"slow down"}"#;

#[test]
fn queued_mutations_are_sent_in_order_within_the_window() {
    let mut o = outbox(10_000);
    let updates = o.queue((0..WINDOW + 10).map(queued).collect());
    assert!(updates.iter().all(|u| matches!(u, Update::Queued { .. })), "every one is reported queued");
    let now = Instant::now();
    let sent = send_all(&mut o, 0, now);
    assert_eq!(sent.len(), WINDOW, "no more than the window awaits acks");
    assert_eq!(sent[..3], ["m0", "m1", "m2"]);
    let out = o.on_ack(0, APPLIED, now);
    assert!(
        matches!(&out[..], [Update::Acked { mutation_id, ack: MutationAck::Applied { .. } }] if mutation_id == "m0")
    );
    assert_eq!(send_all(&mut o, 1000, now), [format!("m{WINDOW}")], "a slot freed, the next in order goes");
    assert_eq!(o.len(), WINDOW + 9);
    assert!(o.on_ack(0, APPLIED, now).is_empty(), "a second answer to the same ack id is ignored");
}

#[test]
fn a_new_session_resends_everything_undecided_in_original_order() {
    let mut o = outbox(100);
    o.queue((0..5).map(queued).collect());
    let now = Instant::now();
    send_all(&mut o, 0, now);
    o.on_ack(2, APPLIED, now);
    o.new_session();
    assert!(!o.owns_ack(0), "ack ids of the old session mean nothing now");
    assert_eq!(send_all(&mut o, 0, now), ["m0", "m1", "m3", "m4"]);
}

#[test]
fn an_unanswered_mutation_is_resent_with_the_same_id_and_either_answer_decides() {
    let mut o = outbox(100);
    o.queue(vec![queued(0), queued(1)]);
    let t0 = Instant::now();
    send_all(&mut o, 0, t0);
    assert_eq!(o.next_deadline(), Some(t0 + Duration::from_secs(10)));
    o.tick(t0 + Duration::from_secs(9));
    assert!(send_all(&mut o, 10, t0).is_empty(), "not yet timed out");
    let t1 = t0 + Duration::from_secs(10);
    o.tick(t1);
    assert_eq!(send_all(&mut o, 10, t1), ["m0", "m1"], "same ids again, in order");
    // The first send's late answer decides it; the resend's answer is then ignored.
    assert_eq!(o.on_ack(0, APPLIED, t1).len(), 1);
    assert!(o.on_ack(10, r#"{"status":"duplicate","seq":4,"rev":1}"#, t1).is_empty());
    assert_eq!(o.len(), 1);
}

#[test]
fn rate_limited_and_unavailable_pause_and_retry_before_anything_later() {
    const UNAVAILABLE: &str = r#"{"status":"rejected","code":"unavailable","message":"store failing"}"#;
    for answer in [LIMITED, UNAVAILABLE] {
        let mut o = outbox(100);
        o.queue((0..3).map(queued).collect());
        let t0 = Instant::now();
        assert_eq!(send_all(&mut o, 0, t0), ["m0", "m1", "m2"]);
        assert!(o.on_ack(0, answer, t0).is_empty(), "not final, not reported: {answer}");
        assert!(o.on_ack(1, answer, t0).is_empty());
        assert!(o.next_to_send(t0).is_none(), "paused: {answer}");
        let resume = o.next_deadline().expect("a deadline to resume at");
        o.tick(resume);
        assert_eq!(send_all(&mut o, 3, resume), ["m0", "m1"], "retried in order, same ids: {answer}");
        assert_eq!(o.len(), 3);
    }
}

#[test]
fn a_rejection_is_final_and_leaves_the_store() {
    let mut o = outbox(100);
    o.queue(vec![queued(0), queued(1)]);
    let now = Instant::now();
    send_all(&mut o, 0, now);
    let out = o.on_ack(0, r#"{"status":"rejected","code":"conflict","message":"stale","current":null}"#, now);
    assert!(matches!(&out[..], [Update::Acked { ack: MutationAck::Rejected { code: RejectCode::Conflict, .. }, .. }]));
    let left: Vec<String> = o.store.pending().expect("pending").into_iter().map(|q| q.mutation.mutation_id).collect();
    assert_eq!(left, ["m1"]);
    assert!(o.on_ack(1, "not json", now).is_empty(), "an unreadable ack leaves it in flight for a resend");
    assert_eq!(o.len(), 1);
}

#[test]
fn full_and_duplicate_mutations_are_refused_and_nothing_is_dropped() {
    let mut o = outbox(2);
    let out = o.queue(vec![queued(0), queued(0), queued(1), queued(2)]);
    let kinds: Vec<&str> = out
        .iter()
        .map(|u| match u {
            Update::Queued { .. } => "queued",
            Update::OutboxFull { capacity: 2, .. } => "full",
            Update::StoreFailed { mutation_id: Some(_), .. } => "refused",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["refused", "queued", "queued", "full"], "the repeated id, then in order");
    assert_eq!(o.len(), 2);
    assert!(matches!(&o.queue(vec![queued(1)])[..], [Update::StoreFailed { .. }]), "already queued");
}

#[test]
fn a_withdrawn_mutation_is_not_sent_and_leaves_the_store() {
    let mut o = outbox(100);
    o.queue((0..3).map(queued).collect());
    let now = Instant::now();
    let sent = send_all(&mut o, 0, now);
    assert_eq!(sent, ["m0", "m1", "m2"]);
    // m1 is on the wire, m2 too; both given up.
    assert!(o.withdraw("m1").expect("store"), "m1 was queued");
    assert!(o.withdraw("m2").expect("store"));
    assert!(!o.withdraw("m2").expect("store"), "a second withdrawal finds nothing");
    assert!(o.on_ack(1, APPLIED, now).is_empty(), "a late answer to a withdrawn one is not reported");
    o.new_session();
    assert_eq!(send_all(&mut o, 10, now), ["m0"], "only what is still queued goes again");
    let left: Vec<String> = o.store.pending().expect("readable").into_iter().map(|q| q.mutation.mutation_id).collect();
    assert_eq!(left, ["m0"]);
}
