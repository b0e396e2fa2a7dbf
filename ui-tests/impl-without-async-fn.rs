struct Client;

#[anysync::coroutine]
impl Client {
    fn name(&self) -> &'static str {
        "client"
    }
}

fn main() {
    let _ = Client.name();
}
