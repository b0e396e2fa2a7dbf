// A generic coroutine's future is `Send` exactly when its instantiation's is: `.run()` on one
// that is not fails at the call, naming the type that is not `Send`.
use std::rc::Rc;

#[anysync::coroutine]
async fn hold<T: Clone>(value: T) -> usize {
    let copy = value.clone();
    tokio::task::yield_now().await;
    drop(copy);
    1
}

fn main() {
    assert_eq!(hold(5_u32).run(), 1);
    let _ = hold(Rc::new(1)).run();
}
