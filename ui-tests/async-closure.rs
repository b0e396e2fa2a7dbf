// Attribute macros cannot be applied to expressions on stable Rust, so rustc rejects this
// before `#[anysync::coroutine]` runs; wrap the closure's body in an `async fn` instead.
fn main() {
    let f = #[anysync::coroutine]
    async || 1;
    let _ = f;
}
