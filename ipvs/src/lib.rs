//! IPVS (Linux Virtual Server) for Rust.
#![forbid(unsafe_code)]

pub mod packet;
pub mod model;
