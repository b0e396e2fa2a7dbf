#![deny(unused_must_use)]

use anysync::yield_;

#[anysync::iterator(item = u32)]
async fn numbers() {
    yield_!(1);
}

#[anysync::generator(item = u32)]
async fn counter() {
    yield_!(1);
}

#[anysync::context(item = u32)]
async fn scope() {
    yield_!(1);
}

#[anysync::blocking]
fn work() -> u32 {
    1
}

fn main() {
    numbers();
    counter();
    scope();
    work();
}
