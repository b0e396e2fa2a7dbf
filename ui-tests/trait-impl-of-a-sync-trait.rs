// The attribute on an impl of a trait whose method is not async: the impl cannot change the
// trait's signature.
trait Store {
    fn get(&self) -> u32;
}

struct Memory;

#[anysync::coroutine]
impl Store for Memory {
    async fn get(&self) -> u32 {
        1
    }
}

fn main() {}
