//! `.run()` on a plain thread allocates nothing per call after warm-up (a counting allocator
//! proves it deterministically, without timing).

use anysync::{Coroutine, RunExt};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Counts allocations made by the thread that opted in.
struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; the bookkeeping touches only const-initialised
// thread-locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.try_with(Cell::get).unwrap_or(false) {
            let _ = COUNT.try_with(|c| c.set(c.get() + 1));
        }
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn allocations_in(f: impl FnOnce()) -> u64 {
    COUNT.set(0);
    COUNTING.set(true);
    f();
    COUNTING.set(false);
    COUNT.get()
}

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
