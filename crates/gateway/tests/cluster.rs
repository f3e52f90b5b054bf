//! Several gateway nodes on one NATS JetStream cluster (issue #12): a real
//! 3-node `nats-server` cluster on loopback, gateways in this process.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::feed::Feed;
use support::nats::{NatsCluster, TlsFiles};
use support::raw::http_get_with;
use support::{SECRET, Wall, config, mutation, token};
use vizora_gateway::config::NatsConfig;
use vizora_gateway::{Auth, Embedded};
use vizora_protocol::Role;

fn node(dir: &Path, nats: &NatsCluster) -> Embedded {
    node_with(dir, nats, |_| {})
}

fn node_with(dir: &Path, nats: &NatsCluster, f: impl FnOnce(&mut vizora_gateway::GatewayConfig)) -> Embedded {
    let mut cfg = config(dir);
    cfg.heartbeat_s = 0.5;
    cfg.nats = Some(NatsConfig { servers: nats.urls(), offline_grace_ms: 1_500, ..Default::default() });
    f(&mut cfg);
    Embedded::start(cfg, Auth::hs256(SECRET)).expect("gateway node starts")
}

fn addr(n: &Embedded) -> String {
    n.addr.to_string()
}

fn wait_ready(n: &Embedded) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok((200, _)) = support::raw::http_get(&addr(n), "/readyz") {
            return;
        }
        assert!(Instant::now() < deadline, "node {} not ready", n.addr);
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `GET /api/v1/…` as an admin of `org`.
fn api(n: &Embedded, org: &str, path: &str) -> (u16, Value) {
    let auth = format!("Bearer {}", token(org, Role::Admin, "admin"));
    let (code, body) = http_get_with(&addr(n), &format!("/api/v1/{path}"), &[("Authorization", &auth)]).expect("GET");
    (code, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// The node's whole log of `org` once its head reached `head`.
async fn log_at(n: &Embedded, org: &str, head: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (code, page) = api(n, org, "log?limit=1000");
        if code == 200 && page["head_seq"].as_u64() >= Some(head) {
            return page;
        }
        assert!(Instant::now() < deadline, "node {} stays at {page}", n.addr);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn content(id: &str) -> Value {
    json!({ "id": id, "name": id, "kind": "image", "uri": "https://x/a.png", "duration_s": 10, "size_bytes": 1 })
}

struct Setup {
    nodes: Vec<Embedded>,
    _nats: NatsCluster,
    _dir: tempfile::TempDir,
}

fn three_nodes() -> Setup {
    // `RUST_LOG=vizora_gateway=debug` shows what the nodes do.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let dir = tempfile::tempdir().expect("tempdir");
    let nats = NatsCluster::start(&dir.path().join("nats"));
    let nodes: Vec<Embedded> = (0..3).map(|i| node(&dir.path().join(format!("g{i}")), &nats)).collect();
    for n in &nodes {
        wait_ready(n);
    }
    Setup { nodes, _nats: nats, _dir: dir }
}

/// Runs a test body on a runtime of its own (gateways start outside it).
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime").block_on(f)
}

#[test]
fn writes_through_three_nodes_form_one_gap_free_log_that_every_node_serves() {
    let s = three_nodes();
    block_on(writes_through_three_nodes(&s));
}

async fn writes_through_three_nodes(s: &Setup) {
    // A subscriber on node 0 from before the org's first write anywhere.
    let mut feed = Feed::viewer(&s.nodes[0].url(), "acme").await;
    let writers = (0..3).map(|i| {
        let url = s.nodes[i].url();
        async move {
            let mut w = Wall::connect(&url, &token("acme", Role::Operator, &format!("op{i}"))).await;
            let mut acks = Vec::new();
            for k in 0..20 {
                let m = mutation(
                    &format!("m{k}"),
                    &format!("node{i}"),
                    "content.create",
                    None,
                    None,
                    content(&format!("c{i}-{k}")),
                );
                acks.push(w.call("mutate", &m).await);
            }
            acks
        }
    });
    let acks: Vec<Value> = futures_util::future::join_all(writers).await.into_iter().flatten().collect();
    let mut seqs: Vec<u64> = acks
        .iter()
        .map(|a| {
            assert_eq!(a["status"], "applied", "{a}");
            a["seq"].as_u64().expect("seq")
        })
        .collect();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), 60, "each change has its own place in the log");
    // content.upserted + mutation.applied per change.
    let head = 120;
    let mut seen = Vec::new();
    while feed.last < head {
        seen.push(feed.next().await);
    }
    assert_eq!(seen.iter().filter(|e| e["type"] == "content.upserted").count(), 60);
    // Every node serves the same log, equal to what the subscriber saw live.
    let logs: Vec<Value> = futures_util::future::join_all(s.nodes.iter().map(|n| log_at(n, "acme", head))).await;
    for (i, log) in logs.iter().enumerate() {
        assert_eq!(log["epoch"], feed.epoch.as_str(), "node {i}: one epoch");
        assert_eq!(log["entries"].as_array().expect("entries"), &seen, "node {i}: the same entries, in order");
    }
    // Replay from any `since` on any node is exact.
    for (i, n) in s.nodes.iter().enumerate() {
        let since = 37 + i as u64;
        let mut w = Wall::connect(&n.url(), &token("acme", Role::Viewer, "late")).await;
        let ack = w.call("subscribe", &json!({ "since": { "epoch": feed.epoch, "seq": since } })).await;
        assert_eq!(ack["mode"], "replay", "{ack}");
        let got = w.entries_until(head).await;
        let got: Vec<Value> = got.iter().map(|e| serde_json::to_value(e).expect("json")).collect();
        assert_eq!(got, seen[since as usize..], "node {i}: replay from {since}");
    }
    // And the same state.
    let states: Vec<Value> = s.nodes.iter().map(|n| api(n, "acme", "content?limit=1000").1).collect();
    assert_eq!(states[0]["items"].as_array().map(Vec::len), Some(60), "{}", states[0]);
    assert!(states.iter().all(|st| st == &states[0]), "every node holds the same content");
}

#[test]
fn the_same_change_sent_to_three_nodes_at_once_is_applied_by_exactly_one() {
    let s = three_nodes();
    block_on(same_change_at_once(&s));
}

async fn same_change_at_once(s: &Setup) {
    let mut walls = Vec::new();
    for (i, n) in s.nodes.iter().enumerate() {
        walls.push(Wall::connect(&n.url(), &token("acme", Role::Operator, &format!("op{i}"))).await);
    }
    let created = walls[0]
        .call("mutate", &mutation("p", "node0", "playlist.create", None, None, json!({ "id": "p1", "name": "Lobby" })))
        .await;
    assert_eq!(created["status"], "applied", "{created}");
    for (rev, round) in (1..).zip(0..5) {
        // Three renames built on the same rev, one through each node.
        let calls = walls.iter_mut().enumerate().map(|(i, w)| {
            let m = mutation(
                &format!("r{round}"),
                &format!("node{i}"),
                "playlist.rename",
                Some("p1"),
                Some(rev),
                json!({ "name": format!("n{i}-r{round}") }),
            );
            async move { w.call("mutate", &m).await }
        });
        let acks = futures_util::future::join_all(calls).await;
        let winners: Vec<usize> = (0..3).filter(|&i| acks[i]["status"] == "applied").collect();
        assert_eq!(winners.len(), 1, "round {round}: exactly one applies: {acks:?}");
        let won = winners[0];
        for (i, a) in acks.iter().enumerate().filter(|(i, _)| *i != won) {
            assert_eq!(a["status"], "rejected", "node {i}: {a}");
            assert_eq!(a["code"], "conflict", "node {i}: {a}");
            assert_eq!(a["current"]["rev"], rev + 1, "node {i}: current is the winner's: {a}");
            assert_eq!(a["current"]["name"], format!("n{won}-r{round}"), "node {i}: {a}");
        }
    }
}

#[test]
fn a_retry_through_another_node_is_a_duplicate_even_before_that_node_saw_the_first() {
    let s = three_nodes();
    block_on(retry_through_another_node(&s));
}

async fn retry_through_another_node(s: &Setup) {
    let mut a = Wall::connect(&s.nodes[0].url(), &token("acme", Role::Operator, "op")).await;
    let mut b = Wall::connect(&s.nodes[1].url(), &token("acme", Role::Operator, "op")).await;
    for k in 0..10 {
        let m = mutation(&format!("m{k}"), "wall-1", "content.create", None, None, content(&format!("c{k}")));
        let first = a.call("mutate", &m).await;
        assert_eq!(first["status"], "applied", "{first}");
        // At once, through another node (which may not have applied it yet).
        let again = b.call("mutate", &m).await;
        assert_eq!(again["status"], "duplicate", "{again}");
        assert_eq!(again["seq"], first["seq"], "{again}");
        assert_eq!(again["rev"], first["rev"], "{again}");
    }
    let logs: Vec<Value> = futures_util::future::join_all(s.nodes.iter().map(|n| log_at(n, "acme", 20))).await;
    assert_eq!(logs[0]["head_seq"], 20, "each change is in the log once");
    assert!(logs.iter().all(|l| l["entries"] == logs[0]["entries"]));
}

#[test]
fn a_player_on_one_node_is_seen_and_commanded_from_another_and_marked_offline_once_when_it_goes() {
    let s = three_nodes();
    block_on(player_across_nodes(&s));
}

/// The next event called `name` on a player's session.
async fn player_event(p: &mut vizora_client::transport::Session, name: &str) -> Value {
    loop {
        let got = tokio::time::timeout(Duration::from_secs(10), p.recv()).await.expect("event in time").expect("recv");
        if let vizora_client::transport::Incoming::Event { name: n, arg, .. } = got
            && n == name
        {
            return serde_json::from_str(&arg).expect("json");
        }
    }
}

async fn player_across_nodes(s: &Setup) {
    use vizora_client::transport::Session;
    let mut feed = Feed::viewer(&s.nodes[0].url(), "acme").await;
    let mut player =
        Session::connect(&s.nodes[1].url(), "/device", &token("acme", Role::Device, "d1"), Duration::from_secs(5))
            .await
            .expect("player joins node 1");
    let health = json!({ "cpu_pct": 12.0, "mem_pct": 30.0, "temp_c": 41.5, "disk_free_pct": 60.0, "uptime_s": 100 });
    let beat = json!({ "ts_ms": vizora_protocol::now_ms(), "health": health });
    player.emit("heartbeat", &beat).await.expect("heartbeat");
    // Registered and online, in the log node 0 serves.
    let (created, _) = feed.next_of("device.upserted").await;
    assert_eq!(created["data"]["id"], "d1");
    let (online, _) = feed.next_of("device.status").await;
    assert_eq!(online["data"]["status"], "online", "{online}");
    // Its live fields and plays reach node 0's walls through the relay.
    for k in 0..3 {
        let pb = json!({ "content_id": "c1", "started_ms": 1_000 + k, "duration_s": 7.5, "ok": true });
        player.emit("playback", &pb).await.expect("playback");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut telemetry_seen = false;
    loop {
        let (name, v) = {
            let w = &mut feed.wall;
            let ev = tokio::time::timeout(Duration::from_secs(10), w.s.recv()).await.expect("in time").expect("recv");
            match ev {
                vizora_client::transport::Incoming::Event { name, arg, .. } => {
                    (name, serde_json::from_str::<Value>(&arg).unwrap_or(Value::Null))
                }
                _ => continue,
            }
        };
        if name == "telemetry" {
            let d = v["devices"].as_array().and_then(|a| a.iter().find(|d| d["id"] == "d1")).cloned();
            if let Some(d) = d {
                assert_eq!(d["health"]["temp_c"], 41.5, "{v}");
                telemetry_seen = true;
            }
        }
        if name == "metrics" && v["plays"].as_u64() == Some(3) && telemetry_seen {
            break;
        }
        if name == "events" {
            // Left for the feed, in order.
            feed.wall.events.push((name.clone(), v.clone()));
        }
        assert!(
            Instant::now() < deadline,
            "node 0 never showed node 1's player (telemetry {telemetry_seen}, last {name} {v})"
        );
    }
    // A restart decided through node 2 reaches the player on node 1.
    let mut op = Wall::connect(&s.nodes[2].url(), &token("acme", Role::Operator, "op")).await;
    let mut rev = None;
    for _ in 0..100 {
        let (_, dev) = api(&s.nodes[2], "acme", "devices/d1");
        if let Some(r) = dev["rev"].as_u64() {
            rev = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let restart = op.call("mutate", &mutation("r1", "op", "device.restart", Some("d1"), rev, json!({}))).await;
    assert_eq!(restart["status"], "applied", "{restart}");
    let cmd = player_event(&mut player, "command").await;
    assert_eq!(cmd["kind"], "restart", "{cmd}");
    // The player goes and connects nowhere: a surviving node marks it
    // offline (3 × 0.5 s heartbeat + 1.5 s grace), once, with one alert.
    drop(player);
    let (offline, _) = feed.next_of("device.status").await;
    assert_eq!(offline["data"]["status"], "offline", "{offline}");
    let (alert, _) = feed.next_of("alert.upserted").await;
    assert_eq!(alert["data"]["kind"], "device_offline", "{alert}");
    // No second offline, no second alert: once every node has applied the
    // offline status, none derives it again (a write racing it conflicts
    // and is rebased away), so every node reaching this head is the fence.
    let head = feed.last;
    let logs: Vec<Value> = futures_util::future::join_all(s.nodes.iter().map(|n| log_at(n, "acme", head))).await;
    let entries = logs[0]["entries"].as_array().expect("entries");
    let offline_alerts =
        entries.iter().filter(|e| e["type"] == "alert.upserted" && e["data"]["kind"] == "device_offline").count();
    let offlines = entries.iter().filter(|e| e["type"] == "device.status" && e["data"]["status"] == "offline").count();
    assert_eq!((offlines, offline_alerts), (1, 1), "one offline and one alert: {entries:?}");
    assert!(logs.iter().all(|l| l["entries"] == logs[0]["entries"]), "every node holds the same log");
}

#[test]
fn losing_nats_quorum_refuses_changes_with_a_reason_and_everything_resumes_by_itself() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut nats = NatsCluster::start(&dir.path().join("nats"));
    let mut cfg = config(&dir.path().join("g0"));
    cfg.nats = Some(NatsConfig { servers: nats.urls(), ack_timeout_ms: 1_000, ..Default::default() });
    let gw = Embedded::start(cfg, Auth::hs256(SECRET)).expect("node starts");
    wait_ready(&gw);
    block_on(async {
        let mut op = Wall::connect(&gw.url(), &token("acme", Role::Operator, "op")).await;
        let m = |k: usize| mutation(&format!("m{k}"), "op", "content.create", None, None, content(&format!("c{k}")));
        assert_eq!(op.call("mutate", &m(0)).await["status"], "applied");
        // Two of three NATS nodes gone: no quorum, no writes.
        nats.kill(1);
        nats.kill(2);
        let refused = op.call("mutate", &m(1)).await;
        assert_eq!(refused["status"], "rejected", "{refused}");
        assert_eq!(refused["code"], "unavailable", "{refused}");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (code, body) = support::raw::http_get(&addr(&gw), "/readyz").expect("GET");
            if code == 503 {
                assert!(body.contains("store failing"), "{body}");
                break;
            }
            assert!(Instant::now() < deadline, "/readyz stays {code}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // What was written is still served.
        let (code, c0) = api(&gw, "acme", "content/c0");
        assert_eq!((code, c0["id"].as_str()), (200, Some("c0")));
        // Quorum back: the same change (same ids) goes through by itself.
        // A refused write's outcome may be unknown (JetStream may have
        // stored it as its ack timed out): the retry is then a duplicate.
        nats.restart(1);
        nats.restart(2);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let a = op.call("mutate", &m(1)).await;
            if a["status"] == "applied" || a["status"] == "duplicate" {
                break;
            }
            assert_eq!(a["code"], "unavailable", "{a}");
            assert!(Instant::now() < deadline, "writes never resumed: {a}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let log = log_at(&gw, "acme", 4).await;
        let applied =
            log["entries"].as_array().expect("entries").iter().filter(|e| e["type"] == "mutation.applied").count();
        assert_eq!(applied, 2, "each change once: {log}");
    });
}

#[test]
fn a_node_that_joins_late_starts_from_a_checkpoint_not_the_whole_history() {
    let dir = tempfile::tempdir().expect("tempdir");
    let nats = NatsCluster::start(&dir.path().join("nats"));
    let small = |c: &mut vizora_gateway::GatewayConfig| {
        c.prune_every_ms = 100;
        if let Some(n) = c.nats.as_mut() {
            n.checkpoint_entries = 20;
        }
    };
    let a = node_with(&dir.path().join("a"), &nats, small);
    wait_ready(&a);
    block_on(async {
        let mut op = Wall::connect(&a.url(), &token("acme", Role::Operator, "op")).await;
        for k in 0..60 {
            let m = mutation(&format!("m{k}"), "op", "content.create", None, None, content(&format!("c{k}")));
            assert_eq!(op.call("mutate", &m).await["status"], "applied");
        }
        // A checkpoint is saved and the org's older messages purged.
        let client = async_nats::connect(nats.urls()[0].as_str()).await.expect("nats");
        let js = async_nats::jetstream::new(client);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mut stream = js.get_stream("VIZORA_LOG").await.expect("stream");
            let first = stream.info().await.expect("info").state.first_sequence;
            if first > 1 {
                break;
            }
            assert!(Instant::now() < deadline, "the log was never purged after a checkpoint");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    // A new node with an empty data dir: it starts from the checkpoint.
    let b = node(&dir.path().join("b"), &nats);
    wait_ready(&b);
    block_on(async {
        let want = api(&a, "acme", "content?limit=1000").1;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got = api(&b, "acme", "content?limit=1000").1;
            if got == want {
                break;
            }
            assert!(Instant::now() < deadline, "the new node never held the same state");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(want["items"].as_array().map(Vec::len), Some(60));
        // Its log starts after the checkpoint, not at 1, and goes on from
        // there (empty when the last checkpoint came after the last write).
        let (_, page) = api(&b, "acme", "log?limit=1000");
        assert_eq!(page["head_seq"], 120, "{page}");
        let first = page["entries"][0]["seq"].as_u64().unwrap_or(121);
        assert!(first > 1, "the new node read the whole history: {page}");
        let mut op = Wall::connect(&b.url(), &token("acme", Role::Operator, "op2")).await;
        let m = mutation("n1", "op2", "content.create", None, None, content("late"));
        let ack = op.call("mutate", &m).await;
        assert_eq!(ack["status"], "applied", "{ack}");
        assert_eq!(ack["seq"], 121, "{ack}");
        let log_a = log_at(&a, "acme", 122).await;
        let tail: Vec<&Value> =
            log_a["entries"].as_array().expect("entries").iter().filter(|e| e["seq"].as_u64() >= Some(first)).collect();
        let log_b = log_at(&b, "acme", 122).await;
        let b_entries: Vec<&Value> = log_b["entries"].as_array().expect("entries").iter().collect();
        assert_eq!(b_entries, tail, "the same log from the checkpoint on");
    });
}

/// NATS over TLS: the NATS nodes take only TLS clients, with a certificate
/// from a test CA. A gateway that trusts that CA (`tls_ca`) and insists on
/// TLS (`tls_required`) writes and reads through them; one that does not
/// trust it is refused by the handshake and says so.
#[test]
fn a_node_reaches_nats_over_tls_with_the_ca_it_is_given() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tls = TlsFiles::make(dir.path());
    let nats = NatsCluster::start_with(&dir.path().join("nats"), Some(&tls));
    assert!(nats.urls().iter().all(|u| u.starts_with("tls://")));
    let n = node_with(&dir.path().join("g0"), &nats, |c| {
        let n = c.nats.as_mut().expect("nats block");
        n.tls_ca = Some(tls.ca.clone());
        n.tls_required = true;
    });
    wait_ready(&n);
    block_on(async {
        let mut w = Wall::connect(&n.url(), &token("acme", Role::Operator, "op")).await;
        for k in 0..3 {
            let m = mutation(&format!("m{k}"), "tls", "content.create", None, None, content(&format!("c{k}")));
            let ack = w.call("mutate", &m).await;
            assert_eq!(ack["status"], "applied", "{ack}");
        }
        let page = log_at(&n, "acme", 6).await;
        assert_eq!(page["entries"].as_array().map(Vec::len), Some(6), "{page}");
    });
    // Without the CA the server's certificate is unknown: no connection.
    let mut cfg = NatsConfig { servers: nats.urls(), tls_required: true, ack_timeout_ms: 500, ..Default::default() };
    cfg.stream = "VIZORA_LOG".into();
    let refused = block_on(async {
        // Trusted, this takes well under a second (the stream exists).
        tokio::time::timeout(Duration::from_secs(5), async {
            match vizora_gateway::cluster::connect(&cfg).await {
                Ok(_) => None,
                Err(e) => Some(format!("{e:#}")),
            }
        })
        .await
    });
    match refused {
        Ok(Some(why)) => assert!(why.contains("JetStream") || why.contains("NATS"), "{why}"),
        Ok(None) => panic!("a node that does not trust the CA reached NATS"),
        // Still retrying the handshake after 5 s: refused too.
        Err(_) => {}
    }
}

/// A node whose log consumer disappears (deleted on the server, as after
/// a NATS restart that lost it) goes on following: what other nodes write
/// afterwards reaches it and its walls.
#[test]
fn a_node_whose_log_consumer_vanishes_follows_again() {
    let s = three_nodes();
    block_on(async {
        let mut op = Wall::connect(&s.nodes[1].url(), &token("acme", Role::Operator, "op")).await;
        let m = mutation("m0", "op", "content.create", None, None, content("c0"));
        assert_eq!(op.call("mutate", &m).await["status"], "applied");
        for n in &s.nodes {
            log_at(n, "acme", 2).await;
        }
        // Every consumer of the log stream goes, on the server side.
        let client = async_nats::connect(s._nats.urls()[0].as_str()).await.expect("nats");
        let js = async_nats::jetstream::new(client);
        let stream = js.get_stream("VIZORA_LOG").await.expect("stream");
        let names: Vec<String> = futures_util::StreamExt::collect::<Vec<_>>(stream.consumer_names())
            .await
            .into_iter()
            .map(|n| n.expect("name"))
            .collect();
        assert!(!names.is_empty(), "the nodes follow the log with consumers");
        for n in &names {
            stream.delete_consumer(n).await.expect("delete consumer");
        }
        for k in 1..=3 {
            let m = mutation(&format!("m{k}"), "op", "content.create", None, None, content(&format!("c{k}")));
            assert_eq!(op.call("mutate", &m).await["status"], "applied");
        }
        // Every node applies the later writes (log_at gives up after 20 s).
        for n in &s.nodes {
            let page = log_at(n, "acme", 8).await;
            assert_eq!(page["head_seq"], 8, "{page}");
        }
    });
}
