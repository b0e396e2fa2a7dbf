use anysync::yield_;

#[anysync::iterator(item = u32)]
async fn numbers() -> u32 {
    yield_!(1);
    2
}

fn main() {
    let _ = numbers();
}
