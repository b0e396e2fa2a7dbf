// The trait's futures are `Send`, so a generic method's parameter that the future holds needs
// a `Send` bound.
#[anysync::coroutine]
trait Store: Send + Sync {
    async fn put<V: std::fmt::Debug>(&self, value: V) -> String {
        tokio::task::yield_now().await;
        format!("{value:?}")
    }
}

fn main() {}
