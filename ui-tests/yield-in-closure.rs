use anysync::yield_;

#[anysync::iterator(item = u32)]
async fn numbers() {
    let produce = |n| yield_!(n);
    produce(1);
}

fn main() {}
