//! Per-call cost of `anysync::unblock` (asyncify) and of syncify (`.run()` inside an `unblock`
//! closure), against the hand-written tokio code they replace, measured in the same process.
//!
//! Anchors: `tokio::task::spawn_blocking` for `unblock`; `Handle::block_on` called from a
//! `spawn_blocking` closure for syncify. Python's asyncer, for scale: 133 µs per `asyncify`,
//! 124 µs per `syncify` on the same kind of machine.
//!
//! Cross-thread wake-ups on small VMs swing by an order of magnitude depending on which CPU
//! each thread lands on (RUNTIME-FACTS.md), so run pinned to one CPU. Each comparison
//! alternates ours and its anchor in short rounds (swapping which goes first) and reports the
//! median of the per-round ratios with its p25–p75 spread; never compare figures across runs.
//!
//! ```text
//! taskset -c 0 cargo bench --bench unblock              # the figures in BENCHMARKS.md
//! taskset -c 0 cargo bench --bench unblock -- --quick   # smoke run, a few seconds
//! cargo bench --bench unblock -- syncify                # only comparisons whose name matches
//! ANYSYNC_BENCH_ROUNDS=101 cargo bench --bench unblock  # more rounds (default 301, quick 7)
//! ```

use anysync::RunExt;
use std::future::{Future, ready};
use std::hint::black_box;
use std::time::{Duration, Instant};
use tokio::runtime::{Builder, Handle, Runtime};
use tokio::task::JoinSet;

mod harness;

use harness::{Bench, Target, side};

// ---------------------------------------------------------------------------------------------
// What is measured
// ---------------------------------------------------------------------------------------------

/// The blocking work: nothing, so that the mechanism is what is measured.
fn work() -> u64 {
    black_box(1)
}

/// Awaits `iters` closures one after the other, each handed over by `offload`, in a task of
/// `rt` (a spawned task, so that a multi_thread runtime runs it on a worker).
fn sequential<F, Fut>(rt: &Runtime, iters: u64, offload: F) -> Duration
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = u64> + Send,
{
    rt.block_on(async move {
        tokio::spawn(async move {
            let start = Instant::now();
            for _ in 0..iters {
                black_box(offload().await);
            }
            start.elapsed()
        })
        .await
        .expect("bench task panicked")
    })
}

fn current_thread() -> Runtime {
    Builder::new_current_thread().enable_all().build().unwrap()
}

fn multi_thread() -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

fn main() {
    let mut b = Bench::from_args(301);
    eprintln!(
        "{} rounds{}; pin with `taskset -c 0` for stable figures",
        b.rounds,
        if b.quick { " (quick)" } else { "" }
    );
    let flavors: [(&'static str, Runtime); 2] = [
        ("current_thread", current_thread()),
        ("multi_thread(1)", multi_thread()),
    ];

    // --- asyncify -------------------------------------------------------------------------
    for (flavor, rt) in &flavors {
        let n = b.n(200);
        let name: &'static str = match *flavor {
            "current_thread" => "per call, current_thread task",
            _ => "per call, multi_thread(1) task",
        };
        b.paired(
            "unblock (asyncify)",
            name,
            Target::AtMost(1.1),
            side("anysync::unblock(f).await", n, |i| {
                sequential(rt, i, || anysync::unblock(work))
            }),
            side("spawn_blocking(f).await", n, |i| {
                sequential(rt, i, || async {
                    tokio::task::spawn_blocking(work).await.unwrap()
                })
            }),
        );
    }
    {
        // No tokio context: ours uses the global runtime, the anchor a runtime of its own.
        let other = multi_thread();
        let handle = other.handle().clone();
        let n = b.n(200);
        b.paired(
            "unblock (asyncify)",
            "per call, futures::executor::block_on (no tokio context)",
            Target::None,
            side("anysync::unblock(f).await", n, |i| {
                futures::executor::block_on(async {
                    let start = Instant::now();
                    for _ in 0..i {
                        black_box(anysync::unblock(work).await);
                    }
                    start.elapsed()
                })
            }),
            side("handle.spawn_blocking(f).await", n, |i| {
                futures::executor::block_on(async {
                    let start = Instant::now();
                    for _ in 0..i {
                        black_box(handle.spawn_blocking(work).await.unwrap());
                    }
                    start.elapsed()
                })
            }),
        );
    }
    {
        let (_, rt) = &flavors[0];
        let pool = std::sync::Arc::new(anysync::Pool::new(4));
        let n = b.n(200);
        b.paired(
            "unblock (asyncify)",
            "Pool::new(4) per call, current_thread task",
            Target::None,
            side("pool.unblock(f).await", n, |i| {
                let pool = pool.clone();
                sequential(rt, i, move || pool.unblock(work))
            }),
            side("spawn_blocking(f).await", n, |i| {
                sequential(rt, i, || async {
                    tokio::task::spawn_blocking(work).await.unwrap()
                })
            }),
        );
    }

    // --- syncify --------------------------------------------------------------------------
    for (flavor, rt) in &flavors {
        let n = b.n(200);
        let name: &'static str = match *flavor {
            "current_thread" => "round trip, current_thread task",
            _ => "round trip, multi_thread(1) task",
        };
        b.paired(
            "syncify",
            name,
            Target::AtMost(1.2),
            side("unblock(|| ready(1).run()).await", n, |i| {
                sequential(rt, i, || anysync::unblock(|| ready(work()).run()))
            }),
            side("spawn_blocking(|| h.block_on(ready(1))).await", n, |i| {
                sequential(rt, i, || async {
                    let handle = Handle::current();
                    tokio::task::spawn_blocking(move || handle.block_on(ready(work())))
                        .await
                        .unwrap()
                })
            }),
        );
    }
    for (flavor, rt) in &flavors {
        let n = b.n(20_000);
        let name: &'static str = match *flavor {
            "current_thread" => "`.run()` inside the closure, current_thread origin",
            _ => "`.run()` inside the closure, multi_thread(1) origin",
        };
        b.paired(
            "syncify",
            name,
            Target::AtMost(1.2),
            side("ready(1).run() in an unblock closure", n, |i| {
                rt.block_on(anysync::unblock(move || {
                    let start = Instant::now();
                    for _ in 0..i {
                        black_box(ready(work()).run());
                    }
                    start.elapsed()
                }))
            }),
            side("h.block_on(ready(1)) in a spawn_blocking closure", n, |i| {
                rt.block_on(async move {
                    let handle = Handle::current();
                    tokio::task::spawn_blocking(move || {
                        let start = Instant::now();
                        for _ in 0..i {
                            black_box(handle.block_on(ready(work())));
                        }
                        start.elapsed()
                    })
                    .await
                    .unwrap()
                })
            }),
        );
    }

    // --- task group -----------------------------------------------------------------------
    for (flavor, rt) in &flavors {
        let n = b.n(200);
        let name: &'static str = match *flavor {
            "current_thread" => "10 ready children, current_thread",
            _ => "10 ready children, multi_thread(1)",
        };
        b.paired(
            "task group",
            name,
            Target::None,
            side("task_group + 10 × spawn + Joined::take", n, |i| {
                rt.block_on(async move {
                    let start = Instant::now();
                    for _ in 0..i {
                        let (soons, joined) = anysync::task_group(async |group| {
                            Ok::<_, ()>(
                                (0..10)
                                    .map(|_| group.spawn(async { Ok(work()) }))
                                    .collect::<Vec<_>>(),
                            )
                        })
                        .await
                        .unwrap();
                        for soon in soons {
                            black_box(joined.take(soon));
                        }
                    }
                    start.elapsed()
                })
            }),
            side("JoinSet + 10 × spawn + join_all", n, |i| {
                rt.block_on(async move {
                    let start = Instant::now();
                    for _ in 0..i {
                        let mut set = JoinSet::new();
                        for _ in 0..10 {
                            set.spawn(async { Ok::<_, ()>(work()) });
                        }
                        for value in set.join_all().await {
                            black_box(value.unwrap());
                        }
                    }
                    start.elapsed()
                })
            }),
        );
    }

    b.report();
}
