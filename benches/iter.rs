//! Per-item cost of `#[anysync::iterator]` and `#[anysync::generator]` (issue 3), and of
//! `anysync::iter` over a stream the user holds (issue 12), against hand-written anchors
//! measured in the same process.
//!
//! The harness is `benches/run.rs`'s: each comparison alternates ours and its anchor in many
//! short rounds (swapping which goes first), and reports the median of the per-round ratios
//! ours/anchor with its p25–p75. Absolute figures are for orientation only: cross-thread
//! wake-ups on small VMs swing by an order of magnitude between runs (RUNTIME-FACTS.md), so
//! run it pinned and never compare figures across runs.
//!
//! One round consumes one whole fresh stream (creation and the end included) of the length
//! given per row; the figure is the round's time divided by the number of items. Every anchor
//! yields the same values from an `async_stream::stream!` (or a genawaiter generator).
//!
//! ```text
//! taskset -c 0 cargo bench --bench iter              # the figures in BENCHMARKS.md
//! taskset -c 0 cargo bench --bench iter -- --quick   # smoke run, a few seconds
//! cargo bench --bench iter -- prefetch               # only comparisons whose name matches
//! ANYSYNC_BENCH_ROUNDS=51 cargo bench --bench iter   # rounds per comparison (default 101)
//! ```

use anysync::yield_;
use futures::{Stream, StreamExt};
use genawaiter::GeneratorState;
use std::hint::black_box;
use std::pin::pin;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};
use tokio::runtime::{Handle, Runtime};

mod harness;

use harness::{Bench, Target, side};

// ---------------------------------------------------------------------------------------------
// The streams: the same values from ours and from the anchors
// ---------------------------------------------------------------------------------------------

/// Ours: yields `0..n`.
#[anysync::iterator(item = u64)]
async fn numbers(n: u64) {
    for i in 0..n {
        yield_!(black_box(i));
    }
}

/// The anchor: the same values from async-stream.
fn anchor_stream(n: u64) -> impl Stream<Item = u64> + Send + 'static {
    async_stream::stream! {
        for i in 0..n {
            yield black_box(i);
        }
    }
}

/// A ready stream of `0..n` that users already hold (issue 12's `anysync::iter` rows).
fn ready_stream(n: u64) -> impl Stream<Item = u64> + Send + Unpin + 'static {
    futures::stream::iter((0..n).map(black_box))
}

/// Ours: a running total, the generator of the issue's example.
#[anysync::generator(item = u64, send = u64)]
async fn running_total() {
    let mut total = 0u64;
    loop {
        if let Some(x) = yield_!(total) {
            total = total.wrapping_add(x);
        }
    }
}

/// Adds up what a consumer received and checks that it got exactly `0..n`.
struct Tally {
    sum: u64,
    count: u64,
}

impl Tally {
    fn new() -> Self {
        Tally { sum: 0, count: 0 }
    }

    fn add(&mut self, item: u64) {
        self.sum = self.sum.wrapping_add(item);
        self.count += 1;
    }

    fn check(self, n: u64) {
        assert_eq!(
            (self.count, self.sum),
            (n, n * n.saturating_sub(1) / 2),
            "a consumer lost or invented items"
        );
        black_box(self.sum);
    }
}

/// Times `f` on the calling thread.
fn timed(f: impl FnOnce()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

/// Runs `f` (blocking code) inside a task spawned on the current_thread runtime `rt`, and
/// returns what it returns.
fn in_task<R: Send + 'static>(rt: &Runtime, f: impl FnOnce() -> R + Send + 'static) -> R {
    rt.block_on(async move {
        tokio::spawn(async move { f() })
            .await
            .expect("bench task panicked")
    })
}

/// The per-item hop anchor: a thread that holds the stream and polls it with a driven
/// multi_thread runtime's `Handle::block_on`, one item per request over a std channel.
struct HopServer {
    requests: SyncSender<Request>,
    replies: Mutex<Receiver<Option<u64>>>,
}

enum Request {
    Start(u64),
    Next,
}

impl HopServer {
    fn start(driven: Handle) -> Arc<Self> {
        let (requests, incoming) = sync_channel::<Request>(1);
        let (outgoing, replies) = sync_channel::<Option<u64>>(1);
        thread::Builder::new()
            .name("bench-hop-server".into())
            .spawn(move || {
                let mut stream = None;
                while let Ok(request) = incoming.recv() {
                    match request {
                        Request::Start(n) => stream = Some(Box::pin(anchor_stream(n))),
                        Request::Next => {
                            let s = stream.as_mut().expect("no stream started");
                            if outgoing.send(driven.block_on(s.next())).is_err() {
                                break;
                            }
                        }
                    }
                }
            })
            .expect("hop server thread");
        Arc::new(HopServer {
            requests,
            replies: Mutex::new(replies),
        })
    }

    /// Consumes a fresh `anchor_stream(n)` item by item, one round trip each.
    fn consume(&self, n: u64) -> Tally {
        let replies = self.replies.lock().expect("hop lock");
        self.requests
            .send(Request::Start(n))
            .expect("hop server gone");
        let mut tally = Tally::new();
        loop {
            self.requests.send(Request::Next).expect("hop server gone");
            match replies.recv().expect("hop server gone") {
                Some(item) => tally.add(item),
                None => return tally,
            }
        }
    }
}

/// The pump anchor's producer: a task on the driven runtime feeding `anchor_stream(n)` into a
/// bounded tokio channel of `capacity` slots.
fn spawn_pump(driven: &Handle, n: u64, capacity: usize) -> tokio::sync::mpsc::Receiver<u64> {
    let (tx, rx) = tokio::sync::mpsc::channel(capacity);
    driven.spawn(async move {
        let mut stream = pin!(anchor_stream(n));
        while let Some(item) = stream.next().await {
            if tx.send(item).await.is_err() {
                break;
            }
        }
    });
    rx
}

/// The issue's pump anchor, consumed with `blocking_recv` (only allowed outside a runtime).
fn pump_blocking_recv(driven: &Handle, n: u64) -> Tally {
    let mut rx = spawn_pump(driven, n, PREFETCH);
    let mut tally = Tally::new();
    while let Some(item) = rx.blocking_recv() {
        tally.add(item);
    }
    tally
}

/// The pump anchor consumed from inside a runtime, where `blocking_recv` panics: a foreign
/// executor waits for each `recv`, `unconstrained` so tokio's coop budget does not hang it.
fn pump_in_task(driven: &Handle, n: u64) -> Tally {
    let mut rx = spawn_pump(driven, n, PREFETCH);
    let mut tally = Tally::new();
    while let Some(item) = futures::executor::block_on(tokio::task::unconstrained(rx.recv())) {
        tally.add(item);
    }
    tally
}

const PREFETCH: usize = 64;

// ---------------------------------------------------------------------------------------------
// The comparisons
// ---------------------------------------------------------------------------------------------

const PLAIN: &str = "Blocking `for` on a plain thread";
const STREAM: &str = "`anysync::iter` over a stream on a plain thread";
const CURRENT: &str = "Blocking `for` inside a current_thread task";
const ASYNC: &str = "Async `.next().await` in a current_thread runtime";
const GENERATOR: &str = "Generator `send` round trip (informative)";

fn main() {
    let mut b = Bench::from_args(101);

    // The anchors' runtime: the shape of anysync's global runtime (multi_thread, one worker).
    let driven = harness::driven_runtime();
    let dh = driven.handle().clone();
    // The user's current_thread runtime; its tasks run on this (main) thread.
    let current = harness::current_thread_runtime();
    let hop = HopServer::start(dh.clone());

    // Start anysync's global runtime and a background thread before anything is timed.
    numbers(3).into_iter().for_each(drop);
    in_task(&current, || numbers(3).into_iter().for_each(drop));

    b.header("iterator/generator", "");

    // ---- 1. plain thread ----------------------------------------------------------------
    let n = b.n(100_000);
    b.paired(
        PLAIN,
        "lazy `for` vs `block_on_stream(stream!)`",
        Target::AtMost(1.0),
        side("`for x in numbers(n)`", n, |n| {
            timed(|| {
                let mut t = Tally::new();
                for x in numbers(n) {
                    t.add(x);
                }
                t.check(n);
            })
        }),
        side(
            "`for x in futures::executor::block_on_stream(Box::pin(stream!))`",
            n,
            |n| {
                timed(|| {
                    let mut t = Tally::new();
                    for x in futures::executor::block_on_stream(Box::pin(anchor_stream(n))) {
                        t.add(x);
                    }
                    t.check(n);
                })
            },
        ),
    );
    b.paired(
        PLAIN,
        "lazy `for` vs driven `Handle::block_on(s.next())` per item",
        Target::None,
        side("`for x in numbers(n)`", n, |n| {
            timed(|| {
                let mut t = Tally::new();
                for x in numbers(n) {
                    t.add(x);
                }
                t.check(n);
            })
        }),
        side("`handle.block_on(s.next())` over `stream!`", n, |n| {
            timed(|| {
                let mut t = Tally::new();
                let mut s = pin!(anchor_stream(n));
                while let Some(x) = dh.block_on(s.next()) {
                    t.add(x);
                }
                t.check(n);
            })
        }),
    );
    // `anysync::iter` (issue 12): a stream the user already holds, iterated with `for`. Both
    // sides get the same ready stream, `futures::stream::iter` (`Unpin`, as `block_on_stream`
    // needs), and the same `stream!` (boxed for the anchor, pinned inside ours).
    b.paired(
        STREAM,
        "`for` over `anysync::iter(stream::iter)` vs `block_on_stream(stream::iter)`",
        Target::AtMost(0.6),
        side("`for x in anysync::iter(stream::iter(0..n))`", n, |n| {
            timed(|| {
                let mut t = Tally::new();
                for x in anysync::iter(ready_stream(n)) {
                    t.add(x);
                }
                t.check(n);
            })
        }),
        side(
            "`for x in futures::executor::block_on_stream(stream::iter(0..n))`",
            n,
            |n| {
                timed(|| {
                    let mut t = Tally::new();
                    for x in futures::executor::block_on_stream(ready_stream(n)) {
                        t.add(x);
                    }
                    t.check(n);
                })
            },
        ),
    );
    b.paired(
        STREAM,
        "`for` over `anysync::iter(stream::iter)` vs `for` over `#[anysync::iterator]` (same machinery)",
        Target::None,
        side("`for x in anysync::iter(stream::iter(0..n))`", n, |n| {
            timed(|| {
                let mut t = Tally::new();
                for x in anysync::iter(ready_stream(n)) {
                    t.add(x);
                }
                t.check(n);
            })
        }),
        side("`for x in numbers(n)`", n, |n| {
            timed(|| {
                let mut t = Tally::new();
                for x in numbers(n) {
                    t.add(x);
                }
                t.check(n);
            })
        }),
    );
    b.paired(
        STREAM,
        "`for` over `anysync::iter(stream!)` vs `block_on_stream(Box::pin(stream!))`",
        Target::None,
        side("`for x in anysync::iter(stream!)`", n, |n| {
            timed(|| {
                let mut t = Tally::new();
                for x in anysync::iter(anchor_stream(n)) {
                    t.add(x);
                }
                t.check(n);
            })
        }),
        side(
            "`for x in futures::executor::block_on_stream(Box::pin(stream!))`",
            n,
            |n| {
                timed(|| {
                    let mut t = Tally::new();
                    for x in futures::executor::block_on_stream(Box::pin(anchor_stream(n))) {
                        t.add(x);
                    }
                    t.check(n);
                })
            },
        ),
    );

    let n = b.n(100_000);
    b.paired(
        PLAIN,
        "`.prefetch(64)` vs pump into `mpsc::channel(64)` + `blocking_recv` (both on this thread)",
        Target::None,
        side("`for x in numbers(n).prefetch(64)`", n, |n| {
            timed(|| {
                let mut t = Tally::new();
                for x in numbers(n).prefetch(PREFETCH) {
                    t.add(x);
                }
                t.check(n);
            })
        }),
        side("task → `mpsc::channel(64)` → `blocking_recv`", n, |n| {
            timed(|| pump_blocking_recv(&dh, n).check(n))
        }),
    );

    // ---- 2./3. inside a current_thread task ---------------------------------------------
    let n = b.n(1_000);
    b.paired(
        CURRENT,
        "lazy `for` vs hand-written per-item hop",
        Target::AtMost(1.0),
        side("`for x in numbers(n)` in the task", n, |n| {
            in_task(&current, move || {
                timed(|| {
                    let mut t = Tally::new();
                    for x in numbers(n) {
                        t.add(x);
                    }
                    t.check(n);
                })
            })
        }),
        side(
            "per item: std channel to a thread holding the `stream!`, `block_on(s.next())` there, reply",
            n,
            |n| {
                let hop = Arc::clone(&hop);
                in_task(&current, move || timed(|| hop.consume(n).check(n)))
            },
        ),
    );
    let n = b.n(100_000);
    b.paired(
        CURRENT,
        "`.prefetch(64)` vs pump into `mpsc::channel(64)` + `blocking_recv` (the issue's anchor; its consumer on a plain thread, since `blocking_recv` panics in a runtime)",
        Target::AtMost(1.0),
        side("`for x in numbers(n).prefetch(64)` in the task", n, |n| {
            in_task(&current, move || {
                timed(|| {
                    let mut t = Tally::new();
                    for x in numbers(n).prefetch(PREFETCH) {
                        t.add(x);
                    }
                    t.check(n);
                })
            })
        }),
        side("task → `mpsc::channel(64)` → `blocking_recv`", n, |n| {
            timed(|| pump_blocking_recv(&dh, n).check(n))
        }),
    );
    b.paired(
        CURRENT,
        "`.prefetch(64)` vs the same pump consumed in the task (`executor::block_on(unconstrained(rx.recv()))`)",
        Target::None,
        side("`for x in numbers(n).prefetch(64)` in the task", n, |n| {
            in_task(&current, move || {
                timed(|| {
                    let mut t = Tally::new();
                    for x in numbers(n).prefetch(PREFETCH) {
                        t.add(x);
                    }
                    t.check(n);
                })
            })
        }),
        side("task → `mpsc::channel(64)` → `block_on(recv())` in the task", n, |n| {
            let dh = dh.clone();
            in_task(&current, move || timed(|| pump_in_task(&dh, n).check(n)))
        }),
    );

    // ---- 4. async ------------------------------------------------------------------------
    let n = b.n(100_000);
    let stream_next = || {
        side("`stream!` + `StreamExt::next().await`", n, |n| {
            current.block_on(async move {
                let start = Instant::now();
                let mut t = Tally::new();
                let mut s = pin!(anchor_stream(n));
                while let Some(x) = s.next().await {
                    t.add(x);
                }
                t.check(n);
                start.elapsed()
            })
        })
    };
    b.paired(
        ASYNC,
        "`it.next().await` vs `stream!` + `StreamExt::next`",
        Target::AtMost(1.2),
        side("`numbers(n).next().await`", n, |n| {
            current.block_on(async move {
                let start = Instant::now();
                let mut t = Tally::new();
                let mut it = numbers(n);
                while let Some(x) = it.next().await {
                    t.add(x);
                }
                t.check(n);
                start.elapsed()
            })
        }),
        stream_next(),
    );
    b.paired(
        ASYNC,
        "ours through `Stream` (`StreamExt::next(&mut it)`) vs `stream!`",
        Target::None,
        side("`StreamExt::next(&mut numbers(n)).await`", n, |n| {
            current.block_on(async move {
                let start = Instant::now();
                let mut t = Tally::new();
                let mut it = numbers(n);
                while let Some(x) = StreamExt::next(&mut it).await {
                    t.add(x);
                }
                t.check(n);
                start.elapsed()
            })
        }),
        stream_next(),
    );

    // ---- 5. generator --------------------------------------------------------------------
    // Each round: a fresh generator, started, then `n` sends; only the sends are timed.
    let n = b.n(100_000);
    let genawaiter_sync = |n: u64| {
        let mut g = genawaiter::sync::Gen::new(|co| async move {
            let mut total = 0u64;
            loop {
                let x = co.yield_(total).await;
                total = total.wrapping_add(x);
            }
        });
        g.resume_with(0); // starts it (genawaiter ignores the first value)
        timed(|| {
            for i in 0..n {
                match g.resume_with(black_box(i)) {
                    GeneratorState::Yielded(total) => black_box(total),
                    GeneratorState::Complete(()) => unreachable!(),
                };
            }
        })
    };
    let genawaiter_rc = |n: u64| {
        let mut g = genawaiter::rc::Gen::new(|co| async move {
            let mut total = 0u64;
            loop {
                let x = co.yield_(total).await;
                total = total.wrapping_add(x);
            }
        });
        g.resume_with(0);
        timed(|| {
            for i in 0..n {
                match g.resume_with(black_box(i)) {
                    GeneratorState::Yielded(total) => black_box(total),
                    GeneratorState::Complete(()) => unreachable!(),
                };
            }
        })
    };
    let send_await = |n: u64| {
        current.block_on(async move {
            let mut g = running_total();
            g.resume().await;
            let start = Instant::now();
            for i in 0..n {
                black_box(g.send(black_box(i)).await);
            }
            start.elapsed()
        })
    };
    b.paired(
        GENERATOR,
        "`g.send(x).await` in a current_thread runtime vs genawaiter `sync::Gen::resume_with`",
        Target::None,
        side("`g.send(x).await`", n, send_await),
        side("genawaiter `sync::Gen::resume_with(x)`", n, genawaiter_sync),
    );
    b.paired(
        GENERATOR,
        "`g.send(x).await` vs genawaiter `rc::Gen::resume_with`",
        Target::None,
        side("`g.send(x).await`", n, send_await),
        side("genawaiter `rc::Gen::resume_with(x)`", n, genawaiter_rc),
    );
    b.paired(
        GENERATOR,
        "`g.send(x).run()` on a plain thread vs genawaiter `sync::Gen::resume_with`",
        Target::None,
        side("`g.send(x).run()`", n, |n| {
            let mut g = running_total();
            g.resume().run();
            timed(|| {
                for i in 0..n {
                    black_box(g.send(black_box(i)).run());
                }
            })
        }),
        side("genawaiter `sync::Gen::resume_with(x)`", n, genawaiter_sync),
    );

    b.report();
}
