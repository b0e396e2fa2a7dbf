#[anysync::coroutine(?Sned)]
async fn local() {}

fn main() {
    local().run();
}
