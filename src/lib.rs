//! The Vizora wallboard: a Bevy app fed by the client IO thread.
//!
//! Plugins, one concern each: [`net::NetPlugin`] drains the client's channel
//! into messages and sends controls back; [`fleet::FleetPlugin`] holds the
//! sync engine (confirmed state, optimistic operator changes, rollbacks);
//! one plugin per panel ([`main_panel`], [`devices_panel`], [`health_panel`],
//! [`analytics_panel`], [`schedules_panel`], [`catalog_panels`]) on the shared
//! [`panel`] machinery (age line, error tile, staleness hatch);
//! [`tile_marks::TileMarksPlugin`] pulses and hatches device tiles;
//! [`pages::PagesPlugin`] rotates and pins pages; [`hud::HudPlugin`] the
//! always-visible bar; [`toast::ToastPlugin`]; [`operator::OperatorPlugin`]
//! the operator dialogs (F2); [`overlay::OverlayPlugin`] the F12 debug
//! overlay; [`kiosk::KioskPlugin`]; [`headless::HeadlessPlugin`] renders to PNG.

pub mod analytics_panel;
pub mod app;
pub mod catalog_panels;
pub mod config;
pub mod demo;
pub mod devices_panel;
pub mod fixture;
pub mod fleet;
pub mod fleet_model;
pub mod hatch;
pub mod headless;
pub mod health_panel;
pub mod hud;
pub mod kiosk;
pub mod layout;
pub mod main_panel;
pub mod net;
pub mod operator;
pub mod overlay;
pub mod pages;
pub mod palette;
pub mod panel;
pub mod sample;
pub mod schedules_panel;
pub mod tile_marks;
pub mod toast;
