//! §7 Players: registration, heartbeats and telemetry, time-driven status
//! with its alerts, player events, commands, replaced and removed players.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::mpsc;
use vizora_client::transport::{Incoming, Session};
use vizora_protocol::{Role, now_ms};

use crate::support::{Wall, mutation, token};
use vizora_gateway::ManualClock;

use crate::{Feed, block_on, gateway, gateway_on_clock};

enum Ctl {
    Temp(f64),
    Beating(bool),
    Emit(String, Value),
    Ack(u64, Value),
}

enum Heard {
    Event(String, Value, Option<u64>),
    Gone,
}

/// A player on `/device` that heartbeats every 50 ms on its own task.
struct Player {
    ctl: mpsc::UnboundedSender<Ctl>,
    heard: mpsc::UnboundedReceiver<Heard>,
}

impl Player {
    async fn connect(url: &str, id: &str) -> Self {
        let s = Session::connect(url, "/device", &token("acme", Role::Device, id), Duration::from_secs(5))
            .await
            .expect("player connects");
        let (ctl, ctl_rx) = mpsc::unbounded_channel();
        let (heard_tx, heard) = mpsc::unbounded_channel();
        tokio::spawn(run_player(s, ctl_rx, heard_tx));
        Player { ctl, heard }
    }

    fn send(&self, c: Ctl) {
        self.ctl.send(c).unwrap_or_else(|_| panic!("player task ended"));
    }

    fn emit(&self, name: &str, arg: Value) {
        self.send(Ctl::Emit(name.into(), arg));
    }

    /// The next event called `name`, with its ack id.
    async fn next_event(&mut self, name: &str) -> (Value, Option<u64>) {
        loop {
            match tokio::time::timeout(Duration::from_secs(10), self.heard.recv()).await.expect("event in time") {
                Some(Heard::Event(n, arg, ack)) if n == name => return (arg, ack),
                Some(Heard::Event(..)) => {}
                Some(Heard::Gone) | None => panic!("player disconnected while waiting for {name}"),
            }
        }
    }

    /// Waits until the server ends this player's session.
    async fn gone(&mut self) {
        loop {
            match tokio::time::timeout(Duration::from_secs(10), self.heard.recv()).await.expect("disconnected in time")
            {
                Some(Heard::Gone) | None => return,
                Some(Heard::Event(..)) => {}
            }
        }
    }
}

async fn run_player(mut s: Session, mut ctl: mpsc::UnboundedReceiver<Ctl>, heard: mpsc::UnboundedSender<Heard>) {
    let (mut temp, mut beating) = (40.0, true);
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if beating {
                    let hb = json!({
                        "ts_ms": now_ms(),
                        "health": { "cpu_pct": 12.0, "mem_pct": 30.0, "temp_c": temp, "disk_free_pct": 60.0, "uptime_s": 100.25 },
                        "playing": { "playlist_id": "pl1", "content_id": "c1", "since_ms": 1 },
                    });
                    if s.emit("heartbeat", &hb).await.is_err() {
                        let _ = heard.send(Heard::Gone);
                        return;
                    }
                }
            }
            c = ctl.recv() => {
                let sent = match c {
                    None => return,
                    Some(Ctl::Temp(t)) => { temp = t; Ok(()) }
                    Some(Ctl::Beating(b)) => { beating = b; Ok(()) }
                    Some(Ctl::Emit(name, arg)) => s.emit(&name, &arg).await,
                    Some(Ctl::Ack(id, arg)) => s.ack(id, &arg).await,
                };
                if sent.is_err() {
                    let _ = heard.send(Heard::Gone);
                    return;
                }
            }
            r = s.recv() => match r {
                Ok(Incoming::Event { name, arg, ack }) => {
                    let _ = heard.send(Heard::Event(name, serde_json::from_str(&arg).unwrap_or(Value::Null), ack));
                }
                Ok(Incoming::Ack { .. }) => {}
                Ok(Incoming::Disconnected) | Err(_) => {
                    let _ = heard.send(Heard::Gone);
                    return;
                }
            },
        }
    }
}

/// Asserts `e` is a `device.status` of p1 to `status` at `rev`.
fn assert_status(e: &Value, status: &str, rev: u64) {
    assert_eq!(e["type"], "device.status", "{e}");
    assert_eq!(
        (e["data"]["id"].as_str(), e["data"]["status"].as_str(), e["data"]["rev"].as_u64()),
        (Some("p1"), Some(status), Some(rev)),
        "{e}"
    );
}

/// Asserts `e` is an alert of p1 of `kind`/`severity` in `state`; returns its id.
fn assert_alert(e: &Value, kind: &str, severity: &str, state: &str) -> String {
    assert_eq!(e["type"], "alert.upserted", "{e}");
    let a = &e["data"];
    assert_eq!(
        (a["device_id"].as_str(), a["kind"].as_str(), a["severity"].as_str(), a["state"].as_str()),
        (Some("p1"), Some(kind), Some(severity), Some(state)),
        "{e}"
    );
    a["id"].as_str().expect("alert id").to_owned()
}

#[test]
fn a_player_registers_beats_overheats_cools_falls_silent_and_returns() {
    // Time-driven status on the manual clock: nothing here waits out a
    // window; the clock jumps, and the log says what the gateway decided.
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::at(now_ms());
    let heartbeat_ms = 100_000;
    let gw = gateway_on_clock(dir.path(), &clock, |c| {
        c.heartbeat_s = heartbeat_ms as f64 / 1000.0;
        c.tick_ms = 20;
    });
    block_on(async {
        let url = gw.url();
        let mut wall = Feed::subscribe(&url, &token("acme", Role::Viewer, "v")).await;
        let mut op = Wall::connect(&url, &token("acme", Role::Operator, "alice")).await;
        let p = Player::connect(&url, "p1").await;

        let e = wall.next().await;
        assert_eq!(
            (e["type"].as_str(), e["data"]["status"].as_str(), e["data"]["rev"].as_u64()),
            (Some("device.upserted"), Some("unknown"), Some(1)),
            "{e}"
        );
        assert_status(&wall.next().await, "online", 2);

        // Heartbeats show up in telemetry, not in the log.
        telemetry_with_temp(&mut wall, 40.0).await;
        let ack = op
            .call("mutate", &mutation("r1", "op", "device.rename", Some("p1"), Some(2), json!({ "name": "Lobby" })))
            .await;
        assert_eq!(
            ack,
            json!({ "status": "applied", "seq": 3, "rev": 3 }),
            "heartbeats wrote no entries and bumped no rev"
        );
        let e = wall.next().await;
        assert_eq!(
            (e["data"]["name"].as_str(), e["data"]["health"]["temp_c"].as_f64()),
            (Some("Lobby"), Some(40.0)),
            "health is kept in place: {e}"
        );
        wall.next_of("mutation.applied").await;

        p.send(Ctl::Temp(85.0));
        assert_status(&wall.next().await, "degraded", 4);
        let hot = assert_alert(&wall.next().await, "device_degraded", "warning", "open");
        // Cool again: degraded holds until every limit was clear for the
        // clear window (60 s), so a value near a limit cannot flap.
        p.send(Ctl::Temp(40.0));
        telemetry_with_temp(&mut wall, 40.0).await;
        clock.advance(30_000);
        let ack = op
            .call("mutate", &mutation("r2", "op", "device.rename", Some("p1"), Some(4), json!({ "name": "Lobby 2" })))
            .await;
        assert_eq!(ack["rev"], 5, "still degraded 30 s after cooling: {ack}");
        assert_eq!(wall.next().await["type"], "device.upserted");
        wall.next_of("mutation.applied").await;
        clock.advance(31_000);
        assert_status(&wall.next().await, "online", 6);
        let e = wall.next().await;
        assert_eq!(assert_alert(&e, "device_degraded", "warning", "resolved"), hot, "the same alert is resolved");
        assert_eq!(e["data"]["rev"], 2);

        // Silence: offline only after 3 × heartbeat_s without a heartbeat.
        p.send(Ctl::Beating(false));
        // A logged report after the last heartbeat: every heartbeat before it
        // has been taken (the socket's packets are handled in order).
        p.emit(
            "schedule.executed",
            json!({ "schedule_id": "s1", "device_id": "p1", "playlist_id": "pl1",
            "at_ms": 1, "outcome": "ok" }),
        );
        wall.next_of("schedule.executed").await;
        clock.advance(3 * heartbeat_ms - 1_000);
        let ack = op
            .call("mutate", &mutation("r3", "op", "device.rename", Some("p1"), Some(6), json!({ "name": "Lobby 3" })))
            .await;
        assert_eq!(ack["rev"], 7, "not offline before 3 intervals: {ack}");
        assert_eq!(wall.next().await["type"], "device.upserted");
        wall.next_of("mutation.applied").await;
        clock.advance(2_000);
        assert_status(&wall.next().await, "offline", 8);
        let gone = assert_alert(&wall.next().await, "device_offline", "critical", "open");

        p.send(Ctl::Beating(true));
        assert_status(&wall.next().await, "online", 9);
        assert_eq!(assert_alert(&wall.next().await, "device_offline", "critical", "resolved"), gone);

        let mut late = Wall::connect(&url, &token("acme", Role::Viewer, "late")).await;
        late.call("subscribe", &json!({ "since": null })).await;
        let page = late.next_event("snapshot").await;
        let d = &page["items"][0];
        assert_eq!(
            (d["status"].as_str(), d["rev"].as_u64(), d["health"]["temp_c"].as_f64()),
            (Some("online"), Some(9), Some(40.0)),
            "{page}"
        );
        drop(p);
    });
}

/// Waits for telemetry showing p1 at `temp` (and what it plays): its
/// heartbeat has been taken.
async fn telemetry_with_temp(wall: &mut Feed, temp: f64) {
    loop {
        let t = wall.wall.next_event("telemetry").await;
        let mine = t["devices"].as_array().expect("devices").iter().find(|d| d["id"] == "p1").cloned();
        if let Some(d) = mine
            && d["health"]["temp_c"].as_f64() == Some(temp)
        {
            assert_eq!(d["playing"]["content_id"].as_str(), Some("c1"), "{d}");
            // Fractional, as sent: §8 bounds `uptime_s` only by ≥ 0.
            assert_eq!(d["health"]["uptime_s"].as_f64(), Some(100.25), "{d}");
            return;
        }
    }
}

#[test]
fn player_events_commands_and_a_second_connection_of_the_same_device() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = gateway(dir.path(), |c| c.tick_ms = 20);
    block_on(async {
        let url = gw.url();
        let mut wall = Feed::subscribe(&url, &token("acme", Role::Viewer, "v")).await;
        let mut op = Wall::connect(&url, &token("acme", Role::Operator, "alice")).await;
        let mut p = Player::connect(&url, "p1").await;
        wall.next().await;
        assert_status(&wall.next().await, "online", 2);

        for (name, arg) in [
            ("heartbeat", json!({ "ts_ms": "soon", "health": {} })),
            ("heartbeat", json!(null)),
            ("playback", json!({ "content_id": 5 })),
            ("mutate", json!({})),
        ] {
            p.emit(name, arg.clone());
            let (err, _) = p.next_event("error").await;
            assert_eq!(err["code"], "bad_request", "{name} {arg}: {err}");
        }
        let ran = |device: &str| json!({ "schedule_id": "s1", "device_id": device, "playlist_id": "pl1", "at_ms": 1_000, "outcome": "ok" });
        p.emit("schedule.executed", ran("p2"));
        let (err, _) = p.next_event("error").await;
        assert_eq!(err["code"], "bad_request", "another device's id: {err}");
        p.emit("schedule.executed", ran("p1"));
        let e = wall.next().await;
        assert_eq!(
            (e["seq"].as_u64(), &e["type"], &e["data"]),
            (Some(3), &json!("schedule.executed"), &ran("p1")),
            "only its own report is logged"
        );

        let ack = op.call("mutate", &mutation("x1", "op", "device.restart", Some("p1"), None, json!({}))).await;
        assert_eq!(ack, json!({ "status": "applied", "seq": 4, "rev": 2 }), "a restart logs only mutation.applied");
        let (cmd, ack_id) = p.next_event("command").await;
        assert_eq!(cmd["kind"], "restart", "{cmd}");
        assert!(cmd["command_id"].as_str().is_some_and(|c| !c.is_empty()), "{cmd}");
        let ack_id = ack_id.expect("a command asks for an ack");
        p.send(Ctl::Ack(ack_id, json!({ "ok": true })));

        // The same device id again: both connections stay, and a command
        // goes to each ("the player's connected sockets", §8), one command_id.
        let mut p2 = Player::connect(&url, "p1").await;
        let ack = op.call("mutate", &mutation("x2", "op", "device.restart", Some("p1"), None, json!({}))).await;
        assert_eq!(ack["seq"], 5, "reconnecting an online device logs nothing: {ack}");
        let (first, _) = p.next_event("command").await;
        let (second, _) = p2.next_event("command").await;
        assert_eq!((&first["kind"], &second["kind"]), (&json!("restart"), &json!("restart")));
        assert_eq!(first["command_id"], second["command_id"], "one command, sent to each socket");

        // Past four sockets for one device, the oldest goes.
        let mut more = Vec::new();
        for _ in 0..3 {
            more.push(Player::connect(&url, "p1").await);
        }
        p.gone().await;

        // Removing it disconnects every socket it has.
        let mut admin = Wall::connect(&url, &token("acme", Role::Admin, "root")).await;
        let ack = admin.call("mutate", &mutation("rm", "adm", "device.remove", Some("p1"), Some(2), json!({}))).await;
        assert_eq!(ack["status"], "applied", "{ack}");
        p2.gone().await;
        for mut m in more {
            m.gone().await;
        }
    });
}
