#![deny(unused_must_use)]

// Regression test: a custom `#[must_use]` on a converted function warned twice (once for
// the function, once for the `Coroutine` it returns). Exactly one error below.
#[anysync::coroutine]
#[must_use = "the count says whether anything was deleted"]
async fn delete(key: String) -> usize {
    key.len()
}

fn main() {
    delete("x".into());
}
