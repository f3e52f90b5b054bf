//! One module per panel, each a plugin on the shared machinery of
//! [`crate::wall`]. Panels never import each other: what two panels share
//! lives in a lower layer.

pub mod alerts;
pub mod analytics;
pub mod catalog;
pub mod devices;
pub mod overview;
pub mod schedules;
