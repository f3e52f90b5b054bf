//! The bottom layer: plain Rust, no Bevy. The wallboard config and its
//! checks, the fleet model the sync plugin keeps and each device's recent
//! trail, the device search query, layout maths, the palette and how values
//! are written. Everything above may use it; it uses
//! nothing above.

pub mod config;
pub mod filter;
pub mod fleet_model;
pub mod format;
pub mod layout;
pub mod palette;
pub mod trail;
