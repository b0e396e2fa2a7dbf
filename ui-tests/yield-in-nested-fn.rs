use anysync::yield_;

#[anysync::generator(item = u32)]
async fn numbers() {
    fn helper() {
        yield_!(1);
    }
    helper();
}

fn main() {}
