use std::rc::Rc;

#[anysync::blocking(?Send)]
fn shared(value: Rc<u32>) -> u32 {
    *value
}

fn main() {
    // `.run()` is fine; offloading a `!Send` call to a worker thread is not.
    assert_eq!(shared(Rc::new(1)).run(), 1);
    anysync::run(async {
        shared(Rc::new(2)).await;
    });
}
