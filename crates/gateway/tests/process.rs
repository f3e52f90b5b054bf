//! The `vizora-gateway` binary as an operator runs it: durability across
//! `kill -9`, a clean SIGTERM, refusing to start without a key or with a bad
//! config, the `token` subcommand, `/healthz` and `/metrics`.

mod support;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};
use wait_timeout::ChildExt;

use serde_json::{Value, json};
use support::raw::{http_get, sample};
use support::{Wall, mutation, token};
use vizora_client::transport::{Incoming, Session};
use vizora_protocol::Role;

const BIN: &str = env!("CARGO_BIN_EXE_vizora-gateway");
const SECRET: &str = "test-secret";

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime").block_on(f)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// A running gateway process; killed if a test fails half-way.
struct Gateway {
    child: Child,
    addr: String,
    log: PathBuf,
}

impl Gateway {
    /// Starts the binary on a free port over `data` and waits until `/healthz` answers.
    fn start(data: &Path, log: PathBuf) -> Self {
        let addr = format!("127.0.0.1:{}", free_port());
        let child = Command::new(BIN)
            .env("VIZORA_JWT_SECRET", SECRET)
            .env("RUST_LOG", "info")
            .args(["--listen", &addr, "--data-dir"])
            .arg(data)
            .stdout(Stdio::null())
            .stderr(File::create(&log).expect("log file"))
            .spawn()
            .expect("spawn vizora-gateway");
        let mut gw = Gateway { child, addr, log };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok((200, body)) = http_get(&gw.addr, "/healthz") {
                assert_eq!(body, "ok");
                return gw;
            }
            if let Ok(Some(status)) = gw.child.try_wait() {
                panic!("gateway exited with {status} before serving:\n{}", gw.log_text());
            }
            assert!(Instant::now() < deadline, "gateway not ready within 30 s:\n{}", gw.log_text());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for the process to exit on its own.
    fn exit_within(&mut self, limit: Duration) -> Option<ExitStatus> {
        self.child.wait_timeout(limit).expect("wait")
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the binary to completion (30 s at most): (status, stdout, stderr).
fn run_to_exit(cmd: &mut Command, dir: &Path) -> (ExitStatus, String, String) {
    let (out, err) = (dir.join("out.txt"), dir.join("err.txt"));
    let mut child = cmd
        .stdout(File::create(&out).expect("stdout file"))
        .stderr(File::create(&err).expect("stderr file"))
        .current_dir(dir)
        .spawn()
        .expect("spawn");
    let Some(status) = child.wait_timeout(Duration::from_secs(30)).expect("wait") else {
        let _ = child.kill();
        panic!("still running after 30 s");
    };
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    (status, read(&out), read(&err))
}

fn create(i: usize) -> Value {
    if i.is_multiple_of(2) {
        mutation(
            &format!("m{i}"),
            "wall-a",
            "content.create",
            None,
            None,
            json!({ "id": format!("e{i}"), "name": "C", "kind": "web", "uri": "https://x", "duration_s": 5, "size_bytes": 0 }),
        )
    } else {
        mutation(
            &format!("m{i}"),
            "wall-a",
            "playlist.create",
            None,
            None,
            json!({ "id": format!("e{i}"), "name": "P" }),
        )
    }
}

#[test]
fn kill_9_loses_no_acknowledged_mutation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let mut gw = Gateway::start(&data, dir.path().join("first.log"));
    let (epoch, acked) = block_on(async {
        let mut op = Wall::connect(&gw.url(), &token("acme", Role::Operator, "alice")).await;
        let sub = op.call("subscribe", &json!({ "since": null })).await;
        let mut acked: Vec<(Value, Value)> = Vec::new();
        for i in 0..30 {
            let m = create(i);
            let ack = op.call("mutate", &m).await;
            assert_eq!(ack["status"], "applied", "{ack}");
            acked.push((m, ack));
        }
        // More in flight when the process dies: those acked before it count too.
        let mut in_flight = std::collections::HashMap::new();
        for i in 30..60 {
            in_flight.insert(op.s.emit_with_ack("mutate", &create(i)).await.expect("emit"), create(i));
        }
        gw.child.kill().expect("SIGKILL");
        while let Ok(Ok(msg)) = tokio::time::timeout(Duration::from_secs(5), op.s.recv()).await {
            if let Incoming::Ack { id, arg } = msg {
                let ack: Value = serde_json::from_str(&arg).expect("json");
                assert_eq!(ack["status"], "applied", "{ack}");
                acked.push((in_flight[&id].clone(), ack));
            }
        }
        (sub["epoch"].as_str().expect("epoch").to_owned(), acked)
    });
    let _ = gw.child.wait();
    let gw = Gateway::start(&data, dir.path().join("second.log"));
    block_on(async {
        let mut v = Wall::connect(&gw.url(), &token("acme", Role::Viewer, "v")).await;
        let sub = v.call("subscribe", &json!({ "since": { "epoch": epoch, "seq": 0 } })).await;
        assert_eq!(
            (sub["mode"].as_str(), sub["epoch"].as_str()),
            (Some("replay"), Some(epoch.as_str())),
            "same epoch after the crash: {sub}"
        );
        let head = sub["head_seq"].as_u64().expect("head");
        let entries = v.entries_until(head).await;
        assert_eq!(
            entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
            (1..=head).collect::<Vec<_>>(),
            "the whole log, gap-free"
        );
        let entries: Vec<Value> = entries.iter().map(|e| serde_json::to_value(e).expect("json")).collect();
        for (m, ack) in &acked {
            let seq = ack["seq"].as_u64().expect("seq") as usize;
            assert_eq!(
                entries[seq - 1]["data"]["id"],
                m["args"]["id"],
                "change of {} at its acked seq",
                m["mutation_id"]
            );
            assert_eq!(entries[seq]["data"]["mutation_id"], m["mutation_id"], "mutation.applied right after");
        }

        let snap = v.call("subscribe", &json!({ "since": null })).await;
        assert_eq!(snap["epoch"], epoch.as_str());
        let mut ids = std::collections::HashSet::new();
        let mut done = 0;
        while done < 5 {
            let page = v.next_event("snapshot").await;
            for it in page["items"].as_array().expect("items") {
                ids.insert(it["id"].as_str().expect("id").to_owned());
            }
            done += usize::from(page["last"] == true);
        }
        for (m, _) in &acked {
            assert!(ids.contains(m["args"]["id"].as_str().expect("id")), "{} in the snapshot", m["args"]["id"]);
        }

        let mut op = Wall::connect(&gw.url(), &token("acme", Role::Operator, "alice")).await;
        for (m, ack) in [&acked[0], &acked[acked.len() - 1]] {
            let again = op.call("mutate", m).await;
            assert_eq!(
                again,
                json!({ "status": "duplicate", "seq": ack["seq"], "rev": ack["rev"] }),
                "resend of {}",
                m["mutation_id"]
            );
        }
    });
}

#[test]
fn sigterm_closes_clients_promptly_and_exits_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut gw = Gateway::start(&dir.path().join("data"), dir.path().join("gw.log"));
    block_on(async {
        let url = gw.url();
        let mut subscribed = Wall::connect(&url, &token("acme", Role::Viewer, "v")).await;
        subscribed.call("subscribe", &json!({ "since": null })).await;
        let idle = Session::connect(&url, "/wall", &token("acme", Role::Viewer, "idle"), Duration::from_secs(5))
            .await
            .expect("idle");
        let player = Session::connect(&url, "/device", &token("acme", Role::Device, "p1"), Duration::from_secs(5))
            .await
            .expect("player");
        let status = Command::new("kill").args(["-TERM", &gw.child.id().to_string()]).status().expect("kill");
        assert!(status.success());
        let sent = Instant::now();
        for (who, mut s) in [("subscribed wall", subscribed.s), ("idle wall", idle), ("player", player)] {
            loop {
                match tokio::time::timeout(Duration::from_secs(5).saturating_sub(sent.elapsed()), s.recv()).await {
                    Err(_) => panic!("{who}: socket still open 5 s after SIGTERM"),
                    Ok(Err(_)) | Ok(Ok(Incoming::Disconnected)) => break,
                    Ok(Ok(_)) => {}
                }
            }
        }
    });
    let status = gw
        .exit_within(Duration::from_secs(10))
        .unwrap_or_else(|| panic!("still running 10 s after SIGTERM:\n{}", gw.log_text()));
    assert_eq!(status.code(), Some(0), "{}", gw.log_text());
    assert!(!gw.log_text().contains("panicked"), "a clean shutdown:\n{}", gw.log_text());
}

#[test]
fn token_subcommand_healthz_and_metrics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(&dir.path().join("data"), dir.path().join("gw.log"));
    let (status, out, err) = run_to_exit(
        Command::new(BIN)
            .env("VIZORA_JWT_SECRET", SECRET)
            .args(["token", "--org", "o", "--role", "viewer", "--sub", "s", "--ttl", "1h"]),
        dir.path(),
    );
    assert!(status.success(), "{err}");
    let jwt = out.trim().to_owned();
    assert_eq!(jwt.split('.').count(), 3, "a JWT on stdout: {out}");
    let (status, _, err) = run_to_exit(
        Command::new(BIN)
            .env("VIZORA_JWT_SECRET", SECRET)
            .args(["token", "--org", "o", "--role", "root", "--sub", "s"]),
        dir.path(),
    );
    assert!(!status.success() && err.contains("--role"), "a bad role is named: {err}");

    let (code, body) = http_get(&gw.addr, "/healthz").expect("healthz");
    assert_eq!((code, body.as_str()), (200, "ok"));
    let wall_gauge =
        || sample(&http_get(&gw.addr, "/metrics").expect("metrics").1, "vizora_connections{namespace=\"/wall\"}");
    assert_eq!(wall_gauge(), Some(0.0));
    block_on(async {
        let mut w = Wall::connect(&gw.url(), &jwt).await;
        let ack = w.call("subscribe", &json!({ "since": null })).await;
        assert_eq!(ack["mode"], "snapshot", "the minted token is accepted: {ack}");
        assert_eq!(wall_gauge(), Some(1.0));
        let (code, body) = http_get(&gw.addr, "/metrics").expect("metrics");
        assert_eq!(code, 200);
        assert!(body.contains("# TYPE vizora_connections gauge"), "{body}");
    });
}

#[test]
fn refuses_to_start_without_a_key_or_with_an_unknown_config_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let (status, _, err) = run_to_exit(
        Command::new(BIN).env_remove("VIZORA_JWT_SECRET").args(["--listen", "127.0.0.1:0", "--data-dir"]).arg(&data),
        dir.path(),
    );
    assert!(!status.success(), "started without a key");
    assert!(err.contains("VIZORA_JWT_SECRET"), "names the variable: {err}");

    let cfg = dir.path().join("gw.ron");
    std::fs::write(&cfg, "(\n    listen: \"127.0.0.1:0\",\n    ping_intervall_ms: 500,\n)\n").expect("write");
    let (status, _, err) = run_to_exit(
        Command::new(BIN).env("VIZORA_JWT_SECRET", SECRET).arg("--config").arg(&cfg).arg("--data-dir").arg(&data),
        dir.path(),
    );
    assert!(!status.success(), "started with an unknown key");
    let at = format!("{}:3:", cfg.display());
    let col = err.split(&at).nth(1).map(|rest| rest.chars().take_while(char::is_ascii_digit).count()).unwrap_or(0);
    assert!(col > 0, "file:line:col of the key: {err}");
    assert!(err.contains("ping_intervall_ms"), "names the key: {err}");
}
