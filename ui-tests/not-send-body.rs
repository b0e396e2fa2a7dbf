use std::rc::Rc;

#[anysync::coroutine]
async fn holds_rc_across_await() -> u32 {
    let shared = Rc::new(1);
    tokio::task::yield_now().await;
    *shared
}

fn main() {
    let _ = holds_rc_across_await();
}
