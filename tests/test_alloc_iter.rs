//! A blocking `for` over an `#[anysync::iterator]` (or an `anysync::iter(stream)`, issue 12) on
//! a plain thread allocates nothing per item after warm-up (issue 3's "0 heap allocations per
//! item"), proved deterministically with a counting global allocator instead of timing.
//!
//! Only allocations made by the test thread while it opted in are counted, so the global
//! runtime's worker and other tests running in parallel do not disturb the count. On a plain
//! thread every item is produced in place on the calling thread (`Handle::block_on` with the
//! global handle), so the body's own allocations would be counted too: the controls show that
//! the counter sees a `Box` made directly and the ones a body makes per item.

mod counting;

use anysync::yield_;
use counting::allocations_in;

#[global_allocator]
static ALLOCATOR: counting::Counting = counting::Counting;

/// How many items are counted after the warm-up.
const COUNTED: u64 = 10_000;

/// Takes the next [`COUNTED`] items of `it` with a `for` loop, handing each to `each`, and
/// returns how many items there were and how many allocations the loop made.
fn counted_for<T>(it: &mut impl Iterator<Item = T>, mut each: impl FnMut(T)) -> (u64, u64) {
    let mut count = 0;
    let allocations = allocations_in(|| {
        for x in it.by_ref().take(COUNTED as usize) {
            count += 1;
            each(x);
        }
    });
    (count, allocations)
}

#[anysync::iterator(item = u64)]
async fn numbers(n: u64) {
    for i in 0..n {
        yield_!(i);
    }
}

/// Each item passes through a real `Pending` in tokio before it is yielded.
#[anysync::iterator(item = u64)]
async fn yielding_numbers(n: u64) {
    for i in 0..n {
        tokio::task::yield_now().await;
        yield_!(i);
    }
}

/// Allocates a `Box` per item: the control for the counter seeing the body's allocations.
#[anysync::iterator(item = Box<u64>)]
async fn boxed_numbers(n: u64) {
    for i in 0..n {
        yield_!(Box::new(i));
    }
}

#[test]
fn plain_thread_for_allocates_nothing_per_item() {
    // Warm-up: creating the iterator allocates (the boxed body, the slot), and the first item
    // starts the global runtime and this thread's parker.
    let mut it = numbers(COUNTED * 2).into_iter();
    assert_eq!(it.next(), Some(0));
    let mut sum = 0;
    let (count, allocations) = counted_for(&mut it, |x| sum += x);
    assert_eq!((count, sum), (COUNTED, (1..=COUNTED).sum::<u64>()));
    assert_eq!(
        allocations, 0,
        "allocations in {COUNTED} items of a blocking `for` on a plain thread"
    );
}

#[test]
fn plain_thread_for_allocates_nothing_per_item_when_the_body_really_suspends() {
    let mut it = yielding_numbers(COUNTED * 2).into_iter();
    assert_eq!(it.next(), Some(0));
    let mut sum = 0;
    let (count, allocations) = counted_for(&mut it, |x| sum += x);
    assert_eq!((count, sum), (COUNTED, (1..=COUNTED).sum::<u64>()));
    assert_eq!(
        allocations, 0,
        "allocations in {COUNTED} items (each after a `yield_now`) of a blocking `for` on a \
         plain thread"
    );
}

#[test]
fn the_counter_sees_allocations() {
    // Guards the tests above against a counter that cannot count.
    let allocations = allocations_in(|| drop(std::hint::black_box(Box::new(1_u64))));
    assert_eq!(allocations, 1);
}

#[test]
fn the_counter_sees_what_the_body_allocates_per_item() {
    // Guards the tests above against items being produced on a thread that is not counted:
    // a body that boxes every item must show exactly one allocation per item.
    let mut it = boxed_numbers(COUNTED * 2).into_iter();
    assert_eq!(it.next().as_deref(), Some(&0));
    let (count, allocations) = counted_for(&mut it, |x| drop(std::hint::black_box(x)));
    assert_eq!(count, COUNTED);
    assert_eq!(allocations, COUNTED);
}

/// `anysync::iter` over a stream (issue 12): the same machinery, so the same count.
#[test]
fn plain_thread_for_over_a_ready_stream_allocates_nothing_per_item() {
    let mut it = anysync::iter(futures::stream::iter(0..COUNTED * 2)).into_iter();
    assert_eq!(it.next(), Some(0));
    let mut sum = 0;
    let (count, allocations) = counted_for(&mut it, |x| sum += x);
    assert_eq!((count, sum), (COUNTED, (1..=COUNTED).sum::<u64>()));
    assert_eq!(
        allocations, 0,
        "allocations in {COUNTED} items of `for` over `anysync::iter(stream)` on a plain thread"
    );
}

#[test]
fn plain_thread_for_over_a_suspending_stream_allocates_nothing_per_item() {
    let stream = futures::stream::unfold(0_u64, |i| async move {
        tokio::task::yield_now().await;
        Some((i, i + 1))
    });
    let mut it = anysync::iter(stream).into_iter();
    assert_eq!(it.next(), Some(0));
    let mut sum = 0;
    let (count, allocations) = counted_for(&mut it, |x| sum += x);
    assert_eq!((count, sum), (COUNTED, (1..=COUNTED).sum::<u64>()));
    assert_eq!(
        allocations, 0,
        "allocations in {COUNTED} items (each after a `yield_now`) of `for` over \
         `anysync::iter(stream)` on a plain thread"
    );
}

#[test]
fn the_counter_sees_what_a_stream_allocates_per_item() {
    // The control for the two tests above: the stream is polled on the counting thread.
    let boxed = futures::stream::unfold(0_u64, |i| async move { Some((Box::new(i), i + 1)) });
    let mut it = anysync::iter(boxed).into_iter();
    assert_eq!(it.next().as_deref(), Some(&0));
    let (count, allocations) = counted_for(&mut it, |x| drop(std::hint::black_box(x)));
    assert_eq!(count, COUNTED);
    assert_eq!(allocations, COUNTED);
}
