// A generic coroutine's `Send` depends on its instantiation, which its own body cannot rely
// on while it is being defined: recursion through `.run()` needs `#[anysync::coroutine(Send)]`
// (README, "Send"; tests/test_macro.rs `recursion` has the working version).
#[anysync::coroutine]
async fn sum_run<T: Copy + Into<u64> + Send + Sync>(values: &[T]) -> u64 {
    match values.split_first() {
        None => 0,
        Some((first, rest)) => (*first).into() + sum_run(rest).run(),
    }
}

fn main() {
    let _ = sum_run(&[1_u8]).run();
}
