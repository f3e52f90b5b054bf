//! UI chrome around the panels: the top bar ([`hud`]), toasts ([`toast`]),
//! the device search box ([`finder`]), the detail card of the selected
//! device ([`detail`]), the operator console ([`console`]), the F12 debug
//! overlay ([`overlay`]) and kiosk behaviour ([`kiosk`]). Chrome reads the lower layers' state and
//! messages; nothing below imports it.

pub mod console;
pub mod detail;
pub mod finder;
pub mod hud;
pub mod kiosk;
pub mod overlay;
pub mod toast;
