use anysync::yield_;

#[anysync::context(item = u32)]
async fn lends() -> u32 {
    yield_!(1);
    2
}

fn main() {
    let _ = lends();
}
