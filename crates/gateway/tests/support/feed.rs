//! A subscribed `/wall` session read as one gap-checked stream of log
//! entries, past its snapshot.

use std::collections::VecDeque;

use serde_json::{Value, json};
use vizora_protocol::Role;

use super::{Wall, token};

/// A subscribed `/wall` session read as one gap-checked stream of log entries.
pub struct Feed {
    /// The session underneath.
    pub wall: Wall,
    pending: VecDeque<Value>,
    /// Last seq handed out.
    pub last: u64,
    /// Log epoch.
    pub epoch: String,
}

impl Feed {
    /// A viewer of `org` (token `sub` "feed"), subscribed as [`Feed::subscribe`].
    pub async fn viewer(url: &str, org: &str) -> Self {
        Self::subscribe(url, &token(org, Role::Viewer, "feed")).await
    }

    /// Subscribes with `since: null` and skips the snapshot.
    pub async fn subscribe(url: &str, token: &str) -> Self {
        let mut wall = Wall::connect(url, token).await;
        let ack = wall.call("subscribe", &json!({ "since": null })).await;
        assert_eq!(ack["mode"], "snapshot", "{ack}");
        let mut done = 0;
        while done < 5 {
            if wall.next_event("snapshot").await["last"] == true {
                done += 1;
            }
        }
        let last = ack["head_seq"].as_u64().expect("head_seq");
        let epoch = ack["epoch"].as_str().expect("epoch").to_owned();
        Feed { wall, pending: VecDeque::new(), last, epoch }
    }

    /// The next log entry; asserts it is `last + 1`.
    pub async fn next(&mut self) -> Value {
        while self.pending.is_empty() {
            let ev = self.wall.next_event("events").await;
            assert_eq!(ev["epoch"], self.epoch.as_str());
            self.pending.extend(ev["items"].as_array().expect("items").iter().cloned());
        }
        let e = self.pending.pop_front().expect("entry");
        assert_eq!(e["seq"].as_u64(), Some(self.last + 1), "gap-free, in order: {e}");
        self.last += 1;
        e
    }

    /// The next entry of type `ty`, skipping others; returns it and what was skipped.
    pub async fn next_of(&mut self, ty: &str) -> (Value, Vec<Value>) {
        let mut skipped = Vec::new();
        loop {
            let e = self.next().await;
            if e["type"] == ty {
                return (e, skipped);
            }
            skipped.push(e);
        }
    }
}
