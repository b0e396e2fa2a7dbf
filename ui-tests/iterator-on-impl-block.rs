struct Table;

#[anysync::iterator(item = u32)]
impl Table {
    async fn rows(&self) {}
}

fn main() {}
