//! Tests of anysync's `tracing` feature live in `tests/`; this crate only turns the feature on.
//!
//! Being a workspace member, it makes `cargo test --workspace` and
//! `cargo clippy --workspace --all-targets` build and check anysync with the feature.
