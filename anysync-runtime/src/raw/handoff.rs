//! Lending a borrowed future to a background thread.
//!
//! Inside a current_thread runtime the caller's thread cannot drive a future (tokio panics
//! with "Cannot start a runtime from within a runtime"), so `.run()` lends the future to a
//! background thread and blocks until that thread is done with it. The future may borrow from
//! the caller (`&self`, `&str` arguments), so it is not `'static`; a `'static` API such as
//! `spawn_blocking` cannot take it. This module erases the lifetime instead, and is sound for
//! one reason only: [`lend`] does not return, and cannot unwind, until the background thread
//! has signalled that it will never touch the borrowed data again.
//!
//! Tests that would catch misuse: `tests/test_contexts.rs` runs borrowed futures through this
//! path from current_thread runtimes and LocalSets, with panics, timeouts and drop counters,
//! under the stress test's thousands of concurrent calls.

use crate::background;
use std::cell::UnsafeCell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, Thread};

/// A type-erased pointer to a [`Loan`] on a blocked caller's stack.
pub(crate) struct Job {
    loan: *const (),
    poll: unsafe fn(*const ()),
    finish: unsafe fn(*const ()),
}

// SAFETY: a `Job` is only created by `lend` for a `Loan<T, R>` with `T: Send` and `R: Send`,
// so the task may run, and its result be stored, on the background thread. The pointer stays
// valid until `finish` runs, because `lend` blocks until then.
unsafe impl Send for Job {}

impl Job {
    /// Runs the lent task, stores its outcome in the loan, calls `before_wake`, then wakes the
    /// caller. Consuming the job makes this the only use of the pointer.
    pub(crate) fn run(self, before_wake: impl FnOnce()) {
        // SAFETY: `loan` points to a live `Loan<T, R>` matching `poll` (both set by `lend`),
        // whose caller is blocked until `finish` runs.
        unsafe { (self.poll)(self.loan) };
        before_wake();
        // SAFETY: as above; `finish` is the last use of the pointer (`self` is consumed).
        unsafe { (self.finish)(self.loan) };
    }
}

struct Loan<T, R> {
    task: UnsafeCell<Option<T>>,
    outcome: UnsafeCell<Option<thread::Result<R>>>,
    done: AtomicBool,
    caller: Thread,
}

/// Runs `task` on a background thread while the calling thread blocks, and returns its result;
/// a panic in `task` is resumed here with its original payload.
///
/// `task` may borrow from the caller (it is not `'static`). Gives `task` back untouched if no
/// background thread could be started.
pub(crate) fn lend<T, R>(task: T) -> Result<R, T>
where
    T: FnOnce() -> R + Send,
    R: Send,
{
    let loan = Loan {
        task: UnsafeCell::new(Some(task)),
        outcome: UnsafeCell::new(None),
        done: AtomicBool::new(false),
        caller: thread::current(),
    };
    let job = Job {
        loan: (&raw const loan).cast(),
        poll: run_loan::<T, R>,
        finish: finish_loan::<T, R>,
    };
    if background::submit(job).is_err() {
        // The job never ran: the task is still in the loan.
        let task = loan.task.into_inner();
        return Err(task.unwrap_or_else(|| unreachable!("anysync: an unsubmitted task ran")));
    }
    // A background thread now holds a pointer to `loan`. Nothing below can panic or return
    // before `done` is set: that is what makes the erased borrow sound.
    while !loan.done.load(Ordering::Acquire) {
        thread::park();
    }
    match loan.outcome.into_inner() {
        Some(Ok(output)) => Ok(output),
        Some(Err(payload)) => panic::resume_unwind(payload),
        // `finish` only runs after `poll` stored an outcome.
        None => unreachable!("anysync: background thread finished without an outcome"),
    }
}

/// # Safety
/// `ptr` must come from `lend::<T, R>`, whose caller is still blocked.
unsafe fn run_loan<T: FnOnce() -> R, R>(ptr: *const ()) {
    // SAFETY: `ptr` was made from `&loan` in `lend` with these very `T` and `R`, and `lend` is
    // blocked until `finish_loan` runs, so the loan is alive and only this thread uses its
    // cells until then.
    let loan = unsafe { &*ptr.cast::<Loan<T, R>>() };
    // SAFETY: as above.
    let task = unsafe { (*loan.task.get()).take() };
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| match task {
        Some(task) => task(),
        None => unreachable!("anysync: a lent task ran twice"),
    }));
    // SAFETY: as above.
    unsafe { *loan.outcome.get() = Some(outcome) };
}

/// # Safety
/// As for [`run_loan`]; this is the last use of `ptr`.
unsafe fn finish_loan<T, R>(ptr: *const ()) {
    // SAFETY: as in `run_loan`.
    let loan = unsafe { &*ptr.cast::<Loan<T, R>>() };
    // Clone the handle first: once `done` is stored the caller may return and free `loan`.
    let caller = loan.caller.clone();
    loan.done.store(true, Ordering::Release);
    caller.unpark();
}
