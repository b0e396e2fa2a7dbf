use anysync::yield_;

// A macro that smuggles `yield_!` into the body: the attribute cannot see inside it, so the
// real `yield_!` expands, which is a compile error (never a miscompile).
macro_rules! emit {
    ($value:expr) => {
        yield_!($value)
    };
}

#[anysync::iterator(item = u32)]
async fn numbers() {
    emit!(1);
}

fn main() {}
