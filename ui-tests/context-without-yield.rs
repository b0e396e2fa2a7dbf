#[anysync::context(item = u32)]
async fn never_lends() {
    let _setup = 1;
}

fn main() {}
