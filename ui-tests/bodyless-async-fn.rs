struct Client;

#[anysync::coroutine]
impl Client {
    async fn missing_body(&self) -> u32;
}

#[anysync::coroutine]
async fn free_without_body() -> u32;

fn main() {}
