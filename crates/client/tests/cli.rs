//! `vizora state` and `vizora tail` against the real gateway: the state file
//! is the org's whole view at one log position, sorted; `tail --json` from a
//! position prints exactly the later entries as PROTOCOL.md shows them; a
//! refused token, an unreachable gateway and a closed pipe end them cleanly.

mod support;

use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use serde_json::{Value, json};
use support::{Gateway, Watched, client_config, create_playlist, ctx, token, token_ttl};
use vizora_client::cli::{self, CliError, KindCounts};
use vizora_client::transport::Session;
use vizora_client::{ClientConfig, Update};
use vizora_gateway::Auth;
use vizora_protocol::{AuthErrorCode, Claims, Event, LogEntry, Mutation, OrgState, Position, Role, now_ms};

const LONG: Duration = Duration::from_secs(60);

fn mutation(v: Value) -> Mutation {
    Mutation::decode(&v).expect("valid mutation")
}

/// Makes `n` playlists through a client called `client` and returns the
/// log's epoch and every entry from its subscription on, once all are applied.
fn seed_playlists(url: &str, client: &str, n: usize) -> (String, Vec<LogEntry>) {
    let mut w = Watched::spawn(client_config(url, token(Role::Operator, client), None));
    w.until_live(1);
    for i in 0..n {
        let id = format!("m{i}");
        w.mutate(create_playlist(&id, client, &format!("pl-{client}-{i}")), ctx(client, &id));
    }
    w.until("every mutation.applied", LONG, |w| w.applied_ids(client).len() == n);
    let epoch = w.entries[0].0.clone();
    let entries = w.entries.drain(..).map(|(_, e)| e).collect();
    w.shutdown();
    (epoch, entries)
}

/// A writer that hands every byte to a channel, so a test can read `tail`'s lines as they come.
struct Sink(Sender<Vec<u8>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.send(buf.to_vec()).map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `tail` running on its own thread, its output read line by line.
struct Tail {
    stop: Arc<AtomicBool>,
    rx: Receiver<Vec<u8>>,
    pending: Vec<u8>,
    thread: JoinHandle<Result<(), CliError>>,
}

impl Tail {
    fn start(cfg: ClientConfig, json: bool) -> Self {
        let (tx, rx) = crossbeam_channel::unbounded();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || cli::tail(cfg, json, &mut Sink(tx), &flag));
        Self { stop, rx, pending: Vec::new(), thread }
    }

    /// The next whole line; panics after `LONG`.
    fn line(&mut self) -> String {
        let deadline = Instant::now() + LONG;
        loop {
            if let Some(i) = self.pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=i).collect();
                return String::from_utf8(line).expect("utf-8").trim_end().to_owned();
            }
            let chunk = self.rx.recv_deadline(deadline).expect("tail prints the next line in time");
            self.pending.extend(chunk);
        }
    }

    /// Lines until one satisfies `last` (included).
    fn lines_until(&mut self, mut last: impl FnMut(&str) -> bool) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let l = self.line();
            let done = last(&l);
            lines.push(l);
            if done {
                return lines;
            }
        }
    }

    /// Sets the stop flag and returns what `tail` returned.
    fn stop(self) -> Result<(), CliError> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().expect("tail does not panic")
    }
}

fn json_line(l: &str) -> Value {
    serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))
}

fn is_entry_with_seq(l: &str, seq: u64) -> bool {
    serde_json::from_str::<Value>(l).is_ok_and(|v| v["seq"] == json!(seq))
}

#[test]
fn tail_json_from_since_prints_exactly_the_later_entries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path());
    let (epoch, entries) = seed_playlists(&gw.url(), "seeder", 6);
    let (from, last) = (entries[4].seq, entries.last().expect("entries").seq);

    let mut cfg = client_config(&gw.url(), token(Role::Viewer, "tail"), None);
    cfg.since = Some(cli::parse_since(&format!("{epoch}:{from}")).expect("since"));
    let mut tail = Tail::start(cfg, true);
    let lines = tail.lines_until(|l| is_entry_with_seq(l, last));
    tail.stop().expect("a stopped tail ends cleanly");

    let values: Vec<Value> = lines.iter().map(|l| json_line(l)).collect();
    assert_eq!(values[0]["connection"]["state"], "connecting", "{lines:?}");
    assert_eq!(values[0]["connection"]["server"], gw.url().as_str());
    assert_eq!(values[1], json!({ "connection": { "state": "live", "server": gw.url(), "mode": "replay" } }));
    let printed: Vec<LogEntry> = values[2..]
        .iter()
        .map(|v| {
            let mut keys: Vec<&str> = v.as_object().expect("object").keys().map(String::as_str).collect();
            keys.sort_unstable();
            assert_eq!(keys, ["data", "seq", "ts_ms", "type"], "an entry exactly as PROTOCOL.md §4 shows it: {v}");
            serde_json::from_value(v.clone()).expect("parses back as a log entry")
        })
        .collect();
    assert_eq!(printed, entries[5..], "every entry after --since, once, in order, and nothing else");
}

#[test]
fn tail_json_without_since_prints_the_snapshot_then_live_entries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path());
    let (epoch, entries) = seed_playlists(&gw.url(), "seeder", 3);
    let head = entries.last().expect("entries").seq;

    let mut tail = Tail::start(client_config(&gw.url(), token(Role::Viewer, "tail"), None), true);
    let lines = tail.lines_until(|l| l.starts_with("{\"snapshot\""));
    let (more_epoch, more) = seed_playlists(&gw.url(), "later", 1);
    assert_eq!(more_epoch, epoch);
    let live = tail.lines_until(|l| is_entry_with_seq(l, head + 2));
    tail.stop().expect("clean end");

    assert_eq!(json_line(&lines[1])["connection"]["mode"], "snapshot", "{lines:?}");
    let counts = serde_json::to_value(KindCounts { playlist: 3, ..Default::default() }).expect("counts");
    assert_eq!(json_line(&lines[2]), json!({ "snapshot": { "epoch": epoch, "seq": head, "counts": counts } }));
    let live: Vec<LogEntry> = live.iter().map(|l| serde_json::from_str(l).expect("entry")).collect();
    assert_eq!(live, more[more.len() - 2..], "then the live entries after the snapshot's seq");
}

#[test]
fn tail_plain_prints_one_readable_line_per_entry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path());
    let (epoch, entries) = seed_playlists(&gw.url(), "seeder", 2);
    let mut cfg = client_config(&gw.url(), token(Role::Viewer, "tail"), None);
    cfg.since = Some(Position { epoch, seq: 0 });
    let mut tail = Tail::start(cfg, false);
    let last = entries.last().expect("entries").seq.to_string();
    let lines = tail.lines_until(|l| l.split_whitespace().next() == Some(last.as_str()));
    tail.stop().expect("clean end");

    let entry_lines: Vec<&String> = lines.iter().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(entry_lines.len(), entries.len(), "{lines:?}");
    for (line, entry) in entry_lines.iter().zip(&entries) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cols[0], entry.seq.to_string(), "{line}");
        assert_eq!(cols[1], cli::iso_utc(entry.ts_ms), "{line}");
        assert!(cols[1].ends_with('Z') && cols[1].contains('T'), "ISO time in UTC: {line}");
        assert_eq!(cols[2], entry.event.type_name(), "{line}");
        let id = match &entry.event {
            Event::PlaylistUpserted(p) => p.id.clone(),
            Event::MutationApplied(m) => m.mutation_id.clone(),
            other => panic!("unexpected {other:?}"),
        };
        assert!(cols[3..].contains(&id.as_str()), "the line names {id}: {line}");
    }
    assert!(lines.iter().any(|l| l.starts_with("# live on ")), "connection state shows as a comment: {lines:?}");
}

/// A pipe whose reader went away after the first line.
struct ClosesAfterFirstLine(bool);

impl Write for ClosesAfterFirstLine {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.0 {
            return Err(io::Error::from(io::ErrorKind::BrokenPipe));
        }
        self.0 = buf.contains(&b'\n');
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        if self.0 { Err(io::Error::from(io::ErrorKind::BrokenPipe)) } else { Ok(()) }
    }
}

#[test]
fn tail_ends_cleanly_when_the_output_pipe_closes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path());
    let cfg = client_config(&gw.url(), token(Role::Viewer, "tail"), None);
    let (done_tx, done_rx) = crossbeam_channel::bounded(1);
    // The stop flag stays false: only the closed pipe may end it.
    std::thread::spawn(move || {
        done_tx.send(cli::tail(cfg, true, &mut ClosesAfterFirstLine(false), &AtomicBool::new(false)))
    });
    let result = done_rx.recv_timeout(Duration::from_secs(10)).expect("tail ends promptly when its pipe closes");
    assert!(result.is_ok(), "a closed pipe is a clean end, not an error: {result:?}");
}

#[test]
fn a_refused_token_fails_at_once_naming_the_code() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path());
    let claims =
        Claims { sub: "v".into(), org: support::ORG.into(), role: Role::Viewer, exp: now_ms() / 1000 + 600, iat: None };
    let forged = Auth::hs256(b"not-the-gateway-secret").mint(&claims).expect("mint");
    let out = dir.path().join("state.json");

    let started = Instant::now();
    let err = cli::state(client_config(&gw.url(), forged.clone(), None), &out, LONG).expect_err("refused");
    assert!(matches!(err, CliError::Refused { code: AuthErrorCode::TokenInvalid }), "{err:?}");
    assert!(err.to_string().contains("token_invalid"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10), "no waiting for the timeout");
    assert!(!out.exists(), "nothing written");

    let err =
        cli::state(client_config(&gw.url(), token_ttl(Role::Viewer, "v", -60), None), &out, LONG).expect_err("expired");
    assert!(err.to_string().contains("token_expired"), "{err}");

    let mut tail = Tail::start(client_config(&gw.url(), forged, None), true);
    let lines = tail.lines_until(|l| l.contains("refused"));
    assert_eq!(
        json_line(lines.last().expect("line")),
        json!({ "connection": { "state": "refused", "code": "token_invalid" } })
    );
    let err = tail.thread.join().expect("no panic").expect_err("tail stops on a refused token");
    assert!(err.to_string().contains("token_invalid"), "{err}");
}

#[test]
fn state_times_out_naming_the_server_when_no_gateway_answers() {
    let url = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("ws://{}", l.local_addr().expect("addr"))
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let err = cli::state(
        client_config(&url, token(Role::Viewer, "v"), None),
        &dir.path().join("s.json"),
        Duration::from_secs(1),
    )
    .expect_err("nobody listens");
    let msg = err.to_string();
    assert!(matches!(err, CliError::Timeout { .. }), "{err:?}");
    assert!(msg.contains(&url) && msg.contains("within 1s"), "{msg}");
}

#[test]
fn state_writes_the_whole_view_sorted_by_id_at_one_position() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(&dir.path().join("gw"));
    let url = gw.url();
    let mut writer = Watched::spawn(client_config(&url, token(Role::Operator, "w"), None));
    writer.until_live(1);
    let muts = [
        json!({ "kind": "content.create", "args": { "id": "c-b", "name": "B", "kind": "image", "uri": "https://x/b.png", "duration_s": 5, "size_bytes": 10 } }),
        json!({ "kind": "content.create", "args": { "id": "c-a", "name": "A", "kind": "video", "uri": "https://x/a.mp4", "duration_s": 9, "size_bytes": 20 } }),
        json!({ "kind": "playlist.create", "args": { "id": "pl-b", "name": "B", "items": [{ "content_id": "c-a", "duration_s": 3 }] } }),
        json!({ "kind": "playlist.create", "args": { "id": "pl-a", "name": "A" } }),
        json!({ "kind": "schedule.create", "args": { "name": "Lobby", "playlist_id": "pl-b", "target": { "tag": "lobby" }, "start_ms": 0 } }),
    ];
    for (i, mut m) in muts.into_iter().enumerate() {
        let id = format!("m{i}");
        m["mutation_id"] = json!(id);
        m["client_id"] = json!("w");
        writer.mutate(mutation(m), ctx("w", &id));
    }
    // Two players register themselves (device.upserted) by connecting on /device.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    let _players: Vec<Session> = ["d-b", "d-a"]
        .iter()
        .map(|d| {
            rt.block_on(Session::connect(&url, "/device", &token(Role::Device, d), Duration::from_secs(5)))
                .expect("player")
        })
        .collect();
    writer.until("every mutation.applied and both devices", LONG, |w| {
        let devices = w.entries.iter().filter(|(_, e)| matches!(e.event, Event::DeviceUpserted(_))).count();
        w.applied_ids("w").len() == 5 && devices == 2
    });
    writer.shutdown();

    // An independent reader: its snapshot plus the entries after it give the
    // state at whatever position `state` lands on.
    let mut reader = Watched::spawn(client_config(&url, token(Role::Viewer, "r"), None)).keeping_log();
    reader.until("a snapshot", LONG, |r| !r.snapshots.is_empty());
    let out = dir.path().join("out").join("state.json");
    std::fs::create_dir_all(out.parent().expect("parent")).expect("mkdir");
    let summary = cli::state(client_config(&url, token(Role::Viewer, "cli"), None), &out, Duration::from_secs(30))
        .expect("state");
    reader.until("the reader at the state's seq", LONG, |r| {
        r.snapshots[0] == summary.seq || r.entries.last().is_some_and(|(_, e)| e.seq >= summary.seq)
    });
    let mut expected = OrgState::default();
    for u in &reader.log {
        match u {
            Update::Snapshot { epoch, entities, .. } => {
                assert_eq!(epoch, &summary.epoch);
                expected = OrgState::from_entities(entities.iter().cloned());
            }
            Update::Entries { items, .. } => {
                items.iter().filter(|e| e.seq <= summary.seq).for_each(|e| expected.apply_event(&e.event))
            }
            _ => {}
        }
    }

    let file: Value = serde_json::from_str(&std::fs::read_to_string(&out).expect("written")).expect("JSON");
    let mut keys: Vec<&str> = file.as_object().expect("object").keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["alert", "content", "device", "epoch", "playlist", "schedule", "seq"]);
    assert_eq!(file["epoch"], json!(summary.epoch));
    assert_eq!(file["seq"], json!(summary.seq));
    let ids = |kind: &str| -> Vec<String> {
        file[kind].as_array().expect("array").iter().map(|e| e["id"].as_str().expect("id").to_owned()).collect()
    };
    assert_eq!(ids("device"), ["d-a", "d-b"], "sorted by id");
    assert_eq!(ids("content"), ["c-a", "c-b"]);
    assert_eq!(ids("playlist"), ["pl-a", "pl-b"]);
    assert_eq!(ids("schedule").len(), 1);
    for kind in ["device", "playlist", "content", "schedule", "alert"] {
        let ids = ids(kind);
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{kind} sorted by id: {ids:?}");
    }
    let want = json!({
        "epoch": summary.epoch, "seq": summary.seq,
        "device": expected.devices.values().collect::<Vec<_>>(),
        "playlist": expected.playlists.values().collect::<Vec<_>>(),
        "content": expected.contents.values().collect::<Vec<_>>(),
        "schedule": expected.schedules.values().collect::<Vec<_>>(),
        "alert": expected.alerts.values().collect::<Vec<_>>(),
    });
    assert_eq!(file, want, "every entity in PROTOCOL.md shape, as the log has it at `seq`");
    assert_eq!(summary.counts, KindCounts::of_state(&expected));
    let leftovers: Vec<_> =
        std::fs::read_dir(out.parent().expect("parent")).expect("dir").map(|e| e.expect("entry").file_name()).collect();
    assert_eq!(leftovers, [std::ffi::OsString::from("state.json")], "no temp file left behind");
    reader.shutdown();
}
