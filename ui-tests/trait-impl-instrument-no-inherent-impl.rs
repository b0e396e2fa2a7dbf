// `#[instrument]` on a method of a trait impl puts the body in an inherent impl of the self
// type: a blanket impl's type parameter, a slice or a tuple cannot have one.
#[anysync::coroutine]
trait Store: Send + Sync {
    async fn get(&self, key: &str) -> String;
}

trait Backend: Send + Sync {
    fn name(&self) -> String;
}

#[anysync::coroutine]
impl<T: Backend> Store for T {
    #[tracing::instrument(skip(self))]
    async fn get(&self, key: &str) -> String {
        format!("{}{key}", self.name())
    }
}

#[anysync::coroutine]
impl Store for [u8] {
    #[tracing::instrument(skip(self))]
    async fn get(&self, key: &str) -> String {
        format!("{}{key}", self.len())
    }
}

fn main() {}
