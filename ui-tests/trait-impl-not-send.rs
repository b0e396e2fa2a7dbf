// The trait promises `Send` futures; an impl whose future holds an `Rc` across an `.await`
// is an error at the impl (with or without `?Send` on the impl alone).
use std::rc::Rc;

#[anysync::coroutine]
trait Store: Send + Sync {
    async fn get(&self) -> u32;
}

struct Memory;

#[anysync::coroutine(?Send)]
impl Store for Memory {
    async fn get(&self) -> u32 {
        let rc = Rc::new(1);
        tokio::task::yield_now().await;
        *rc
    }
}

struct Plain;

impl Store for Plain {
    async fn get(&self) -> u32 {
        let rc = Rc::new(1);
        tokio::task::yield_now().await;
        *rc
    }
}

fn main() {}
