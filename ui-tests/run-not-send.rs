use anysync::RunExt;
use std::rc::Rc;

fn main() {
    let value = async {
        let shared = Rc::new(1);
        tokio::task::yield_now().await;
        *shared
    }
    .run();
    let _ = value;
}
