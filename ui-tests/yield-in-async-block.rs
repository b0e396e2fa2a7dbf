use anysync::yield_;

#[anysync::iterator(item = u32)]
async fn numbers() {
    let later = async {
        yield_!(1);
    };
    later.await;
}

fn main() {}
