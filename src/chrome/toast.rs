//! ToastPlugin: short notices in the bottom-right corner: rollbacks with the
//! gateway's reason, conflicts, reconnects, a full outbox. Each stays a few
//! seconds; the newest is at the bottom; at most [`MAX_TOASTS`] show.

use std::time::Duration;

use bevy::prelude::*;

use crate::base::palette::{self, Rgb, Theme};
use crate::sync::fleet::{FleetNotice, TokenExpiry};
use crate::sync::net::{LinkInfo, LinkState, ServerErrorReceived, UndecodableReceived};
use crate::wall::color;
use crate::wall::{Colors, WallSettings, WallSize};

/// Most toasts on screen; older ones leave early.
pub const MAX_TOASTS: usize = 5;
/// How long a toast stays.
pub const TOAST_TTL: Duration = Duration::from_secs(8);

/// What a toast reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToastKind {
    /// The gateway refused a change (or it could not be queued).
    Rejected,
    /// Someone else changed it first.
    Conflict,
    /// The link to the gateway moved.
    Connection,
    /// Anything else worth a glance.
    Info,
    /// One of this wall's changes was applied.
    Applied,
}

impl ToastKind {
    fn style(self, theme: &Theme) -> (&'static str, Rgb) {
        match self {
            Self::Rejected => ("REJECTED", palette::OFFLINE),
            Self::Conflict => ("CONFLICT", palette::DEGRADED),
            Self::Connection => ("LINK", palette::ACCENT),
            Self::Info => ("INFO", theme.text_dim),
            Self::Applied => ("APPLIED", palette::ONLINE),
        }
    }
}

/// Show a toast.
#[derive(Message, Debug, Clone, PartialEq, Eq)]
pub struct Toast {
    /// What kind.
    pub kind: ToastKind,
    /// What to say.
    pub text: String,
}

impl Toast {
    /// A toast.
    pub fn new(kind: ToastKind, text: impl Into<String>) -> Self {
        Self { kind, text: text.into() }
    }
}

/// A toast on screen.
#[derive(Component, Debug)]
pub struct ToastNode {
    /// What it says.
    pub toast: Toast,
    left: Timer,
}

/// The column toasts stack in.
#[derive(Component, Debug)]
pub struct ToastColumn;

/// Draws toasts.
#[derive(Default)]
pub struct ToastPlugin;

impl Plugin for ToastPlugin {
    fn build(&self, app: &mut App) {
        app.add_message::<Toast>().init_resource::<Colors>().add_systems(Startup, spawn_column).add_systems(
            Update,
            (link_toasts, gateway_toasts, fleet_toasts, token_toasts, show_toasts, expire_toasts).chain(),
        );
    }
}

fn spawn_column(mut commands: Commands, size: Res<WallSize>) {
    let pad = (size.h * 0.015).max(6.0);
    commands.spawn((
        ToastColumn,
        Node {
            position_type: PositionType::Absolute,
            right: px(pad),
            bottom: px(pad),
            max_width: percent(45),
            flex_direction: FlexDirection::Column,
            align_items: AlignItems::FlexEnd,
            row_gap: px(pad * 0.5),
            ..default()
        },
        GlobalZIndex(10),
    ));
}

fn link_toasts(
    state: Res<State<LinkState>>,
    info: Res<LinkInfo>,
    mut was: Local<Option<LinkState>>,
    mut toasts: MessageWriter<Toast>,
) {
    let now = *state.get();
    let before = was.replace(now);
    if before == Some(now) {
        return;
    }
    let text = match (before, now) {
        (Some(LinkState::Live), LinkState::Reconnecting) => {
            let reason = info.reason.as_deref().unwrap_or("link lost");
            format!("connection lost ({reason}); reconnecting")
        }
        (Some(LinkState::Reconnecting), LinkState::Live) => format!("reconnected after {} tries", info.reconnects),
        (_, LinkState::Refused) => match info.reason.as_deref() {
            Some(r) if !r.starts_with("refused:") => format!("not connecting: {r}"),
            _ => "the gateway refused this wall's token".to_owned(),
        },
        _ => return,
    };
    toasts.write(Toast::new(ToastKind::Connection, text));
}

/// Errors the gateway reported, and things it sent that could not be read
/// (the rest of the view is kept; this says what is missing).
fn gateway_toasts(
    mut errors: MessageReader<ServerErrorReceived>,
    mut undecodable: MessageReader<UndecodableReceived>,
    mut toasts: MessageWriter<Toast>,
) {
    for ServerErrorReceived(e) in errors.read() {
        toasts.write(Toast::new(ToastKind::Info, format!("gateway: {} ({})", e.message, e.code.as_str())));
    }
    // One toast per frame at most: a page of unreadable items is one notice.
    let bad: Vec<&UndecodableReceived> = undecodable.read().collect();
    if let Some(first) = bad.first() {
        let what = match &first.id {
            Some(id) => format!("{} {id}", first.kind),
            None => first.kind.clone(),
        };
        let more = if bad.len() > 1 { format!(" and {} more", bad.len() - 1) } else { String::new() };
        toasts.write(Toast::new(ToastKind::Rejected, format!("could not read {what}{more}: {}", first.error)));
    }
}

/// What the sync layer reported: rollbacks with their reason, refusals,
/// confirmations, the local store.
fn fleet_toasts(
    settings: Option<Res<WallSettings>>,
    mut notices: MessageReader<FleetNotice>,
    mut toasts: MessageWriter<Toast>,
) {
    let confirm = settings.as_ref().is_none_or(|s| s.0.confirm_s > 0.0);
    for n in notices.read() {
        let toast = match n {
            FleetNotice::RolledBack { kind, target, reason, conflict } => Toast::new(
                if *conflict { ToastKind::Conflict } else { ToastKind::Rejected },
                format!("{kind} {target} rolled back: {reason}"),
            ),
            FleetNotice::Refused { kind, reason } => {
                Toast::new(ToastKind::Rejected, format!("{kind} refused: {reason}"))
            }
            FleetNotice::Applied { .. } if !confirm => continue,
            FleetNotice::Applied { kind, target } => Toast::new(ToastKind::Applied, format!("{kind} {target} applied")),
            FleetNotice::StoreFailed(message) => {
                Toast::new(ToastKind::Rejected, format!("local store failed: {message}"))
            }
            FleetNotice::Restored(0) => continue,
            FleetNotice::Restored(n) => Toast::new(ToastKind::Info, format!("{n} saved changes are being delivered")),
        };
        toasts.write(toast);
    }
}

/// The token's expiry, said once ten minutes before and once when it passed
/// (the link badge then says the gateway refused the wall).
fn token_toasts(expiry: Res<TokenExpiry>, mut said: Local<(bool, bool)>, mut toasts: MessageWriter<Toast>) {
    let Some(exp) = expiry.0 else { return };
    if expiry.is_changed() {
        *said = (false, false);
    }
    let now = vizora_protocol::now_ms();
    if now >= exp && !said.1 {
        said.1 = true;
        toasts.write(Toast::new(ToastKind::Connection, "this wall's token has expired: give it a new one"));
    } else if now + 600_000 >= exp && now < exp && !said.0 {
        said.0 = true;
        let mins = (exp - now).div_ceil(60_000);
        toasts.write(Toast::new(ToastKind::Connection, format!("this wall's token expires in {mins} min")));
    }
}

fn show_toasts(
    mut commands: Commands,
    size: Res<WallSize>,
    settings: Option<Res<WallSettings>>,
    colors: Res<Colors>,
    column: Option<Single<Entity, With<ToastColumn>>>,
    mut toasts: MessageReader<Toast>,
    existing: Query<(Entity, &ToastNode)>,
) {
    let Some(column) = column else { return };
    let fresh: Vec<&Toast> = toasts.read().collect();
    if fresh.is_empty() {
        return;
    }
    // Keep the newest MAX_TOASTS: the oldest on screen leave first.
    let overflow = (existing.iter().len() + fresh.len()).saturating_sub(MAX_TOASTS);
    let mut old: Vec<(Entity, f32)> = existing.iter().map(|(e, t)| (e, t.left.remaining_secs())).collect();
    old.sort_by(|a, b| a.1.total_cmp(&b.1));
    for (e, _) in old.iter().take(overflow) {
        commands.entity(*e).despawn();
    }
    let font = (size.h * 0.022).clamp(12.0, 64.0);
    // Confirmations are brief (`confirm_s`); everything else stays TOAST_TTL.
    let confirm = settings.as_ref().map_or(3.0, |s| s.0.confirm_s);
    let ttl =
        |k: ToastKind| if k == ToastKind::Applied { Duration::from_secs_f32(confirm.max(0.1)) } else { TOAST_TTL };
    let skip = fresh.len().saturating_sub(MAX_TOASTS);
    for t in fresh.into_iter().skip(skip) {
        let (label, c) = t.kind.style(&colors.0);
        commands.entity(*column).with_child((
            ToastNode { toast: t.clone(), left: Timer::new(ttl(t.kind), TimerMode::Once) },
            Node {
                padding: UiRect::axes(px(font * 0.6), px(font * 0.3)),
                border: UiRect::left(px(font * 0.3)),
                ..default()
            },
            BorderColor::all(color(c)),
            BackgroundColor(color(colors.0.panel)),
            children![(
                Text::new(format!("{label}  {}", t.text)),
                TextFont::from_font_size(font),
                TextColor(color(colors.0.text)),
            )],
        ));
    }
}

fn expire_toasts(mut commands: Commands, time: Res<Time>, mut q: Query<(Entity, &mut ToastNode)>) {
    for (e, mut t) in &mut q {
        if t.left.tick(time.delta()).is_finished() {
            commands.entity(e).despawn();
        }
    }
}
