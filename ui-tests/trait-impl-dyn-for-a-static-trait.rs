// The impl says `dyn`, the trait does not: the impl cannot add a vtable to the trait.
#[anysync::coroutine]
trait Store: Send + Sync {
    async fn get(&self, key: &str) -> Option<String>;
}

struct Memory;

#[anysync::coroutine(dyn)]
impl Store for Memory {
    async fn get(&self, key: &str) -> Option<String> {
        Some(key.to_owned())
    }
}

fn main() {}
