//! Fuzz harnesses: one `run(&[u8])` per target, each decoding like the
//! project does and then checking invariants (round trips, consistency), not
//! only "does not panic". Each module is self-contained (it names only
//! `vizora_protocol`, `vizora_gateway`, `serde_json` and `ron`) because the
//! regression tests include the files with `#[path]`.

pub mod codec;
pub mod config;
pub mod mutation;
pub mod server_packets;
pub mod stored_row;
