#[anysync::coroutine(crate = anysync)]
async fn unquoted() {}

#[anysync::coroutine(crate = "not a path")]
async fn not_a_path() {}

fn main() {
    unquoted().run();
    not_a_path().run();
}
