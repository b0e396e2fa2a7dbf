// A `dyn` trait's methods return a boxed future: a plain `async fn` cannot implement them,
// the impl needs `#[anysync::coroutine(dyn)]` as well.
#[anysync::coroutine(dyn)]
trait Store: Send + Sync {
    async fn get(&self, key: &str) -> Option<String>;
}

struct Memory;

impl Store for Memory {
    async fn get(&self, key: &str) -> Option<String> {
        Some(key.to_owned())
    }
}

fn main() {}
