//! The device search box: `/` (or Ctrl+F) opens it at the top of the
//! wall; what is typed narrows the wall to matching devices (tiles that do
//! not match fade, lists narrow) as it is typed. Enter keeps the search and
//! hands the keyboard back; Escape closes the box and clears the search.
//! Outside the box, Escape closes the detail card first, then clears a
//! kept search. While a search is kept, a
//! line under the top bar says what is searched for and how many match.

use bevy::input::ButtonState;
use bevy::input::keyboard::{Key, KeyboardInput};
use bevy::prelude::*;

use crate::base::layout::bar_height;
use crate::base::palette;
use crate::sync::fleet::Fleet;
use crate::wall::focus::{DeviceFilter, InputCapture, Selected};
use crate::wall::{Colors, WallSize, color};

/// The search line's text.
#[derive(Component, Debug)]
pub struct FinderText;

/// The search line (hidden while nothing is searched for).
#[derive(Component, Debug)]
pub struct FinderBox;

/// The search box.
#[derive(Default)]
pub struct FinderPlugin;

impl Plugin for FinderPlugin {
    fn build(&self, app: &mut App) {
        // Without an input plugin (tests feed keys) nothing writes it; the reader still needs it.
        app.init_resource::<DeviceFilter>()
            .init_resource::<Selected>()
            .init_resource::<InputCapture>()
            .init_resource::<Colors>()
            .add_message::<KeyboardInput>()
            .add_systems(Startup, spawn_finder)
            .add_systems(Update, (type_into_filter, show_finder).chain());
    }
}

fn spawn_finder(mut commands: Commands, size: Res<WallSize>, colors: Res<Colors>) {
    let bar = bar_height(size.h);
    let font = bar * 0.28;
    commands.spawn((
        FinderBox,
        Node {
            position_type: PositionType::Absolute,
            // Between the console (left) and the detail card (right).
            left: percent(26),
            width: percent(36),
            top: px(bar * 1.05),
            padding: UiRect::axes(px(font * 0.6), px(font * 0.25)),
            border: UiRect::all(px(2)),
            display: Display::None,
            ..default()
        },
        BorderColor::all(color(palette::ACCENT)),
        BackgroundColor(color(colors.0.panel)),
        GlobalZIndex(20),
        children![(
            FinderText,
            Text::new(""),
            TextFont::from_font_size(font),
            TextColor(color(colors.0.text)),
            TextLayout::default().with_no_wrap(),
        )],
    ));
}

/// Keys into the search: `/` or Ctrl+F opens it; while open, characters
/// are typed, Backspace deletes, Enter keeps, Escape clears.
fn type_into_filter(
    keys: Option<Res<ButtonInput<KeyCode>>>,
    capture: Res<InputCapture>,
    mut typed: MessageReader<KeyboardInput>,
    mut filter: ResMut<DeviceFilter>,
    mut selected: ResMut<Selected>,
) {
    // Keys typed into the console are the console's.
    let Some(keys) = keys.filter(|_| !capture.keyboard) else {
        typed.clear();
        return;
    };
    let ctrl = keys.pressed(KeyCode::ControlLeft) || keys.pressed(KeyCode::ControlRight);
    if !filter.editing {
        if keys.just_pressed(KeyCode::Slash) || (ctrl && keys.just_pressed(KeyCode::KeyF)) {
            filter.editing = true;
        } else if keys.just_pressed(KeyCode::Escape) {
            // One thing per press: the detail card closes first, then the search clears.
            if selected.0.is_some() {
                selected.0 = None;
            } else if filter.active() || filter.error.is_some() {
                filter.set("");
            }
        }
        // The key that opened the box is not typed into it.
        typed.clear();
        return;
    }
    let mut text = filter.text.clone();
    for k in typed.read() {
        if k.state != ButtonState::Pressed {
            continue;
        }
        match &k.logical_key {
            Key::Enter => filter.editing = false,
            Key::Escape => {
                text.clear();
                filter.editing = false;
            }
            Key::Backspace => {
                text.pop();
            }
            Key::Space => text.push(' '),
            Key::Character(c) if !ctrl && text.chars().count() < 80 => text.push_str(c),
            _ => {}
        }
    }
    if text != filter.text {
        filter.set(&text);
    }
}

/// Shows the search line while searching or while a search is kept.
fn show_finder(
    filter: Res<DeviceFilter>,
    fleet: Res<Fleet>,
    colors: Res<Colors>,
    mut boxes: Query<&mut Node, With<FinderBox>>,
    mut texts: Query<(&mut Text, &mut TextColor), With<FinderText>>,
    time: Res<Time>,
    mut matching: Local<(usize, f32)>,
) {
    // The fleet changes every frame under load: the count follows it once a
    // second, and the search at once.
    matching.1 += time.delta_secs();
    let due = filter.is_changed() || (fleet.is_changed() && matching.1 >= 1.0);
    if !due {
        return;
    }
    matching.1 = 0.0;
    let devices = &fleet.0.view().devices;
    matching.0 = if filter.active() { devices.values().filter(|d| filter.matches(d)).count() } else { devices.len() };
    let shown = filter.editing || filter.active() || filter.error.is_some();
    for mut node in &mut boxes {
        let want = if shown { Display::Flex } else { Display::None };
        if node.display != want {
            node.display = want;
        }
    }
    let cursor = if filter.editing { "_" } else { "" };
    let (line, c) = match &filter.error {
        Some(e) => (format!("FIND  {}{cursor}   {e}", crate::base::format::ascii(&filter.text, 60)), palette::OFFLINE),
        None => (
            format!(
                "FIND  {}{cursor}   {} of {}{}",
                crate::base::format::ascii(&filter.text, 60),
                matching.0,
                devices.len(),
                if filter.editing { "" } else { "   / edit  Esc clear" }
            ),
            colors.0.text,
        ),
    };
    for (mut t, mut tc) in &mut texts {
        if t.0 != line {
            t.0.clone_from(&line);
        }
        tc.0 = color(c);
    }
}
