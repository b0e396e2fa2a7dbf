//! anysync's HTTP story, tested and shown against a real axum server and reqwest client:
//! `tests/http.rs` (the test) and `examples/http.rs` (the example). This crate has no code
//! of its own and is not published.
