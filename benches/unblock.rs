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

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

/// One side of a comparison: runs `iters` operations and returns the time they took.
struct Side<'a> {
    label: &'static str,
    iters: u64,
    run: Box<dyn FnMut(u64) -> Duration + 'a>,
}

fn side<'a>(label: &'static str, iters: u64, run: impl FnMut(u64) -> Duration + 'a) -> Side<'a> {
    Side {
        label,
        iters,
        run: Box::new(run),
    }
}

/// What a comparison must show: `Some(x)` means the median of ours/anchor is at most `x`.
type Target = Option<f64>;

struct Row {
    section: &'static str,
    name: &'static str,
    ours: &'static str,
    ours_ns: f64,
    anchor: &'static str,
    anchor_ns: f64,
    /// p25, median, p75 of the per-round ratio ours/anchor.
    ratio: [f64; 3],
    target: Target,
}

impl Row {
    fn verdict(&self) -> (String, Option<bool>) {
        match self.target {
            None => ("–".into(), None),
            Some(x) => (format!("≤ {x}×"), Some(self.ratio[1] <= x)),
        }
    }
}

struct Bench {
    rounds: usize,
    quick: bool,
    filter: Vec<String>,
    rows: Vec<Row>,
}

impl Bench {
    fn from_args() -> Self {
        let mut quick = false;
        let mut filter = Vec::new();
        for arg in std::env::args().skip(1) {
            match arg.as_str() {
                "--quick" => quick = true,
                // cargo passes `--bench`; ignore it and any other flag.
                a if a.starts_with('-') => {}
                a => filter.push(a.to_lowercase()),
            }
        }
        let rounds = std::env::var("ANYSYNC_BENCH_ROUNDS")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(if quick { 7 } else { 301 });
        Bench {
            rounds: rounds.max(1),
            quick,
            filter,
            rows: Vec::new(),
        }
    }

    /// Scales an iteration count down in quick mode.
    fn n(&self, iters: u64) -> u64 {
        if self.quick {
            (iters / 10).max(1)
        } else {
            iters
        }
    }

    fn wanted(&self, section: &str, name: &str) -> bool {
        self.filter.is_empty()
            || self
                .filter
                .iter()
                .any(|f| name.to_lowercase().contains(f) || section.to_lowercase().contains(f))
    }

    /// Ours against one anchor, alternating in short rounds (after one warm-up call each).
    fn paired<'a>(
        &mut self,
        section: &'static str,
        name: &'static str,
        target: Target,
        mut ours: Side<'a>,
        mut anchor: Side<'a>,
    ) {
        if !self.wanted(section, name) {
            return;
        }
        eprint!("{section} / {name} ... ");
        for s in [&mut ours, &mut anchor] {
            black_box((s.run)((s.iters / 10).max(1)));
        }
        let (mut ours_ns, mut anchor_ns) = (Vec::new(), Vec::new());
        for round in 0..self.rounds {
            let time = |s: &mut Side<'_>| (s.run)(s.iters).as_nanos() as f64 / s.iters as f64;
            if round % 2 == 0 {
                ours_ns.push(time(&mut ours));
                anchor_ns.push(time(&mut anchor));
            } else {
                anchor_ns.push(time(&mut anchor));
                ours_ns.push(time(&mut ours));
            }
        }
        let ratios: Vec<f64> = ours_ns.iter().zip(&anchor_ns).map(|(a, b)| a / b).collect();
        let row = Row {
            section,
            name,
            ours: ours.label,
            ours_ns: median(&ours_ns),
            anchor: anchor.label,
            anchor_ns: median(&anchor_ns),
            ratio: [
                percentile(&ratios, 0.25),
                median(&ratios),
                percentile(&ratios, 0.75),
            ],
            target,
        };
        let (target, pass) = row.verdict();
        eprintln!(
            "ours {} ns, anchor {} ns, ratio {:.3} ({:.3}–{:.3}) {target} {}",
            fmt_ns(row.ours_ns),
            fmt_ns(row.anchor_ns),
            row.ratio[1],
            row.ratio[0],
            row.ratio[2],
            pass_str(pass)
        );
        self.rows.push(row);
    }

    fn report(&self) {
        let mut section = "";
        for row in &self.rows {
            if row.section != section {
                section = row.section;
                println!("\n### {section}\n");
                println!(
                    "| comparison | ours | ours ns/op | anchor | anchor ns/op | ratio ours/anchor (median) | p25–p75 | target | result |"
                );
                println!("|---|---|---:|---|---:|---:|---|---|---|");
            }
            let (target, pass) = row.verdict();
            println!(
                "| {} | {} | {} | {} | {} | {:.3} | {:.3}–{:.3} | {target} | {} |",
                row.name,
                row.ours,
                fmt_ns(row.ours_ns),
                row.anchor,
                fmt_ns(row.anchor_ns),
                row.ratio[1],
                row.ratio[0],
                row.ratio[2],
                pass_str(pass)
            );
        }
        let checked: Vec<&Row> = self.rows.iter().filter(|r| r.target.is_some()).collect();
        let failed: Vec<&&Row> = checked
            .iter()
            .filter(|r| r.verdict().1 == Some(false))
            .collect();
        println!(
            "\ntargets: {} of {} met",
            checked.len() - failed.len(),
            checked.len()
        );
        for row in failed {
            println!("FAILED: {} / {}", row.section, row.name);
        }
    }
}

fn pass_str(pass: Option<bool>) -> &'static str {
    match pass {
        None => "",
        Some(true) => "PASS",
        Some(false) => "**FAIL**",
    }
}

fn fmt_ns(ns: f64) -> String {
    if ns >= 100.0 {
        let s = (ns.round() as u64).to_string();
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out
    } else {
        format!("{ns:.1}")
    }
}

fn percentile(values: &[f64], p: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let pos = p * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

fn median(values: &[f64]) -> f64 {
    percentile(values, 0.5)
}

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
    let mut b = Bench::from_args();
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
            Some(1.1),
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
            None,
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
            None,
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
            Some(1.2),
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
            Some(1.2),
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
            None,
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
