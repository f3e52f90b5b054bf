//! Players: registration on first connect, heartbeats, time-driven status,
//! and the alerts status changes raise and resolve (PROTOCOL.md §7–§8).

use vizora_protocol::device::{Command, CommandKind, Heartbeat};
use vizora_protocol::{Alert, AlertState, Device, DeviceStatus, DeviceStatusData, Event, NS_DEVICE, Severity};

use std::time::{Duration, Instant};

use vizora_protocol::device::CommandAck;

use super::org::Effect;
use super::org::MAX_DEVICE_SOCKETS;
use super::{DeviceRt, Org, Sequencer};
use crate::peer::{Close, PeerId, PeerRef};

/// A command waiting for the player's ack.
#[derive(Debug)]
pub(crate) struct PendingCommand {
    org: String,
    device: String,
    command_id: String,
    kind: CommandKind,
    sent: Instant,
}
use crate::status::{Liveness, alert_kind, derive};

impl Sequencer {
    pub(crate) fn device_connected(&mut self, org_id: &str, device_id: &str, iat_ms: u64, sock: PeerRef) {
        let now = self.now();
        let cluster = self.cluster;
        let failing = self.store_failing;
        let org = self.org(org_id);
        if let Some(removed_ms) = org.removed.get(device_id).copied() {
            if iat_ms < removed_ms {
                // Removed after the socket layer checked: refuse it now.
                sock.close(Close::Refused);
                return;
            }
            // A token issued after the removal registers the device again.
            org.batch.removed.push((device_id.to_owned(), None));
        }
        // While the store fails the player is tracked in memory only; it is
        // registered once writes go through again.
        if !org.state.devices.contains_key(device_id) && !failing {
            let dev = Device {
                id: device_id.to_owned(),
                org: org_id.to_owned(),
                rev: 1,
                name: device_id.to_owned(),
                tags: Vec::new(),
                playlist_id: None,
                status: DeviceStatus::Unknown,
                last_seen_ms: now,
                health: None,
                playing: None,
            };
            org.record(now, Event::DeviceUpserted(dev));
        }
        let rt = org.rt.entry(device_id.to_owned()).or_insert_with(|| DeviceRt::new(Liveness::default()));
        if !rt.socks.iter().any(|s| s.id() == sock.id()) {
            rt.socks.push(sock);
        }
        // Past the cap, the oldest connection goes.
        while rt.socks.len() > MAX_DEVICE_SOCKETS {
            rt.socks.remove(0).close(Close::Refused);
        }
        // A CONNECT counts as a sign of life.
        rt.live.last_seen_ms = now;
        if let Some(d) = org.state.devices.get_mut(device_id) {
            d.last_seen_ms = now;
        }
        if cluster {
            org.live_out.insert(device_id.to_owned());
        }
        self.reevaluate(org_id, device_id, now);
    }

    pub(crate) fn heartbeat(&mut self, org_id: &str, device_id: &str, hb: Heartbeat) {
        let now = self.now();
        let cluster = self.cluster;
        let limits = self.cfg.limits.clone();
        let org = self.org(org_id);
        let Some(rt) = org.rt.get_mut(device_id) else { return };
        rt.live.heartbeat(now, &hb.health, &limits);
        let Some(dev) = org.state.devices.get_mut(device_id) else { return };
        // Live fields change in place: no rev, no log entry (PROTOCOL.md §8).
        dev.last_seen_ms = now;
        dev.health = Some(hb.health);
        dev.playing = hb.playing;
        org.telemetry_dirty.insert(device_id.to_owned());
        if cluster {
            org.live_out.insert(device_id.to_owned());
        }
        self.reevaluate(org_id, device_id, now);
    }

    /// Derives the device's status and logs a change with its alerts.
    pub(crate) fn reevaluate(&mut self, org_id: &str, device_id: &str, now: u64) {
        if self.store_failing {
            // Status is logged state: derived again once the store recovers.
            return;
        }
        let (hb_ms, limits) = (self.hb_ms, self.cfg.limits.clone());
        let org = self.org(org_id);
        let (Some(rt), Some(dev)) = (org.rt.get(device_id), org.state.devices.get(device_id)) else { return };
        let new = derive(now, dev.status, &rt.live, dev.health.as_ref(), hb_ms, &limits);
        self.set_status(org_id, device_id, new, now);
    }

    /// Logs a device's new status with the alerts it raises and resolves.
    pub(crate) fn set_status(&mut self, org_id: &str, device_id: &str, new: DeviceStatus, now: u64) {
        let counters = self.counters.clone();
        let org = self.org(org_id);
        let Some(dev) = org.state.devices.get(device_id) else { return };
        let old = dev.status;
        if new == old {
            return;
        }
        let data = DeviceStatusData {
            id: device_id.to_owned(),
            rev: dev.rev + 1,
            status: new,
            last_seen_ms: dev.last_seen_ms,
        };
        let name = dev.name.clone();
        org.record(now, Event::DeviceStatus(data));
        counters.status_changes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Some(kind) = alert_kind(old) {
            resolve_alert(org, device_id, kind, now);
        }
        if let Some(kind) = alert_kind(new) {
            raise_alert(org, device_id, &name, kind, now);
        }
    }

    pub(crate) fn tick_status(&mut self) {
        let now = self.now();
        let mut changes = Vec::new();
        let mut orphans = Vec::new();
        // Several nodes: a device connected to no node here is judged on the
        // live fields the other nodes relay, with a grace for the relay.
        let grace = self.cfg.nats.as_ref().map_or(0, |n| n.offline_grace_ms);
        let orphan_after = self.hb_ms.saturating_mul(3).saturating_add(grace);
        // A node that just started has not heard the relay long enough to
        // tell a device that went from one that is fine elsewhere.
        let judge_orphans = now.saturating_sub(self.started_ms) > orphan_after;
        for (org_id, org) in &self.orgs {
            for (id, d) in &org.state.devices {
                let here = org.rt.get(id).is_some_and(DeviceRt::connected);
                if self.cluster && !here {
                    if judge_orphans
                        && matches!(d.status, DeviceStatus::Online | DeviceStatus::Degraded)
                        && now.saturating_sub(d.last_seen_ms) > orphan_after
                    {
                        orphans.push((org_id.clone(), id.clone()));
                    }
                    continue;
                }
                let Some(rt) = org.rt.get(id) else { continue };
                if matches!(d.status, DeviceStatus::Online | DeviceStatus::Degraded)
                    && derive(now, d.status, &rt.live, d.health.as_ref(), self.hb_ms, &self.cfg.limits) != d.status
                {
                    changes.push((org_id.clone(), id.clone()));
                }
            }
        }
        for (org, id) in changes {
            self.reevaluate(&org, &id, now);
        }
        if !self.store_failing {
            for (org, id) in orphans {
                self.set_status(&org, &id, DeviceStatus::Offline, now);
            }
        }
    }

    /// Does what a committed mutation decided for a player. Several nodes:
    /// every node runs every effect, and a command goes out from the node
    /// its player is connected to (`foreign`: another node decided it).
    pub(crate) fn run_effect(&mut self, org_id: &str, effect: Effect, foreign: bool) {
        match effect {
            Effect::Command { device, kind, args } => {
                let here = self.org(org_id).rt.get(&device).is_some_and(DeviceRt::connected);
                if here || !(foreign || self.cluster) {
                    self.send_command(org_id, &device, kind, args);
                }
            }
            Effect::Disconnect { device } => {
                let org = self.org(org_id);
                if org.state.devices.contains_key(&device) {
                    // Registered again (a newer token) since the removal: keep it.
                    return;
                }
                for s in org.rt.remove(&device).map(|rt| rt.socks).unwrap_or_default() {
                    s.close(Close::Refused);
                }
            }
        }
    }

    /// Sends a command to each of a player's sockets (one `command_id`, an
    /// ack id each); nothing is queued for offline players.
    pub(crate) fn send_command(&mut self, org_id: &str, device_id: &str, kind: CommandKind, args: serde_json::Value) {
        let socks = self.org(org_id).rt.get(device_id).map(|rt| rt.socks.clone()).unwrap_or_default();
        if socks.is_empty() {
            tracing::info!(org = org_id, device = device_id, ?kind, "device not connected; command not sent");
            return;
        }
        let cmd = Command { command_id: ulid::Ulid::generate().to_string(), kind, args };
        for sock in socks {
            let ack = self.next_command_ack;
            self.next_command_ack += 1;
            let text = vizora_protocol::codec::encode_event(NS_DEVICE, Some(ack), "command", &cmd);
            if sock.send(text.into()).is_err() {
                tracing::warn!(device = device_id, "command not delivered: player socket full or closed");
                continue;
            }
            let pending = PendingCommand {
                org: org_id.to_owned(),
                device: device_id.to_owned(),
                command_id: cmd.command_id.clone(),
                kind,
                sent: Instant::now(),
            };
            self.commands.insert((sock.id(), ack), pending);
        }
    }

    /// A player's answer to a command.
    pub(crate) fn command_acked(&mut self, sid: PeerId, ack: u64, reply: &str) {
        use std::sync::atomic::Ordering::Relaxed;
        let Some(p) = self.commands.remove(&(sid, ack)) else { return };
        match serde_json::from_str::<CommandAck>(reply) {
            Ok(CommandAck { ok: true, .. }) => {
                self.counters.commands_acked.fetch_add(1, Relaxed);
                tracing::info!(org = %p.org, device = %p.device, command = %p.command_id, kind = ?p.kind, "command acknowledged");
            }
            Ok(CommandAck { error, .. }) => {
                self.counters.commands_failed.fetch_add(1, Relaxed);
                tracing::warn!(org = %p.org, device = %p.device, command = %p.command_id, error = ?error, "player refused the command");
            }
            Err(e) => {
                self.counters.commands_failed.fetch_add(1, Relaxed);
                tracing::warn!(device = %p.device, cause = %e, "unreadable command ack");
            }
        }
    }

    /// Gives up on commands not acknowledged within the configured time.
    pub(crate) fn expire_commands(&mut self) {
        let limit = Duration::from_millis(self.cfg.command_ack_timeout_ms);
        let counters = self.counters.clone();
        self.commands.retain(|_, p| {
            let keep = p.sent.elapsed() < limit;
            if !keep {
                counters.commands_timed_out.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::warn!(org = %p.org, device = %p.device, command = %p.command_id, "command not acknowledged in time");
            }
            keep
        });
    }

    /// Players seen while the store failed: registered now that it writes.
    pub(crate) fn register_unknown_devices(&mut self) {
        let mut todo = Vec::new();
        for (org_id, org) in &self.orgs {
            for (id, rt) in &org.rt {
                if !org.state.devices.contains_key(id)
                    && let Some(sock) = rt.socks.first()
                {
                    todo.push((org_id.clone(), id.clone(), sock.clone()));
                }
            }
        }
        for (org, id, sock) in todo {
            // `iat` was checked when it connected.
            self.device_connected(&org, &id, u64::MAX, sock);
        }
    }

    /// Remembers a removal (its older tokens are refused, `token_revoked`);
    /// its connection and runtime state go once the removal is on disk.
    pub(crate) fn forget_device(&mut self, org_id: &str, device_id: &str) {
        let now = self.now();
        let org = self.org(org_id);
        org.removed.insert(device_id.to_owned(), now);
        org.batch.removed.push((device_id.to_owned(), Some(now)));
        org.effects.push(Effect::Disconnect { device: device_id.to_owned() });
        org.telemetry_dirty.remove(device_id);
        for kind in ["device_offline", "device_degraded"] {
            org.open_alerts.remove(&(device_id.to_owned(), kind));
        }
    }
}

fn raise_alert(org: &mut Org, device_id: &str, name: &str, kind: &'static str, now: u64) {
    if org.open_alerts.contains_key(&(device_id.to_owned(), kind)) {
        return;
    }
    let (severity, message) = match kind {
        "device_offline" => (Severity::Critical, format!("{name} is offline")),
        _ => (Severity::Warning, format!("{name} is degraded")),
    };
    // A name may have 256 characters itself (§8 Bounds).
    let message = vizora_protocol::bounds::clip(message);
    let alert = Alert {
        id: ulid::Ulid::generate().to_string(),
        org: org.id.clone(),
        rev: 1,
        device_id: Some(device_id.to_owned()),
        severity,
        kind: kind.to_owned(),
        message,
        raised_ms: now,
        state: AlertState::Open,
        acked_by: None,
        muted_until_ms: None,
    };
    org.open_alerts.insert((device_id.to_owned(), kind), alert.id.clone());
    org.record(now, Event::AlertUpserted(alert));
}

fn resolve_alert(org: &mut Org, device_id: &str, kind: &'static str, now: u64) {
    let Some(id) = org.open_alerts.remove(&(device_id.to_owned(), kind)) else { return };
    let Some(alert) = org.state.alerts.get(&id) else { return };
    if alert.state == AlertState::Resolved {
        return;
    }
    let mut alert = alert.clone();
    alert.state = AlertState::Resolved;
    alert.rev += 1;
    org.record(now, Event::AlertUpserted(alert));
}
