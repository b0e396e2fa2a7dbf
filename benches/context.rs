//! Cost of a context manager's sync use (`enter().run()` + drop of the guard) on a plain
//! thread, against a hand-written guard that calls `Handle::block_on` twice (setup, then
//! teardown in `Drop`) on a driven runtime of the global runtime's shape; measured in the same
//! process. Python anysync's sync `with`, for scale: 481 µs on the same kind of machine.
//!
//! The harness is the shared one (benches/harness): each comparison alternates ours and the
//! anchor in short rounds (swapping which goes first) and reports the median of the per-round
//! ratios with its p25–p75 spread; run pinned (RUNTIME-FACTS.md) and never compare figures
//! across runs.
//!
//! ```text
//! taskset -c 0 cargo bench --bench context              # the figures in BENCHMARKS.md
//! taskset -c 0 cargo bench --bench context -- --quick   # smoke run
//! cargo bench --bench context -- macro                  # only comparisons whose name matches
//! ANYSYNC_BENCH_ROUNDS=101 cargo bench --bench context  # rounds per comparison (default 301)
//! ```

use anysync::{AsyncContext, Exit, yield_};
use std::hint::black_box;
use std::time::{Duration, Instant};
use tokio::runtime::Handle;

mod harness;

use harness::{Bench, Target, side};

// ---------------------------------------------------------------------------------------------
// The contexts
// ---------------------------------------------------------------------------------------------

async fn setup() -> u64 {
    black_box(1)
}

async fn teardown(target: u64) {
    black_box(target);
}

/// A user type implementing the trait.
struct Trivial;

impl AsyncContext for Trivial {
    type Target = u64;
    type Output = ();

    async fn setup(&mut self) -> u64 {
        setup().await
    }

    async fn teardown(&mut self, target: u64, _: Exit) {
        teardown(target).await;
    }
}

/// The same context through the macro.
#[anysync::context(item = u64)]
async fn trivial() {
    let target = yield_!(setup().await);
    teardown(target).await;
}

/// The anchor: what one writes by hand with a runtime handle.
struct HandGuard<'h> {
    handle: &'h Handle,
    target: u64,
}

impl<'h> HandGuard<'h> {
    fn enter(handle: &'h Handle) -> Self {
        HandGuard {
            handle,
            target: handle.block_on(setup()),
        }
    }
}

impl Drop for HandGuard<'_> {
    fn drop(&mut self) {
        self.handle.block_on(teardown(self.target));
    }
}

/// Times `iters` calls of `op`.
fn time(iters: u64, mut op: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        op();
    }
    start.elapsed()
}

const SECTION: &str = "Sync use on a plain thread";

fn main() {
    let mut b = Bench::from_args(301);
    // The anchor's runtime has the global runtime's shape: multi_thread, one worker driving
    // timers and IO, the caller polling its own future with `Handle::block_on`.
    let driven = harness::driven_runtime();
    let handle = driven.handle().clone();
    let n = b.n(10_000);
    let hand_guard = || {
        side("`HandGuard` (2× `Handle::block_on`)", n, |i| {
            time(i, || drop(black_box(HandGuard::enter(&handle))))
        })
    };
    // Start anysync's global runtime before anything is timed.
    drop(Trivial.enter().run());

    b.paired(
        SECTION,
        "trait type: enter + drop vs hand-written guard",
        Target::AtMost(1.2),
        side("`Trivial.enter().run()` + drop", n, |i| {
            time(i, || drop(black_box(Trivial.enter().run())))
        }),
        hand_guard(),
    );
    b.paired(
        SECTION,
        "`#[anysync::context]` body: enter + drop vs hand-written guard",
        Target::AtMost(1.2),
        side("`trivial().enter().run()` + drop", n, |i| {
            time(i, || drop(black_box(trivial().enter().run())))
        }),
        hand_guard(),
    );
    b.paired(
        SECTION,
        "floor: two `anysync::run` calls vs hand-written guard",
        Target::None,
        side("2× `anysync::run`", n, |i| {
            time(i, || {
                let target = anysync::run(setup());
                anysync::run(teardown(black_box(target)));
            })
        }),
        hand_guard(),
    );
    b.paired(
        SECTION,
        "trait type: `scope` vs hand-written guard",
        Target::None,
        side("`Trivial.scope(|t| *t)`", n, |i| {
            time(i, || {
                black_box(Trivial.scope(|t| *t));
            })
        }),
        hand_guard(),
    );
    b.paired(
        SECTION,
        "`#[anysync::context]` body vs trait type",
        Target::None,
        side("`trivial().enter().run()` + drop", n, |i| {
            time(i, || drop(black_box(trivial().enter().run())))
        }),
        side("`Trivial.enter().run()` + drop", n, |i| {
            time(i, || drop(black_box(Trivial.enter().run())))
        }),
    );
    b.report();
}
