//! The per-machine node of ha-rs.
//!
//! - [`campaign`]: simulated fault campaigns against whole clusters, with invariants.
#![forbid(unsafe_code)]

pub mod campaign;
