//! Shared helpers for gateway tests: a gateway on a free port, tokens, and
//! a raw `/wall` session that can call with acks.

#![allow(dead_code)]

pub mod feed;
pub mod nats;
pub mod raw;
pub mod spec;

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use vizora_client::transport::{Incoming, Session};
use vizora_gateway::{Auth, Embedded, GatewayConfig};
use vizora_protocol::{Claims, LogEntry, Role, now_ms};

pub const SECRET: &[u8] = b"test-secret";

pub fn token(org: &str, role: Role, sub: &str) -> String {
    let claims = Claims { sub: sub.into(), org: org.into(), role, exp: now_ms() / 1000 + 3600, iat: None };
    Auth::hs256(SECRET).mint(&claims).expect("mint")
}

pub fn config(dir: &std::path::Path) -> GatewayConfig {
    GatewayConfig { listen: "127.0.0.1:0".into(), data_dir: dir.into(), tick_ms: 50, ..Default::default() }
}

pub fn start(dir: &std::path::Path) -> Embedded {
    Embedded::start(config(dir), Auth::hs256(SECRET)).expect("gateway starts")
}

/// A raw `/wall` session: calls with acks, collects events meanwhile.
pub struct Wall {
    pub s: Session,
    pub events: Vec<(String, Value)>,
}

impl Wall {
    pub async fn connect(url: &str, token: &str) -> Self {
        let s = Session::connect(url, "/wall", token, Duration::from_secs(5)).await.expect("connect /wall");
        Self { s, events: Vec::new() }
    }

    /// Emits `name` with an ack and waits for the ack's first argument.
    pub async fn call<T: Serialize>(&mut self, name: &str, arg: &T) -> Value {
        let id = self.s.emit_with_ack(name, arg).await.expect("emit");
        loop {
            match tokio::time::timeout(Duration::from_secs(10), self.s.recv())
                .await
                .expect("ack in time")
                .expect("recv")
            {
                Incoming::Ack { id: got, arg } if got == id => return serde_json::from_str(&arg).expect("ack json"),
                Incoming::Event { name, arg, .. } => {
                    self.events.push((name, serde_json::from_str(&arg).unwrap_or(Value::Null)))
                }
                _ => {}
            }
        }
    }

    /// Waits for the next event called `name`.
    pub async fn next_event(&mut self, name: &str) -> Value {
        if let Some(i) = self.events.iter().position(|(n, _)| n == name) {
            return self.events.remove(i).1;
        }
        loop {
            match tokio::time::timeout(Duration::from_secs(10), self.s.recv())
                .await
                .expect("event in time")
                .expect("recv")
            {
                Incoming::Event { name: n, arg, .. } if n == name => return serde_json::from_str(&arg).expect("json"),
                Incoming::Event { name: n, arg, .. } => {
                    self.events.push((n, serde_json::from_str(&arg).unwrap_or(Value::Null)))
                }
                _ => {}
            }
        }
    }

    /// Log entries from `events` until `seq` reaches `until`.
    pub async fn entries_until(&mut self, until: u64) -> Vec<LogEntry> {
        let mut out: Vec<LogEntry> = Vec::new();
        while out.last().map(|e| e.seq).unwrap_or(0) < until {
            let ev = self.next_event("events").await;
            let items: Vec<LogEntry> = serde_json::from_value(ev["items"].clone()).expect("entries");
            out.extend(items);
        }
        out
    }
}

pub fn mutation(id: &str, client: &str, kind: &str, target: Option<&str>, base_rev: Option<u64>, args: Value) -> Value {
    let mut m = serde_json::json!({ "mutation_id": id, "client_id": client, "kind": kind, "args": args });
    if let Some(t) = target {
        m["target"] = Value::String(t.into());
    }
    if let Some(r) = base_rev {
        m["base_rev"] = Value::from(r);
    }
    m
}
