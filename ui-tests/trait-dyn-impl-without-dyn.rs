// The trait is `dyn`, its impl is not: the impl must say `dyn` too.
#[anysync::coroutine(dyn)]
trait Store: Send + Sync {
    async fn get(&self, key: &str) -> Option<String>;
}

struct Memory;

#[anysync::coroutine]
impl Store for Memory {
    async fn get(&self, key: &str) -> Option<String> {
        Some(key.to_owned())
    }
}

fn main() {}
