//! Failover of several gateway nodes (issue #12): three `vizora-gateway`
//! processes on a 3-node NATS cluster, writers spread over them, while one
//! gateway node and then one NATS node are killed with SIGKILL and started
//! again. Nothing acknowledged may be lost or doubled, every node ends with
//! the same log and state, every subscriber saw exactly the log, and the
//! epoch never changes.

mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::nats::NatsCluster;
use support::raw::{http_get, http_get_with};
use support::{mutation, token};
use vizora_client::transport::{Incoming, Session};
use vizora_protocol::Role;

const BIN: &str = env!("CARGO_BIN_EXE_vizora-gateway");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// A gateway node process (same address across restarts).
struct Node {
    addr: String,
    data: PathBuf,
    log: PathBuf,
    nats: String,
    child: Option<Child>,
}

impl Node {
    fn new(dir: &Path, i: usize, nats: &NatsCluster) -> Self {
        Node {
            addr: format!("127.0.0.1:{}", free_port()),
            data: dir.join(format!("g{i}")),
            log: dir.join(format!("g{i}.log")),
            nats: nats.urls().join(","),
            child: None,
        }
    }

    fn start(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).expect("log");
        let child = Command::new(BIN)
            .env("VIZORA_JWT_SECRET", std::str::from_utf8(support::SECRET).expect("utf8"))
            .env("RUST_LOG", "info")
            .args(["--listen", &self.addr, "--nats", &self.nats, "--data-dir"])
            .arg(&self.data)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn vizora-gateway");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(40);
        while !matches!(http_get(&self.addr, "/readyz"), Ok((200, _))) {
            assert!(Instant::now() < deadline, "node {} not ready:\n{}", self.addr, self.log_text());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

fn api(addr: &str, path: &str) -> Option<Value> {
    let auth = format!("Bearer {}", token("acme", Role::Admin, "admin"));
    match http_get_with(addr, &format!("/api/v1/{path}"), &[("Authorization", &auth)]) {
        Ok((200, body)) => serde_json::from_str(&body).ok(),
        _ => None,
    }
}

/// A node's whole log of acme: (epoch, head, entries), paging through.
fn full_log(addr: &str) -> Option<(String, u64, Vec<Value>)> {
    let first = api(addr, "log?limit=1000")?;
    let epoch = first["epoch"].as_str()?.to_owned();
    let head = first["head_seq"].as_u64()?;
    let mut entries: Vec<Value> = first["entries"].as_array()?.clone();
    let mut next = first["next"].as_str()?.to_owned();
    while entries.last().and_then(|e| e["seq"].as_u64()).unwrap_or(0) < head {
        let page = api(addr, &format!("log?limit=1000&since={next}"))?;
        entries.extend(page["entries"].as_array()?.iter().cloned());
        next = page["next"].as_str()?.to_owned();
    }
    entries.truncate(usize::try_from(head).ok()?);
    Some((epoch, head, entries))
}

/// Emits `mutate` and waits for its ack; `None` when the link failed.
async fn call(s: &mut Session, m: &Value) -> Option<Value> {
    let id = s.emit_with_ack("mutate", m).await.ok()?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        match tokio::time::timeout_at(deadline, s.recv()).await {
            Ok(Ok(Incoming::Ack { id: got, arg })) if got == id => return serde_json::from_str(&arg).ok(),
            Ok(Ok(Incoming::Disconnected)) | Ok(Err(_)) | Err(_) => return None,
            Ok(Ok(_)) => {}
        }
    }
}

/// Writes `content.create`s until `stop`, starting on node `first` and moving
/// to the next node whenever its link fails; a change is retried (same ids)
/// until it is decided. Returns the acknowledged ones: mutation id → seq.
async fn writer(urls: Vec<String>, first: usize, stop: Arc<Mutex<bool>>) -> HashMap<String, u64> {
    let client = format!("writer{first}");
    let tok = token("acme", Role::Operator, &client);
    let mut acked = HashMap::new();
    let mut at = first;
    let mut session: Option<Session> = None;
    let mut k = 0;
    while !*stop.lock().expect("lock") {
        let mid = format!("m{k}");
        let m = mutation(
            &mid,
            &client,
            "content.create",
            None,
            None,
            json!({
                "id": format!("{client}-{k}"), "name": "x", "kind": "image", "uri": "https://x/a.png", "duration_s": 5, "size_bytes": 1
            }),
        );
        // A change still undecided after a minute is a hang, not a failover:
        // fail saying where it was and what it was last told.
        let since = Instant::now();
        let mut last: Option<Value> = None;
        loop {
            assert!(
                since.elapsed() < Duration::from_secs(60),
                "{client} {mid}: undecided after 60 s; at node {at}; last answer {last:?}"
            );
            if session.is_none() {
                session = Session::connect(&urls[at], "/wall", &tok, Duration::from_secs(2)).await.ok();
                if session.is_none() {
                    at = (at + 1) % urls.len();
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            }
            let Some(s) = session.as_mut() else { continue };
            match call(s, &m).await {
                None => {
                    session = None;
                    at = (at + 1) % urls.len();
                }
                Some(a) if a["status"] == "applied" || a["status"] == "duplicate" => {
                    acked.insert(mid.clone(), a["seq"].as_u64().expect("seq"));
                    break;
                }
                Some(a) if a["code"] == "unavailable" || a["code"] == "rate_limited" => {
                    last = Some(a);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Some(a) => panic!("{client} {mid}: {a}"),
            }
        }
        k += 1;
    }
    acked
}

/// A subscriber that resumes on the next node by replay whenever its link
/// fails; returns every entry it received and the epochs it saw.
async fn subscriber(
    urls: Vec<String>,
    first: usize,
    epoch: String,
    until: Arc<Mutex<Option<u64>>>,
) -> (Vec<Value>, Vec<String>) {
    let tok = token("acme", Role::Viewer, &format!("sub{first}"));
    let mut at = first;
    let mut entries: Vec<Value> = Vec::new();
    // From the log's start: the first subscribe is a replay too.
    let mut epochs: Vec<String> = vec![epoch];
    loop {
        let done = |entries: &Vec<Value>| {
            until
                .lock()
                .expect("lock")
                .is_some_and(|h| entries.last().and_then(|e| e["seq"].as_u64()).unwrap_or(0) >= h)
        };
        if done(&entries) {
            return (entries, epochs);
        }
        let Ok(mut s) = Session::connect(&urls[at], "/wall", &tok, Duration::from_secs(2)).await else {
            at = (at + 1) % urls.len();
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let since = match (epochs.last(), entries.last()) {
            (Some(e), Some(last)) => json!({ "epoch": e, "seq": last["seq"] }),
            (Some(e), None) => json!({ "epoch": e, "seq": 0 }),
            _ => Value::Null,
        };
        let Ok(ack_id) = s.emit_with_ack("subscribe", &json!({ "since": since })).await else { continue };
        loop {
            if done(&entries) {
                return (entries, epochs);
            }
            let got = tokio::time::timeout(Duration::from_secs(1), s.recv()).await;
            let ev = match got {
                Err(_) => continue,
                Ok(Err(_)) | Ok(Ok(Incoming::Disconnected)) => break,
                Ok(Ok(ev)) => ev,
            };
            match ev {
                Incoming::Ack { id, arg } if id == ack_id => {
                    let a: Value = serde_json::from_str(&arg).expect("ack");
                    assert_ne!(a["mode"], "snapshot", "a resume within the log replays: {a}");
                    if let Some(e) = a["epoch"].as_str()
                        && epochs.last().map(String::as_str) != Some(e)
                    {
                        epochs.push(e.to_owned());
                    }
                }
                Incoming::Event { name, arg, .. } if name == "events" => {
                    let v: Value = serde_json::from_str(&arg).expect("events");
                    for e in v["items"].as_array().expect("items") {
                        let want = entries.last().and_then(|l| l["seq"].as_u64()).unwrap_or(0) + 1;
                        assert_eq!(e["seq"].as_u64(), Some(want), "sub{first}: gap-free, in order");
                        entries.push(e.clone());
                    }
                }
                _ => {}
            }
        }
        at = (at + 1) % urls.len();
    }
}

#[test]
fn killing_a_gateway_node_and_then_a_nats_node_loses_and_doubles_nothing_acknowledged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut nats = NatsCluster::start(&dir.path().join("nats"));
    let mut nodes: Vec<Node> = (0..3).map(|i| Node::new(dir.path(), i, &nats)).collect();
    for n in &mut nodes {
        n.start();
    }
    let urls: Vec<String> = nodes.iter().map(Node::url).collect();
    // The org's log exists before the subscribers (so they never need a snapshot).
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(async {
        let mut s = Session::connect(&urls[0], "/wall", &token("acme", Role::Operator, "seed"), Duration::from_secs(5))
            .await
            .expect("seed");
        let m = mutation("seed", "seed", "playlist.create", None, None, json!({ "id": "p0", "name": "Lobby" }));
        assert_eq!(call(&mut s, &m).await.expect("ack")["status"], "applied");
    });
    let stop = Arc::new(Mutex::new(false));
    let until = Arc::new(Mutex::new(None));
    let writers: Vec<_> = (0..3).map(|i| rt.spawn(writer(urls.clone(), i, stop.clone()))).collect();
    let epoch = api(&nodes[0].addr, "head").expect("head")["epoch"].as_str().expect("epoch").to_owned();
    let subs: Vec<_> = (0..3).map(|i| rt.spawn(subscriber(urls.clone(), i, epoch.clone(), until.clone()))).collect();
    let pause = |s: u64| std::thread::sleep(Duration::from_secs(s));
    pause(3);
    nodes[1].kill();
    pause(2);
    nodes[1].start();
    pause(2);
    nats.kill(0);
    pause(3);
    nats.restart(0);
    pause(3);
    *stop.lock().expect("lock") = true;
    let acked: Vec<HashMap<String, u64>> = writers.into_iter().map(|w| rt.block_on(w).expect("writer")).collect();
    // The final log, once every node holds the same head.
    let deadline = Instant::now() + Duration::from_secs(30);
    let logs = loop {
        let logs: Vec<Option<(String, u64, Vec<Value>)>> = nodes.iter().map(|n| full_log(&n.addr)).collect();
        let heads: Vec<Option<u64>> = logs.iter().map(|l| l.as_ref().map(|l| l.1)).collect();
        if heads.iter().all(|h| h.is_some() && *h == heads[0]) {
            break logs.into_iter().map(|l| l.expect("log")).collect::<Vec<_>>();
        }
        assert!(Instant::now() < deadline, "nodes never agreed on a head: {heads:?}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let (epoch0, head, entries) = &logs[0];
    let head = *head;
    for (i, l) in logs.iter().enumerate() {
        assert_eq!(&l.0, epoch0, "node {i}: one epoch");
        assert_eq!(&l.2, entries, "node {i} holds the same log");
    }
    assert_eq!(epoch0, &epoch, "the epoch never changed");
    // Every acknowledged change is in the log exactly once, where its ack said.
    let mut applied: HashMap<(String, String), Vec<u64>> = HashMap::new();
    for e in entries.iter().filter(|e| e["type"] == "mutation.applied") {
        let key = (
            e["data"]["client_id"].as_str().unwrap_or("").to_owned(),
            e["data"]["mutation_id"].as_str().unwrap_or("").to_owned(),
        );
        applied.entry(key).or_default().push(e["seq"].as_u64().expect("seq"));
    }
    assert!(applied.values().all(|v| v.len() == 1), "no change applied twice");
    let mut total = 0;
    for (i, a) in acked.iter().enumerate() {
        for (mid, seq) in a {
            let at = applied
                .get(&(format!("writer{i}"), mid.clone()))
                .unwrap_or_else(|| panic!("writer{i} {mid} acknowledged but not in the log"));
            // The ack's seq is the change's first entry; mutation.applied follows it.
            assert_eq!(at[0], seq + 1, "writer{i} {mid}");
        }
        total += a.len();
    }
    assert!(total >= 30, "the writers got work done through the failures: {total}");
    // Every node holds the same state.
    let states: Vec<Value> = nodes.iter().map(|n| api(&n.addr, "content?limit=1000").expect("content")).collect();
    assert!(states.iter().all(|s| s == &states[0]), "every node holds the same content");
    // Every subscriber received exactly the log, in one epoch.
    *until.lock().expect("lock") = Some(head);
    for (i, sub) in subs.into_iter().enumerate() {
        let (got, epochs) = rt
            .block_on(async { tokio::time::timeout(Duration::from_secs(30), sub).await })
            .unwrap_or_else(|_| panic!("subscriber {i} did not reach head {head}"))
            .expect("subscriber");
        assert_eq!(epochs.len(), 1, "subscriber {i}: the epoch never changes: {epochs:?}");
        assert_eq!(&epochs[0], epoch0);
        assert_eq!(&got[..], &entries[..], "subscriber {i} received exactly the log");
    }
}
