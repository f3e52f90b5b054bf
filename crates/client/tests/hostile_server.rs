//! The client against a scripted fake server that breaks the protocol: an
//! entity or log entry it cannot decode costs only itself, absurd seqs and
//! ping settings neither panic nor freeze it, oversized or stalled snapshots
//! and endless gaps end the session through the backoff, and a URL it
//! cannot or must not use fails at once instead of being retried. The fake
//! speaks just enough Engine.IO / Socket.IO on 127.0.0.1 to play each scene.

use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use vizora_client::{ClientConfig, ClientHandle, ConnectionState, Control, Update};
use vizora_protocol::codec::{SioBody, SioPacket, encode_ack, encode_connect, encode_event};
use vizora_protocol::{Entity, Position};

const NS: &str = "/wall";
const WAIT: Duration = Duration::from_secs(15);
const KINDS: [&str; 5] = ["device", "playlist", "content", "schedule", "alert"];

/// What the fake answers to one `subscribe`: the ack, then these events.
#[derive(Clone)]
struct Reply {
    ack: Value,
    events: Vec<(&'static str, Value)>,
}

impl Reply {
    /// A snapshot ack at `seq`, then one last page per kind: `pages` where given, else empty.
    fn snapshot(epoch: &str, seq: u64, pages: &[(&str, Vec<Value>)]) -> Self {
        let page = |kind: &str| pages.iter().find(|(k, _)| *k == kind).map(|(_, items)| items.clone());
        let events = KINDS
            .into_iter()
            .map(|kind| {
                let items = page(kind).unwrap_or_default();
                ("snapshot", json!({ "epoch": epoch, "seq": seq, "kind": kind, "items": items, "last": true }))
            })
            .collect();
        Self { ack: json!({ "mode": "snapshot", "epoch": epoch, "head_seq": seq }), events }
    }

    /// A replay ack up to `head_seq`, and nothing yet.
    fn replay(epoch: &str, head_seq: u64) -> Self {
        Self { ack: json!({ "mode": "replay", "epoch": epoch, "head_seq": head_seq }), events: vec![] }
    }

    /// No ack: an `error` with `code` instead, as §8 answers a subscribe
    /// over a rate limit or with a malformed `since`.
    fn refused(code: &str) -> Self {
        Self { ack: Value::Null, events: vec![("error", json!({ "code": code, "message": "not now" }))] }
    }

    /// No answer at all.
    fn silent() -> Self {
        Self { ack: Value::Null, events: vec![] }
    }

    /// Then an `events` batch.
    fn then_events(mut self, epoch: &str, items: Value) -> Self {
        self.events.push(("events", json!({ "epoch": epoch, "items": items })));
        self
    }
}

/// The replies in order; the last one again for every later subscribe.
struct Script {
    replies: Vec<Reply>,
    next: Mutex<usize>,
}

impl Script {
    fn reply(&self) -> Reply {
        let mut n = self.next.lock().expect("script lock");
        let reply = self.replies[(*n).min(self.replies.len() - 1)].clone();
        *n += 1;
        reply
    }
}

/// A fake `/wall` server on 127.0.0.1.
struct Fake {
    port: u16,
    /// (connection number from 0, `since`) of every subscribe, in order.
    subscribes: mpsc::Receiver<(usize, Value)>,
    _rt: tokio::runtime::Runtime,
}

impl Fake {
    fn start(replies: Vec<Reply>) -> Self {
        let open = json!({ "sid": "fake", "upgrades": [], "pingInterval": 25_000, "pingTimeout": 20_000 });
        Self::with_open(open, replies)
    }

    /// With `open` as the Engine.IO OPEN payload.
    fn with_open(open: Value, replies: Vec<Reply>) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let (tx, subscribes) = mpsc::channel();
        let script = Arc::new(Script { replies, next: Mutex::new(0) });
        rt.spawn(async move {
            let mut conn = 0;
            while let Ok((tcp, _)) = listener.accept().await {
                tokio::spawn(serve(tcp, conn, format!("0{open}"), Arc::clone(&script), tx.clone()));
                conn += 1;
            }
        });
        Self { port, subscribes, _rt: rt }
    }

    fn url(&self, scheme: &str) -> String {
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The next subscribe: its connection number and `since`.
    fn next_subscribe(&self) -> (usize, Value) {
        self.subscribes.recv_timeout(WAIT).expect("a subscribe in time")
    }
}

/// One connection: OPEN, then CONNECT answered, each subscribe answered by
/// the script; a ping after each answer keeps the client's liveness deadline away.
async fn serve(
    tcp: tokio::net::TcpStream,
    conn: usize,
    open: String,
    script: Arc<Script>,
    subscribes: mpsc::Sender<(usize, Value)>,
) {
    let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else { return };
    let mut out = vec![open, "2".to_owned()];
    loop {
        for frame in out.drain(..) {
            if ws.send(Message::Text(frame.into())).await.is_err() {
                return;
            }
        }
        let text = match ws.next().await {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(_)) => continue,
            _ => return,
        };
        let Some(Ok(packet)) = text.strip_prefix('4').map(SioPacket::decode) else { continue };
        match packet.body {
            SioBody::Connect(_) => out.push(format!("4{}", encode_connect(NS, Some(&json!({ "sid": "fake" }))))),
            SioBody::Event { name, args, ack: Some(id) } if name == "subscribe" => {
                let arg = args.first().and_then(|a| serde_json::from_str::<Value>(a.get()).ok());
                let _ = subscribes.send((conn, arg.map_or(Value::Null, |a| a["since"].clone())));
                let reply = script.reply();
                if !reply.ack.is_null() {
                    out.push(format!("4{}", encode_ack(NS, id, &reply.ack)));
                }
                out.extend(reply.events.iter().map(|(name, arg)| format!("4{}", encode_event(NS, None, name, arg))));
                out.push("2".to_owned());
            }
            _ => {}
        }
    }
}

/// A running client and every update it sent so far.
struct Client {
    handle: ClientHandle,
    seen: Vec<Update>,
}

impl Client {
    fn spawn(cfg: ClientConfig) -> Self {
        Self { handle: vizora_client::spawn(cfg).expect("client thread"), seen: vec![] }
    }

    /// Records updates until `done` holds for them; panics naming `what` after [`WAIT`].
    fn until(&mut self, what: &str, done: impl Fn(&[Update]) -> bool) {
        let end = Instant::now() + WAIT;
        while !done(self.seen.as_slice()) {
            let left = end.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "timed out waiting for {what}; states: {:?}",
                states(&self.seen).collect::<Vec<_>>()
            );
            if let Ok(u) = self.handle.updates.recv_timeout(left) {
                self.seen.push(u);
            }
        }
    }
}

/// A config with quick retries.
fn config(url: &str) -> ClientConfig {
    let mut cfg = ClientConfig::new(url, "a-token");
    cfg.backoff_cap = Duration::from_millis(200);
    cfg
}

fn states(seen: &[Update]) -> impl Iterator<Item = &ConnectionState> {
    seen.iter().filter_map(|u| match u {
        Update::Connection(s) => Some(s),
        _ => None,
    })
}

/// Reasons of every `Reconnecting`.
fn reconnects(seen: &[Update]) -> Vec<&str> {
    states(seen)
        .filter_map(|s| match s {
            ConnectionState::Reconnecting { reason, .. } => Some(reason.as_str()),
            _ => None,
        })
        .collect()
}

/// Reasons of every `Misconfigured`.
fn misconfigured(seen: &[Update]) -> Vec<&str> {
    states(seen)
        .filter_map(|s| match s {
            ConnectionState::Misconfigured { reason, .. } => Some(reason.as_str()),
            _ => None,
        })
        .collect()
}

fn dialled(seen: &[Update]) -> bool {
    states(seen).any(|s| matches!(s, ConnectionState::Connecting { .. } | ConnectionState::Reconnecting { .. }))
}

/// (seq, entity ids) of every snapshot.
fn snapshots(seen: &[Update]) -> Vec<(u64, Vec<&str>)> {
    seen.iter()
        .filter_map(|u| match u {
            Update::Snapshot { seq, entities, .. } => Some((*seq, entities.iter().map(Entity::id).collect())),
            _ => None,
        })
        .collect()
}

fn entry_seqs(seen: &[Update]) -> Vec<u64> {
    seen.iter()
        .filter_map(|u| match u {
            Update::Entries { items, .. } => Some(items.iter().map(|e| e.seq)),
            _ => None,
        })
        .flatten()
        .collect()
}

/// (kind, id, seq, error) of every report.
fn undecodable(seen: &[Update]) -> Vec<(&str, Option<&str>, Option<u64>, &str)> {
    seen.iter()
        .filter_map(|u| match u {
            Update::Undecodable { kind, id, seq, error } => Some((kind.as_str(), id.as_deref(), *seq, error.as_str())),
            _ => None,
        })
        .collect()
}

fn device(id: &str, status: &str) -> Value {
    json!({ "id": id, "org": "acme", "rev": 1, "name": id, "tags": [], "status": status, "last_seen_ms": 0 })
}

fn playlist(id: &str, rev: Value) -> Value {
    json!({ "id": id, "org": "acme", "rev": rev, "name": id, "items": [] })
}

/// A `playlist.upserted` log entry.
fn upsert(seq: Value, playlist: Value) -> Value {
    json!({ "seq": seq, "ts_ms": 1_764_230_400_000u64, "type": "playlist.upserted", "data": playlist })
}

#[test]
fn an_entity_that_cannot_be_decoded_costs_only_itself() {
    let fake = Fake::start(vec![Reply::snapshot(
        "e1",
        3,
        &[
            ("device", vec![device("d1", "online"), device("d2", "exploded"), device("d3", "offline")]),
            ("playlist", vec![playlist("pl-1", json!(1)), playlist("pl-2", json!("two"))]),
        ],
    )]);
    let mut client = Client::spawn(config(&fake.url("ws")));
    client.until("the snapshot and two reports", |s| !snapshots(s).is_empty() && undecodable(s).len() >= 2);

    assert_eq!(snapshots(&client.seen), [(3, vec!["d1", "d3", "pl-1"])], "everything else is kept");
    let bad = undecodable(&client.seen);
    let named: Vec<_> = bad.iter().map(|(kind, id, seq, _)| (*kind, *id, *seq)).collect();
    assert_eq!(named, [("device", Some("d2"), None), ("playlist", Some("pl-2"), None)], "each named");
    assert!(bad[0].3.contains("exploded"), "the reason says what was wrong: {}", bad[0].3);
    assert!(reconnects(&client.seen).is_empty(), "the session goes on");
}

#[test]
fn an_entry_that_cannot_be_decoded_is_reported_and_a_fresh_snapshot_moves_past_it() {
    let fake = Fake::start(vec![
        Reply::snapshot("e1", 0, &[]).then_events(
            "e1",
            json!([
                upsert(json!(1), playlist("pl-1", json!(1))),
                upsert(json!(2), playlist("pl-2", json!("two"))),
                upsert(json!(3), playlist("pl-3", json!(1))),
            ]),
        ),
        Reply::snapshot("e1", 3, &[("playlist", vec![playlist("pl-1", json!(1)), playlist("pl-3", json!(1))])])
            .then_events("e1", json!([upsert(json!(4), playlist("pl-4", json!(1)))])),
    ]);
    let mut client = Client::spawn(config(&fake.url("ws")));
    client.until("the entry after the resync", |s| entry_seqs(s).contains(&4));

    assert_eq!(fake.next_subscribe(), (0, Value::Null));
    assert_eq!(fake.next_subscribe(), (0, Value::Null), "resubscribed for a fresh snapshot, same connection");
    assert_eq!(entry_seqs(&client.seen), [1, 4], "entry 3 came within the snapshot at 3");
    let snaps: Vec<u64> = snapshots(&client.seen).into_iter().map(|(seq, _)| seq).collect();
    assert_eq!(snaps, [0, 3]);
    let bad = undecodable(&client.seen);
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert_eq!((bad[0].0, bad[0].1, bad[0].2), ("playlist.upserted", Some("pl-2"), Some(2)));
    assert!(reconnects(&client.seen).is_empty(), "no reconnect, no loop");
}

#[test]
fn a_seq_that_goes_back_makes_the_client_resubscribe_from_its_last_applied_position() {
    // §5: "A client that ever sees seq jump (gap) or go back re-subscribes
    // with its last applied position."
    let back = json!([
        upsert(json!(6), playlist("a", json!(1))),
        upsert(json!(7), playlist("b", json!(1))),
        upsert(json!(6), playlist("a", json!(2))),
    ]);
    let fake = Fake::start(vec![
        Reply::replay("e1", 7).then_events("e1", back),
        Reply::replay("e1", 8).then_events("e1", json!([upsert(json!(8), playlist("c", json!(1)))])),
    ]);
    let mut cfg = config(&fake.url("ws"));
    cfg.since = Some(Position { epoch: "e1".into(), seq: 5 });
    let mut client = Client::spawn(cfg);
    client.until("entry 8", |s| entry_seqs(s).contains(&8));
    assert_eq!(entry_seqs(&client.seen), [6, 7, 8], "the entry that went back was not applied");
    let since = |seq: u64| json!({ "epoch": "e1", "seq": seq });
    assert_eq!(fake.next_subscribe(), (0, since(5)));
    assert_eq!(fake.next_subscribe(), (0, since(7)), "re-subscribed on the same connection from seq 7");
    assert!(reconnects(&client.seen).is_empty(), "{:?}", reconnects(&client.seen));
}

#[test]
fn absurd_seqs_end_the_batch_and_the_client_carries_on() {
    let fake = Fake::start(vec![
        Reply::replay("e1", 7).then_events(
            "e1",
            json!([upsert(json!(6), playlist("a", json!(1))), upsert(json!(u64::MAX), playlist("b", json!(1)))]),
        ),
        Reply { ack: json!({ "mode": "snapshot", "epoch": "e1", "head_seq": u64::MAX }), events: vec![] },
        Reply::replay("e1", 7).then_events("e1", json!([upsert(json!(7), playlist("c", json!(1)))])),
    ]);
    let mut cfg = config(&fake.url("ws"));
    cfg.since = Some(Position { epoch: "e1".into(), seq: 5 });
    let mut client = Client::spawn(cfg);
    client.until("entry 7 on a third connection", |s| entry_seqs(s).contains(&7));

    assert_eq!(entry_seqs(&client.seen), [6, 7], "what came before the absurd seq was kept");
    let reasons = reconnects(&client.seen);
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(reasons[0].contains(&u64::MAX.to_string()) && reasons[0].contains("2^53"), "{}", reasons[0]);
    assert!(reasons[1].contains("head_seq"), "{}", reasons[1]);
    let since = |seq: u64| json!({ "epoch": "e1", "seq": seq });
    assert_eq!(fake.next_subscribe(), (0, since(5)));
    assert_eq!(fake.next_subscribe(), (1, since(6)), "the cursor stayed at the last good entry");
    assert_eq!(fake.next_subscribe(), (2, since(6)), "and was not moved by the absurd head");
}

#[test]
fn a_server_that_keeps_leaving_gaps_is_retried_through_the_backoff() {
    let fake = Fake::start(vec![
        Reply::replay("e1", 10).then_events("e1", json!([upsert(json!(9), playlist("a", json!(1)))])),
    ]);
    let mut cfg = config(&fake.url("ws"));
    cfg.since = Some(Position { epoch: "e1".into(), seq: 5 });
    let mut client = Client::spawn(cfg);
    client.until("a reconnect", |s| !reconnects(s).is_empty());

    assert!(reconnects(&client.seen)[0].contains("more than 3 times"), "{}", reconnects(&client.seen)[0]);
    let mut first_connection = 0;
    while let (0, _) = fake.next_subscribe() {
        first_connection += 1;
    }
    assert_eq!(first_connection, 4, "the first subscribe and three re-subscribes, then the backoff");
}

#[test]
fn a_refused_subscribe_ends_the_session_and_a_new_one_subscribes_again() {
    let fake = Fake::start(vec![Reply::refused("rate_limited"), Reply::snapshot("e1", 0, &[])]);
    let mut client = Client::spawn(config(&fake.url("ws")));
    client.until("live after the refusal", |s| {
        states(s).any(|st| matches!(st, ConnectionState::Live { .. })) && !reconnects(s).is_empty()
    });
    assert!(reconnects(&client.seen)[0].contains("subscribe refused: rate_limited"), "{}", reconnects(&client.seen)[0]);
    assert!(
        client
            .seen
            .iter()
            .any(|u| matches!(u, Update::ServerError(e) if e.code == vizora_protocol::ErrorCode::RateLimited)),
        "the refusal is shown"
    );
    assert_eq!(fake.next_subscribe().0, 0);
    assert_eq!(fake.next_subscribe().0, 1, "subscribed again on a new connection");
}

#[test]
fn a_subscribe_never_acked_ends_the_session_within_the_ack_timeout() {
    // Pings flow (the fake pings after every answer), so only the ack's deadline can tell.
    let fake = Fake::start(vec![Reply::silent(), Reply::snapshot("e1", 0, &[])]);
    let mut cfg = config(&fake.url("ws"));
    cfg.ack_timeout = Duration::from_millis(300);
    let mut client = Client::spawn(cfg);
    client.until("live on a second connection", |s| states(s).any(|st| matches!(st, ConnectionState::Live { .. })));
    assert!(reconnects(&client.seen)[0].contains("no subscribe ack within 300ms"), "{}", reconnects(&client.seen)[0]);
}

#[test]
fn a_snapshot_over_the_entity_cap_ends_the_session() {
    let devices = vec![device("d1", "online"), device("d2", "online"), device("d3", "online")];
    let fake = Fake::start(vec![Reply::snapshot("e1", 3, &[("device", devices)])]);
    let mut cfg = config(&fake.url("ws"));
    cfg.max_snapshot_entities = 2;
    let mut client = Client::spawn(cfg);
    client.until("a reconnect", |s| !reconnects(s).is_empty());
    assert!(reconnects(&client.seen)[0].contains("larger than 2 entities"), "{}", reconnects(&client.seen)[0]);
    assert!(snapshots(&client.seen).is_empty());
}

#[test]
fn a_snapshot_that_never_completes_ends_the_session() {
    let stalled = Reply { ack: json!({ "mode": "snapshot", "epoch": "e1", "head_seq": 3 }), events: vec![] };
    let fake = Fake::start(vec![stalled]);
    let mut cfg = config(&fake.url("ws"));
    cfg.snapshot_timeout = Duration::from_millis(300);
    let mut client = Client::spawn(cfg);
    client.until("a reconnect", |s| !reconnects(s).is_empty());
    assert!(reconnects(&client.seen)[0].contains("not complete within 300ms"), "{}", reconnects(&client.seen)[0]);
}

#[test]
fn absurd_ping_settings_neither_panic_nor_drop_the_link() {
    for (interval, timeout) in [(u64::MAX, 0), (0, 0)] {
        let open = json!({ "sid": "fake", "upgrades": [], "pingInterval": interval, "pingTimeout": timeout });
        let fake = Fake::with_open(open, vec![Reply::snapshot("e1", 0, &[])]);
        let mut client = Client::spawn(config(&fake.url("ws")));
        client.until("the snapshot", |s| !snapshots(s).is_empty());
        assert!(reconnects(&client.seen).is_empty(), "pingInterval {interval}, pingTimeout {timeout}");
    }
}

#[test]
fn an_http_url_connects_by_websocket_to_the_same_host() {
    let fake = Fake::start(vec![Reply::snapshot("e1", 0, &[])]);
    let url = fake.url("http");
    let mut client = Client::spawn(config(&url));
    client.until("the snapshot", |s| !snapshots(s).is_empty());
    assert!(reconnects(&client.seen).is_empty());
    assert!(states(&client.seen).any(|s| matches!(s, ConnectionState::Live { server, .. } if *server == url)));
}

#[test]
fn a_url_the_client_cannot_use_fails_at_once_until_told_again() {
    for (url, problem) in [("ftp://127.0.0.1:21", "scheme `ftp`"), ("not a url", "no scheme")] {
        let started = Instant::now();
        let mut client = Client::spawn(config(url));
        client.until("the refusal", |s| !misconfigured(s).is_empty());
        assert!(started.elapsed() < Duration::from_secs(2), "{url}: at once, not after retries");
        assert!(misconfigured(&client.seen)[0].contains(problem), "{url}: {}", misconfigured(&client.seen)[0]);

        client.handle.control(Control::Reconnect);
        client.until("the refusal again", |s| misconfigured(s).len() >= 2);
        assert!(!dialled(&client.seen), "{url}: never dialled");
        client.handle.control(Control::Shutdown);
        client.until("the stop", |s| states(s).any(|st| *st == ConnectionState::Stopped));
    }
}

#[test]
fn a_token_is_not_sent_in_the_clear_to_another_host() {
    // TEST-NET-1: never contacted, since the check comes before dialling.
    let mut client = Client::spawn(config("ws://192.0.2.1:7700"));
    client.until("the refusal", |s| !misconfigured(s).is_empty());
    let reason = misconfigured(&client.seen)[0];
    assert!(reason.contains("192.0.2.1") && reason.contains("--insecure"), "{reason}");
    assert!(!dialled(&client.seen));
}
