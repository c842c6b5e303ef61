//! Bidirectional Forwarding Detection (RFC 5880, 5881, 5883) for Rust.
//!
//! This crate will own:
//! - the **codec** with all five authentication types and per-reason drop counters;
//! - the sans-I/O **engine** hosting many sessions, implementing [`ha_core::Endpoint`];
//! - the **Linux adapter** (UDP sockets with TTL security) behind a feature;
//! - the mapping from keepalived.conf's `bfd_instance` sections.
#![forbid(unsafe_code)]
