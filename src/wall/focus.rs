//! What the operator is looking for and at: the device search (tiles that
//! do not match are dimmed, lists narrow to matching devices) and the
//! selected device (its detail card). Panels and chrome read these; the
//! finder and the devices panel write them.

use bevy::prelude::*;
use vizora_protocol::Device;

use crate::base::filter::DeviceQuery;

/// The device search.
#[derive(Resource, Debug, Clone, Default)]
pub struct DeviceFilter {
    /// What was typed.
    pub text: String,
    /// It, parsed (the last query that parsed, while the text does not).
    pub query: DeviceQuery,
    /// Why the text does not parse.
    pub error: Option<String>,
    /// The search box has the keyboard.
    pub editing: bool,
}

impl DeviceFilter {
    /// Sets the text; a query that does not parse keeps the last one and says why.
    pub fn set(&mut self, text: &str) {
        text.clone_into(&mut self.text);
        match DeviceQuery::parse(text) {
            Ok(q) => {
                self.query = q;
                self.error = None;
            }
            Err(e) => self.error = Some(e),
        }
    }

    /// Something is searched for.
    pub fn active(&self) -> bool {
        !self.query.is_empty()
    }

    /// Whether `d` is shown as a match (every device when nothing is searched for).
    pub fn matches(&self, d: &Device) -> bool {
        self.query.matches(d)
    }
}

/// The device the operator selected (mouse or arrow keys); its detail card shows.
#[derive(Resource, Debug, Clone, Default, PartialEq, Eq)]
pub struct Selected(pub Option<String>);

/// Input another layer has taken this frame: the console (egui) while a
/// text field has the keyboard or the pointer is over its window. The
/// wall's own keys and clicks leave such input alone.
#[derive(Resource, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InputCapture {
    /// Keys go to a text field.
    pub keyboard: bool,
    /// The pointer is over a window of the console.
    pub pointer: bool,
}

/// The wall's keys: pressed keys nobody else has taken (not the console's
/// text fields, not the search box while it is typed into).
#[derive(bevy::ecs::system::SystemParam)]
pub struct WallKeys<'w> {
    keys: Option<Res<'w, ButtonInput<KeyCode>>>,
    filter: Option<Res<'w, DeviceFilter>>,
    capture: Option<Res<'w, InputCapture>>,
}

impl WallKeys<'_> {
    /// The keys, when they are the wall's this frame.
    pub fn get(&self) -> Option<&ButtonInput<KeyCode>> {
        let taken =
            self.capture.as_ref().is_some_and(|c| c.keyboard) || self.filter.as_ref().is_some_and(|f| f.editing);
        if taken { None } else { self.keys.as_deref() }
    }

    /// `key` was pressed this frame, for the wall.
    pub fn just_pressed(&self, key: KeyCode) -> bool {
        self.get().is_some_and(|k| k.just_pressed(key))
    }
}
