#[anysync::coroutine(Send, ?Send)]
async fn contradicts() {}

#[anysync::coroutine(Send, Send)]
async fn twice() {}

fn main() {}
