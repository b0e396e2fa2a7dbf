#[anysync::blocking]
struct NotAFunction;

fn main() {}
