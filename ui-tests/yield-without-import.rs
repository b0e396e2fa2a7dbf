#[anysync::iterator(item = u32)]
async fn numbers() {
    yield_!(1);
}

fn main() {}
