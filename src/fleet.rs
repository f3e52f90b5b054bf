//! FleetPlugin: applies snapshots and entries to the fleet model and says
//! which devices changed, so panels touch only those.

use bevy::prelude::*;

use crate::fleet_model::FleetModel;
use crate::net::{EntriesReceived, NetSystems, SnapshotReceived, TelemetryReceived};

/// The fleet as the wall shows it.
#[derive(Resource, Debug, Default)]
pub struct Fleet(pub FleetModel);

/// Systems of this plugin.
#[derive(SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
pub enum FleetSystems {
    /// Applies received data.
    Apply,
}

/// Everything was replaced: panels rebuild.
#[derive(Message, Debug, Clone, Default)]
pub struct FleetReset;

/// Devices were added or removed: tile layout changes.
#[derive(Message, Debug, Clone, Default)]
pub struct FleetMembershipChanged;

/// Alerts changed.
#[derive(Message, Debug, Clone, Default)]
pub struct AlertsChanged;

/// One device's view changed.
#[derive(Message, Debug, Clone, PartialEq, Eq)]
pub struct DeviceChanged {
    /// Device id.
    pub id: String,
}

/// Keeps [`Fleet`] current.
#[derive(Default)]
pub struct FleetPlugin;

impl Plugin for FleetPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Fleet>()
            .add_message::<FleetReset>()
            .add_message::<FleetMembershipChanged>()
            .add_message::<DeviceChanged>()
            .add_message::<AlertsChanged>()
            .configure_sets(PreUpdate, FleetSystems::Apply.after(NetSystems::Receive))
            .add_systems(
                PreUpdate,
                (apply_snapshots, apply_entries, apply_telemetry).chain().in_set(FleetSystems::Apply),
            );
    }
}

fn apply_snapshots(
    mut fleet: ResMut<Fleet>,
    mut snaps: MessageReader<SnapshotReceived>,
    mut reset: MessageWriter<FleetReset>,
) {
    for s in snaps.read() {
        fleet.0.apply_snapshot(&s.epoch, s.seq, s.entities.clone());
        reset.write(FleetReset);
    }
}

fn apply_entries(
    mut fleet: ResMut<Fleet>,
    mut batches: MessageReader<EntriesReceived>,
    mut membership: MessageWriter<FleetMembershipChanged>,
    mut changed: MessageWriter<DeviceChanged>,
    mut alerts: MessageWriter<AlertsChanged>,
) {
    for b in batches.read() {
        let ch = fleet.0.apply_entries(&b.epoch, &b.items);
        if ch.membership {
            membership.write(FleetMembershipChanged);
        }
        if ch.alerts {
            alerts.write(AlertsChanged);
        }
        changed.write_batch(ch.devices.into_iter().map(|id| DeviceChanged { id }));
    }
}

fn apply_telemetry(
    mut fleet: ResMut<Fleet>,
    mut msgs: MessageReader<TelemetryReceived>,
    mut changed: MessageWriter<DeviceChanged>,
) {
    for t in msgs.read() {
        for d in &t.0.devices {
            if let Some(dev) = fleet.0.state.devices.get_mut(&d.id) {
                dev.health = Some(d.health);
                dev.playing = d.playing.clone();
                changed.write(DeviceChanged { id: d.id.clone() });
            }
        }
    }
}
