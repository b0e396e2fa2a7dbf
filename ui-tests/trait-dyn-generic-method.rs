// A `dyn` trait's vtable has one entry per method, so a generic method cannot be in it.
#[anysync::coroutine(dyn)]
trait Store: Send + Sync {
    async fn get<K: AsRef<str> + Send>(&self, key: K) -> Option<String>;
    async fn show(&self, value: impl std::fmt::Display + Send) -> String;
    // Left out of the vtable: accepted.
    async fn sized<K: Send>(&self, key: K) -> K
    where
        Self: Sized;
}

fn main() {}
