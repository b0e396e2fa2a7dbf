#[anysync::iterator(item = impl Sized)]
async fn opaque_items() {}

fn main() {}
