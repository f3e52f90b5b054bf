//! A STOCK Node.js `socket.io-client` 4.8 with default options against the
//! gateway: Engine.IO opens over HTTP long-polling and upgrades to WebSocket,
//! the Socket.IO CONNECT carries the token, `subscribe` is answered with an
//! ack, the snapshot arrives page by page, and a live change made by another
//! client reaches it as an `events` batch over the upgraded WebSocket. A
//! refused token surfaces as the stock client's `connect_error` with
//! `message` "unauthorized" and `data.code` (PROTOCOL.md §2).
//!
//! Needs `node` and `tests/node/node_modules`:
//! `npm ci --prefix crates/gateway/tests/node` (scripts/test runs it). The
//! tests fail, not skip, without them.

mod support;

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use wait_timeout::ChildExt;

use serde_json::{Value, json};
use support::{SECRET, Wall, mutation, start, token};
use vizora_gateway::Auth;
use vizora_protocol::{Claims, Role};

const SETUP: &str = "run `npm ci --prefix crates/gateway/tests/node` from the repository root (scripts/test does)";
const READY: &str = "vizora-node: ready";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

/// `tests/node`, after checking that `node` runs and socket.io-client is installed.
fn node_dir() -> PathBuf {
    match Command::new("node").arg("--version").output() {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!("`node --version` failed ({}): install Node.js >= 18, then {SETUP}", o.status),
        Err(e) => panic!("cannot run `node` ({e}): install Node.js >= 18 and npm, then {SETUP}"),
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/node");
    let pkg = dir.join("node_modules/socket.io-client/package.json");
    assert!(pkg.is_file(), "{} is missing: {SETUP}", pkg.display());
    dir
}

/// A running `node <script> args...`: stderr lines stream through a channel
/// (the script's progress and failures), stdout is collected whole.
struct NodeRun {
    child: Child,
    stderr: mpsc::Receiver<String>,
    stderr_seen: Vec<String>,
    stdout: Option<JoinHandle<String>>,
}

impl NodeRun {
    fn spawn(script: &str, args: &[&str]) -> Self {
        let dir = node_dir();
        let mut child = Command::new("node")
            .arg(dir.join(script))
            .args(args)
            .current_dir(&dir)
            .env_remove("DEBUG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn node {script}: {e}"));
        let (tx, rx) = mpsc::channel();
        let err = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut out = child.stdout.take().expect("stdout");
        let stdout = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = out.read_to_string(&mut s);
            s
        });
        Self { child, stderr: rx, stderr_seen: Vec::new(), stdout: Some(stdout) }
    }

    /// Waits for the stderr line `want`; panics with node's output if it
    /// exits or stays silent for `within`.
    fn wait_for_line(&mut self, want: &str, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) => {
                    let hit = line == want;
                    self.stderr_seen.push(line);
                    if hit {
                        return;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!(
                        "node did not print {want:?} within {within:?}; stderr so far:\n{}",
                        self.stderr_seen.join("\n")
                    )
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let (status, stdout, stderr) = self.finish(Duration::from_secs(5));
                    panic!("node exited ({status}) before printing {want:?}\nstdout:\n{stdout}\nstderr:\n{stderr}")
                }
            }
        }
    }

    /// Waits for the exit (killing it after `within`): status, stdout, all stderr.
    fn finish(&mut self, within: Duration) -> (ExitStatus, String, String) {
        let status = match self.child.wait_timeout(within).expect("wait") {
            Some(s) => s,
            None => {
                let _ = self.child.kill();
                let s = self.child.wait().expect("wait");
                self.stderr_seen.push(format!("(killed by the test after {within:?})"));
                s
            }
        };
        let stdout = self.stdout.take().map(|h| h.join().unwrap_or_default()).unwrap_or_default();
        // The pipe closes with the process: drain what is left.
        while let Ok(line) = self.stderr.recv_timeout(Duration::from_secs(2)) {
            self.stderr_seen.push(line);
        }
        (status, stdout, self.stderr_seen.join("\n"))
    }

    /// Waits for a successful exit and parses the one JSON line on stdout.
    fn result(&mut self, within: Duration) -> Value {
        let (status, stdout, stderr) = self.finish(within);
        assert!(status.success(), "node failed ({status})\nstdout:\n{stdout}\nstderr:\n{stderr}");
        let line = stdout.lines().rfind(|l| !l.trim().is_empty()).unwrap_or_default();
        serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("node's stdout is not one JSON line ({e}):\n{stdout}\nstderr:\n{stderr}"))
    }
}

impl Drop for NodeRun {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn content(id: &str) -> Value {
    json!({ "id": id, "name": format!("Content {id}"), "kind": "image", "uri": format!("https://cdn.example/{id}.png"), "duration_s": 10, "size_bytes": 2048 })
}

#[test]
fn stock_client_polls_upgrades_subscribes_and_receives_live_events() {
    node_dir();
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = start(dir.path());
    let rt = rt();
    let mut op = rt.block_on(async {
        let mut op = Wall::connect(&gw.url(), &token("acme", Role::Operator, "olga")).await;
        // Something for the snapshot: content c-before at seq 1 (+ mutation.applied at 2).
        let ack = op
            .call("mutate", &mutation("m-before", "rust-op", "content.create", None, None, content("c-before")))
            .await;
        assert_eq!(ack, json!({ "status": "applied", "seq": 1, "rev": 1 }));
        op
    });

    let url = gw.url();
    let viewer = token("acme", Role::Viewer, "node-wall");
    let mut node = NodeRun::spawn("wall.mjs", &[&url, &viewer, "c-live"]);
    // Connected, upgraded, subscribed and through the whole snapshot.
    node.wait_for_line(READY, Duration::from_secs(20));

    let applied =
        rt.block_on(op.call("mutate", &mutation("m-live", "rust-op", "content.create", None, None, content("c-live"))));
    assert_eq!(applied["status"], "applied", "{applied}");
    let seq = applied["seq"].as_u64().expect("seq");
    assert_eq!(seq, 3);

    let out = node.result(Duration::from_secs(20));
    eprintln!("node wall.mjs: {out}");
    // Engine.IO: long-polling first (default transports), then the upgrade.
    assert_eq!(out["first_transport"], "polling", "{out}");
    assert_eq!(out["upgrades"], json!(["websocket"]), "exactly one upgrade, to websocket: {out}");
    assert!(out["socket_id"].as_str().is_some_and(|s| !s.is_empty()), "CONNECT gave the client an id: {out}");
    // Socket.IO ack of `subscribe`.
    let ack = &out["ack"];
    assert_eq!(ack["mode"], "snapshot", "{out}");
    assert_eq!(ack["head_seq"], 2, "{out}");
    let epoch = ack["epoch"].as_str().expect("epoch string");
    assert!(!epoch.is_empty());
    // The snapshot, complete for all five kinds (wall.mjs also checked each
    // page's epoch and seq against the ack).
    assert_eq!(
        out["snapshot"],
        json!({ "device": [], "playlist": [], "content": ["c-before"], "schedule": [], "alert": [] }),
        "{out}"
    );
    // The live change, over the upgraded WebSocket, at the mutation's seq.
    assert_eq!(out["event_transport"], "websocket", "{out}");
    assert_eq!(
        out["event"],
        json!({ "seq": seq, "type": "content.upserted", "id": "c-live", "rev": 1, "epoch": epoch }),
        "{out}"
    );
    // Gap-free after the snapshot: the change, then its mutation.applied (§8).
    let seen: Vec<(u64, String)> = out["entries_seen"]
        .as_array()
        .expect("entries_seen")
        .iter()
        .map(|e| (e["seq"].as_u64().unwrap_or(0), e["type"].as_str().unwrap_or("").to_owned()))
        .collect();
    assert_eq!(seen[..2], [(3, "content.upserted".to_owned()), (4, "mutation.applied".to_owned())], "{out}");
    drop(op);
    gw.stop();
}

#[test]
fn stock_client_sees_the_refusal_as_connect_error_with_its_code() {
    node_dir();
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = start(dir.path());
    let url = gw.url();
    let claims = |exp| Claims { sub: "node-wall".into(), org: "acme".into(), role: Role::Viewer, exp, iat: None };
    let in_an_hour = vizora_protocol::now_ms() / 1000 + 3600;
    let foreign = Auth::hs256(b"not-the-gateway-secret").mint(&claims(in_an_hour)).expect("mint");
    let expired = Auth::hs256(SECRET).mint(&claims(1_000)).expect("mint");
    for (what, tok, code) in [
        ("signed with another secret", foreign.as_str(), "token_invalid"),
        ("not a JWT", "not-a-jwt", "token_invalid"),
        ("expired", expired.as_str(), "token_expired"),
    ] {
        let out = NodeRun::spawn("refused.mjs", &[&url, tok, code]).result(Duration::from_secs(25));
        eprintln!("node refused.mjs ({what}): {out}");
        assert_eq!(
            out["connect_error"],
            json!({ "message": "unauthorized", "data": { "code": code } }),
            "{what}: {out}"
        );
        assert_eq!(out["connected"], false, "{what}: {out}");
        assert_eq!(out["transport"], "polling", "{what}: the default transports start with polling: {out}");
    }
    gw.stop();
}
