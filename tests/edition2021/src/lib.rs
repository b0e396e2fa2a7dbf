//! Edition-2021 user crate for anysync macro expansion tests.
