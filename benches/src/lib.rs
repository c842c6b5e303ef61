//! Benchmarks and measurement harnesses for the `ha-rs` crates. Criterion benches live in
//! `benches/`; harnesses that measure us and a reference peer side by side live in `src/bin`.
#![forbid(unsafe_code)]
