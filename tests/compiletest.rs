//! Drives the compile-fail cases in `ui-tests/`: every misuse of `#[anysync::coroutine]` and
//! the errors users see. Bless changes with `TRYBUILD=overwrite cargo test --test compiletest`
//! and read every `.stderr` before committing.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("ui-tests/*.rs");
}
