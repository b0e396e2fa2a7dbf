// A default body holds `&self` across `.await`, so its future is `Send` only for a `Sync`
// `Self`: without a `Sync` supertrait, the method gets `where Self: Sync`, and calling it on
// a type that is not `Sync` is an error at the call, pointing at the default's `&self`.
use anysync::RunExt;
use std::cell::Cell;

#[anysync::coroutine]
trait Counter {
    async fn bump(&mut self) -> u32;
    async fn describe(&self) -> String {
        tokio::task::yield_now().await;
        "a counter".to_owned()
    }
}

// `Cell` is `Send` but not `Sync`.
struct Local(Cell<u32>);

#[anysync::coroutine]
impl Counter for Local {
    async fn bump(&mut self) -> u32 {
        self.0.set(self.0.get() + 1);
        self.0.get()
    }
}

fn main() {
    let mut local = Local(Cell::new(1));
    let _ = local.bump().run(); // fine: `&mut self` needs `Send` only
    let _ = local.describe().run();
}
