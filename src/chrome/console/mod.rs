//! The operator console (F2, operators and admins): one form for every
//! mutation kind of the protocol, in five tabs (devices, playlists, content,
//! schedules, alerts).
//!
//! Forms are data ([`ConsoleForm`]), drawing is egui, validation is the
//! protocol's: a form builds its `args` and [`MutationOp::parse`] checks
//! them, so the console refuses what the gateway would refuse, naming the
//! same field. A sent form becomes an [`OperatorAction`]: the change shows in
//! the next frame and rolls back with a toast if the gateway refuses it.
//!
//! [`ConsoleCorePlugin`] holds the state and turns [`SubmitForm`]s into
//! actions without egui (tests use it); [`OperatorPlugin`] adds the window.

use bevy::prelude::*;
use bevy_egui::EguiPrimaryContextPass;
use vizora_protocol::mutation::MUTATION_KINDS;
use vizora_protocol::{EntityKind, OrgState, Role, now_ms};

use crate::sync::fleet::{Fleet, FleetNotice, FleetSystems, Identity, OperatorAction};
use crate::wall::focus::InputCapture;

mod form;
mod window;

pub use form::{ConsoleForm, ScheduleDraft, TargetKind, fmt_utc, parse_utc};

/// Most rows an entity list shows (the filter box narrows it).
pub const MAX_ROWS: usize = 500;
/// Weekday labels, 0 = Sunday as the protocol counts.
pub(crate) const DAYS: [&str; 7] = ["Su", "Mo", "Tu", "We", "Th", "Fr", "Sa"];

/// A tab of the console: one entity kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ConsoleTab {
    /// Devices.
    #[default]
    Devices,
    /// Playlists.
    Playlists,
    /// Content.
    Content,
    /// Schedules.
    Schedules,
    /// Alerts.
    Alerts,
}

impl ConsoleTab {
    /// Every tab, in display order.
    pub const ALL: [ConsoleTab; 5] = [Self::Devices, Self::Playlists, Self::Content, Self::Schedules, Self::Alerts];

    /// The entity kind it edits.
    pub fn entity_kind(self) -> EntityKind {
        match self {
            Self::Devices => EntityKind::Device,
            Self::Playlists => EntityKind::Playlist,
            Self::Content => EntityKind::Content,
            Self::Schedules => EntityKind::Schedule,
            Self::Alerts => EntityKind::Alert,
        }
    }

    /// The mutation kinds it offers, in protocol order.
    pub fn kinds(self) -> impl Iterator<Item = &'static str> {
        let prefix = self.entity_kind().as_str();
        MUTATION_KINDS.into_iter().filter(move |k| k.split_once('.').is_some_and(|(p, _)| p == prefix))
    }
}

/// One tab's state: its list filter, the chosen entity and the form.
#[derive(Debug, Clone)]
pub struct TabState {
    /// Narrows the entity list.
    pub filter: String,
    /// The chosen entity.
    pub selected: Option<String>,
    /// The form being edited.
    pub form: ConsoleForm,
}

impl TabState {
    fn new(tab: ConsoleTab) -> Self {
        let kind = tab.kinds().next().unwrap_or("device.rename");
        let form = ConsoleForm::new(kind, None, &OrgState::default())
            .unwrap_or_else(|| ConsoleForm::DeviceRestart { device: String::new() });
        Self { filter: String::new(), selected: None, form }
    }
}

/// The console: shown or not, its tabs, and how the last submit went.
#[derive(Resource, Debug)]
pub struct Console {
    /// Shown (F2).
    pub open: bool,
    /// The tab shown.
    pub tab: ConsoleTab,
    /// Each tab's state, in [`ConsoleTab::ALL`] order.
    pub tabs: [TabState; 5],
    /// Why the last form was not sent (`field: message`).
    pub last_error: Option<String>,
    /// The last form sent (`device.rename sent`).
    pub last_sent: Option<String>,
    /// Frames the window has been placed by the console (then the operator's).
    placed: u8,
}

impl Default for Console {
    fn default() -> Self {
        Self {
            open: false,
            tab: ConsoleTab::Devices,
            tabs: ConsoleTab::ALL.map(TabState::new),
            last_error: None,
            last_sent: None,
            placed: 0,
        }
    }
}

/// Send a form (from the console window, or a test).
#[derive(Message, Debug, Clone, PartialEq)]
pub struct SubmitForm(pub ConsoleForm);

/// Systems of the console.
#[derive(SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
pub enum ConsoleSystems {
    /// Turns [`SubmitForm`]s into [`OperatorAction`]s (PreUpdate, after the
    /// fleet applied what arrived; the actions apply in Update).
    Submit,
}

/// The console without drawing: state, [`SubmitForm`], F2. Needs the
/// fleet plugin (in `WallPlugins`).
#[derive(Default)]
pub struct ConsoleCorePlugin;

impl Plugin for ConsoleCorePlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Console>()
            .init_resource::<InputCapture>()
            .add_message::<SubmitForm>()
            .configure_sets(PreUpdate, ConsoleSystems::Submit.after(FleetSystems::Apply))
            .add_systems(PreUpdate, submit_forms.in_set(ConsoleSystems::Submit))
            .add_systems(Update, toggle_console)
            // After Update, where refusals of the view are reported.
            .add_systems(PostUpdate, note_refusals);
    }
}

/// The operator console window (needs the egui plugin, added by the overlay).
#[derive(Default)]
pub struct OperatorPlugin;

impl Plugin for OperatorPlugin {
    fn build(&self, app: &mut App) {
        app.add_plugins(ConsoleCorePlugin).add_systems(EguiPrimaryContextPass, window::draw_console);
    }
}

fn toggle_console(keys: Option<Res<ButtonInput<KeyCode>>>, who: Res<Identity>, mut console: ResMut<Console>) {
    if !who.can_operate() {
        if console.open {
            console.open = false;
        }
    } else if keys.is_some_and(|k| k.just_pressed(KeyCode::F2)) {
        console.open = !console.open;
    }
}

/// Whether `who` may send `form` now, as the action to send.
fn decide(form: &ConsoleForm, who: &Identity, state: &OrgState, now_ms: u64) -> Result<OperatorAction, String> {
    if !who.can_operate() {
        return Err("viewers cannot change anything".into());
    }
    let action = form.to_action(state, now_ms).map_err(|e| e.to_string())?;
    if action.op.needs_admin() && who.role != Role::Admin {
        return Err(format!("{} needs the admin role", form.kind()));
    }
    Ok(action)
}

fn submit_forms(
    mut forms: MessageReader<SubmitForm>,
    who: Res<Identity>,
    fleet: Res<Fleet>,
    mut console: ResMut<Console>,
    mut actions: MessageWriter<OperatorAction>,
) {
    for SubmitForm(form) in forms.read() {
        match decide(form, &who, fleet.0.view(), now_ms()) {
            Ok(action) => {
                console.last_error = None;
                console.last_sent = Some(format!("{} sent", form.kind()));
                actions.write(action);
            }
            Err(why) => {
                console.last_error = Some(why);
                console.last_sent = None;
            }
        }
    }
}

/// A change the view refused (an index out of range, a resolved alert) was not sent: say why.
fn note_refusals(mut notices: MessageReader<FleetNotice>, mut console: ResMut<Console>) {
    for n in notices.read() {
        if let FleetNotice::Refused { kind, reason } = n {
            console.last_error = Some(format!("{kind} refused: {reason}"));
            console.last_sent = None;
        }
    }
}
