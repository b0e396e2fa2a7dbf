#![deny(unused_must_use)]

#[anysync::coroutine]
async fn save() {}

fn main() {
    save();
}
