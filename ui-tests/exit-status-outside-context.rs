use anysync::{exit_status, yield_};

#[anysync::iterator(item = u32)]
async fn numbers() {
    yield_!(1);
    let _ = exit_status!();
}

fn main() {
    let _ = exit_status!();
}
