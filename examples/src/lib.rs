//! Thin binaries composed from the `ha-rs` crates: `ha-sim` (the simulated-cluster demo),
//! `hakeepd` (the keepalived-compatible daemon), `ipvsctl`, `hacheck`. Shared helpers for them live here.
#![forbid(unsafe_code)]

pub mod campaign;
pub mod hakeepd;
