//! The Vizora wallboard: a Bevy app fed by the client IO thread.
//!
//! Layers, each using only those listed before it (checked by the
//! `layers` test in `tests/wall`):
//!
//! 1. [`base`]: plain Rust, no Bevy: config, fleet model, layout, palette, formatting.
//! 2. [`sync`]: the net bridge and the sync plugin: facts as messages, never UI.
//! 3. [`wall`]: shared wall machinery: size, settings, pulse clock, pages,
//!    panel status and error boundary, the panel frame, the staleness
//!    hatch, the search and the selection.
//! 4. [`panels`]: one module per panel; panels never import each other.
//! 5. [`chrome`]: top bar, toasts, search box, detail card, operator
//!    console, debug overlay, kiosk.
//! 6. [`app`]: [`app::WallPlugins`], the app builder and the data sources
//!    (embedded demo, sample fleet, headless capture). The CLI (`main.rs`)
//!    sits on top.

pub mod app;
pub mod base;
pub mod chrome;
pub mod panels;
pub mod sync;
pub mod wall;
