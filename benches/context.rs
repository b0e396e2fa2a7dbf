//! Cost of a context manager's sync use (`enter().run()` + drop of the guard) on a plain
//! thread, against a hand-written guard that calls `Handle::block_on` twice (setup, then
//! teardown in `Drop`) on a driven runtime of the global runtime's shape; measured in the same
//! process. Python anysync's sync `with`, for scale: 481 µs on the same kind of machine.
//!
//! Each comparison alternates ours and the anchor in short rounds (swapping which goes first)
//! and reports the median of the per-round ratios with its p25–p75 spread, as `benches/run.rs`
//! does; run pinned (RUNTIME-FACTS.md) and never compare figures across runs.
//!
//! ```text
//! taskset -c 0 cargo bench --bench context              # the figures in BENCHMARKS.md
//! taskset -c 0 cargo bench --bench context -- --quick   # smoke run
//! ANYSYNC_BENCH_ROUNDS=101 cargo bench --bench context  # rounds (default 301, quick 7)
//! ```

use anysync::__private::{Handback, Yielder};
use anysync::{AsyncContext, Context, Exit};
use std::hint::black_box;
use std::time::{Duration, Instant};
use tokio::runtime::{Builder, Handle};

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

/// What `#[anysync::context] async fn trivial() { let t = setup().await; let t = yield_!(t);
/// teardown(t).await }` expands to.
fn trivial() -> Context<impl Future<Output = ()> + Send, u64> {
    Context::new(
        "trivial",
        move |y: Yielder<u64, Handback<u64>>| async move {
            let target = y.hand_over(setup().await).await;
            teardown(target).await;
        },
    )
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

// ---------------------------------------------------------------------------------------------
// Harness: paired, alternating rounds; median of per-round ratios
// ---------------------------------------------------------------------------------------------

/// Times `iters` calls of `op`.
fn time(iters: u64, mut op: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        op();
    }
    start.elapsed()
}

fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

struct Config {
    rounds: usize,
    iters: u64,
}

impl Config {
    fn from_args() -> Self {
        let quick = std::env::args().any(|a| a == "--quick");
        let rounds = std::env::var("ANYSYNC_BENCH_ROUNDS")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(if quick { 7 } else { 301 });
        Config {
            rounds: rounds.max(1),
            iters: if quick { 1_000 } else { 10_000 },
        }
    }
}

/// Runs `ours` and `anchor` alternately (`rounds` rounds, swapping which goes first), after a
/// warm-up of each; prints and returns the median of the per-round ratios ours/anchor.
fn paired(
    config: &Config,
    name: &str,
    target: Option<f64>,
    (ours_label, mut ours): (&str, impl FnMut()),
    (anchor_label, mut anchor): (&str, impl FnMut()),
) -> bool {
    time(config.iters / 10, &mut ours);
    time(config.iters / 10, &mut anchor);
    let (mut ours_ns, mut anchor_ns, mut ratios) = (vec![], vec![], vec![]);
    for round in 0..config.rounds {
        let per_op = |d: Duration| d.as_nanos() as f64 / config.iters as f64;
        let (a, b) = if round % 2 == 0 {
            let a = per_op(time(config.iters, &mut ours));
            (a, per_op(time(config.iters, &mut anchor)))
        } else {
            let b = per_op(time(config.iters, &mut anchor));
            (per_op(time(config.iters, &mut ours)), b)
        };
        ours_ns.push(a);
        anchor_ns.push(b);
        ratios.push(a / b);
    }
    let median = percentile(&ratios, 0.5);
    let (verdict, pass) = match target {
        Some(t) if median <= t => (format!("≤ {t}×"), "PASS"),
        Some(t) => (format!("≤ {t}×"), "FAIL"),
        None => ("–".to_owned(), ""),
    };
    println!(
        "| {name} | {ours_label} | {:.1} | {anchor_label} | {:.1} | {median:.3} | {:.3}–{:.3} | {verdict} | {pass} |",
        percentile(&ours_ns, 0.5),
        percentile(&anchor_ns, 0.5),
        percentile(&ratios, 0.25),
        percentile(&ratios, 0.75),
    );
    pass != "FAIL"
}

fn main() {
    let config = Config::from_args();
    // The anchor's runtime has the global runtime's shape: multi_thread, one worker driving
    // timers and IO, the caller polling its own future with `Handle::block_on`.
    let driven = Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("bench-driven")
        .enable_all()
        .build()
        .expect("runtime");
    let handle = driven.handle().clone();
    // Start anysync's global runtime before anything is timed.
    drop(Trivial.enter().run());

    println!(
        "\n### Sync use on a plain thread ({} rounds × {} calls)\n",
        config.rounds, config.iters
    );
    println!(
        "| comparison | ours | ours ns/op | anchor | anchor ns/op | ratio ours/anchor (median) | p25–p75 | target | result |"
    );
    println!("|---|---|---:|---|---:|---:|---|---|---|");
    let mut met = true;
    met &= paired(
        &config,
        "trait type: enter + drop vs hand-written guard",
        Some(1.2),
        ("`Trivial.enter().run()` + drop", || {
            drop(black_box(Trivial.enter().run()));
        }),
        ("`HandGuard` (2× `Handle::block_on`)", || {
            drop(black_box(HandGuard::enter(&handle)));
        }),
    );
    met &= paired(
        &config,
        "`#[anysync::context]` body: enter + drop vs hand-written guard",
        Some(1.2),
        ("`trivial().enter().run()` + drop", || {
            drop(black_box(trivial().enter().run()));
        }),
        ("`HandGuard` (2× `Handle::block_on`)", || {
            drop(black_box(HandGuard::enter(&handle)));
        }),
    );
    paired(
        &config,
        "floor: two `anysync::run` calls vs hand-written guard",
        None,
        ("2× `anysync::run`", || {
            let target = anysync::run(setup());
            anysync::run(teardown(black_box(target)));
        }),
        ("`HandGuard` (2× `Handle::block_on`)", || {
            drop(black_box(HandGuard::enter(&handle)));
        }),
    );
    paired(
        &config,
        "trait type: `scope` vs hand-written guard",
        None,
        ("`Trivial.scope(|t| *t)`", || {
            black_box(Trivial.scope(|t| *t));
        }),
        ("`HandGuard` (2× `Handle::block_on`)", || {
            drop(black_box(HandGuard::enter(&handle)));
        }),
    );
    paired(
        &config,
        "`#[anysync::context]` body vs trait type",
        None,
        ("`trivial().enter().run()` + drop", || {
            drop(black_box(trivial().enter().run()));
        }),
        ("`Trivial.enter().run()` + drop", || {
            drop(black_box(Trivial.enter().run()));
        }),
    );
    println!("\ntargets: {}", if met { "all met" } else { "NOT all met" });
}
