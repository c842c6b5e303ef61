//! Tokio runtime driver (being written).
