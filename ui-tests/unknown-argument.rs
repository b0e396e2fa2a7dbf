#[anysync::coroutine(timeout = 5)]
async fn slow() {}

fn main() {
    // The item is still expanded: no secondary "no method `run`" error here.
    slow().run();
}
