// The common case: the trait declares `async fn`, which a `Coroutine`-returning method would
// not match. The impl is kept as written, so only the attribute is reported.
trait Store {
    async fn get(&self) -> u32;
}

struct Memory;

#[anysync::coroutine]
impl Store for Memory {
    async fn get(&self) -> u32 {
        1
    }
}

fn main() {}
