//! loom models of `anysync-runtime`'s `raw` module: every interleaving of its hand-overs,
//! checked on the very files the runtime compiles, with loom's atomics, cells, locks and
//! threads swapped in by `raw/sync.rs`.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p loom-models --release` (`.ci/loom` does,
//! in a target directory of its own). Without `--cfg loom` this crate is empty: tokio, and
//! so the rest of the runtime, does not build under loom, which is why the models live here
//! and compile `raw/` alone.
//!
//! - `exchange`: a generator's slots, values handed over both ways, the allocation freed
//!   from either end with values left in it.
//! - `handoff`: a loan to a background thread through the real mailboxes: the borrow ends
//!   before `lend` returns, with a worker started, reused or retiring as the loan comes,
//!   with a task that panics, and with `park` waking only spuriously.
//!
//! Each model runs under a preemption bound (`LOOM_MAX_PREEMPTIONS`, [`PREEMPTIONS`] unless
//! set), which keeps the whole set to seconds.

#![deny(unsafe_code)]

/// The preemption bound used when `LOOM_MAX_PREEMPTIONS` is not set. Each ordering weakened
/// to `Relaxed`, and each broken wake-up or retirement tried so far, fails a model at a bound
/// of two (at one, the reuse model no longer sees a worker retire, and says so); three leaves
/// a margin and still runs in about a second.
pub const PREEMPTIONS: usize = 3;

// The runtime's `raw` module, file for file. Not everything in it is modelled (the driver's
// accessors for a body it polls, the std-only `lend`), hence `dead_code`.
#[cfg(loom)]
#[allow(unsafe_code, dead_code, unreachable_pub)]
#[path = "../../anysync-runtime/src/raw/mod.rs"]
mod raw;

#[cfg(all(loom, test))]
mod exchange;
#[cfg(all(loom, test))]
mod handoff;

/// Checks `f` in every interleaving loom explores under the preemption bound, and says how
/// many that was (seen with `--nocapture`; a model that explores one is not checking much).
#[cfg(all(loom, test))]
#[track_caller]
fn model(f: impl Fn() + Sync + Send + 'static) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(PREEMPTIONS);
    }
    let executions = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&executions);
    let start = std::time::Instant::now();
    builder.check(move || {
        counted.fetch_add(1, Ordering::Relaxed);
        f();
    });
    let executions = executions.load(Ordering::Relaxed);
    println!(
        "{}: {executions} executions in {:.2?} (preemption bound {})",
        std::thread::current().name().unwrap_or("model"),
        start.elapsed(),
        builder.preemption_bound.unwrap_or(0),
    );
    assert!(executions > 1, "the model explored a single interleaving");
}
