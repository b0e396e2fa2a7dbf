//! Per-call cost of `.run()` in every calling context, against hand-written anchors measured
//! in the same process.
//!
//! Cross-thread wake-ups on small VMs swing by an order of magnitude between runs (see
//! RUNTIME-FACTS.md), so nothing here is an absolute figure to compare across runs. Each
//! comparison alternates `.run()` and its anchor in many short rounds (swapping which goes
//! first), and reports the median of the per-round ratios with its p25–p75 spread.
//!
//! Every in-runtime figure is taken with each call in a fresh task poll: the task yields
//! before each call and only the call itself is timed, because many calls inside one poll
//! hide the cost of `block_in_place` handing the worker's core to another thread.
//!
//! ```text
//! taskset -c 0 cargo bench --bench run              # the figures in BENCHMARKS.md
//! taskset -c 0 cargo bench --bench run -- --quick   # smoke run, a few seconds
//! cargo bench --bench run -- nested                 # only comparisons whose name matches
//! ANYSYNC_BENCH_ROUNDS=101 cargo bench --bench run  # more rounds (default 301, quick 7)
//! ```

use anysync::{Coroutine, RunExt};
use std::future::Future;
use std::hint::black_box;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};
use tokio::runtime::{Builder, Handle, Runtime};

mod harness;

use harness::{Bench, Target, side};

// ---------------------------------------------------------------------------------------------
// The measured futures and the anchors
// ---------------------------------------------------------------------------------------------

/// A ready future: what is measured is the per-call overhead of the mechanism.
async fn ready() -> u64 {
    black_box(1)
}

/// A future that returns `Pending` once through tokio (`yield_now`) before completing.
async fn yielding() -> u64 {
    tokio::task::yield_now().await;
    black_box(1)
}

fn thread_name() -> String {
    thread::current().name().unwrap_or("<unnamed>").to_owned()
}

/// Consumes a result so that the optimiser cannot drop the call that made it.
fn sink<T>(value: T) {
    black_box(value);
}

/// Times `iters` back-to-back calls of `op` on the calling thread.
fn time_loop(iters: u64, mut op: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        op();
    }
    start.elapsed()
}

/// Calls `op` `iters` times, each in a fresh poll of the current task (it yields first), and
/// returns the time spent in `op` only.
async fn fresh_polls(iters: u64, mut op: impl FnMut() + Send) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        tokio::task::yield_now().await;
        let start = Instant::now();
        op();
        total += start.elapsed();
    }
    total
}

/// Runs `fresh_polls(iters, op)` in a task spawned on `rt`.
fn in_task(rt: &Runtime, iters: u64, op: impl FnMut() + Send + 'static) -> Duration {
    rt.block_on(async move {
        tokio::spawn(fresh_polls(iters, op))
            .await
            .expect("bench task panicked")
    })
}

/// Runs `fresh_polls(iters, op)` as the root future of `rt` (`Runtime::block_on`).
fn in_root(rt: &Runtime, iters: u64, op: impl FnMut() + Send + 'static) -> Duration {
    rt.block_on(fresh_polls(iters, op))
}

/// Runs `fresh_polls(iters, op)` in a `spawn_local` task of a `LocalSet` on `rt`.
fn in_local_set(rt: &Runtime, iters: u64, op: impl FnMut() + Send + 'static) -> Duration {
    let local = tokio::task::LocalSet::new();
    rt.block_on(local.run_until(async move {
        tokio::task::spawn_local(fresh_polls(iters, op))
            .await
            .expect("bench task panicked")
    }))
}

/// From a task of the current_thread runtime `rt`, `.run()`s a future that calls `op` `iters`
/// times in fresh polls: the outer `.run()` lends it to anysync's background thread, so `op`
/// runs nested there. Returns the time spent in `op` only.
fn nested_in_current_task(rt: &Runtime, iters: u64, op: impl FnMut() + Send + 'static) -> Duration {
    rt.block_on(async move {
        tokio::spawn(async move { anysync::run(fresh_polls(iters, op)) })
            .await
            .expect("bench task panicked")
    })
}

/// reqwest::blocking's design: spawn the future on a runtime thread, block on a channel.
fn hop<F>(handle: &Handle, future: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send,
{
    let (tx, rx) = sync_channel(1);
    handle.spawn(async move {
        let _ = tx.send(future.await);
    });
    rx.recv().expect("hop task dropped its channel")
}

/// A new current_thread runtime for this one call.
fn new_runtime<F: Future>(future: F) -> F::Output {
    Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}

/// A scoped thread with a new current_thread runtime, per call.
fn thread_and_runtime<F>(future: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    thread::scope(|s| {
        s.spawn(|| new_runtime(future))
            .join()
            .expect("thread panicked")
    })
}

/// `block_in_place` + `Handle::block_on` with the current runtime.
fn block_in_place<F: Future>(future: F) -> F::Output {
    tokio::task::block_in_place(|| Handle::current().block_on(future))
}

/// A std-only cross-thread round trip: ping a parked echo thread, wait for its pong.
struct Echo {
    ping: SyncSender<u64>,
    pong: Mutex<Receiver<u64>>,
}

impl Echo {
    fn start() -> Arc<Self> {
        let (ping, pings) = sync_channel::<u64>(1);
        let (pongs, pong) = sync_channel::<u64>(1);
        thread::Builder::new()
            .name("bench-echo".into())
            .spawn(move || {
                while let Ok(v) = pings.recv() {
                    if pongs.send(v).is_err() {
                        break;
                    }
                }
            })
            .expect("echo thread");
        Arc::new(Echo {
            ping,
            pong: Mutex::new(pong),
        })
    }

    fn round_trip(&self) -> u64 {
        let pong = self.pong.lock().expect("echo lock");
        self.ping.send(black_box(1)).expect("echo thread gone");
        pong.recv().expect("echo thread gone")
    }
}

// ---------------------------------------------------------------------------------------------
// The comparisons
// ---------------------------------------------------------------------------------------------

const PLAIN: &str = "Plain thread (no runtime)";
const CURRENT: &str = "Inside a current_thread task (fresh poll per call)";
const MULTI: &str = "Inside a multi_thread task (fresh poll per call)";
const NESTED: &str = "Nested `.run()` (fresh poll per call)";
const AWAIT: &str = "`.await` on `Coroutine` vs the bare future";
const REAL: &str = "Real tokio work";

fn main() {
    let mut b = Bench::from_args(301);

    // A driven runtime for the raw `Handle::block_on` anchor and the hop's target: the same
    // shape as anysync's global runtime (multi_thread, one worker, which drives timers/IO).
    let driven = harness::driven_runtime();
    let dh = driven.handle().clone();
    // A reused current_thread runtime, for `Runtime::block_on` and the current_thread rows.
    let current = harness::current_thread_runtime();
    // A user multi_thread runtime with as many workers as the machine has cores (2).
    let multi = Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("bench-multi")
        .enable_all()
        .build()
        .expect("runtime");
    let echo = Echo::start();

    // Start anysync's global runtime and a background thread before anything is timed.
    black_box(ready().run());
    black_box(current.block_on(async {
        tokio::spawn(async { ready().run() })
            .await
            .expect("warm-up")
    }));

    // The nested rows must run where they say they do.
    let pool = current.block_on(async {
        tokio::spawn(async { anysync::run(async { thread_name() }) })
            .await
            .expect("sanity")
    });
    let worker =
        anysync::run(async { tokio::spawn(async { thread_name() }).await.expect("sanity") });
    for (row, got, want) in [
        ("background", &pool, "anysync-pool"),
        ("global worker", &worker, "anysync-runtime"),
    ] {
        if !got.starts_with(want) {
            eprintln!("warning: the nested {row} row runs on thread {got:?}, expected {want:?}");
        }
    }

    let instant_ns = {
        let n = 1_000_000;
        let start = Instant::now();
        for _ in 0..n {
            black_box(Instant::now());
        }
        start.elapsed().as_nanos() as f64 / n as f64
    };
    b.header("`.run()`", &format!(", Instant::now {instant_ns:.1} ns"));

    // ---- plain thread -------------------------------------------------------------------
    let n = b.n(20_000);
    let ours = || {
        side("Coroutine::new(f).run()", n, |i| {
            time_loop(i, || sink(Coroutine::new(ready()).run()))
        })
    };
    b.paired(
        PLAIN,
        "vs raw Handle::block_on",
        Target::AtMost(1.5),
        ours(),
        side("driven Handle::block_on", n, |i| {
            time_loop(i, || sink(dh.block_on(ready())))
        }),
    );
    b.paired(
        PLAIN,
        "anysync::run vs raw Handle::block_on",
        Target::AtMost(1.5),
        side("anysync::run(f)", n, |i| {
            time_loop(i, || sink(anysync::run(ready())))
        }),
        side("driven Handle::block_on", n, |i| {
            time_loop(i, || sink(dh.block_on(ready())))
        }),
    );
    b.paired(
        PLAIN,
        "Coroutine::local vs raw Handle::block_on",
        Target::AtMost(1.5),
        side("Coroutine::local(f).run()", n, |i| {
            time_loop(i, || sink(Coroutine::local(ready()).run()))
        }),
        side("driven Handle::block_on", n, |i| {
            time_loop(i, || sink(dh.block_on(ready())))
        }),
    );
    b.paired(
        PLAIN,
        "vs reused Runtime::block_on",
        Target::None,
        ours(),
        side("current_thread Runtime::block_on", n, |i| {
            time_loop(i, || sink(current.block_on(ready())))
        }),
    );
    b.paired(
        PLAIN,
        "vs pollster",
        Target::None,
        ours(),
        side("pollster::block_on", n, |i| {
            time_loop(i, || sink(pollster::block_on(ready())))
        }),
    );
    b.paired(
        PLAIN,
        "vs futures::executor",
        Target::None,
        ours(),
        side("futures::executor::block_on", n, |i| {
            time_loop(i, || sink(futures::executor::block_on(ready())))
        }),
    );
    let m = b.n(200);
    b.paired(
        PLAIN,
        "vs new runtime per call",
        Target::None,
        ours(),
        side("new current_thread runtime", m, |i| {
            time_loop(i, || sink(new_runtime(ready())))
        }),
    );
    let m = b.n(100);
    b.paired(
        PLAIN,
        "vs std cross-thread round trip",
        Target::None,
        ours(),
        side("sync_channel ping/pong", m, |i| {
            time_loop(i, || sink(echo.round_trip()))
        }),
    );
    b.paired(
        PLAIN,
        "vs hand-written hop",
        Target::None,
        ours(),
        side("spawn on runtime + channel", m, |i| {
            time_loop(i, || sink(hop(&dh, ready())))
        }),
    );
    let m = b.n(50);
    b.paired(
        PLAIN,
        "vs thread + runtime per call",
        Target::None,
        ours(),
        side("scoped thread + new runtime", m, |i| {
            time_loop(i, || sink(thread_and_runtime(ready())))
        }),
    );

    // ---- inside a current_thread task ----------------------------------------------------
    let n = b.n(100);
    let ours = |n| {
        side("Coroutine::new(f).run()", n, |i| {
            in_task(&current, i, || sink(Coroutine::new(ready()).run()))
        })
    };
    b.paired(
        CURRENT,
        "vs hand-written hop",
        Target::AtMost(1.3),
        ours(n),
        side("spawn on runtime + channel", n, |i| {
            let h = dh.clone();
            in_task(&current, i, move || sink(hop(&h, ready())))
        }),
    );
    b.paired(
        CURRENT,
        "vs std cross-thread round trip",
        Target::None,
        ours(n),
        side("sync_channel ping/pong", n, |i| {
            let e = echo.clone();
            in_task(&current, i, move || sink(e.round_trip()))
        }),
    );
    b.paired(
        CURRENT,
        "vs thread + runtime per call",
        Target::None,
        ours(n),
        side("scoped thread + new runtime", b.n(50), |i| {
            in_task(&current, i, || sink(thread_and_runtime(ready())))
        }),
    );

    // ---- inside a multi_thread task ------------------------------------------------------
    let n = b.n(100);
    b.versus_cheaper(
        MULTI,
        "hop or block_in_place",
        Target::AtMost(1.3),
        [
            side("Coroutine::new(f).run()", n, |i| {
                in_task(&multi, i, || sink(Coroutine::new(ready()).run()))
            }),
            side("spawn on runtime + channel", n, |i| {
                let h = dh.clone();
                in_task(&multi, i, move || sink(hop(&h, ready())))
            }),
            side("block_in_place + Handle::block_on", n, |i| {
                in_task(&multi, i, || sink(block_in_place(ready())))
            }),
        ],
    );
    b.paired(
        MULTI,
        "vs thread + runtime per call",
        Target::None,
        side("Coroutine::new(f).run()", n, |i| {
            in_task(&multi, i, || sink(Coroutine::new(ready()).run()))
        }),
        side("scoped thread + new runtime", b.n(50), |i| {
            in_task(&multi, i, || sink(thread_and_runtime(ready())))
        }),
    );

    b.paired(
        MULTI,
        "in a `LocalSet` on the multi_thread runtime (block_in_place refuses), vs hand-written hop",
        Target::None,
        side("Coroutine::new(f).run()", n, |i| {
            in_local_set(&multi, i, || sink(Coroutine::new(ready()).run()))
        }),
        side("spawn on runtime + channel", n, |i| {
            let h = dh.clone();
            in_local_set(&multi, i, move || sink(hop(&h, ready())))
        }),
    );

    // Issue 13: away from a worker that holds its core, a `Send` future is lent (tokio might
    // refuse `block_in_place` there, a `LocalSet` looks the same); a `?Send` one is still
    // polled in place. The cost of lending against polling in place, in one context:
    b.paired(
        MULTI,
        "root future of the multi_thread runtime: `.run()` lends, vs in place (`Coroutine::local`, block_in_place)",
        Target::None,
        side("Coroutine::new(f).run()", n, |i| {
            in_root(&multi, i, || sink(Coroutine::new(ready()).run()))
        }),
        side("Coroutine::local(f).run()", n, |i| {
            in_root(&multi, i, || sink(Coroutine::local(ready()).run()))
        }),
    );
    // Issue 13: an in-place poll on a worker is driven by the global runtime (what the future
    // spawns or registers lives there), where it used to be driven by the caller's runtime.
    b.paired(
        MULTI,
        "`yield_now` future in place on a worker: global runtime, vs the caller's (block_in_place + Handle::block_on)",
        Target::None,
        side("Coroutine::new(f).run()", n, |i| {
            in_task(&multi, i, || sink(Coroutine::new(yielding()).run()))
        }),
        side("block_in_place + Handle::block_on", n, |i| {
            in_task(&multi, i, || sink(block_in_place(yielding())))
        }),
    );

    // ---- nested --------------------------------------------------------------------------
    let (n, m) = (b.n(2_000), b.n(50));
    b.paired(
        NESTED,
        "inside `.run()` from a plain thread, vs thread + runtime per call",
        Target::Faster(100.0),
        side("inner .run()", n, |i| {
            anysync::run(fresh_polls(i, || sink(ready().run())))
        }),
        side("scoped thread + new runtime", m, |i| {
            anysync::run(fresh_polls(i, || sink(thread_and_runtime(ready()))))
        }),
    );
    b.paired(
        NESTED,
        "on the background thread (outer `.run()` from a current_thread task), vs thread + runtime per call",
        Target::Faster(2.0),
        side("inner .run()", n, |i| nested_in_current_task(&current, i, || sink(ready().run()))),
        side("scoped thread + new runtime", m, |i| nested_in_current_task(&current, i, || sink(thread_and_runtime(ready())))),
    );
    let n = b.n(100);
    b.paired(
        NESTED,
        "in a task on the global runtime's worker (`tokio::spawn` inside `.run()`), vs thread + runtime per call",
        Target::Faster(2.0),
        side("inner .run()", n, |i| anysync::run(async move { tokio::spawn(fresh_polls(i, || sink(ready().run()))).await.expect("task") })),
        side("scoped thread + new runtime", m, |i| anysync::run(async move { tokio::spawn(fresh_polls(i, || sink(thread_and_runtime(ready())))).await.expect("task") })),
    );

    // ---- .await --------------------------------------------------------------------------
    let n = b.n(200_000);
    let awaits = |wrap: bool, i: u64| {
        current.block_on(async move {
            let start = Instant::now();
            for _ in 0..i {
                if wrap {
                    black_box(Coroutine::new(ready()).await);
                } else {
                    black_box(ready().await);
                }
            }
            start.elapsed()
        })
    };
    b.paired(
        AWAIT,
        "ready future",
        Target::Same(0.05),
        side("Coroutine::new(f).await", n, |i| awaits(true, i)),
        side("f.await", n, |i| awaits(false, i)),
    );
    let n = b.n(20_000);
    let awaits_yield = |wrap: bool, i: u64| {
        current.block_on(async move {
            let start = Instant::now();
            for _ in 0..i {
                if wrap {
                    black_box(Coroutine::new(yielding()).await);
                } else {
                    black_box(yielding().await);
                }
            }
            start.elapsed()
        })
    };
    b.paired(
        AWAIT,
        "future that yields once",
        Target::Same(0.05),
        side("Coroutine::new(f).await", n, |i| awaits_yield(true, i)),
        side("f.await", n, |i| awaits_yield(false, i)),
    );

    // ---- real tokio work -----------------------------------------------------------------
    let n = b.n(2_000);
    b.paired(
        REAL,
        "plain thread, `yield_now` future, vs raw Handle::block_on",
        Target::None,
        side("Coroutine::new(f).run()", n, |i| {
            time_loop(i, || sink(Coroutine::new(yielding()).run()))
        }),
        side("driven Handle::block_on", n, |i| {
            time_loop(i, || sink(dh.block_on(yielding())))
        }),
    );
    let n = b.n(100);
    b.paired(
        REAL,
        "current_thread task, `yield_now` future, vs hand-written hop",
        Target::None,
        side("Coroutine::new(f).run()", n, |i| {
            in_task(&current, i, || sink(Coroutine::new(yielding()).run()))
        }),
        side("spawn on runtime + channel", n, |i| {
            let h = dh.clone();
            in_task(&current, i, move || sink(hop(&h, yielding())))
        }),
    );
    let n = if b.quick { 1 } else { 3 };
    let sleep = || async {
        tokio::time::sleep(Duration::from_millis(1)).await;
        black_box(1u64)
    };
    b.paired(
        REAL,
        "plain thread, 1 ms `tokio::time::sleep`, vs raw Handle::block_on",
        Target::None,
        side("Coroutine::new(f).run()", n, |i| {
            time_loop(i, || sink(Coroutine::new(sleep()).run()))
        }),
        side("driven Handle::block_on", n, |i| {
            time_loop(i, || sink(dh.block_on(sleep())))
        }),
    );
    b.paired(
        REAL,
        "current_thread task, 1 ms `tokio::time::sleep`, vs hand-written hop",
        Target::None,
        side("Coroutine::new(f).run()", n, |i| {
            in_task(&current, i, move || sink(Coroutine::new(sleep()).run()))
        }),
        side("spawn on runtime + channel", n, |i| {
            let h = dh.clone();
            in_task(&current, i, move || sink(hop(&h, sleep())))
        }),
    );

    b.report();
}
