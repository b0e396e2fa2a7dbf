//! A trait without `dyn` is zero-cost: calling its methods through generics allocates nothing
//! per call and the future is no larger than the plain `async fn`'s; a `dyn` trait allocates
//! exactly once per call (its boxed future). A counting allocator proves it, without timing.

mod counting;

use anysync::RunExt;
use counting::allocations_in;

#[global_allocator]
static ALLOCATOR: counting::Counting = counting::Counting;

#[anysync::coroutine]
trait Adder: Send + Sync {
    async fn add(&self, a: u64, b: &u64) -> u64;
    async fn add_twice(&self, a: u64, b: &u64) -> u64 {
        let once = self.add(a, b).await;
        self.add(once, b).await
    }
}

struct WithAttribute;

#[anysync::coroutine]
impl Adder for WithAttribute {
    async fn add(&self, a: u64, b: &u64) -> u64 {
        tokio::task::yield_now().await;
        a + b
    }
}

struct Plain;

impl Adder for Plain {
    async fn add(&self, a: u64, b: &u64) -> u64 {
        tokio::task::yield_now().await;
        a + b
    }
}

/// The same body as an inherent plain `async fn`: the size to match.
impl Plain {
    async fn inherent(&self, a: u64, b: &u64) -> u64 {
        tokio::task::yield_now().await;
        a + b
    }
}

#[anysync::coroutine(dyn)]
trait DynAdder: Send + Sync {
    async fn add(&self, a: u64, b: &u64) -> u64;
}

#[anysync::coroutine(dyn)]
impl DynAdder for WithAttribute {
    async fn add(&self, a: u64, b: &u64) -> u64 {
        tokio::task::yield_now().await;
        a + b
    }
}

fn generic_run<A: Adder>(adder: &A, n: u64) -> u64 {
    let one = 1;
    let mut total = 0;
    for i in 0..n {
        total += adder.add(i, &one).run();
        total += adder.add_twice(0, &one).run();
    }
    total
}

fn generic_await<A: Adder>(adder: &A, n: u64) -> u64 {
    anysync::run(async {
        let one = 1;
        let mut total = 0;
        for i in 0..n {
            total += adder.add(i, &one).await;
        }
        total
    })
}

#[test]
fn generic_trait_calls_allocate_nothing_per_call() {
    // Warm-up: starts the global runtime and this thread's parker.
    assert_eq!(generic_run(&WithAttribute, 1), 3);
    assert_eq!(generic_run(&Plain, 1), 3);
    assert_eq!(generic_await(&WithAttribute, 1), 1);
    let expected_run = (1..=1_000).sum::<u64>() + 2 * 1_000;
    let mut totals = Vec::with_capacity(5); // no allocation inside the count
    let allocations = allocations_in(|| {
        totals.push(generic_run(&WithAttribute, 1_000));
        totals.push(generic_run(&Plain, 1_000));
        totals.push(generic_await(&WithAttribute, 1_000));
        totals.push(generic_await(&Plain, 1_000));
        totals.push(Adder::add(&WithAttribute, 1, &2).run()); // static dispatch
    });
    let expected_await = (1..=1_000).sum::<u64>();
    assert_eq!(
        totals,
        [
            expected_run,
            expected_run,
            expected_await,
            expected_await,
            3
        ]
    );
    assert_eq!(
        allocations, 0,
        "allocations in 6,000 generic trait-method `.run()` and 2,000 `.await` calls"
    );
}

#[test]
fn the_trait_future_is_no_larger_than_the_async_fn() {
    let one = 1;
    let inherent = std::mem::size_of_val(&Plain.inherent(1, &one));
    assert_eq!(
        std::mem::size_of_val(&Adder::add(&WithAttribute, 1, &one)),
        inherent
    );
    assert_eq!(
        std::mem::size_of_val(&Adder::add(&Plain, 1, &one)),
        inherent
    );
}

#[test]
fn a_dyn_trait_call_allocates_its_boxed_future_once() {
    let adder: &dyn DynAdder = &WithAttribute;
    assert_eq!(adder.add(1, &2).run(), 3); // warm-up
    let one = 1;
    let mut total = 0;
    let allocations = allocations_in(|| {
        for i in 0..100 {
            total += adder.add(i, &one).run();
        }
    });
    assert_eq!(total, (1..=100).sum::<u64>());
    assert_eq!(allocations, 100, "one boxed future per `dyn` call");
}

#[test]
fn the_counter_sees_allocations() {
    // Guards the tests above against a counter that cannot count.
    let allocations = allocations_in(|| drop(std::hint::black_box(Box::new(1_u64))));
    assert_eq!(allocations, 1);
}
