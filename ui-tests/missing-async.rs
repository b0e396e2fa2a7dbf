// The error points at `fn`; the item is kept, so its caller reports nothing more.
#[anysync::coroutine]
pub fn answer() -> u32 {
    42
}

fn main() {
    let _: u32 = answer();
}
