//! Models of `raw::handoff` with the real mailboxes of `raw::mailbox`: a caller lends a task
//! that borrows from its stack, the model's background threads run it.
//!
//! The borrowed value is a loom `Cell`, and so are the loan's task and outcome slots (and
//! their drop, when `lend_to` returns, counts as a write): were the caller to read them, or
//! let them die, before the background thread's last use, loom reports a causality
//! violation. A lost job or a missed wake-up leaves a thread blocked at the end, which loom
//! reports as a deadlock.
//!
//! Two things of `raw/sync.rs` shape what these models can see:
//!
//! - loom may preempt a worker between its store to `done` and its `unpark` (loom would not
//!   on its own: an `unpark` is no scheduling point, and it synchronizes the threads at
//!   once). So a caller can find `done` set before the `unpark` reached it, and the flag's
//!   Release/Acquire pair is checked by every model here.
//! - A worker's timed wait always times out, after letting every other thread run, so idle
//!   workers retire as soon as loom lets them, and every model also covers a lend that
//!   finds a worker in the idle stack just as it retires.

use crate::model;
use crate::raw::handoff::lend_to;
use crate::raw::mailbox::{Settings, Workers};
use crate::raw::sync;
use loom::cell::Cell;
use loom::thread::{self, ThreadId};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// A set of background threads for one execution, with the settings of anysync's own.
///
/// Leaked, not a `loom::lazy_static!`: loom drops those when the model's main thread ends,
/// and the workers outlive it, as anysync's outlive their callers (each is still on its way
/// out after its last job). A few words per execution.
fn workers() -> &'static Workers {
    Box::leak(Box::new(Workers::new(Settings {
        name: "anysync-model",
        stack_size: || 1 << 20,
        on_start: || {},
        keep_alive: || Duration::from_secs(10),
    })))
}

/// Lends a task that writes to `borrowed` (on the caller's stack) and returns the id of the
/// thread that ran it; checks the write is visible once `lend_to` returns.
fn lend_and_check(workers: &'static Workers, borrowed: &mut Cell<u32>) -> ThreadId {
    let before = borrowed.get();
    let ran_on = {
        let borrowed = &mut *borrowed;
        lend_to(workers, move || {
            borrowed.set(borrowed.get() + 1);
            thread::current().id()
        })
    };
    let ran_on = ran_on.unwrap_or_else(|_| panic!("loom always starts a thread"));
    assert_ne!(ran_on, thread::current().id(), "lent, not run in place");
    assert_eq!(borrowed.get(), before + 1, "the task's write is visible");
    ran_on
}

/// The heart of the loan: a task borrowing from the caller's stack runs on a new background
/// thread, and `lend_to` returns only after that thread is done with the borrow, the task
/// and the outcome; the caller's `park` is woken by the worker's `unpark`.
#[test]
fn the_borrow_ends_before_lend_returns() {
    model(|| {
        let workers = workers();
        let mut borrowed = Cell::new(0);
        lend_and_check(workers, &mut borrowed);
    });
}

/// As above, with a `park` that only ever wakes spuriously, as a real one may: loom's
/// `unpark` synchronizes the threads by itself, and a caller woken by it is ordered after
/// the worker whatever `done` says. Here the caller also wakes, and looks at `done`, while
/// the worker is anywhere in the loan, and the flag's Release/Acquire is all there is (a
/// `lend_to` that parked once instead of looping fails here).
#[test]
fn a_spurious_wakeup_does_not_end_the_loan_early() {
    model(|| {
        let workers = workers();
        sync::park_spuriously();
        let mut borrowed = Cell::new(0);
        lend_and_check(workers, &mut borrowed);
    });
}

/// Two loans in a row: the second finds the first's worker idle and reuses it, or finds it
/// retired and starts another, or pops it from the idle stack just as the worker's wait
/// times out and it looks for itself there to retire (it must then stay for the job).
/// Both outcomes are seen across the executions.
#[test]
fn a_second_lend_reuses_the_idle_worker_or_races_its_retirement() {
    static REUSED: AtomicUsize = AtomicUsize::new(0);
    static STARTED_ANOTHER: AtomicUsize = AtomicUsize::new(0);
    model(|| {
        let workers = workers();
        let mut borrowed = Cell::new(0);
        let first = lend_and_check(workers, &mut borrowed);
        let second = lend_and_check(workers, &mut borrowed);
        let seen = if first == second {
            &REUSED
        } else {
            &STARTED_ANOTHER
        };
        seen.fetch_add(1, Ordering::Relaxed);
    });
    assert!(REUSED.load(Ordering::Relaxed) > 0, "a worker was reused");
    assert!(
        STARTED_ANOTHER.load(Ordering::Relaxed) > 0,
        "a worker retired before the second lend"
    );
}

const TASK_PANIC: &str = "a lent task panicked (expected by the model)";

/// Keeps the expected panic of the model below from printing once per execution.
fn quiet_expected_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() != Some(&TASK_PANIC) {
                default(info);
            }
        }));
    });
}

/// A task that panics: its panic is resumed in the caller with its payload, only after the
/// worker is done with the loan, and the worker survives to take the next loan.
#[test]
fn a_panic_in_the_task_is_resumed_in_the_caller() {
    quiet_expected_panics();
    model(|| {
        let workers = workers();
        let mut borrowed = Cell::new(0);
        let unwound = {
            let borrowed = &mut borrowed;
            panic::catch_unwind(AssertUnwindSafe(|| {
                lend_to(workers, move || {
                    borrowed.set(1);
                    panic::panic_any(TASK_PANIC)
                })
            }))
        };
        let payload = unwound.err().expect("the task's panic is resumed");
        assert_eq!(payload.downcast_ref::<&str>(), Some(&TASK_PANIC));
        assert_eq!(borrowed.get(), 1, "the task's write is visible");
        lend_and_check(workers, &mut borrowed);
    });
}

/// Two callers at once: each loan reaches its own worker (one idle worker is never handed
/// two jobs), and each caller is woken by its own.
///
/// Main does not `join` the other caller: the `unpark` from main's worker may come after
/// main saw `done` and returned from `lend_to` (as it may for real: `park` then just returns
/// once more, spuriously). Waiting in `join` then, main would take that `unpark` for the
/// join's own wake-up, which loom's `join` (unlike std's) asserts on. loom runs the other
/// caller to its end regardless, and fails the model if it panics.
#[test]
fn two_callers_lend_at_once() {
    model(|| {
        let workers = workers();
        thread::spawn(move || {
            let mut borrowed = Cell::new(10);
            lend_and_check(workers, &mut borrowed);
        });
        let mut borrowed = Cell::new(0);
        lend_and_check(workers, &mut borrowed);
    });
}
