// An anysync attribute on a non-async trait method, `#[instrument]` on a trait's method,
// and the iterator attribute on a whole trait.
#[anysync::coroutine]
trait Store: Send + Sync {
    #[anysync::iterator(item = u32)]
    fn rows(&self);

    #[tracing::instrument]
    async fn get(&self) -> u32;
}

#[anysync::iterator(item = u32)]
trait Rows {
    async fn rows(&self);
}

fn main() {}
