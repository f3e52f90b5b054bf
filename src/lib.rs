//! The Vizora wallboard: a Bevy app fed by the client IO thread.
//!
//! Plugins, one concern each: [`net::NetPlugin`] drains the client's channel
//! into messages, [`fleet::FleetPlugin`] keeps the fleet view,
//! [`devices_panel::DevicesPanelPlugin`] draws device tiles,
//! [`hud::HudPlugin`] the always-visible bar, [`overlay::OverlayPlugin`] the
//! F12 debug overlay, [`headless::HeadlessPlugin`] renders to a PNG.

pub mod app;
pub mod config;
pub mod demo;
pub mod devices_panel;
pub mod fixture;
pub mod fleet;
pub mod fleet_model;
pub mod headless;
pub mod health_panel;
pub mod hud;
pub mod kiosk;
pub mod layout;
pub mod net;
pub mod overlay;
pub mod pages;
pub mod palette;
