//! Cost of calling through an `#[anysync::coroutine]` trait, against the same work without
//! the trait, and of a `dyn` trait against `#[async_trait]`, measured in the same process.
//!
//! - Generic trait method vs the same inherent coroutine, with `.run()` on a plain thread and
//!   `.await` in a task: a generic call is monomorphised to the impl's own future, so the
//!   target is 1.0 ± 0.05.
//! - `dyn` (`#[anysync::coroutine(dyn)]`) vs `#[async_trait]` on the same trait: both box the
//!   future once per call; `.await` in a task, and `.run()` on a plain thread against
//!   `anysync::run` of the async-trait future. Target ≤ 1.05×.
//!
//! The harness is the shared one (benches/harness): each comparison alternates ours and the
//! anchor in short rounds (swapping which goes first) and reports the median of the per-round
//! ratios with its p25–p75 spread; run pinned (RUNTIME-FACTS.md) and never compare figures
//! across runs.
//!
//! ```text
//! taskset -c 0 cargo bench --bench trait              # the figures in BENCHMARKS.md
//! taskset -c 0 cargo bench --bench trait -- --quick   # smoke run
//! cargo bench --bench trait -- dyn                    # only comparisons whose name matches
//! ANYSYNC_BENCH_ROUNDS=101 cargo bench --bench trait  # rounds per comparison (default 301)
//! ```

use anysync::RunExt;
use std::hint::black_box;
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;

mod harness;

use harness::{Bench, Target, side};

// ---------------------------------------------------------------------------------------------
// One body, four ways to reach it
// ---------------------------------------------------------------------------------------------

/// The work of every call: one trip through tokio's scheduler (`yield_now`), then a read of
/// the receiver and the borrowed argument.
async fn body(state: &u64, key: &str) -> u64 {
    tokio::task::yield_now().await;
    black_box(*state + key.len() as u64)
}

struct Backend(u64);

/// The anchor of the generic comparisons: an inherent coroutine with the same body.
#[anysync::coroutine]
impl Backend {
    async fn inherent(&self, key: &str) -> u64 {
        body(&self.0, key).await
    }
}

#[anysync::coroutine]
trait Store: Send + Sync {
    async fn get(&self, key: &str) -> u64;
}

#[anysync::coroutine]
impl Store for Backend {
    async fn get(&self, key: &str) -> u64 {
        body(&self.0, key).await
    }
}

#[anysync::coroutine(dyn)]
trait DynStore: Send + Sync {
    async fn get(&self, key: &str) -> u64;
}

#[anysync::coroutine(dyn)]
impl DynStore for Backend {
    async fn get(&self, key: &str) -> u64 {
        body(&self.0, key).await
    }
}

/// The same trait under async-trait, the anchor of the `dyn` comparisons.
#[async_trait::async_trait]
trait AsyncTraitStore: Send + Sync {
    async fn get(&self, key: &str) -> u64;
}

#[async_trait::async_trait]
impl AsyncTraitStore for Backend {
    async fn get(&self, key: &str) -> u64 {
        body(&self.0, key).await
    }
}

// ---------------------------------------------------------------------------------------------
// Callers
// ---------------------------------------------------------------------------------------------

/// Generic blocking code: what the issue's `sync_caller<S: Store>` does.
#[inline(never)]
fn generic_run<S: Store>(store: &S, key: &str) -> u64 {
    store.get(key).run()
}

/// The anchor of `generic_run`: the inherent coroutine, called the same way.
#[inline(never)]
fn inherent_run(backend: &Backend, key: &str) -> u64 {
    backend.inherent(key).run()
}

/// Generic async code gets the trait's future (awaited by the caller, as the inherent
/// coroutine is: no extra `async fn` layer on either side).
fn generic_get<'a, S: Store>(store: &'a S, key: &'a str) -> impl Future<Output = u64> + 'a {
    store.get(key)
}

/// Consumes a result so that the optimiser cannot drop the call that made it.
fn sink(value: u64) {
    black_box(value);
}

/// Times `iters` calls of `op` on the calling thread.
fn time(iters: u64, mut op: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        op();
    }
    start.elapsed()
}

/// Times `iters` awaits of `call()` inside one task of `rt`.
fn time_awaits<F>(rt: &Runtime, iters: u64, call: impl Fn() -> F + Send + 'static) -> Duration
where
    F: Future<Output = u64> + Send,
{
    rt.block_on(async move {
        tokio::spawn(async move {
            let start = Instant::now();
            for _ in 0..iters {
                black_box(call().await);
            }
            start.elapsed()
        })
        .await
        .expect("bench task panicked")
    })
}

const GENERIC: &str = "Generic trait method vs the same inherent coroutine";
const DYN: &str = "`dyn` trait vs `#[async_trait]`";

static BACKEND: Backend = Backend(1);

fn main() {
    let mut b = Bench::from_args(301);
    b.header("trait", "");
    let n = b.n(10_000);
    // An awaited call costs ~400 ns: 1,000 per round keeps a round (0.4 ms) well inside one
    // scheduler time slice, so preemption by other processes hits few rounds.
    let n_await = b.n(1_000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let object: &'static dyn DynStore = &BACKEND;
    let async_trait_object: &'static dyn AsyncTraitStore = &BACKEND;
    // Start anysync's global runtime before anything is timed.
    assert_eq!(generic_run(&BACKEND, "k"), 2);

    b.paired(
        GENERIC,
        "`.run()` on a plain thread",
        Target::Same(0.05),
        side("`generic_run(&s, k)` (`s.get(k).run()`)", n, |i| {
            time(i, || sink(generic_run(black_box(&BACKEND), "k")))
        }),
        side("`inherent_run(&s, k)` (`s.inherent(k).run()`)", n, |i| {
            time(i, || sink(inherent_run(black_box(&BACKEND), "k")))
        }),
    );
    b.paired(
        GENERIC,
        "`.await` in a current_thread task",
        Target::Same(0.05),
        side(
            "`generic_get(&s, k).await` (`s.get(k)`, `S: Store`)",
            n_await,
            |i| time_awaits(&rt, i, || generic_get(black_box(&BACKEND), "k")),
        ),
        side("`s.inherent(k).await`", n_await, |i| {
            time_awaits(&rt, i, || black_box(&BACKEND).inherent("k"))
        }),
    );
    b.paired(
        DYN,
        "`.await` in a current_thread task",
        Target::AtMost(1.05),
        side("`(&dyn DynStore).get(k).await`", n_await, |i| {
            time_awaits(&rt, i, move || black_box(object).get("k"))
        }),
        side("`#[async_trait]` `.get(k).await`", n_await, |i| {
            time_awaits(&rt, i, move || black_box(async_trait_object).get("k"))
        }),
    );
    b.paired(
        DYN,
        "`.run()` on a plain thread vs `anysync::run` of the async-trait future",
        Target::AtMost(1.05),
        side("`(&dyn DynStore).get(k).run()`", n, |i| {
            time(i, || sink(black_box(object).get("k").run()))
        }),
        side("`anysync::run(async_trait.get(k))`", n, |i| {
            time(i, || {
                sink(anysync::run(black_box(async_trait_object).get("k")))
            })
        }),
    );
    b.report();
}
