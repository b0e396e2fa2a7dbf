use anysync::yield_;

#[anysync::iterator(item = u32, send = u32)]
async fn with_send() {
    yield_!(1);
}

#[anysync::generator(item = u32, item = u64)]
async fn twice() {
    yield_!(1);
}

#[anysync::context(item = 5)]
async fn not_a_type() {
    yield_!(());
}

fn main() {}
