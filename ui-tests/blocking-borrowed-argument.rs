struct Index;

impl Index {
    #[anysync::blocking]
    fn lookup(&self, key: String) -> usize {
        key.len()
    }
}

#[anysync::blocking]
fn count(text: &str, items: Vec<&'static str>, cursor: std::slice::Iter<'_, u8>) -> usize {
    text.len() + items.len() + cursor.len()
}

fn main() {}
