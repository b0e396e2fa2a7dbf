#[anysync::coroutine(?Send, ?Send)]
async fn twice() {}

#[anysync::coroutine(crate = "anysync", crate = "anysync")]
async fn twice_crate() {}

fn main() {
    twice().run();
    twice_crate().run();
}
