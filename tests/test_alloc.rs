//! `.run()` on a plain thread allocates nothing per call after warm-up (a counting allocator
//! proves it deterministically, without timing).

mod counting;

use anysync::{Coroutine, RunExt};
use counting::allocations_in;

#[global_allocator]
static ALLOCATOR: counting::Counting = counting::Counting;

fn add(a: u64, b: u64) -> Coroutine<impl Future<Output = u64> + Send> {
    Coroutine::new(async move {
        tokio::task::yield_now().await;
        a + b
    })
}

#[test]
fn plain_thread_run_allocates_nothing_per_call_after_warm_up() {
    // Warm-up: starts the global runtime and this thread's parker.
    assert_eq!(add(1, 2).run(), 3);
    let mut total = 0;
    let allocations = allocations_in(|| {
        for i in 0..1_000 {
            total += add(i, 1).run();
            total += std::future::ready(1).run();
        }
    });
    assert_eq!(total, (1..=1_000).sum::<u64>() + 1_000);
    assert_eq!(
        allocations, 0,
        "allocations in 2,000 plain-thread `.run()` calls"
    );
}

#[test]
fn the_counter_sees_allocations() {
    // Guards the test above against a counter that cannot count.
    let allocations = allocations_in(|| drop(std::hint::black_box(Box::new(1_u64))));
    assert_eq!(allocations, 1);
}
