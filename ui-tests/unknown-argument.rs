#[anysync::coroutine(timeout = 5)]
async fn slow() {}

#[anysync::coroutine(Send)]
async fn explicit_send() {}

fn main() {
    // The item is still expanded: no secondary "no method `run`" error here.
    slow().run();
    explicit_send().run();
}
