use anysync::yield_;

#[anysync::coroutine]
async fn answer() -> u32 {
    yield_!(41);
    42
}

fn main() {}
