use anysync::yield_;

#[anysync::iterator]
async fn numbers() {
    yield_!(1);
}

fn main() {}
