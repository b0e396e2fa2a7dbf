#[anysync::coroutine(dyn)]
async fn get() -> u32 {
    1
}

struct Memory;

#[anysync::coroutine(dyn)]
impl Memory {
    async fn get(&self) -> u32 {
        1
    }
}

fn main() {}
